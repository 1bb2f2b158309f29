//! kube-controller-manager: a Deployment with leader election.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Volume;

use super::meta::Component;
use super::pod;
use super::workload;
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::names::Names;
use crate::pki::{KUBECONFIG_KEY, TLS_CERT, TLS_KEY};

pub const SECURE_PORT: i32 = 10257;
const CONFIG_DIR: &str = "/etc/kubernetes";

pub fn command(hcp: &HostedControlPlane) -> Vec<String> {
    let kubeconfig = format!("{CONFIG_DIR}/controller-manager.conf");
    let pki = |file: &str| format!("{CONFIG_DIR}/pki/{file}");
    let network = &hcp.spec.network;
    let base = vec![
        ("allocate-node-cidrs", "true".into()),
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "0.0.0.0".into()),
        ("client-ca-file", pki("ca.crt")),
        ("cluster-cidr", network.pod_cidr.clone()),
        ("cluster-name", hcp.name_any_or_default()),
        ("cluster-signing-cert-file", pki("ca.crt")),
        ("cluster-signing-key-file", pki("ca.key")),
        ("controllers", "*,bootstrapsigner,tokencleaner".into()),
        ("kubeconfig", kubeconfig),
        ("leader-elect", "true".into()),
        ("profiling", "false".into()),
        ("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        ("root-ca-file", pki("ca.crt")),
        ("secure-port", SECURE_PORT.to_string()),
        ("service-account-private-key-file", pki("sa.key")),
        ("service-cluster-ip-range", network.service_cidr.clone()),
        ("use-service-account-credentials", "true".into()),
    ];
    let mut command = vec!["kube-controller-manager".to_string()];
    command.extend(flags::render(base, &hcp.spec.controller_manager.extra_args));
    command
}

fn config_volume(names: &Names) -> Volume {
    pod::projected_volume(
        "config",
        vec![
            pod::secret_file(
                names.controller_manager_kubeconfig_secret(),
                KUBECONFIG_KEY,
                "controller-manager.conf",
            ),
            pod::secret_file(names.ca_secret(), TLS_CERT, "pki/ca.crt"),
            pod::secret_file(names.ca_secret(), TLS_KEY, "pki/ca.key"),
            pod::secret_file(names.front_proxy_ca_secret(), TLS_CERT, "pki/front-proxy-ca.crt"),
            pod::secret_file(names.service_account_secret(), TLS_KEY, "pki/sa.key"),
        ],
    )
}

pub fn deployment(hcp: &HostedControlPlane) -> Deployment {
    let names = Names::new(&hcp.name_any_or_default());
    let spec = &hcp.spec.controller_manager;
    let image = images::component(hcp, spec, "kube-controller-manager");
    let mut container = pod::container("kube-controller-manager", image, command(hcp));
    container.ports = Some(pod::https_port(SECURE_PORT));
    container.volume_mounts = Some(vec![pod::read_only_mount("config", CONFIG_DIR)]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTPS",
            port: SECURE_PORT,
            live: "/healthz",
            ready: "/healthz",
            startup_seconds: 240,
        },
    );
    container.resources = Some(pod::resources(spec.resources.as_ref(), "50m", "64Mi"));
    workload::replicated(
        hcp,
        names.controller_manager(),
        Component::ControllerManager,
        container,
        vec![config_volume(&names)],
    )
}
