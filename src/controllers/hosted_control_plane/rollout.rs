//! Upgrades in the order of Kubernetes' version skew policy (pure): etcd member by member
//! when its image changes, then every kube-apiserver, then controller-manager and scheduler;
//! workers once the whole control plane runs the new version. A component whose turn has not
//! come keeps what runs (its Deployment is held); a step is finished when its Deployments
//! run the new version with every replica updated and available.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::observe::Observed;
use super::worker_rollout::{self, WorkerRollout};
use crate::api::HostedControlPlane;
use crate::api::conditions::{ROLLING_OUT, condition, reasons};
use crate::components::Component;
use crate::contract::{ALLOW_PATCH_DOWNGRADE, COMPONENT, VERSION_ANNOTATION};
use crate::render::images;
use crate::versions;

/// A step of an upgrade, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Etcd,
    ApiServer,
    ControllerManagerAndScheduler,
    Workers,
}

impl Step {
    /// The `RollingOut` reason while this step runs.
    pub fn reason(self) -> &'static str {
        match self {
            Step::Etcd => reasons::ROLLING_OUT_ETCD,
            Step::ApiServer => reasons::ROLLING_OUT_API_SERVER,
            Step::ControllerManagerAndScheduler => reasons::ROLLING_OUT_CONTROLLERS,
            Step::Workers => reasons::ROLLING_OUT_WORKERS,
        }
    }

    fn components(self) -> &'static [Component] {
        match self {
            Step::Etcd => &[Component::Etcd],
            Step::ApiServer => &[Component::ApiServer],
            Step::ControllerManagerAndScheduler => &[Component::ControllerManager, Component::Scheduler],
            Step::Workers => &[],
        }
    }
}

/// Where the control plane's rollout stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlPlaneRollout {
    /// The first step not finished while some component still runs an older version.
    pub step: Option<Step>,
    /// Deployments that keep what runs until the steps before them finished.
    pub held: BTreeSet<String>,
    /// Why the step cannot go on: a Pod of the new version that does not start.
    pub stalled: Option<String>,
    /// Why nothing moves to `spec.version` at all (a patch downgrade not allowed).
    pub refused: Option<String>,
    /// The oldest version a running control-plane Pod has.
    pub running: Option<String>,
    /// New API server Pods count as available only after [`AGENT_WAIT_SECONDS`]: the
    /// konnectivity agents have not found every new server yet (see `tunnel::hold_for_agents`).
    pub wait_for_agents: bool,
}

/// The longest a new API server Pod waits for a konnectivity agent before an old one stops.
pub const AGENT_WAIT_SECONDS: i32 = 30;

impl ControlPlaneRollout {
    /// Every component runs `spec.version` (and etcd its paired image), fully rolled out.
    pub fn finished(&self) -> bool {
        self.step.is_none() && self.refused.is_none()
    }
}

fn component_of(deployment: &Deployment) -> Option<&str> {
    deployment
        .metadata
        .labels
        .as_ref()?
        .get(COMPONENT)
        .map(String::as_str)
}

/// The version a control-plane component's Pods run (from the Pod template).
fn template_version(deployment: &Deployment) -> Option<&str> {
    let template = deployment.spec.as_ref()?.template.metadata.as_ref()?;
    template
        .annotations
        .as_ref()?
        .get(VERSION_ANNOTATION)
        .map(String::as_str)
}

fn first_image(deployment: &Deployment) -> Option<&str> {
    let spec = deployment.spec.as_ref()?.template.spec.as_ref()?;
    spec.containers.first()?.image.as_deref()
}

/// Every replica runs the current template and is available, and no old Pod is left.
pub fn rolled_out(deployment: &Deployment) -> bool {
    let wanted = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &deployment.status else {
        return false;
    };
    status.observed_generation >= deployment.metadata.generation
        && status.updated_replicas.unwrap_or(0) == wanted
        && status.available_replicas.unwrap_or(0) == wanted
        && status.replicas.unwrap_or(0) == wanted
}

