//! etcd: one Deployment, Service and (optionally) PersistentVolumeClaim per member.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, EmptyDirVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, Service, ServicePort, ServiceSpec, Volume,
    VolumeResourceRequirements,
};

use super::meta::{Component, ETCD_MEMBER, object_meta, selector};
use super::pod;
use super::workload::{self, Rollout};
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::names::Names;
use crate::pki::{TLS_CERT, TLS_KEY};

pub const CLIENT_PORT: i32 = 2379;
pub const PEER_PORT: i32 = 2380;
pub const METRICS_PORT: i32 = 2381;
const PKI_DIR: &str = "/etc/etcd/pki";
const DATA_DIR: &str = "/var/lib/etcd";

pub fn member_count(hcp: &HostedControlPlane) -> usize {
    hcp.spec.etcd.replicas.max(1) as usize
}

/// Client URLs of every member, as the API server's `--etcd-servers` wants them.
pub fn client_urls(hcp: &HostedControlPlane) -> String {
    let names = Names::new(&hcp.name_any_or_default());
    let namespace = hcp.namespace_or_default();
    (0..member_count(hcp))
        .map(|i| format!("https://{}:{CLIENT_PORT}", names.etcd_member_host(i, &namespace)))
        .collect::<Vec<_>>()
        .join(",")
}

fn member_selector(hcp: &HostedControlPlane, member: usize) -> BTreeMap<String, String> {
    let mut labels = selector(hcp, Component::Etcd);
    labels.insert(
        ETCD_MEMBER.into(),
        Names::new(&hcp.name_any_or_default()).etcd_member(member),
    );
    labels
}

/// The stable address of member `member`; it publishes the Pod before it is ready so
/// that members can find each other while forming quorum.
pub fn service(hcp: &HostedControlPlane, member: usize) -> Service {
    let names = Names::new(&hcp.name_any_or_default());
    let port = |name: &str, port: i32| ServicePort {
        name: Some(name.into()),
        port,
        ..Default::default()
    };
    Service {
        metadata: object_meta(hcp, names.etcd_member(member), Component::Etcd),
        spec: Some(ServiceSpec {
            selector: Some(member_selector(hcp, member)),
            ports: Some(vec![port("client", CLIENT_PORT), port("peer", PEER_PORT)]),
            publish_not_ready_addresses: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The member's volume claim, when `spec.etcd.storage` asks for persistence.
pub fn claim(hcp: &HostedControlPlane, member: usize) -> Option<PersistentVolumeClaim> {
    let storage = hcp.spec.etcd.storage.as_ref()?;
    let names = Names::new(&hcp.name_any_or_default());
    Some(PersistentVolumeClaim {
        metadata: object_meta(hcp, names.etcd_data(member), Component::Etcd),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), storage.size.clone())])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Command line of member `member`.
pub fn command(hcp: &HostedControlPlane, member: usize) -> Vec<String> {
    let names = Names::new(&hcp.name_any_or_default());
    let namespace = hcp.namespace_or_default();
    let host = names.etcd_member_host(member, &namespace);
    let initial_cluster = (0..member_count(hcp))
        .map(|i| {
            format!(
                "{}=https://{}:{PEER_PORT}",
                names.etcd_member(i),
                names.etcd_member_host(i, &namespace)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let base = vec![
        ("name", names.etcd_member(member)),
        ("data-dir", format!("{DATA_DIR}/data")),
        ("listen-client-urls", format!("https://0.0.0.0:{CLIENT_PORT}")),
        ("advertise-client-urls", format!("https://{host}:{CLIENT_PORT}")),
        ("listen-peer-urls", format!("https://0.0.0.0:{PEER_PORT}")),
        (
            "initial-advertise-peer-urls",
            format!("https://{host}:{PEER_PORT}"),
        ),
        ("initial-cluster", initial_cluster),
        ("initial-cluster-state", "new".into()),
        (
            "initial-cluster-token",
            format!("{}.{namespace}", names.cluster()),
        ),
        ("listen-metrics-urls", format!("http://0.0.0.0:{METRICS_PORT}")),
        ("client-cert-auth", "true".into()),
        ("trusted-ca-file", format!("{PKI_DIR}/ca.crt")),
        ("cert-file", format!("{PKI_DIR}/server.crt")),
        ("key-file", format!("{PKI_DIR}/server.key")),
        ("peer-client-cert-auth", "true".into()),
        ("peer-trusted-ca-file", format!("{PKI_DIR}/ca.crt")),
        ("peer-cert-file", format!("{PKI_DIR}/peer.crt")),
        ("peer-key-file", format!("{PKI_DIR}/peer.key")),
        ("snapshot-count", "10000".into()),
    ];
    let mut command = vec!["etcd".to_string()];
    command.extend(flags::render(base, &BTreeMap::new()));
    command
}

/// The Deployment of member `member`: one replica, replaced by `Recreate`.
pub fn deployment(hcp: &HostedControlPlane, member: usize) -> k8s_openapi::api::apps::v1::Deployment {
    let names = Names::new(&hcp.name_any_or_default());
    let port = |name: &str, port: i32| ContainerPort {
        name: Some(name.into()),
        container_port: port,
        ..Default::default()
    };
    let mut container = pod::container("etcd", images::etcd(hcp), command(hcp, member));
    container.ports = Some(vec![
        port("client", CLIENT_PORT),
        port("peer", PEER_PORT),
        port("metrics", METRICS_PORT),
    ]);
    container.volume_mounts = Some(vec![
        pod::writable_mount("data", DATA_DIR),
        pod::read_only_mount("pki", PKI_DIR),
    ]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTP",
            port: METRICS_PORT,
            live: "/livez",
            ready: "/readyz",
            startup_seconds: 120,
        },
    );
    container.resources = Some(pod::resources(hcp.spec.etcd.resources.as_ref(), "50m", "64Mi"));

    let data = match hcp.spec.etcd.storage {
        Some(_) => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names.etcd_data(member),
                read_only: None,
            }),
            ..Default::default()
        },
        None => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    };
    let pki = pod::projected_volume(
        "pki",
        vec![
            pod::secret_file(names.etcd_ca_secret(), TLS_CERT, "ca.crt"),
            pod::secret_file(names.etcd_server_cert(member), TLS_CERT, "server.crt"),
            pod::secret_file(names.etcd_server_cert(member), TLS_KEY, "server.key"),
            pod::secret_file(names.etcd_peer_cert(member), TLS_CERT, "peer.crt"),
            pod::secret_file(names.etcd_peer_cert(member), TLS_KEY, "peer.key"),
        ],
    );
    let spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![data, pki]),
        affinity: Some(pod::spread(selector(hcp, Component::Etcd))),
        ..Default::default()
    };
    workload::deployment(
        hcp,
        names.etcd_member(member),
        Component::Etcd,
        1,
        Rollout::Recreate,
        member_selector(hcp, member),
        spec,
    )
}
