//! A PodMachine going away: drain its Node, stop its Pod, delete the Node, then let go.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::info;

use super::{FINALIZER, Machine, hosted};
use crate::api::{HostedControlPlane, PodMachine};
use crate::controllers::Error;
use crate::tenant::nodes::{self, Drained};

/// How long a drain may wait for Pods to leave (a PodDisruptionBudget may hold them).
const DRAIN_PATIENCE: Duration = Duration::from_secs(60);

pub async fn run(machine: &Machine<'_>, hcp: Option<&HostedControlPlane>) -> Result<Action, Error> {
    if !machine.object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    // A control plane that is itself going away takes its Nodes with it.
    let hosted = match hcp.filter(|h| h.metadata.deletion_timestamp.is_none()) {
        Some(hcp) if !hcp.status.as_ref().is_some_and(|s| s.ready) => Err(Some(format!(
            "HostedControlPlane {} is not Ready",
            hcp.name_any()
        ))),
        Some(hcp) => hosted(machine, hcp).await.map_err(Some),
        None => Err(None),
    };
    let pod = machine.pods.get_opt(&machine.name).await?;
    let ours = pod.as_ref().is_some_and(|p| {
        p.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == machine.object.uid().as_ref())
    });
    if let Some(pod) = pod.filter(|_| ours) {
        if pod.metadata.deletion_timestamp.is_none() {
            if let Ok(hosted) = &hosted {
                drain(machine, hosted).await;
            }
            machine
                .pods
                .delete(&machine.name, &DeleteParams::default())
                .await?;
        }
        // The Node goes once its kubelet has stopped, or the kubelet would register it again.
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    if let Err(Some(why)) = &hosted {
        let note = format!("could not drain or delete Node {}: {why}", machine.name);
        machine.publish(EventType::Warning, "NodeLeft", note).await;
    }
    if let Ok(hosted) = &hosted {
        nodes::delete_node(hosted, &machine.name)
            .await
            .map_err(Error::Hosted)?;
        machine
            .publish(
                EventType::Normal,
                "NodeDeleted",
                format!("deleted Node {} from the hosted cluster", machine.name),
            )
            .await;
    }
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
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

async fn drain(machine: &Machine<'_>, hosted: &kube::Client) {
    match nodes::drain(hosted, &machine.name, DRAIN_PATIENCE).await {
        Ok(Drained::Empty) => {
            machine
                .publish(
                    EventType::Normal,
                    "Drained",
                    format!("drained Node {}", machine.name),
                )
                .await
        }
        Ok(Drained::TimedOut { remaining }) => {
            machine
                .publish(
                    EventType::Warning,
                    "DrainTimedOut",
                    format!(
                        "Pods still on Node {} after {}s, removing it anyway: {}",
                        machine.name,
                        DRAIN_PATIENCE.as_secs(),
                        remaining.join(", ")
                    ),
                )
                .await
        }
        Err(error) => machine.publish(EventType::Warning, "DrainFailed", error).await,
    }
}
