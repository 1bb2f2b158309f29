//! Status: what kubectl and Cluster API read, computed from what a pass observed and did.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::observe::Observed;
use crate::api::conditions::*;
use crate::api::{HostedControlPlane, HostedControlPlaneStatus, Initialization, WorkersStatus};
use crate::components::Component;
use crate::contract::{COMPONENT, INSTANCE};
use crate::controllers::Error;
use crate::render::etcd;
use crate::tenant;

/// What a pass found out beyond the observed objects.
#[derive(Debug, Default)]
pub struct Report {
    /// Every certificate and kubeconfig is valid (or was issued in this pass).
    pub certificates_valid: bool,
    /// Whether the hosted API server answered `/readyz`; `None` when not tried.
    pub hosted: Option<Result<(), tenant::Error>>,
    /// URL of the API server, once known.
    pub endpoint: Option<String>,
    /// What each konnectivity server said about its agents; `None` when not asked.
    pub tunnel: Option<Vec<super::tunnel::Server>>,
    /// Where an upgrade stands; `None` when the pass did not get that far.
    pub rollout: Option<super::rollout::Rollout>,
}

/// Everything the status is computed from.
pub struct Inputs<'a> {
    pub hcp: &'a HostedControlPlane,
    pub observed: &'a Observed,
    pub report: &'a Report,
    /// The error the pass ended with, if any.
    pub error: Option<&'a Error>,
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
pub(super) fn pod_problem(pods: &[Arc<Pod>], component: &str) -> Option<(String, String)> {
    for pod in pods.iter().filter(|p| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(COMPONENT))
            .map(String::as_str)
            == Some(component)
    }) {
        // Sidecars (the konnectivity server) are init containers.
        let statuses = pod.status.iter().flat_map(|s| {
            let init = s.init_container_statuses.iter().flatten();
            init.chain(s.container_statuses.iter().flatten()).cloned()
        });
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
                reasons::UNSCHEDULABLE.into(),
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
            .observed
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
            reasons::AVAILABLE.into(),
            format!("{up}/{} available", names.len()),
        );
    }
    match pod_problem(&inputs.observed.pods, component) {
        Some((reason, message)) => (false, reason, message),
        None => (
            false,
            reasons::UNAVAILABLE.into(),
            format!("{up}/{} available, {needed} needed", names.len()),
        ),
    }
}

/// The condition of `type_` in `previous`, if it had one.
fn previous_condition(inputs: &Inputs, type_: &str) -> Option<Condition> {
    let status = inputs.hcp.status.as_ref()?;
    status.conditions.iter().find(|c| c.type_ == type_).cloned()
}

fn certificates(inputs: &Inputs) -> Condition {
    let (generation, now) = (inputs.hcp.metadata.generation, &inputs.now);
    if inputs.report.certificates_valid {
        let message = "every certificate and kubeconfig is valid".into();
        return condition(CERTIFICATES_READY, true, reasons::VALID, message, generation, now);
    }
    match inputs.error {
        Some(error @ Error::Pki(_)) => condition(
            CERTIFICATES_READY,
            false,
            error.reason(),
            error.to_string(),
            generation,
            now,
        ),
        _ => previous_condition(inputs, CERTIFICATES_READY).unwrap_or_else(|| {
            let message = "not checked yet".into();
            condition(
                CERTIFICATES_READY,
                false,
                reasons::UNAVAILABLE,
                message,
                generation,
                now,
            )
        }),
    }
}

/// Whether the last pass applied everything; a conflict (an outdated copy, retried at once)
/// changes nothing.
fn synced(inputs: &Inputs) -> Condition {
    let (generation, now) = (inputs.hcp.metadata.generation, &inputs.now);
    match inputs.error {
        None => {
            let message = "every child is as the spec says".into();
            condition(SYNCED, true, reasons::APPLIED, message, generation, now)
        }
        Some(error) if error.is_conflict() => previous_condition(inputs, SYNCED)
            .unwrap_or_else(|| condition(SYNCED, true, reasons::APPLIED, String::new(), generation, now)),
        Some(error) => condition(SYNCED, false, error.reason(), error.to_string(), generation, now),
    }
}

/// The four components' conditions: etcd (quorum), API server, controller-manager, scheduler.
fn components(inputs: &Inputs) -> [Condition; 4] {
    let hcp = inputs.hcp;
    let names = hcp.names();
    let (generation, now) = (hcp.metadata.generation, &inputs.now);
    let members: Vec<String> = (0..etcd::member_count(hcp))
        .map(|i| names.etcd_member(i))
        .collect();
    let quorum = members.len() / 2 + 1;
    let component = |type_: &str, component: Component, deployments: &[String], needed: usize| {
        let (ok, reason, message) = component_state(inputs, component.as_str(), deployments, needed);
        condition(type_, ok, &reason, message, generation, now)
    };
    [
        component(ETCD_AVAILABLE, Component::Etcd, &members, quorum),
        component(
            API_SERVER_AVAILABLE,
            Component::ApiServer,
            &[names.api_server()],
            1,
        ),
        component(
            CONTROLLER_MANAGER_AVAILABLE,
            Component::ControllerManager,
            &[names.controller_manager()],
            1,
        ),
        component(SCHEDULER_AVAILABLE, Component::Scheduler, &[names.scheduler()], 1),
    ]
}

