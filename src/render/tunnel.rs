//! The konnectivity server, a sidecar of every API server Pod: agents in the hosted cluster
//! dial out to it, and the API server sends its traffic into the hosted cluster (webhooks,
//! aggregated APIs, the proxy, kubelets) through it over a Unix socket.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Volume};

use super::meta::object_meta;
use super::pod;
use crate::api::HostedControlPlane;
use crate::components::{Component, TUNNEL_ADMIN_PORT, TUNNEL_AGENT_PORT, TUNNEL_HEALTH_PORT};
use crate::versions::KONNECTIVITY_VERSION;

/// The sidecar's container name.
pub const CONTAINER: &str = "konnectivity-server";
/// The volume both containers share for the socket.
pub const SOCKET_VOLUME: &str = "konnectivity-uds";
pub const SOCKET_DIR: &str = "/run/konnectivity";
const SOCKET: &str = "/run/konnectivity/konnectivity-server.socket";
/// Key of the egress selector configuration in its ConfigMap (and file name).
pub const EGRESS_KEY: &str = "egress-selector.yaml";

/// The API server's EgressSelectorConfiguration: `cluster` traffic through the socket,
/// the control plane's own traffic (etcd, itself) direct.
pub fn egress_config_map(hcp: &HostedControlPlane) -> ConfigMap {
    let config = format!(
        "apiVersion: apiserver.k8s.io/v1beta1\n\
         kind: EgressSelectorConfiguration\n\
         egressSelections:\n\
         - name: cluster\n  connection:\n    proxyProtocol: GRPC\n    transport:\n      uds:\n        udsName: {SOCKET}\n\
         - name: controlplane\n  connection:\n    proxyProtocol: Direct\n\
         - name: etcd\n  connection:\n    proxyProtocol: Direct\n"
    );
    ConfigMap {
        metadata: object_meta(hcp, hcp.names().egress_selector(), Component::ApiServer),
        data: Some(BTreeMap::from([(EGRESS_KEY.to_string(), config)])),
        ..Default::default()
    }
}

/// The konnectivity server container; `config_dir` is where the API server Pod's
/// configuration volume is mounted.
pub fn sidecar(hcp: &HostedControlPlane, config_dir: &str) -> Container {
    let file = |name: &str| format!("{config_dir}/konnectivity/{name}");
    let flags = [
        ("uds-name", SOCKET.to_string()),
        ("delete-existing-uds-file", "true".into()),
        ("server-port", "0".into()),
        ("mode", "grpc".into()),
        ("cluster-cert", file("server.crt")),
        ("cluster-key", file("server.key")),
        ("cluster-ca-cert", file("ca.crt")),
        ("agent-port", TUNNEL_AGENT_PORT.number.to_string()),
        ("admin-port", TUNNEL_ADMIN_PORT.number.to_string()),
        ("admin-bind-address", "0.0.0.0".into()),
        ("health-port", TUNNEL_HEALTH_PORT.number.to_string()),
        // Every API server Pod runs its own server; agents connect to each of them.
        ("server-count", hcp.spec.replicas.to_string()),
        ("server-id", "$(POD_NAME)".into()),
        // Kubelet traffic goes through the agent on that node, the rest through any.
        ("proxy-strategies", "destHost,default".into()),
        ("keepalive-time", "30s".into()),
    ];
    let mut container = pod::container(
        Component::ApiServer,
        format!(
            "{}/kas-network-proxy/proxy-server:{KONNECTIVITY_VERSION}",
            hcp.image_repository()
        ),
        std::iter::once("/proxy-server".to_string())
            .chain(flags.iter().map(|(k, v)| format!("--{k}={v}")))
            .collect(),
    );
    container.name = CONTAINER.into();
    container.ports = Some(pod::container_ports(&[
        TUNNEL_AGENT_PORT,
        TUNNEL_ADMIN_PORT,
        TUNNEL_HEALTH_PORT,
    ]));
    container.env = Some(vec![pod::field_env("POD_NAME", "metadata.name")]);
    container.volume_mounts = Some(vec![
        pod::read_only_mount("config", config_dir),
        pod::writable_mount(SOCKET_VOLUME, SOCKET_DIR),
    ]);
    // Liveness only: readiness must not wait for agents, which connect through the
    // Service that only ready API server Pods back.
    pod::liveness(&mut container, "HTTP", TUNNEL_HEALTH_PORT.number, "/healthz");
    container.resources = Some(pod::resources(None, "10m", "16Mi"));
    container
}

/// The volume holding the socket.
pub fn socket_volume() -> Volume {
    Volume {
        name: SOCKET_VOLUME.into(),
        empty_dir: Some(Default::default()),
        ..Default::default()
    }
}