/// Whether `deployment` (of `component`) is at what `hcp` asks for.
fn at_target(hcp: &HostedControlPlane, component: Component, deployment: &Deployment) -> bool {
    if component == Component::Etcd {
        first_image(deployment) == Some(images::etcd(hcp).as_str())
    } else {
        template_version(deployment) == Some(hcp.spec.version.as_str())
    }
}

/// Where the control plane's rollout stands, from its live Deployments and Pods.
pub fn control_plane(
    hcp: &HostedControlPlane,
    deployments: &[Arc<Deployment>],
    pods: &[Arc<Pod>],
) -> ControlPlaneRollout {
    let mut rollout = ControlPlaneRollout {
        running: oldest_running(pods),
        ..ControlPlaneRollout::default()
    };
    let mut behind = false;
    let mut unfinished = None;
    for step in [Step::Etcd, Step::ApiServer, Step::ControllerManagerAndScheduler] {
        let mut of_step: Vec<(Component, &Deployment)> = deployments
            .iter()
            .filter_map(|d| {
                let component = step
                    .components()
                    .iter()
                    .find(|c| component_of(d) == Some(c.as_str()))?;
                Some((*component, d.as_ref()))
            })
            .collect();
        of_step.sort_by_key(|(_, d)| d.metadata.name.clone());
        for (component, deployment) in of_step {
            let current = at_target(hcp, component, deployment);
            behind |= !current;
            // Later steps wait; so do etcd members after one not yet done (one at a time).
            let waits = unfinished.is_some_and(|u| u != step || step == Step::Etcd);
            if waits && !current {
                rollout
                    .held
                    .insert(deployment.metadata.name.clone().unwrap_or_default());
            } else if !current || !rolled_out(deployment) || old_pods_run(hcp, component, pods) {
                unfinished = unfinished.or(Some(step));
            }
        }
    }
    // Templates all at the new version is not enough: old Pods may still be running.
    behind |= Component::ALL.iter().any(|c| old_pods_run(hcp, *c, pods));
    if let Some(why) = refused_downgrade(hcp, rollout.running.as_deref()) {
        rollout.held.extend(behind_deployments(hcp, deployments));
        rollout.refused = Some(why);
    } else if behind {
        rollout.step = unfinished;
        rollout.stalled = unfinished.and_then(|step| stalled(step, pods));
    }
    rollout
}

/// A move to an older patch of the running minor needs the annotation (etcd data and
/// objects written by the newer patch are read by the older one, but a downgrade is a
/// decision, not a typo).
fn refused_downgrade(hcp: &HostedControlPlane, running: Option<&str>) -> Option<String> {
    let running = running?;
    let (from, to) = (versions::parse(running)?, versions::parse(&hcp.spec.version)?);
    let allowed = hcp
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ALLOW_PATCH_DOWNGRADE));
    (to < from && allowed.map(String::as_str) != Some("true")).then(|| {
        format!(
            "spec.version {} is older than the running {running}: set the annotation {ALLOW_PATCH_DOWNGRADE}: \"true\" to downgrade within a minor, or set spec.version back to {running}",
            hcp.spec.version
        )
    })
}

fn behind_deployments(hcp: &HostedControlPlane, deployments: &[Arc<Deployment>]) -> Vec<String> {
    deployments
        .iter()
        .filter(|d| {
            Component::ALL
                .iter()
                .find(|c| component_of(d) == Some(c.as_str()))
                .is_some_and(|c| !at_target(hcp, *c, d))
        })
        .filter_map(|d| d.metadata.name.clone())
        .collect()
}

/// An upgrade's state: the control plane's, then the workers'.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollout {
    pub control_plane: ControlPlaneRollout,
    pub workers: WorkerRollout,
}

