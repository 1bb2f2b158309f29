//! Reconciling a PodMachine: its Pod → a join task (`kubeadm join` once systemd booted) →
//! a Ready Node; on deletion: a drain task, stop the Pod, delete the Node. The status is
//! written on every exit; joins and drains never run inside the reconcile.

pub mod bootstrap;
pub mod exec;
pub mod join;
pub mod pod;
pub mod status;
pub mod tasks;
pub mod teardown;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{Instrument, info_span};

use super::cache::MachineRef;
use super::{Context, Error, FIELD_MANAGER, decoded};
use crate::api::cluster_api::{Cluster, is_paused};
use crate::api::conditions::{mark_paused, reasons};
use crate::api::{HostedControlPlane, PodMachine, provider_id};
use crate::contract::CLUSTER_NAME;
use crate::pki::{KUBECONFIG_KEY, TLS_CERT};
use status::{JoinState, Observed, PodState};

/// Finalizer that lets a machine drain and remove its Node before it goes.
pub const FINALIZER: &str = "infrastructure.podplane.dev/node-cleanup";
/// Field manager of what the machine controller writes into a PodMachine's spec
/// (`providerID`), apart from what the HostedControlPlane controller applies.
const MACHINE_MANAGER: &str = "podplane-machine";

/// The controller's name in metrics.
const NAME: &str = "podmachine";

/// Run the PodMachine controller until the process is asked to stop; `triggers` carries the
/// machines that watch events and ended tasks concern.
pub async fn run(context: Arc<Context>, triggers: UnboundedReceiver<MachineRef>) {
    let store = context.caches.machines.clone();
    super::drive(NAME, store, triggers, reconcile, context).await;
}

async fn reconcile(guard: Arc<DeserializeGuard<PodMachine>>, context: Arc<Context>) -> Result<Action, Error> {
    let Some(object) = decoded(&guard, "PodMachine") else {
        return Ok(Action::await_change());
    };
    let span = info_span!(
        "machine",
        namespace = object.namespace().unwrap_or_default(),
        name = object.name_any()
    );
    let machine = Machine::new(context, object.clone());
    reconcile_one(&machine).instrument(span).await
}

/// What a machine's reconcile (and its tasks) work with.
#[derive(Clone)]
pub struct Machine {
    pub context: Arc<Context>,
    pub object: PodMachine,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub pods: Api<Pod>,
}

impl Machine {
    fn new(context: Arc<Context>, object: PodMachine) -> Self {
        let namespace = object.namespace().unwrap_or_default();
        Self {
            pods: Api::namespaced(context.client.clone(), &namespace),
            name: object.name_any(),
            uid: object.uid().unwrap_or_default(),
            namespace,
            object,
            context,
        }
    }

    pub fn client(&self) -> &Client {
        &self.context.client
    }