fn ready(inputs: &Inputs, parts: &[&Condition]) -> Condition {
    let (generation, now) = (inputs.hcp.metadata.generation, &inputs.now);
    if let Some(failing) = parts.iter().find(|c| c.status != "True") {
        let message = format!("{} is False: {}", failing.type_, failing.message);
        return condition(
            READY,
            false,
            reasons::COMPONENTS_NOT_READY,
            message,
            generation,
            now,
        );
    }
    match &inputs.report.hosted {
        Some(Ok(())) => {
            let message = "the control plane serves requests".into();
            condition(READY, true, reasons::READY, message, generation, now)
        }
        Some(Err(why)) => condition(READY, false, why.reason(), why.to_string(), generation, now),
        None => {
            let message = "the hosted API server was not reached".into();
            condition(
                READY,
                false,
                reasons::API_SERVER_NOT_RESPONDING,
                message,
                generation,
                now,
            )
        }
    }
}

/// The status of a control plane that Cluster API paused: what it was, with Paused True.
pub fn paused_status(hcp: &HostedControlPlane, why: String, now: Time) -> HostedControlPlaneStatus {
    let mut status = hcp.status.clone().unwrap_or_default();
    mark_paused(&mut status.conditions, why, hcp.metadata.generation, &now);
    status
}

/// The status for `inputs`, keeping transition times of conditions that did not change.
pub fn compute(inputs: &Inputs) -> HostedControlPlaneStatus {
    let hcp = inputs.hcp;
    let previous = hcp.status.as_ref();
    let names = hcp.names();
    let certificates = certificates(inputs);
    let [etcd, api_server, controller_manager, scheduler] = components(inputs);
    let ready = ready(
        inputs,
        &[&certificates, &etcd, &api_server, &controller_manager, &scheduler],
    );
    let is_ready = ready.status == "True";
    let available = Condition {
        type_: AVAILABLE.into(),
        ..ready.clone()
    };
    let api = inputs
        .observed
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_ref() == Some(&names.api_server()));
    let api_status = api.and_then(|d| d.status.clone()).unwrap_or_default();
    let answered = matches!(inputs.report.hosted, Some(Ok(())));
    let initialized = previous.is_some_and(|p| p.initialized) || answered;
    let mut conditions = vec![
        ready,
        available,
        not_paused(hcp.metadata.generation, &inputs.now),
        certificates,
        etcd,
        api_server,
        controller_manager,
        scheduler,
        synced(inputs),
    ];
    match &inputs.report.tunnel {
        Some(servers) => conditions.push(super::tunnel::available(
            servers,
            hcp.metadata.generation,
            &inputs.now,
        )),
        None => conditions.extend(previous_condition(inputs, TUNNEL_AVAILABLE)),
    }
    match &inputs.report.rollout {
        Some(rollout) => conditions.push(rollout.condition(hcp, &inputs.now)),
        None => conditions.extend(previous_condition(inputs, ROLLING_OUT)),
    }
    keep_transition_times(
        &mut conditions,
        previous.map(|p| p.conditions.as_slice()).unwrap_or_default(),
    );
    let machines = &inputs.observed.machines;
    HostedControlPlaneStatus {
        ready: is_ready,
        initialized,
        initialization: Some(Initialization {
            control_plane_initialized: initialized,
            // As a Cluster's infrastructure: Cluster API connects to the cluster once this is
            // set, and waits long before retrying a connection that failed; so only once the
            // endpoint answers.
            provisioned: initialized && inputs.report.endpoint.is_some(),
        }),
        // The oldest version a running component has (during an upgrade, the one being left);
        // without annotated Pods: the spec's version once Ready, else the last one reported,
        // else (a new control plane) the version its Deployments were just created with. Cluster
        // API holds back a new cluster's Machines while this is empty.
        version: super::rollout::oldest_running(&inputs.observed.pods)
            .or_else(|| is_ready.then(|| hcp.spec.version.clone()))
            .or_else(|| previous.and_then(|p| p.version.clone()))
            .or_else(|| api.is_some().then(|| hcp.spec.version.clone())),
        replicas: api_status.replicas.unwrap_or(0),
        ready_replicas: api_status.ready_replicas.unwrap_or(0),
        available_replicas: api_status.available_replicas.unwrap_or(0),
        up_to_date_replicas: api_status.updated_replicas.unwrap_or(0),
        updated_replicas: api_status.updated_replicas.unwrap_or(0),
        unavailable_replicas: api_status.unavailable_replicas.unwrap_or(0),
        selector: Some(format!(
            "{COMPONENT}={},{INSTANCE}={}",
            Component::ApiServer.as_str(),
            names.control_plane()
        )),
        endpoint: inputs.report.endpoint.clone(),
        external_managed_control_plane: Some(true),
        observed_generation: hcp.metadata.generation,
        conditions,
        workers: hcp.spec.workers.as_ref().map(|_| WorkersStatus {
            replicas: machines.len() as i32,
            ready_replicas: machines
                .iter()
                .filter(|m| m.status.as_ref().is_some_and(|s| s.ready))
                .count() as i32,
        }),
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
