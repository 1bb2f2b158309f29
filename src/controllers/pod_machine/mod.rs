//! Reconciling a PodMachine: its Pod → systemd booted → `kubeadm join` → a Ready Node; on
//! deletion: drain, stop the Pod, delete the Node.

pub mod exec;
pub mod join;
pub mod pod;
pub mod status;
pub mod teardown;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{Instrument, info_span, warn};

use super::{Context, Error, FIELD_MANAGER, decoded, retry_after};
use crate::api::{HostedControlPlane, PodMachine, provider_id};
use crate::machine::pod::WORKER_COMPONENT;
use crate::names::Names;
use crate::pki::KUBECONFIG_KEY;
use crate::render::meta::{COMPONENT, MANAGED_BY, MANAGER};
use status::{JoinState, Observed, PodState};

/// Finalizer that lets a machine drain and remove its Node before it goes.
pub const FINALIZER: &str = "infrastructure.podplane.dev/node-cleanup";
/// Field manager of what the machine controller writes into a PodMachine's spec
/// (`providerID`), apart from what the HostedControlPlane controller applies.
const MACHINE_MANAGER: &str = "podplane-machine";

const NOT_READY_RECHECK: Duration = Duration::from_secs(2);
const WAITING_RECHECK: Duration = Duration::from_secs(5);
const READY_RECHECK: Duration = Duration::from_secs(30);

/// Run the PodMachine controller until the process is asked to stop.
pub async fn run(context: Arc<Context>) {
    let client = context.client.clone();
    let worker_pods =
        watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER},{COMPONENT}={WORKER_COMPONENT}"));
    Controller::new(
        Api::<DeserializeGuard<PodMachine>>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client.clone()), worker_pods)
    .watches(
        Api::<HostedControlPlane>::all(client),
        watcher::Config::default(),
        worker_machines,
    )
    .shutdown_on_signal()
    .run(reconcile, error_policy, context)
    .for_each(|result| async move {
        if let Err(error) = result {
            warn!(%error, "machine reconcile failed");
        }
    })
    .await;
}

/// The `spec.workers` machines of a control plane whose state changed (it became reachable,
/// say), so they do not wait for their next poll.
fn worker_machines(hcp: HostedControlPlane) -> Vec<ObjectRef<DeserializeGuard<PodMachine>>> {
    let names = Names::new(&hcp.name_any());
    let namespace = hcp.namespace().unwrap_or_default();
    let replicas = hcp
        .spec
        .workers
        .as_ref()
        .map_or(0, |w| w.replicas.max(0) as usize);
    (0..replicas)
        .map(|i| ObjectRef::new(&names.worker(i)).within(&namespace))
        .collect()
}

fn error_policy(guard: Arc<DeserializeGuard<PodMachine>>, error: &Error, _: Arc<Context>) -> Action {
    retry_after(&guard, error)
}

async fn reconcile(guard: Arc<DeserializeGuard<PodMachine>>, context: Arc<Context>) -> Result<Action, Error> {
    let Some(machine) = decoded(&guard, "PodMachine") else {
        return Ok(Action::await_change());
    };
    let span = info_span!(
        "machine",
        namespace = machine.namespace().unwrap_or_default(),
        name = machine.name_any()
    );
    reconcile_one(machine, &context).instrument(span).await
}

/// What a machine's reconcile works with.
pub struct Machine<'a> {
    pub context: &'a Context,
    pub object: &'a PodMachine,
    pub namespace: String,
    pub name: String,
    pub pods: Api<Pod>,
}

impl Machine<'_> {
    pub fn client(&self) -> &Client {
        &self.context.client
    }

    pub async fn publish(&self, type_: EventType, reason: &str, note: String) {
        self.context
            .publish(&self.object.object_ref(&()), type_, reason, note)
            .await;
    }

    /// Whether the last status already says `reason` for `type_` (to publish an Event once).
    pub fn reported(&self, type_: &str, reason: &str) -> bool {
        self.object
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .is_some_and(|c| c.reason == reason)
    }
}

