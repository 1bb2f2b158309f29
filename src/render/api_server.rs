//! kube-apiserver: a Deployment of `spec.replicas` Pods.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, EnvVar, EnvVarSource, ObjectFieldSelector, Volume};

use super::pod;
use super::workload;
use super::{etcd, flags, images};
use crate::api::HostedControlPlane;
use crate::components::{API_SERVER_PORT, Component};
use crate::names::Names;

const CONFIG_DIR: &str = "/etc/kubernetes";

/// Command line of the API server; every file it names lives under [`CONFIG_DIR`].
pub fn command(hcp: &HostedControlPlane) -> Vec<String> {
    let network = &hcp.spec.network;
    let pki = |file: &str| format!("{CONFIG_DIR}/pki/{file}");
    let base = vec![
        ("advertise-address", "$(POD_IP)".into()),
        ("allow-privileged", "true".into()),
        ("authorization-mode", "Node,RBAC".into()),
        ("client-ca-file", pki("ca.crt")),
        ("enable-admission-plugins", "NodeRestriction".into()),
        ("enable-bootstrap-token-auth", "true".into()),
        ("etcd-cafile", pki("etcd/ca.crt")),
        ("etcd-certfile", pki("apiserver-etcd-client.crt")),
        ("etcd-keyfile", pki("apiserver-etcd-client.key")),
        ("etcd-servers", etcd::client_urls(hcp)),
        ("kubelet-client-certificate", pki("apiserver-kubelet-client.crt")),
        ("kubelet-client-key", pki("apiserver-kubelet-client.key")),
        (
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname".into(),
        ),
        ("profiling", "false".into()),
        ("proxy-client-cert-file", pki("front-proxy-client.crt")),
        ("proxy-client-key-file", pki("front-proxy-client.key")),
        ("requestheader-allowed-names", "front-proxy-client".into()),
        ("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        ("requestheader-extra-headers-prefix", "X-Remote-Extra-".into()),
        ("requestheader-group-headers", "X-Remote-Group".into()),
        ("requestheader-username-headers", "X-Remote-User".into()),
        ("secure-port", API_SERVER_PORT.number.to_string()),
        (
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", network.dns_domain),
        ),
        ("service-account-key-file", pki("sa.pub")),
        ("service-account-signing-key-file", pki("sa.key")),
        ("service-cluster-ip-range", network.service_cidr.clone()),
        ("tls-cert-file", pki("apiserver.crt")),
        ("tls-private-key-file", pki("apiserver.key")),
    ];
    let mut command = vec![Component::ApiServer.as_str().to_string()];
    command.extend(flags::render(base, &hcp.spec.api_server.extra_args));
    command
}

/// The files the API server reads, from the control plane's Secrets.
fn config_volume(names: &Names) -> Volume {
    pod::projected_volume("config", pod::pki_files(names, Component::ApiServer.pki_files()))
}

pub fn deployment(hcp: &HostedControlPlane) -> Deployment {
    let names = hcp.names();
    let spec = &hcp.spec.api_server;
    let mut container = pod::container(
        Component::ApiServer,
        images::component(hcp, spec, Component::ApiServer),
        command(hcp),
    );
    container.env = Some(vec![EnvVar {
        name: "POD_IP".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "status.podIP".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    container.volume_mounts = Some(vec![
        pod::read_only_mount("config", CONFIG_DIR),
        pod::writable_mount("tmp", "/tmp"),
    ]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTPS",
            port: API_SERVER_PORT.number,
            live: "/livez",
            ready: "/readyz",
            startup_seconds: 240,
        },
    );
    container.resources = Some(pod::resources(spec.resources.as_ref(), "100m", "256Mi"));
    let tmp = Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    };
    workload::replicated(
        hcp,
        names.api_server(),
        Component::ApiServer,
        container,
        vec![config_volume(&names), tmp],
    )
}
