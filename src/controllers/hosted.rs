//! Clients of the hosted clusters, kept (with their connections) between reconciles.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use kube::Client;

use crate::tenant;

/// A hosted cluster as the operator last reached it.
struct HostedCluster {
    /// The admin kubeconfig the client was built from.
    kubeconfig: String,
    client: Client,
    /// Digest of the addons last applied into it, so unchanged addons are not written again.
    addons_digest: Option<String>,
}

/// The hosted clusters' clients by HostedControlPlane uid.
#[derive(Default)]
pub struct HostedClients(Mutex<HashMap<String, HostedCluster>>);

impl HostedClients {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HostedCluster>> {
        self.0.lock().expect("no reconcile panics while holding it")
    }

    /// A client for the hosted cluster of `uid`, reused while the admin kubeconfig stays the
    /// same. Clients of control planes that no longer exist (`alive` says no) are dropped.
    pub async fn client(
        &self,
        uid: &str,
        kubeconfig: &str,
        alive: impl Fn(&str) -> bool,
    ) -> Result<Client, tenant::Error> {
        if let Some(known) = self.lock().get(uid).filter(|h| h.kubeconfig == kubeconfig) {
            return Ok(known.client.clone());
        }
        let client = tenant::client(kubeconfig).await?;
        let entry = HostedCluster {
            kubeconfig: kubeconfig.to_string(),
            client: client.clone(),
            addons_digest: None,
        };
        let mut clusters = self.lock();
        clusters.retain(|uid, _| alive(uid));
        clusters.insert(uid.to_string(), entry);
        Ok(client)
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

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