async fn reconcile_one(object: &PodMachine, context: &Context) -> Result<Action, Error> {
    let namespace = object
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let machine = Machine {
        context,
        object,
        name: object.name_any(),
        pods: Api::namespaced(context.client.clone(), &namespace),
        namespace,
    };
    let hcp = match object.control_plane_name() {
        Some(name) => {
            Api::<HostedControlPlane>::namespaced(context.client.clone(), &machine.namespace)
                .get_opt(name)
                .await?
        }
        None => None,
    };
    if object.metadata.deletion_timestamp.is_some() {
        return teardown::run(&machine, hcp.as_ref()).await;
    }
    keep_finalizer_and_owner(&machine, hcp.as_ref()).await?;

    let mut observed = Observed {
        pod: PodState::Unknown(String::new()),
        pod_uid: None,
        pod_ip: None,
        join: JoinState::Waiting {
            reason: "WaitingForPod",
            message: "the node container is not running yet".into(),
        },
        node: None,
        now: Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let Some(hcp) = hcp else {
        let why = match object.control_plane_name() {
            Some(name) => format!(
                "HostedControlPlane {name} does not exist in namespace {}",
                machine.namespace
            ),
            None => {
                "spec.hostedControlPlaneRef is not set: name the HostedControlPlane this machine joins (or label the machine cluster.x-k8s.io/cluster-name=<its name>)".into()
            }
        };
        observed.pod = PodState::Unknown(why.clone());
        observed.join = JoinState::Waiting {
            reason: "HostedControlPlaneNotFound",
            message: why,
        };
        write_status(&machine, &observed).await?;
        return Ok(Action::requeue(WAITING_RECHECK));
    };

    let pod = match pod::ensure(&machine, &hcp).await? {
        Ok(pod) => pod,
        Err((state, uid)) => {
            observed.pod = state;
            observed.pod_uid = uid;
            write_status(&machine, &observed).await?;
            return Ok(Action::requeue(NOT_READY_RECHECK));
        }
    };
    observed.pod = PodState::Running;
    observed.pod_uid = pod.metadata.uid.clone();
    observed.pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    set_provider_id(&machine).await?;

    let node = match hosted(&machine, &hcp).await {
        Ok(hosted) => join::ensure(&machine, &hcp, &hosted, &pod).await,
        Err(message) => Err(JoinState::Waiting {
            reason: "WaitingForControlPlane",
            message,
        }),
    };
    let node: Option<Node> = match node {
        Ok(node) => {
            observed.join = JoinState::Joined;
            node
        }
        Err(state) => {
            observed.join = state;
            None
        }
    };
    observed.node = node.as_ref();
    let ready = write_status(&machine, &observed).await?;
    Ok(Action::requeue(match (&observed.join, ready) {
        (_, true) => READY_RECHECK,
        (JoinState::Failed(_), _) => Duration::from_secs(10),
        _ => NOT_READY_RECHECK,
    }))
}

/// A client for the hosted cluster, from the control plane's admin kubeconfig.
pub async fn hosted(machine: &Machine<'_>, hcp: &HostedControlPlane) -> Result<Client, String> {
    let secret = Names::new(&hcp.name_any()).admin_kubeconfig_secret();
    let kubeconfig = Api::<Secret>::namespaced(machine.client().clone(), &machine.namespace)
        .get_opt(&secret)
        .await
        .map_err(|e| format!("reading Secret {secret}: {e}"))?
        .and_then(|s| s.data)
        .and_then(|d| {
            d.get(KUBECONFIG_KEY)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        })
        .ok_or_else(|| format!("Secret {secret} has no {KUBECONFIG_KEY}"))?;
    machine
        .context
        .hosted_client(&hcp.uid().unwrap_or_default(), &kubeconfig)
        .await
}

/// The finalizer, and an owner reference to the HostedControlPlane so that deleting it
/// removes its machines (machines made by Cluster API or by `spec.workers` have an owner).
async fn keep_finalizer_and_owner(
    machine: &Machine<'_>,
    hcp: Option<&HostedControlPlane>,
) -> Result<(), Error> {
    let object = machine.object;
    let mut finalizers = object.finalizers().to_vec();
    let mut owners = object.owner_references().to_vec();
    let mut changed = false;
    if !finalizers.iter().any(|f| f == FINALIZER) {
        finalizers.push(FINALIZER.into());
        changed = true;
    }
    if let Some(owner) = hcp.and_then(|h| h.controller_owner_ref(&()))
        && !owners.iter().any(|o| o.controller == Some(true))
        && !owners.iter().any(|o| o.uid == owner.uid)
    {
        owners.push(OwnerReference {
            controller: None,
            block_owner_deletion: None,
            ..owner
        });
        changed = true;
    }
    if !changed {
        return Ok(());
    }
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": object.resource_version(),
            "finalizers": finalizers,
            "ownerReferences": owners,
        }
    });
    Api::<PodMachine>::namespaced(machine.client().clone(), &machine.namespace)
        .patch(&machine.name, &machine_patch(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn machine_patch() -> PatchParams {
    PatchParams {
        field_manager: Some(MACHINE_MANAGER.into()),
        ..Default::default()
    }
}

/// `spec.providerID`: `podplane://<namespace>/<pod>` (Cluster API matches it to the Node).
async fn set_provider_id(machine: &Machine<'_>) -> Result<(), Error> {
    let wanted = provider_id(&machine.namespace, &machine.name);
    if machine.object.spec.provider_id.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let patch = serde_json::json!({"spec": {"providerID": wanted}});
    Api::<PodMachine>::namespaced(machine.client().clone(), &machine.namespace)
        .patch(&machine.name, &machine_patch(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Patch the status subresource when it changed; returns whether the machine is Ready.
async fn write_status(machine: &Machine<'_>, observed: &Observed<'_>) -> Result<bool, Error> {
    let next = status::compute(machine.object, observed);
    let ready = next.ready;
    if machine.object.status.as_ref() == Some(&next) {
        return Ok(ready);
    }
    let patch = serde_json::json!({
        "apiVersion": PodMachine::api_version(&()),
        "kind": PodMachine::kind(&()),
        "status": next,
    });
    Api::<PodMachine>::namespaced(machine.client().clone(), &machine.namespace)
        .patch_status(
            &machine.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(ready)
}
