//! kube-controller-manager: a Deployment with leader election.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Volume;

use super::pod;
use super::workload;
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::components::{CONTROLLER_MANAGER_PORT, Component};
use crate::names::Names;

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
        ("secure-port", CONTROLLER_MANAGER_PORT.number.to_string()),
        ("service-account-private-key-file", pki("sa.key")),
        ("service-cluster-ip-range", network.service_cidr.clone()),
        ("use-service-account-credentials", "true".into()),
    ];
    let mut command = vec![Component::ControllerManager.as_str().to_string()];
    command.extend(flags::render(base, &hcp.spec.controller_manager.extra_args));
    command
}

fn config_volume(names: &Names) -> Volume {
    pod::projected_volume(
        "config",
        pod::pki_files(names, Component::ControllerManager.pki_files()),
    )
}

pub fn deployment(hcp: &HostedControlPlane) -> Deployment {
    let names = hcp.names();
    let spec = &hcp.spec.controller_manager;
    let image = images::component(hcp, spec, Component::ControllerManager);
    let mut container = pod::container(Component::ControllerManager, image, command(hcp));
    container.volume_mounts = Some(vec![pod::read_only_mount("config", CONFIG_DIR)]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTPS",
            port: CONTROLLER_MANAGER_PORT.number,
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