impl Rollout {
    pub fn observe(hcp: &HostedControlPlane, observed: &Observed) -> Rollout {
        let control_plane = control_plane(hcp, &observed.deployments, &observed.pods);
        let workers = worker_rollout::plan(hcp, &observed.machines, control_plane.finished());
        Rollout {
            control_plane,
            workers,
        }
    }

    /// The worker machines (index, node image) wanted now.
    pub fn worker_machines(&self) -> Vec<(usize, Option<String>)> {
        self.workers
            .wanted
            .iter()
            .map(|w| (w.index, w.image.clone()))
            .collect()
    }

    /// The version addons follow: `spec.version` once the control plane runs it.
    pub fn addon_version(&self, hcp: &HostedControlPlane) -> String {
        let cp = &self.control_plane;
        match &cp.running {
            Some(running) if !cp.finished() => running.clone(),
            _ => hcp.spec.version.clone(),
        }
    }

    /// The step under way, if any.
    pub fn step(&self) -> Option<Step> {
        let workers = self.workers.progress.is_some().then_some(Step::Workers);
        self.control_plane.step.or(workers)
    }

    /// The `RollingOut` condition.
    pub fn condition(&self, hcp: &HostedControlPlane, now: &Time) -> Condition {
        let generation = hcp.metadata.generation;
        let target = &hcp.spec.version;
        let from = self
            .control_plane
            .running
            .clone()
            .unwrap_or_else(|| target.clone());
        let cp = &self.control_plane;
        let (ok, reason, message) = if let Some(why) = &cp.refused {
            (false, reasons::DOWNGRADE_REFUSED, why.clone())
        } else if let (Some(_), Some(stall)) = (cp.step, &cp.stalled) {
            let message = format!(
                "{stall}; {from} keeps serving: fix the image or the component's settings and the rollout resumes"
            );
            (true, reasons::ROLLOUT_STALLED, message)
        } else if let Some(step) = self.step() {
            let detail = match step {
                Step::Workers => self.workers.progress.clone().unwrap_or_default(),
                _ => {
                    let names: Vec<&str> = step.components().iter().map(|c| c.as_str()).collect();
                    format!("rolling out {}", names.join(" and "))
                }
            };
            (true, step.reason(), format!("{from} to {target}: {detail}"))
        } else {
            (
                false,
                reasons::UP_TO_DATE,
                format!("every component and worker runs {target}"),
            )
        };
        condition(ROLLING_OUT, ok, reason, message, generation, now)
    }
}

/// A Pod of the step's components that cannot start: the component, the Pod and the cause.
fn stalled(step: Step, pods: &[Arc<Pod>]) -> Option<String> {
    step.components().iter().find_map(|component| {
        let (reason, message) = super::status::pod_problem(pods, component.as_str())?;
        Some(format!(
            "{} cannot start: {reason}: {message}",
            component.as_str()
        ))
    })
}

/// The oldest Kubernetes version a running control-plane Pod has (what Cluster API reads as
/// `status.version`); `None` before any runs.
pub fn oldest_running(pods: &[Arc<Pod>]) -> Option<String> {
    pods.iter()
        .filter_map(|p| running_version(p))
        .filter_map(|v| versions::parse(v).map(|parsed| (parsed, v)))
        .min()
        .map(|(_, v)| v.to_string())
}

/// Whether a Pod of `component` on another version than `spec.version` still runs.
fn old_pods_run(hcp: &HostedControlPlane, component: Component, pods: &[Arc<Pod>]) -> bool {
    pods.iter().any(|p| {
        let of_component = p.metadata.labels.as_ref().and_then(|l| l.get(COMPONENT));
        of_component.map(String::as_str) == Some(component.as_str())
            && running_version(p).is_some_and(|v| v != hcp.spec.version)
    })
}

/// The Kubernetes version a running control-plane Pod runs.
fn running_version(pod: &Pod) -> Option<&str> {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let version = pod.metadata.annotations.as_ref()?.get(VERSION_ANNOTATION)?;
    running.then_some(version.as_str())
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
