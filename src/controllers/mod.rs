//! The operator: controllers that turn podplane objects into running control planes.
//!
//! Both controllers read the management cluster from one set of watch caches
//! ([`cache::Caches`]); every watch event is routed to the objects it concerns, so nothing
//! polls. A reconcile is a list of staged calls (observe → plan → apply → hosted → status)
//! and writes its status on every exit.

pub mod cache;
pub mod cluster_api_cache;
pub mod drift;
pub mod error;
#[cfg(test)]
pub mod fake_api;
pub mod hosted;
pub mod hosted_control_plane;
pub mod metrics;
pub mod pod_machine;
mod state_metrics;
pub mod tuning;

pub use error::Error;
pub use tuning::Tuning;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;
use tracing::warn;

use cache::{Caches, Routes};
use metrics::Metrics;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "podplane";

/// Annotation holding a digest of what the operator last applied to a child: a child whose
/// content differs from the desired one while its digest is current was changed by someone
/// else (drift), not by a change of the spec.
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
/// (409, the next one reads the fresh object), else after `--error-requeue`. The one place
/// a failed reconcile is logged.
pub fn retry_after<K: ResourceExt>(guard: &DeserializeGuard<K>, error: &Error, later: Duration) -> Action {
    if error.is_conflict() {
        return Action::requeue(Duration::from_millis(500));
    }
    if error.is_namespace_terminating() {
        return Action::await_change();
    }
    let object = guard
        .0
        .as_ref()
        .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()));
    warn!(object = object.unwrap_or_default(), error = %error, reason = error.reason(), "will retry");
    Action::requeue(later)
}

/// Run the controller `name` over the objects of `store` until the process is asked to
/// stop: it reconciles what `triggers` names (watch events and ended tasks, routed by
/// [`cache`]), at most `--concurrency` at once, counts each reconcile in the metrics, and
/// retries failures as [`retry_after`] says.
pub async fn drive<K, F, Fut>(
    name: &'static str,
    store: kube::runtime::reflector::Store<DeserializeGuard<K>>,
    triggers: mpsc::UnboundedReceiver<cache::ObjectRefOf<K>>,
    mut reconcile: F,
    context: Arc<Context>,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    F: FnMut(Arc<DeserializeGuard<K>>, Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    let primary = futures::stream::pending::<Result<_, kube::runtime::watcher::Error>>();
    let error_policy = |guard: Arc<DeserializeGuard<K>>, error: &Error, context: Arc<Context>| {
        retry_after(&guard, error, context.tuning.error_requeue)
    };
    let timed = move |guard: Arc<DeserializeGuard<K>>, context: Arc<Context>| {
        let started = std::time::Instant::now();
        let reconciling = reconcile(guard, context.clone());
        async move {
            let result = reconciling.await;
            let reason = result.as_ref().err().map(Error::reason);
            let seconds = started.elapsed().as_secs_f64();
            context.metrics.reconciled(name, seconds, reason);
            result
        }
    };
    let config = kube::runtime::controller::Config::default().concurrency(context.tuning.concurrency);
    futures::StreamExt::for_each(
        kube::runtime::Controller::for_stream(primary, store)
            .with_config(config)
            .reconcile_on(cache::requests(triggers))
            .shutdown_on_signal()
            .run(timed, error_policy, context),
        |_| async {},
    )
    .await;
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub caches: Caches,
    /// Clients of the hosted clusters, kept between reconciles.
    pub hosted: hosted::HostedClients,
    /// Joins and drains running in the background, one per machine.
    pub tasks: pod_machine::tasks::Tasks,
    pub tuning: Tuning,
    pub metrics: Arc<Metrics>,
}

impl Context {
    pub fn new(
        client: Client,
        caches: Caches,
        routes: Routes,
        tuning: Tuning,
        metrics: Arc<Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: "podplane".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            hosted: hosted::HostedClients::new(routes.machines.clone()),
            tasks: pod_machine::tasks::Tasks::new(routes.machines),
            caches,
            tuning,
            metrics,
        }
    }

    /// Publish an Event about `object`; a failure is logged, never fatal.
    pub async fn publish(&self, object: &ObjectReference, type_: EventType, reason: &str, note: String) {
        self.publish_related(object, None, type_, reason, note).await;
    }

    /// Publish an Event about `object` that concerns `related` too (a child, say). Events
    /// with the same reason are one series per related object: a note is never lost in
    /// the count of another's.
    pub async fn publish_related(
        &self,
        object: &ObjectReference,
        related: Option<ObjectReference>,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: related,
        };
        if let Err(error) = self.recorder.publish(&event, object).await {
            warn!(%error, reason, "could not publish event");
        }
    }
}

/// Run both controllers against the cluster of `client` until the process is asked to stop.
pub async fn run(client: Client, tuning: Tuning, metrics: Arc<Metrics>) -> Result<(), Error> {
    let (control_planes_tx, control_planes_rx) = mpsc::unbounded_channel();
    let (machines_tx, machines_rx) = mpsc::unbounded_channel();
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<String>();
    let routes = Routes {
        control_planes: control_planes_tx,
        machines: machines_tx,
        gone: gone_tx,
    };
    let cluster_api = cluster_api_cache::installed(&client).await;
    tracing::info!(
        cluster_api,
        "Cluster API v1beta2 served by the management cluster"
    );
    let (caches, watches) = cache::start(&client, routes.clone(), cluster_api);
    let watches = tokio::spawn(watches);
    caches.synced().await.map_err(|_| Error::CachesClosed)?;
    tracing::info!("watch caches synced");
    metrics.watch(caches.clone());
    let context = Arc::new(Context::new(client, caches, routes, tuning, metrics));
    // A control plane that is gone takes its cluster's client and Node watch with it.
    let forgetting = context.clone();
    let forget = tokio::spawn(async move {
        while let Some(uid) = gone_rx.recv().await {
            forgetting.hosted.forget(&uid);
        }
    });
    tokio::join!(
        hosted_control_plane::run(context.clone(), control_planes_rx),
        pod_machine::run(context, machines_rx),
    );
    watches.abort();
    forget.abort();
    Ok(())
}

impl Context {
    /// A client for the hosted cluster of the control plane `uid` in `namespace`, reused
    /// while its admin kubeconfig stays the same.
    pub async fn hosted_client(
        &self,
        uid: &str,
        namespace: &str,
        kubeconfig: &str,
    ) -> Result<Client, crate::tenant::Error> {
        self.hosted.client(uid, namespace, kubeconfig).await
    }
}
