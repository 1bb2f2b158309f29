//! kube-scheduler: a Deployment with leader election, configured from a ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Volume};

use super::meta::object_meta;
use super::pod;
use super::workload;
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::components::{Component, SCHEDULER_PORT};
use crate::names::Names;

const CONFIG_DIR: &str = "/etc/kubernetes";
const CONFIG_KEY: &str = "kube-scheduler.yaml";

/// The scheduler's KubeSchedulerConfiguration.
pub fn config_map(hcp: &HostedControlPlane) -> ConfigMap {
    let names = hcp.names();
    let config = format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         clientConnection:\n  kubeconfig: {CONFIG_DIR}/scheduler.conf\n\
         leaderElection:\n  leaderElect: true\n"
    );
    ConfigMap {
        metadata: object_meta(hcp, names.scheduler(), Component::Scheduler),
        data: Some(BTreeMap::from([(CONFIG_KEY.to_string(), config)])),
        ..Default::default()
    }
}

pub fn command(hcp: &HostedControlPlane) -> Vec<String> {
    let kubeconfig = format!("{CONFIG_DIR}/scheduler.conf");
    let base = vec![
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig),
        ("bind-address", "0.0.0.0".into()),
        ("config", format!("{CONFIG_DIR}/{CONFIG_KEY}")),
        ("profiling", "false".into()),
        ("secure-port", SCHEDULER_PORT.number.to_string()),
    ];
    let mut command = vec![Component::Scheduler.as_str().to_string()];
    command.extend(flags::render(base, &hcp.spec.scheduler.extra_args));
    command
}

fn config_volume(names: &Names) -> Volume {
    let mut files = pod::pki_files(names, Component::Scheduler.pki_files());
    files.push(pod::config_map_file(names.scheduler(), CONFIG_KEY, CONFIG_KEY));
    pod::projected_volume("config", files)
}

pub fn deployment(hcp: &HostedControlPlane) -> Deployment {
    let names = hcp.names();
    let spec = &hcp.spec.scheduler;
    let mut container = pod::container(
        Component::Scheduler,
        images::component(hcp, spec, Component::Scheduler),
        command(hcp),
    );
    container.volume_mounts = Some(vec![pod::read_only_mount("config", CONFIG_DIR)]);
    pod::probe(
        &mut container,
        pod::Health {
            scheme: "HTTPS",
            port: SCHEDULER_PORT.number,
            live: "/livez",
            ready: "/readyz",
            startup_seconds: 240,
        },
    );
    container.resources = Some(pod::resources(spec.resources.as_ref(), "20m", "32Mi"));
    workload::replicated(
        hcp,
        names.scheduler(),
        Component::Scheduler,
        container,
        vec![config_volume(&names)],
    )
}
