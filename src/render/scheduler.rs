//! kube-scheduler: a Deployment with leader election, configured from a ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerPort, PodSpec, Volume};

use super::meta::{Component, object_meta, selector};
use super::pod::{self, LIVENESS, READINESS};
use super::workload::{self, Rollout};
use super::{flags, images};
use crate::api::HostedControlPlane;
use crate::names::Names;
use crate::pki::KUBECONFIG_KEY;

pub const SECURE_PORT: i32 = 10259;
const CONFIG_DIR: &str = "/etc/kubernetes";
const CONFIG_KEY: &str = "kube-scheduler.yaml";

/// The scheduler's KubeSchedulerConfiguration.
pub fn config_map(hcp: &HostedControlPlane) -> ConfigMap {
    let names = Names::new(&hcp.name_any_or_default());
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
        ("secure-port", SECURE_PORT.to_string()),
    ];
    let mut command = vec!["kube-scheduler".to_string()];
    command.extend(flags::render(base, &hcp.spec.scheduler.extra_args));
    command
}

fn config_volume(names: &Names) -> Volume {
    pod::projected_volume(
        "config",
        vec![
            pod::secret_file(
                names.scheduler_kubeconfig_secret(),
                KUBECONFIG_KEY,
                "scheduler.conf",
            ),
            pod::config_map_file(names.scheduler(), CONFIG_KEY, CONFIG_KEY),
        ],
    )
}

pub fn deployment(hcp: &HostedControlPlane) -> Deployment {
    let names = Names::new(&hcp.name_any_or_default());
    let spec = &hcp.spec.scheduler;
    let mut container = pod::container(
        "kube-scheduler",
        images::component(hcp, spec, "kube-scheduler"),
        command(hcp),
    );
    container.ports = Some(vec![ContainerPort {
        name: Some("https".into()),
        container_port: SECURE_PORT,
        ..Default::default()
    }]);
    container.volume_mounts = Some(vec![pod::read_only_mount("config", CONFIG_DIR)]);
    container.startup_probe = Some(pod::http_probe("HTTPS", "/livez", SECURE_PORT, pod::startup(240)));
    container.readiness_probe = Some(pod::http_probe("HTTPS", "/readyz", SECURE_PORT, READINESS));
    container.liveness_probe = Some(pod::http_probe("HTTPS", "/livez", SECURE_PORT, LIVENESS));
    container.resources = Some(pod::resources(spec.resources.as_ref(), "20m", "32Mi"));
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![config_volume(&names)]),
        affinity: Some(pod::spread(selector(hcp, Component::Scheduler))),
        ..Default::default()
    };
    workload::deployment(
        hcp,
        names.scheduler(),
        Component::Scheduler,
        hcp.spec.replicas,
        Rollout::Surge,
        selector(hcp, Component::Scheduler),
        pod_spec,
    )
}
