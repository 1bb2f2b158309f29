//! Status: what kubectl and Cluster API read, computed from what was observed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions::*;
use crate::api::{HostedControlPlane, HostedControlPlaneStatus, Initialization, PodMachine, WorkersStatus};
use crate::names::Names;
use crate::render::etcd;
use crate::render::meta::{COMPONENT, INSTANCE};

/// Everything the status is computed from.
pub struct Inputs<'a> {
    pub hcp: &'a HostedControlPlane,
    pub deployments: &'a [Deployment],
    pub pods: &'a [Pod],
    pub machines: &'a [PodMachine],
    /// Ok, or why certificates could not be completed.
    pub certificates: Result<(), String>,
    /// Ok when the hosted API server answered `/readyz`, else why not.
    pub hosted: Result<(), String>,
    /// URL of the API server, once known.
    pub endpoint: Option<String>,
    pub now: Time,
}

fn available(deployment: &Deployment) -> i32 {
    deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// Why the Pods of `component` are not running, from their container states.
fn pod_problem(pods: &[Pod], component: &str) -> Option<(String, String)> {
    for pod in pods.iter().filter(|p| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(COMPONENT))
            .map(String::as_str)
            == Some(component)
    }) {
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        for status in statuses {
            if let Some(waiting) = status.state.and_then(|s| s.waiting) {
                let reason = waiting.reason.unwrap_or_default();
                if matches!(
                    reason.as_str(),
                    "ErrImagePull"
                        | "ImagePullBackOff"
                        | "ErrImageNeverPull"
                        | "InvalidImageName"
                        | "CrashLoopBackOff"
                        | "CreateContainerConfigError"
                        | "CreateContainerError"
                ) {
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    let message = waiting.message.unwrap_or_default();
                    return Some((
                        reason,
                        format!("Pod {pod_name}: {message}")
                            .trim_end_matches(": ")
                            .to_string(),
                    ));
                }
            }
        }
        if let Some(scheduled) = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
        {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            return Some((
                "Unschedulable".into(),
                format!(
                    "Pod {pod_name}: {}",
                    scheduled.message.clone().unwrap_or_default()
                ),
            ));
        }
    }
    None
}

/// (available, reason, message) of a component made of the Deployments `names`.
fn component_state(
    inputs: &Inputs,
    component: &str,
    names: &[String],
    needed: usize,
) -> (bool, String, String) {
    let mut up = 0;
    for name in names {
        if inputs
            .deployments
            .iter()
            .any(|d| d.metadata.name.as_ref() == Some(name) && available(d) > 0)
        {
            up += 1;
        }
    }
    if up >= needed {
        return (
            true,
            "Available".into(),
            format!("{up}/{} available", names.len()),
        );
    }
    match pod_problem(inputs.pods, component) {
        Some((reason, message)) => (false, reason, message),
        None => (
            false,
            "Unavailable".into(),
            format!("{up}/{} available, {needed} needed", names.len()),
        ),
    }
}

