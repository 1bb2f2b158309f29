//! The operator: controllers that turn podplane objects into running control planes.

pub mod error;
pub mod hosted_control_plane;
pub mod pod_machine;

pub use error::Error;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, ResourceExt};
use tracing::warn;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "podplane";

/// Annotation holding a digest of what the operator last applied to a child, so an
/// unchanged child is not written again.
pub const APPLIED_DIGEST: &str = "controlplane.podplane.dev/applied-digest";

/// The object a reconcile is for, or `None` for one that cannot be decoded. The schema
/// admits only well-formed objects; one that still fails (an older CRD, say) is logged and
/// skipped without stopping the watch.
pub fn decoded<'a, K>(guard: &'a DeserializeGuard<K>, kind: &str) -> Option<&'a K> {
    match &guard.0 {
        Ok(object) => Some(object),
        Err(invalid) => {
            warn!(name = invalid.metadata.name.as_deref().unwrap_or_default(), error = %invalid.error, "unreadable {kind}");
            None
        }
    }
}

/// When a failed reconcile runs again: at once after a write based on an outdated copy
/// (409, the next one reads the fresh object), else after 10 s.
pub fn retry_after<K: ResourceExt>(guard: &DeserializeGuard<K>, error: &Error) -> Action {
    if matches!(error, Error::Kube(kube::Error::Api(e)) if e.code == 409) {
        return Action::requeue(Duration::from_millis(500));
    }
    let object = guard
        .0
        .as_ref()
        .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()));
    warn!(object = object.unwrap_or_default(), error = %error, kind = error.metric_label(), "will retry");
    Action::requeue(Duration::from_secs(10))
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    /// What is kept about each hosted cluster between reconciles, by HostedControlPlane uid.
    hosted: Mutex<HashMap<String, HostedCluster>>,
}

/// A hosted cluster as the operator last reached it.
struct HostedCluster {
    /// The admin kubeconfig the client was built from.
    kubeconfig: String,
    client: Client,
    /// Digest of the addons last applied into it, so unchanged addons are not written again.
    addons_digest: Option<String>,
}

impl Context {
    pub fn new(client: Client) -> Self {
        let reporter = Reporter {
            controller: "podplane".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            hosted: Default::default(),
        }
    }

    fn hosted(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostedCluster>> {
        self.hosted.lock().expect("no reconcile panics while holding it")
    }

    /// A client for the hosted cluster of `uid`, reused (with its connections) while the
    /// admin kubeconfig stays the same.
    pub async fn hosted_client(&self, uid: &str, kubeconfig: &str) -> Result<Client, String> {
        if let Some(known) = self.hosted().get(uid).filter(|h| h.kubeconfig == kubeconfig) {
            return Ok(known.client.clone());
        }
        let client = crate::tenant::client(kubeconfig).await?;
        let entry = HostedCluster {
            kubeconfig: kubeconfig.to_string(),
            client: client.clone(),
            addons_digest: None,
        };
        self.hosted().insert(uid.to_string(), entry);
        Ok(client)
    }

    /// Whether the addons with `digest` were applied into the hosted cluster of `uid`.
    pub fn addons_applied(&self, uid: &str, digest: &str) -> bool {
        self.hosted().get(uid).and_then(|h| h.addons_digest.as_deref()) == Some(digest)
    }

    pub fn record_addons(&self, uid: &str, digest: String) {
        if let Some(hosted) = self.hosted().get_mut(uid) {
            hosted.addons_digest = Some(digest);
        }
    }

    /// Drop what is kept about a hosted cluster that is going away.
    pub fn forget(&self, uid: &str) {
        self.hosted().remove(uid);
    }

    /// Publish an Event about `object`; a failure is logged, never fatal.
    pub async fn publish(&self, object: &ObjectReference, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, object).await {
            warn!(%error, reason, "could not publish event");
        }
    }
}