    pub fn reference(&self) -> MachineRef {
        ObjectRef::new(&self.name).within(&self.namespace)
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

    /// The Cluster API cluster this machine belongs to (label `cluster.x-k8s.io/cluster-name`).
    pub fn cluster(&self) -> Option<Arc<Cluster>> {
        let name = self.object.labels().get(CLUSTER_NAME)?;
        self.context.caches.cluster_api.cluster(&self.namespace, name)
    }

    /// The control plane this machine joins, from the cache: `spec.hostedControlPlaneRef`,
    /// else its Cluster's control plane, else the HostedControlPlane named like its cluster.
    pub fn control_plane(&self) -> Option<Arc<HostedControlPlane>> {
        let from_cluster = self
            .object
            .spec
            .template
            .hosted_control_plane_ref
            .is_none()
            .then(|| self.cluster())
            .flatten();
        let name = match from_cluster.as_deref().and_then(Cluster::control_plane_name) {
            Some(name) => name.to_string(),
            None => self.object.control_plane_name()?.to_string(),
        };
        let name = name.as_str();
        let found = self
            .context
            .caches
            .control_planes
            .get(&ObjectRef::new(name).within(&self.namespace))?;
        found.0.as_ref().ok().map(|h| Arc::new(h.clone()))
    }

    /// `key` of the control plane's Secret `secret`, from the cache.
    pub fn secret_value(&self, secret: &str, key: &str) -> Option<Vec<u8>> {
        let found = self
            .context
            .caches
            .secrets
            .get(&ObjectRef::new(secret).within(&self.namespace))?;
        found.data.as_ref()?.get(key).map(|v| v.0.clone())
    }

    /// The cluster CA certificate of `hcp`.
    pub fn ca_pem(&self, hcp: &HostedControlPlane) -> Option<Vec<u8>> {
        self.secret_value(&hcp.names().ca_secret(), TLS_CERT)
    }

    /// A client for the hosted cluster, from the control plane's admin kubeconfig.
    pub async fn hosted(&self, hcp: &HostedControlPlane) -> Result<Client, crate::tenant::Error> {
        let secret = hcp.names().admin_kubeconfig_secret();
        let kubeconfig = self.secret_value(&secret, KUBECONFIG_KEY).ok_or_else(|| {
            crate::tenant::Error::Missing(format!("Secret {secret} has no {KUBECONFIG_KEY}"))
        })?;
        let kubeconfig = String::from_utf8_lossy(&kubeconfig);
        self.context
            .hosted_client(&hcp.uid().unwrap_or_default(), &self.namespace, &kubeconfig)
            .await
    }
}

async fn reconcile_one(machine: &Machine) -> Result<Action, Error> {
    let hcp = machine.control_plane();
    if machine.object.metadata.deletion_timestamp.is_some() {
        return teardown::run(machine, hcp.as_deref()).await;
    }
    let cluster = machine.cluster();
    if let Some(cluster) = cluster.as_deref().filter(|c| c.is_deleting()) {
        tracing::debug!(
            cluster = cluster.name_any(),
            "its Cluster is going away: nothing to do"
        );
        return Ok(Action::await_change());
    }
    if let Some(why) = paused(machine, cluster.as_deref()) {
        return write_paused(machine, why).await;
    }
    keep_finalizer_and_owner(machine, hcp.as_deref()).await?;
    let mut observed = Observed::new(Time(k8s_openapi::jiff::Timestamp::now()));
    observed.failure_domain = bootstrap::owner(machine)
        .and_then(|owner| {
            machine
                .context
                .caches
                .cluster_api
                .machine(&machine.namespace, &owner)
        })
        .and_then(|m| m.spec.failure_domain.clone());
    let outcome = converge(machine, hcp.as_deref(), &mut observed).await;
    write_status(machine, &observed).await?;
    outcome
}

/// Why Cluster API paused this machine, if it did.
fn paused(machine: &Machine, cluster: Option<&Cluster>) -> Option<String> {
    if is_paused(&machine.object.metadata) {
        return Some("the PodMachine has the annotation cluster.x-k8s.io/paused".into());
    }
    cluster
        .filter(|c| c.is_paused())
        .map(|c| format!("Cluster {} is paused", c.name_any()))
}

/// Record Paused True and change nothing else.
async fn write_paused(machine: &Machine, why: String) -> Result<Action, Error> {
    let mut next = machine.object.status.clone().unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    mark_paused(
        &mut next.conditions,
        why,
        machine.object.metadata.generation,
        &now,
    );
    patch_status(machine, next).await?;
    Ok(Action::await_change())
}

/// Pod, provider ID, join and Node; what status needs goes into `observed`.
async fn converge(
    machine: &Machine,
    hcp: Option<&HostedControlPlane>,
    observed: &mut Observed,
) -> Result<Action, Error> {
    let Some(hcp) = hcp else {
        let why = match machine.object.control_plane_name() {
            Some(name) => format!("HostedControlPlane {name} does not exist in namespace {}", machine.namespace),
            None => "spec.hostedControlPlaneRef is not set: name the HostedControlPlane this machine joins (or label the machine cluster.x-k8s.io/cluster-name=<its name>)".into(),
        };
        observed.pod = PodState::Unknown(why.clone());
        observed.join = JoinState::Waiting {
            reason: reasons::HOSTED_CONTROL_PLANE_NOT_FOUND,
            message: why,
        };
        return Ok(Action::await_change());
    };
    let pod = match pod::ensure(machine, hcp).await? {
        Ok(pod) => pod,
        Err((state, uid)) => {
            observed.pod = state;
            observed.pod_uid = uid;
            return Ok(Action::await_change());
        }
    };
    observed.pod = PodState::Running;
    observed.pod_uid = pod.metadata.uid.clone();
    observed.pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    set_provider_id(machine).await?;
    let (join, next) = join::progress(machine, hcp, &pod).await;
    observed.join = join;
    if observed.join == JoinState::Joined {
        observed.node = join::node(machine, hcp).await;
    }
    Ok(next)
}

/// The finalizer, and an owner reference to the HostedControlPlane so that deleting it
/// removes its machines (machines made by Cluster API or by `spec.workers` have an owner).
async fn keep_finalizer_and_owner(machine: &Machine, hcp: Option<&HostedControlPlane>) -> Result<(), Error> {
    let object = &machine.object;
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
        .await
        .map_err(Error::kube("adding the finalizer"))?;
    Ok(())
}

fn machine_patch() -> PatchParams {
    PatchParams {
        field_manager: Some(MACHINE_MANAGER.into()),
        ..Default::default()
    }
}

/// `spec.providerID`: `podplane://<namespace>/<pod>` (Cluster API matches it to the Node).
async fn set_provider_id(machine: &Machine) -> Result<(), Error> {
    let wanted = provider_id(&machine.namespace, &machine.name);
    if machine.object.spec.provider_id.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let patch = serde_json::json!({"spec": {"providerID": wanted}});
    Api::<PodMachine>::namespaced(machine.client().clone(), &machine.namespace)
        .patch(&machine.name, &machine_patch(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("setting spec.providerID"))?;
    Ok(())
}

/// Patch the status subresource when it changed.
async fn write_status(machine: &Machine, observed: &Observed) -> Result<(), Error> {
    patch_status(machine, status::compute(&machine.object, observed)).await
}

async fn patch_status(machine: &Machine, next: crate::api::PodMachineStatus) -> Result<(), Error> {
    if machine.object.status.as_ref() == Some(&next) {
        return Ok(());
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
        .await
        .map_err(Error::kube("writing status"))?;
    Ok(())
}
