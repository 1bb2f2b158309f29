//! Clients of the hosted clusters, kept (with their connections) between reconciles, each
//! with a watch of its cluster's Nodes: a Node that appears, changes or goes wakes the
//! machine of the same name, and machines read their Node from that watch's store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::cache::MachineRef;
use crate::tenant;

/// A hosted cluster as the operator last reached it.
struct HostedCluster {
    /// The admin kubeconfig the client was built from.
    kubeconfig: String,
    client: Client,
    /// Digest of the addons last applied into it, so unchanged addons are not written again.
    addons_digest: Option<String>,
    nodes: Store<Node>,
    node_watch: AbortHandle,
}

impl Drop for HostedCluster {
    fn drop(&mut self) {
        self.node_watch.abort();
    }
}

/// The hosted clusters' clients by HostedControlPlane uid.
pub struct HostedClients {
    clusters: Mutex<HashMap<String, HostedCluster>>,
    machines: UnboundedSender<MachineRef>,
}

/// Watch the Nodes of a hosted cluster into a store, waking the machine named after each
/// Node (machines in `namespace`, where their control plane is) when it changes.
fn watch_nodes(
    client: Client,
    namespace: String,
    machines: UnboundedSender<MachineRef>,
) -> (Store<Node>, AbortHandle) {
    let (store, writer) = reflector::store();
    let events = reflector::reflector(
        writer,
        watcher(Api::<Node>::all(client), watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(events.for_each(move |event| {
        if let Ok(
            watcher::Event::Apply(node) | watcher::Event::Delete(node) | watcher::Event::InitApply(node),
        ) = event
        {
            let _ = machines.send(ObjectRef::new(&node.name_any()).within(&namespace));
        }
        async {}
    }));
    (store, task.abort_handle())
}

impl HostedClients {
    pub fn new(machines: UnboundedSender<MachineRef>) -> Self {
        Self {
            clusters: Default::default(),
            machines,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HostedCluster>> {
        self.clusters
            .lock()
            .expect("no reconcile panics while holding it")
    }

    /// A client for the hosted cluster of the control plane `uid` in `namespace`, reused
    /// while the admin kubeconfig stays the same. (A control plane that goes is forgotten,
    /// with its Node watch, through [`HostedClients::forget`].)
    pub async fn client(
        &self,
        uid: &str,
        namespace: &str,
        kubeconfig: &str,
    ) -> Result<Client, tenant::Error> {
        if let Some(known) = self.lock().get(uid).filter(|h| h.kubeconfig == kubeconfig) {
            return Ok(known.client.clone());
        }
        let client = tenant::client(kubeconfig).await?;
        let watching = tenant::watch_client(kubeconfig).await?;
        let (nodes, node_watch) = watch_nodes(watching, namespace.to_string(), self.machines.clone());
        let entry = HostedCluster {
            kubeconfig: kubeconfig.to_string(),
            client: client.clone(),
            addons_digest: None,
            nodes,
            node_watch,
        };
        self.lock().insert(uid.to_string(), entry);
        Ok(client)
    }

    /// The Node `name` of the hosted cluster of `uid`, as its watch last saw it.
    pub fn node(&self, uid: &str, name: &str) -> Option<Node> {
        let clusters = self.lock();
        let node = clusters.get(uid)?.nodes.get(&ObjectRef::new(name))?;
        Some(node.as_ref().clone())
    }

    /// Whether the addons with `digest` were applied into the hosted cluster of `uid`.
    pub fn addons_applied(&self, uid: &str, digest: &str) -> bool {
        self.lock().get(uid).and_then(|h| h.addons_digest.as_deref()) == Some(digest)
    }

    pub fn record_addons(&self, uid: &str, digest: String) {
        if let Some(hosted) = self.lock().get_mut(uid) {
            hosted.addons_digest = Some(digest);
        }
    }

    /// Drop what is kept about a hosted cluster that is going away.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }
}
