//! kube-apiserver: a Deployment of `spec.replicas` Pods.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Volume};

use std::net::IpAddr;

use super::pod;
use super::workload;
use super::{etcd, flags, images, tunnel};
use crate::api::HostedControlPlane;
use crate::components::{API_SERVER_PORT, Component};
use crate::names::Names;

const CONFIG_DIR: &str = "/etc/kubernetes";

/// Command line of the API server; every file it names lives under [`CONFIG_DIR`].
/// `address` is the cluster IP of its Service in the management cluster: the address it
/// publishes (its certificate names it), which stays the same across Pod restarts and
/// replicas. Without one (an offline render) it advertises its Pod IP.
pub fn command(hcp: &HostedControlPlane, address: Option<IpAddr>) -> Vec<String> {
    let network = &hcp.spec.network;
    let pki = |file: &str| format!("{CONFIG_DIR}/pki/{file}");
    let kubernetes_service = format!("https://kubernetes.default.svc.{}", network.dns_domain);
    let base = vec![
        (
            "advertise-address",
            address.map_or_else(|| "$(POD_IP)".into(), |a| a.to_string()),
        ),
        ("allow-privileged", "true".into()),
        ("authorization-mode", "Node,RBAC".into()),
        ("client-ca-file", pki("ca.crt")),
        ("enable-admission-plugins", "NodeRestriction".into()),
        ("enable-bootstrap-token-auth", "true".into()),
        (
            "egress-selector-config-file",
            format!("{CONFIG_DIR}/{}", tunnel::EGRESS_KEY),
        ),
        // podplane writes the `kubernetes` Service's endpoints in the hosted cluster (the
        // Service's address, whatever the number of API servers): each API server would
        // otherwise publish the one address they share and withdraw it when it stops.
        ("endpoint-reconciler-type", "none".into()),
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
        ("service-account-issuer", kubernetes_service.clone()),
        // Where the discovery document sends clients for the keys: a name the serving
        // certificate holds and Pods resolve, not the advertised address.
        (
            "service-account-jwks-uri",
            format!("{kubernetes_service}/openid/v1/jwks"),
        ),
        ("service-account-key-file", pki("sa.pub")),
        ("service-account-signing-key-file", pki("sa.key")),
        ("service-cluster-ip-range", network.service_cidr.clone()),
        // Watches end when the API server is signalled (clients re-watch elsewhere). Without
        // this the HTTP server waits for them up to the request timeout (60 s), and the Pod
        // is killed after 30 s with the rollout waiting on it.
        ("shutdown-watch-termination-grace-period", "5s".into()),
        ("tls-cert-file", pki("apiserver.crt")),
        ("tls-private-key-file", pki("apiserver.key")),
    ];
    let mut command = vec![Component::ApiServer.as_str().to_string()];
    command.extend(flags::render(base, &hcp.spec.api_server.extra_args));
    command
}

/// The files the API server reads, from the control plane's Secrets.
fn config_volume(names: &Names) -> Volume {
    let mut files = pod::pki_files(names, Component::ApiServer.pki_files());
    files.push(pod::config_map_file(
        names.egress_selector(),
        tunnel::EGRESS_KEY,
        tunnel::EGRESS_KEY,
    ));
    pod::projected_volume("config", files)
}

/// Seconds a stopping API server Pod keeps serving before it is signalled: what the management
/// cluster's Service needs to stop sending it new connections (rollouts lose no request).
const LEAVE_ENDPOINTS_SECONDS: i64 = 5;

pub fn deployment(hcp: &HostedControlPlane, address: Option<IpAddr>) -> Deployment {
    let names = hcp.names();
    let spec = &hcp.spec.api_server;
    let mut container = pod::container(
        Component::ApiServer,
        images::component(hcp, spec, Component::ApiServer),
        command(hcp, address),
    );
    container.env = Some(vec![pod::field_env("POD_IP", "status.podIP")]);
    container.volume_mounts = Some(vec![
        pod::read_only_mount("config", CONFIG_DIR),
        pod::writable_mount("tmp", "/tmp"),
        pod::writable_mount(tunnel::SOCKET_VOLUME, tunnel::SOCKET_DIR),
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
    container.lifecycle = Some(pod::sleep_before_stop(LEAVE_ENDPOINTS_SECONDS));
    let tmp = Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    };
    let mut deployment = workload::replicated(
        hcp,
        names.api_server(),
        Component::ApiServer,
        container,
        vec![config_volume(&names), tmp, tunnel::socket_volume()],
    );
    if let Some(pod) = deployment.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        // A native sidecar: it starts (and opens the socket) before the API server and stops
        // only after it. Stopped first, it left the stopping API server waiting on requests
        // into the tunnel until it was killed 25 s later.
        let mut sidecar = tunnel::sidecar(hcp, CONFIG_DIR);
        sidecar.restart_policy = Some("Always".into());
        pod.init_containers = Some(vec![sidecar]);
    }
    deployment
}
