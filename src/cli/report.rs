//! What `status` and `wait` tell about a control plane, computed from a [`Snapshot`] without
//! touching the API.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::format::image_tag;
use super::observe::Snapshot;
use crate::api::conditions::{self, PAUSED, ROLLING_OUT, reasons};
use crate::api::{HostedControlPlane, PodMachine};
use crate::components::Component;
use crate::render::etcd;

/// One Deployment of the control plane.
pub struct ComponentRow {
    /// `etcd-0`, `kube-apiserver`, ...
    pub name: String,
    pub component: Component,
    pub ready: i32,
    pub desired: i32,
    /// Image tags the component's running containers report (the Deployment's when none runs).
    pub tags: Vec<String>,
    pub exists: bool,
}

/// One PodMachine of the control plane.
pub struct WorkerRow {
    pub name: String,
    pub phase: String,
    pub node: Option<String>,
    pub ready: bool,
    /// Why it is not Ready (reason: message); empty when Ready.
    pub why: String,
}

/// A condition that is not as it should be.
pub struct Problem {
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// The condition reporting on `component`.
pub fn condition_of(component: Component) -> &'static str {
    match component {
        Component::Etcd => conditions::ETCD_AVAILABLE,
        Component::ApiServer => conditions::API_SERVER_AVAILABLE,
        Component::ControllerManager => conditions::CONTROLLER_MANAGER_AVAILABLE,
        Component::Scheduler => conditions::SCHEDULER_AVAILABLE,
    }
}

pub fn condition<'a>(hcp: &'a HostedControlPlane, type_: &str) -> Option<&'a Condition> {
    hcp.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

fn running_tags(snapshot: &Snapshot, deployment: &Deployment, component: Component) -> Vec<String> {
    let selector = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let mut tags: Vec<String> = snapshot
        .pods
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .filter(|c| c.name == component.as_str() && c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .map(|c| image_tag(&c.image).to_string())
        .collect();
    if tags.is_empty() {
        tags = deployment
            .spec
            .iter()
            .flat_map(|s| s.template.spec.iter().flat_map(|p| p.containers.iter()))
            .filter(|c| c.name == component.as_str())
            .filter_map(|c| c.image.as_deref().map(|i| image_tag(i).to_string()))
            .collect();
    }
    tags.sort();
    tags.dedup();
    tags
}

/// Every Deployment the control plane should have, etcd members first.
pub fn components(snapshot: &Snapshot) -> Vec<ComponentRow> {
    let hcp = &snapshot.hcp;
    let names = hcp.names();
    let prefix = format!("{}-", names.control_plane());
    let mut wanted: Vec<(String, Component)> = (0..etcd::member_count(hcp))
        .map(|i| (names.etcd_member(i), Component::Etcd))
        .collect();
    wanted.push((names.api_server(), Component::ApiServer));
    wanted.push((names.controller_manager(), Component::ControllerManager));
    wanted.push((names.scheduler(), Component::Scheduler));
    wanted
        .into_iter()
        .map(|(name, component)| {
            let deployment = snapshot
                .deployments
                .iter()
                .find(|d| d.metadata.name.as_ref() == Some(&name));
            let desired = deployment.and_then(|d| d.spec.as_ref()?.replicas).unwrap_or(
                if component == Component::Etcd {
                    1
                } else {
                    hcp.spec.replicas
                },
            );
            ComponentRow {
                name: name.strip_prefix(&prefix).unwrap_or(&name).to_string(),
                component,
                ready: deployment
                    .and_then(|d| d.status.as_ref()?.ready_replicas)
                    .unwrap_or(0),
                desired,
                tags: deployment
                    .map(|d| running_tags(snapshot, d, component))
                    .unwrap_or_default(),
                exists: deployment.is_some(),
            }
        })
        .collect()
}

/// A machine counts as a Ready worker when its status says Ready and its Node is Ready.
pub fn worker_ready(machine: &PodMachine) -> bool {
    machine.status.as_ref().is_some_and(|s| s.ready)
        && machine
            .condition(conditions::NODE_READY)
            .is_some_and(|c| c.status == "True")
}

pub fn worker_row(machine: &PodMachine) -> WorkerRow {
    let ready = worker_ready(machine);
    let why = match machine.condition(conditions::READY) {
        Some(c) if !ready => format!("{}: {}", c.reason, c.message),
        None if !ready => "no status yet".into(),
        _ => String::new(),
    };
    WorkerRow {
        name: machine.metadata.name.clone().unwrap_or_default(),
        phase: machine.phase().into(),
        node: machine
            .status
            .as_ref()
            .and_then(|s| s.node_ref.as_ref())
            .map(|n| n.name.clone()),
        ready,
        why,
    }
}

/// Workers asked for in `spec.workers.replicas`.
pub fn requested_workers(hcp: &HostedControlPlane) -> i32 {
    hcp.spec.workers.as_ref().map_or(0, |w| w.replicas)
}

/// Every condition that is not as it should be (True; False for Paused; RollingOut neither
/// Stalled nor DowngradeRefused), and a status the operator has not written or not brought up
/// to the current generation.
pub fn problems(hcp: &HostedControlPlane) -> Vec<Problem> {
    let Some(status) = hcp.status.as_ref() else {
        return vec![Problem {
            type_: "Status".into(),
            reason: "NoStatus".into(),
            message: "the operator has not reported on this control plane yet; is it running? \
                      (kubectl -n podplane-system get deploy podplane)"
                .into(),
        }];
    };
    let mut problems = vec![];
    if let (Some(generation), Some(observed)) = (hcp.metadata.generation, status.observed_generation)
        && observed < generation
    {
        problems.push(Problem {
            type_: "Status".into(),
            reason: "Outdated".into(),
            message: format!("the status describes generation {observed}, the spec is at {generation}"),
        });
    }
    let healthy = |c: &Condition| match c.type_.as_str() {
        PAUSED => c.status != "True",
        // An upgrade under way is no problem; a stalled or refused one is.
        ROLLING_OUT => c.reason != reasons::ROLLOUT_STALLED && c.reason != reasons::DOWNGRADE_REFUSED,
        _ => c.status == "True",
    };
    for c in status.conditions.iter().filter(|c| !healthy(c)) {
        // Available mirrors Ready (Cluster API reads one, kubectl users the other): say it once.
        if problems
            .iter()
            .any(|p| p.reason == c.reason && p.message == c.message)
        {
            continue;
        }
        problems.push(Problem {
            type_: c.type_.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        });
    }
    problems
}

/// Ready True at the current generation.
pub fn control_plane_ready(hcp: &HostedControlPlane) -> bool {
    let current = match (
        hcp.metadata.generation,
        hcp.status.as_ref().and_then(|s| s.observed_generation),
    ) {
        (Some(generation), Some(observed)) => observed >= generation,
        _ => true,
    };
    current && condition(hcp, conditions::READY).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
