//! etcd: one Deployment, Service and (optionally) PersistentVolumeClaim per member.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, Service, ServicePort, ServiceSpec, Volume,
    VolumeResourceRequirements,
};

use super::meta::{object_meta, selector};
use super::pod;
use super::workload::{self, Rollout};
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::components::{
    Component, ETCD_CLIENT_PORT, ETCD_METRICS_PORT, ETCD_PEER_PORT, Port, etcd_member_files,
};
use crate::contract::ETCD_MEMBER;

const PKI_DIR: &str = "/etc/etcd/pki";
const DATA_DIR: &str = "/var/lib/etcd";

pub fn member_count(hcp: &HostedControlPlane) -> usize {
    hcp.spec.etcd.replicas.max(1) as usize
}

/// Client URLs of every member, as the API server's `--etcd-servers` wants them.
pub fn client_urls(hcp: &HostedControlPlane) -> String {
    let names = hcp.names();
    let namespace = hcp.namespace_or_default();
    (0..member_count(hcp))
        .map(|i| {
            let host = names.etcd_member_host(i, &namespace);
            format!("https://{host}:{}", ETCD_CLIENT_PORT.number)
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn member_selector(hcp: &HostedControlPlane, member: usize) -> BTreeMap<String, String> {
    let mut labels = selector(hcp, Component::Etcd);
    labels.insert(ETCD_MEMBER.into(), hcp.names().etcd_member(member));
    labels
}

/// The stable address of member `member`; it publishes the Pod before it is ready so
/// that members can find each other while forming quorum.
pub fn service(hcp: &HostedControlPlane, member: usize) -> Service {
    let names = hcp.names();
    let port = |port: Port| ServicePort {
        name: Some(port.name.into()),
        port: port.number,
        ..Default::default()
    };
    Service {
        metadata: object_meta(hcp, names.etcd_member(member), Component::Etcd),
        spec: Some(ServiceSpec {
            selector: Some(member_selector(hcp, member)),
            ports: Some(vec![port(ETCD_CLIENT_PORT), port(ETCD_PEER_PORT)]),
            publish_not_ready_addresses: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The member's volume claim, when `spec.etcd.storage` asks for persistence.
pub fn claim(hcp: &HostedControlPlane, member: usize) -> Option<PersistentVolumeClaim> {
    let storage = hcp.spec.etcd.storage.as_ref()?;
    let names = hcp.names();
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
    let names = hcp.names();
    let namespace = hcp.namespace_or_default();
    let host = names.etcd_member_host(member, &namespace);
    let (client, peer, metrics) = (
        ETCD_CLIENT_PORT.number,
        ETCD_PEER_PORT.number,
        ETCD_METRICS_PORT.number,
    );
    let initial_cluster = (0..member_count(hcp))
        .map(|i| {
            format!(
                "{}=https://{}:{peer}",
                names.etcd_member(i),
                names.etcd_member_host(i, &namespace)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut base = vec![
        ("name", names.etcd_member(member)),
        ("data-dir", format!("{DATA_DIR}/data")),
        ("listen-client-urls", format!("https://0.0.0.0:{client}")),
        ("advertise-client-urls", format!("https://{host}:{client}")),
        ("listen-peer-urls", format!("https://0.0.0.0:{peer}")),
        ("initial-advertise-peer-urls", format!("https://{host}:{peer}")),
        ("initial-cluster", initial_cluster),
        ("initial-cluster-state", "new".into()),
        (
            "initial-cluster-token",
            format!("{}.{namespace}", names.control_plane()),
        ),
        ("listen-metrics-urls", format!("http://0.0.0.0:{metrics}")),
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
    if member_count(hcp) > 1 {
        // A member's Pod IP is not known when its peer certificate is issued: peers are
        // trusted for their certificate from the etcd CA, not for a name matching their
        // address (etcd otherwise refuses every peer). Only with peers, so a single member's
        // Pod (and its emptyDir data) is not replaced for a flag it does not use.
        base.push(("peer-skip-client-san-verification", "true".into()));
    }
    let mut command = vec![Component::Etcd.as_str().to_string()];
    command.extend(flags::render(base, &BTreeMap::new()));
    command
}

/// The Deployment of member `member`: one replica, replaced by `Recreate`.
pub fn deployment(hcp: &HostedControlPlane, member: usize) -> k8s_openapi::api::apps::v1::Deployment {
    let names = hcp.names();
    let mut container = pod::container(Component::Etcd, images::etcd(hcp), command(hcp, member));
    container.volume_mounts = Some(vec![
        pod::writable_mount("data", DATA_DIR),
        pod::read_only_mount("pki", PKI_DIR),
    ]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTP",
            port: ETCD_METRICS_PORT.number,
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
    let mut pki_files = pod::pki_files(&names, Component::Etcd.pki_files());
    pki_files.extend(pod::pki_files(&names, &etcd_member_files(member)));
    let pki = pod::projected_volume("pki", pki_files);
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
