//! A PodMachine going away: drain its Node (a task), stop its Pod, delete the Node, then
//! let go. Each step is read from what exists; the reconcile never waits on one.

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};
use tracing::info;

use super::tasks::{Outcome, TaskState, Work};
use super::{FINALIZER, Machine};
use crate::api::conditions::reasons;
use crate::api::{HostedControlPlane, PodMachine};
use crate::controllers::Error;
use crate::tenant::nodes::{self, Drained};

/// The hosted cluster to drain and delete the Node in; `Err(Some(why))` when it cannot be
/// reached, `Err(None)` when the control plane is itself going away (and takes its Nodes).
async fn hosted_cluster(
    machine: &Machine,
    hcp: Option<&HostedControlPlane>,
) -> Result<Client, Option<String>> {
    match hcp.filter(|h| h.metadata.deletion_timestamp.is_none()) {
        Some(hcp) if !hcp.status.as_ref().is_some_and(|s| s.ready) => Err(Some(format!(
            "HostedControlPlane {} is not Ready",
            hcp.name_any()
        ))),
        Some(hcp) => machine.hosted(hcp).await.map_err(|e| Some(e.to_string())),
        None => Err(None),
    }
}

pub async fn run(machine: &Machine, hcp: Option<&HostedControlPlane>) -> Result<Action, Error> {
    if !machine.object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let tasks = &machine.context.tasks;
    if matches!(
        tasks.state(&machine.uid),
        TaskState::Running { work: Work::Join, .. }
    ) {
        tasks.cancel(&machine.uid);
    }
    let hosted = hosted_cluster(machine, hcp).await;
    let pod = machine
        .context
        .caches
        .pods
        .get(&ObjectRef::new(&machine.name).within(&machine.namespace))
        .filter(|p| p.owner_references().iter().any(|o| o.uid == machine.uid));
    if let Some(pod) = pod {
        if pod.metadata.deletion_timestamp.is_none() {
            if let Ok(hosted) = &hosted
                && !drained(machine, hosted)
            {
                return Ok(Action::await_change());
            }
            machine
                .pods
                .delete(&machine.name, &DeleteParams::default())
                .await
                .map_err(Error::kube(format!("deleting Pod {}", machine.name)))?;
        }
        // The Node goes once its kubelet has stopped, or the kubelet would register it again.
        return Ok(Action::await_change());
    }
    tasks.clear(&machine.uid);
    match &hosted {
        Ok(hosted) => {
            nodes::delete_node(hosted, &machine.name).await?;
            let note = format!("deleted Node {} from the hosted cluster", machine.name);
            machine
                .publish(EventType::Normal, reasons::NODE_DELETED, note)
                .await;
        }
        Err(Some(why)) => {
            let note = format!("could not drain or delete Node {}: {why}", machine.name);
            machine
                .publish(EventType::Warning, reasons::NODE_LEFT, note)
                .await;
        }
        Err(None) => {}
    }
    release(machine).await
}

/// Whether the Node was drained; starts the drain task when none ran yet.
fn drained(machine: &Machine, hosted: &Client) -> bool {
    let tasks = &machine.context.tasks;
    match tasks.state(&machine.uid) {
        TaskState::Ended(Outcome::Drained) => true,
        TaskState::Running {
            work: Work::Drain, ..
        } => false,
        _ => {
            let (task_machine, hosted) = (machine.clone(), hosted.clone());
            tasks.clear(&machine.uid);
            tasks.start(&machine.uid, machine.reference(), Work::Drain, async move {
                drain(&task_machine, &hosted).await;
                Outcome::Drained
            });
            false
        }
    }
}

/// Let the machine go: remove the finalizer.
async fn release(machine: &Machine) -> Result<Action, Error> {
    let finalizers: Vec<String> = machine
        .object
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    let patch = serde_json::json!({"metadata": {
        "resourceVersion": machine.object.resource_version(),
        "finalizers": finalizers,
    }});
    match Api::<PodMachine>::namespaced(machine.client().clone(), &machine.namespace)
        .patch(&machine.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => info!("machine removed"),
        // A reconcile of an outdated copy: an earlier one already let the machine go.
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(Error::kube("removing the finalizer")(e)),
    }
    machine.context.tasks.clear(&machine.uid);
    Ok(Action::await_change())
}

/// Drain the machine's Node (at most `--drain-timeout`) and say how it went.
async fn drain(machine: &Machine, hosted: &Client) {
    let patience = machine.context.tuning.drain_timeout;
    let (type_, reason, note) = match nodes::drain(hosted, &machine.name, patience).await {
        Ok(Drained::Empty) => (
            EventType::Normal,
            reasons::DRAINED,
            format!("drained Node {}", machine.name),
        ),
        Ok(Drained::TimedOut { remaining }) => (
            EventType::Warning,
            reasons::DRAIN_TIMED_OUT,
            format!(
                "Pods still on Node {} after {}s, removing it anyway: {}",
                machine.name,
                patience.as_secs(),
                remaining.join(", ")
            ),
        ),
        Err(error) => (EventType::Warning, reasons::DRAIN_FAILED, error.to_string()),
    };
    machine.publish(type_, reason, note).await;
}