/// The status for `inputs`, keeping transition times of conditions that did not change.
pub fn compute(inputs: &Inputs, previous: Option<&HostedControlPlaneStatus>) -> HostedControlPlaneStatus {
    let hcp = inputs.hcp;
    let names = Names::new(&hcp.name_any_or_default());
    let generation = hcp.metadata.generation;
    let now = &inputs.now;

    let certificates = match &inputs.certificates {
        Ok(()) => condition(
            CERTIFICATES_READY,
            true,
            "Valid",
            "every certificate and kubeconfig is valid".into(),
            generation,
            now,
        ),
        Err(message) => condition(
            CERTIFICATES_READY,
            false,
            "BrokenCertificateAuthority",
            message.clone(),
            generation,
            now,
        ),
    };
    let members: Vec<String> = (0..etcd::member_count(hcp))
        .map(|i| names.etcd_member(i))
        .collect();
    let quorum = members.len() / 2 + 1;
    let component = |type_: &str, component: &str, deployments: &[String], needed: usize| {
        let (ok, reason, message) = component_state(inputs, component, deployments, needed);
        condition(type_, ok, &reason, message, generation, now)
    };
    let etcd = component(ETCD_AVAILABLE, "etcd", &members, quorum);
    let api_server = component(API_SERVER_AVAILABLE, "kube-apiserver", &[names.api_server()], 1);
    let controller_manager = component(
        CONTROLLER_MANAGER_AVAILABLE,
        "kube-controller-manager",
        &[names.controller_manager()],
        1,
    );
    let scheduler = component(SCHEDULER_AVAILABLE, "kube-scheduler", &[names.scheduler()], 1);

    let parts = [&certificates, &etcd, &api_server, &controller_manager, &scheduler];
    let ready = match (parts.iter().find(|c| c.status != "True"), &inputs.hosted) {
        (Some(failing), _) => condition(
            READY,
            false,
            "ComponentsNotReady",
            format!("{} is False: {}", failing.type_, failing.message),
            generation,
            now,
        ),
        (None, Err(why)) => condition(
            READY,
            false,
            "APIServerNotResponding",
            why.clone(),
            generation,
            now,
        ),
        (None, Ok(())) => condition(
            READY,
            true,
            "Ready",
            "the control plane serves requests".into(),
            generation,
            now,
        ),
    };
    let is_ready = ready.status == "True";

    let api = inputs
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_ref() == Some(&names.api_server()));
    let api_status = api.and_then(|d| d.status.clone()).unwrap_or_default();
    let previously_initialized = previous.map(|p| p.initialized).unwrap_or(false);
    let initialized = previously_initialized || inputs.hosted.is_ok();

    let mut conditions = vec![
        ready,
        certificates,
        etcd,
        api_server,
        controller_manager,
        scheduler,
    ];
    keep_transition_times(
        &mut conditions,
        previous.map(|p| p.conditions.as_slice()).unwrap_or_default(),
    );
    HostedControlPlaneStatus {
        ready: is_ready,
        initialized,
        initialization: Some(Initialization {
            control_plane_initialized: initialized,
            provisioned: inputs.endpoint.is_some(),
        }),
        version: is_ready
            .then(|| hcp.spec.version.clone())
            .or_else(|| previous.and_then(|p| p.version.clone())),
        replicas: api_status.replicas.unwrap_or(0),
        ready_replicas: api_status.ready_replicas.unwrap_or(0),
        updated_replicas: api_status.updated_replicas.unwrap_or(0),
        unavailable_replicas: api_status.unavailable_replicas.unwrap_or(0),
        selector: Some(format!(
            "{COMPONENT}=kube-apiserver,{INSTANCE}={}",
            names.cluster()
        )),
        endpoint: inputs.endpoint.clone(),
        external_managed_control_plane: Some(true),
        observed_generation: generation,
        conditions,
        workers: hcp.spec.workers.as_ref().map(|_| WorkersStatus {
            replicas: inputs.machines.len() as i32,
            ready_replicas: inputs
                .machines
                .iter()
                .filter(|m| m.status.as_ref().is_some_and(|s| s.ready))
                .count() as i32,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn hcp() -> HostedControlPlane {
        let mut hcp = HostedControlPlane::new(
            "demo",
            serde_json::from_value(serde_json::json!({"version": "v1.36.3"})).unwrap(),
        );
        hcp.metadata.namespace = Some("t".into());
        hcp.metadata.generation = Some(3);
        hcp
    }

    fn deployment(name: &str, available: i32) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(DeploymentStatus {
                available_replicas: Some(available),
                replicas: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn all_up() -> Vec<Deployment> {
        [
            "demo-etcd-0",
            "demo-kube-apiserver",
            "demo-kube-controller-manager",
            "demo-kube-scheduler",
        ]
        .iter()
        .map(|n| deployment(n, 1))
        .collect()
    }

    fn inputs<'a>(hcp: &'a HostedControlPlane, deployments: &'a [Deployment], pods: &'a [Pod]) -> Inputs<'a> {
        Inputs {
            hcp,
            deployments,
            pods,
            machines: &[],
            certificates: Ok(()),
            hosted: Ok(()),
            endpoint: Some("https://demo-kube-apiserver.t.svc:6443".into()),
            now: Time(k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap()),
        }
    }

    fn find<'a>(status: &'a HostedControlPlaneStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn everything_available_and_answering_is_ready() {
        let hcp = hcp();
        let deployments = all_up();
        let status = compute(&inputs(&hcp, &deployments, &[]), None);
        assert!(status.ready && status.initialized);
        assert_eq!(status.version.as_deref(), Some("v1.36.3"));
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.status == "True" && c.observed_generation == Some(3))
        );
        assert_eq!(
            status.selector.as_deref(),
            Some("app.kubernetes.io/component=kube-apiserver,app.kubernetes.io/instance=demo")
        );
    }

    #[test]
    fn a_pull_failure_is_named_in_the_condition() {
        let hcp = hcp();
        let mut deployments = all_up();
        deployments[1] = deployment("demo-kube-apiserver", 0);
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("demo-kube-apiserver-abc".into()),
                labels: Some(BTreeMap::from([(
                    COMPONENT.to_string(),
                    "kube-apiserver".to_string(),
                )])),
                ..Default::default()
            },
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("ErrImageNeverPull".into()),
                            message: Some("image \"x/none:v0\" is not present".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut input = inputs(&hcp, &deployments, std::slice::from_ref(&pod));
        input.hosted = Err("connection refused".into());
        let status = compute(&input, None);
        let api = find(&status, API_SERVER_AVAILABLE);
        assert_eq!(
            (api.status.as_str(), api.reason.as_str()),
            ("False", "ErrImageNeverPull")
        );
        assert!(api.message.contains("demo-kube-apiserver-abc") && api.message.contains("not present"));
        let ready = find(&status, READY);
        assert_eq!(ready.reason, "ComponentsNotReady");
        assert!(!status.ready && !status.initialized);
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time_and_initialized_sticks() {
        let hcp = hcp();
        let deployments = all_up();
        let first = compute(&inputs(&hcp, &deployments, &[]), None);
        let mut later = inputs(&hcp, &deployments, &[]);
        later.now = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).unwrap());
        later.hosted = Err("timeout".into());
        let second = compute(&later, Some(&first));
        assert_eq!(
            find(&second, ETCD_AVAILABLE).last_transition_time,
            find(&first, ETCD_AVAILABLE).last_transition_time
        );
        assert_ne!(
            find(&second, READY).last_transition_time,
            find(&first, READY).last_transition_time
        );
        assert!(second.initialized && !second.ready);
    }

    #[test]
    fn etcd_keeps_quorum_with_one_of_three_members_down() {
        let mut hcp = hcp();
        hcp.spec.etcd.replicas = 3;
        let mut deployments = all_up();
        deployments.push(deployment("demo-etcd-1", 1));
        deployments.push(deployment("demo-etcd-2", 0));
        let status = compute(&inputs(&hcp, &deployments, &[]), None);
        assert_eq!(find(&status, ETCD_AVAILABLE).status, "True");
        deployments.retain(|d| d.metadata.name.as_deref() != Some("demo-etcd-1"));
        let status = compute(&inputs(&hcp, &deployments, &[]), None);
        assert_eq!(find(&status, ETCD_AVAILABLE).status, "False");
    }
}
