//! Reconciling a HostedControlPlane: fetch → validate → build → apply → status.

pub mod apply;
pub mod observe;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use super::{Context, Error, FIELD_MANAGER, decoded, retry_after};
use crate::api::{HostedControlPlane, HostedControlPlaneStatus, PodMachine};
use crate::names::Names;
use crate::pki::{self, KUBECONFIG_KEY, PkiError};
use crate::render::meta::{MANAGED_BY, MANAGER};
use crate::{render, tenant};

/// How often a control plane that is not ready yet is looked at again.
const NOT_READY_RECHECK: Duration = Duration::from_secs(2);
/// How often a ready control plane is checked (certificate renewal, hosted readiness).
const READY_RECHECK: Duration = Duration::from_secs(300);

/// Run the HostedControlPlane controller until the process is asked to stop.
pub async fn run(context: Arc<Context>) {
    let client = context.client.clone();
    let ours = watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER}"));
    Controller::new(
        Api::<DeserializeGuard<HostedControlPlane>>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Deployment>::all(client.clone()), ours.clone())
    .owns(Api::<Service>::all(client.clone()), ours.clone())
    .owns(Api::<Secret>::all(client.clone()), ours.clone())
    .owns(Api::<ConfigMap>::all(client.clone()), ours.clone())
    .owns(Api::<PodDisruptionBudget>::all(client.clone()), ours.clone())
    .owns(Api::<Ingress>::all(client.clone()), ours.clone())
    .owns(Api::<PodMachine>::all(client.clone()), ours)
    .shutdown_on_signal()
    .run(reconcile, error_policy, context)
    .for_each(|result| async move {
        if let Err(error) = result {
            warn!(%error, "reconcile failed");
        }
    })
    .await;
}

fn error_policy(guard: Arc<DeserializeGuard<HostedControlPlane>>, error: &Error, _: Arc<Context>) -> Action {
    retry_after(&guard, error)
}

async fn reconcile(
    guard: Arc<DeserializeGuard<HostedControlPlane>>,
    context: Arc<Context>,
) -> Result<Action, Error> {
    let Some(hcp) = decoded(&guard, "HostedControlPlane") else {
        return Ok(Action::await_change());
    };
    let span = info_span!(
        "reconcile",
        namespace = hcp.namespace().unwrap_or_default(),
        name = hcp.name_any()
    );
    reconcile_one(hcp, &context).instrument(span).await
}

async fn reconcile_one(hcp: &HostedControlPlane, context: &Context) -> Result<Action, Error> {
    if hcp.metadata.deletion_timestamp.is_some() {
        // Children carry controller owner references: garbage collection removes them.
        context.forget(&hcp.uid().unwrap_or_default());
        return Ok(Action::await_change());
    }
    let namespace = hcp.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let client = &context.client;

    // fetch
    let observed = observe::observe(client, hcp).await?;

    // validate + build (pure)
    let required = pki::assets::required(hcp, &observed.extra_api_server_sans());
    let now = time::OffsetDateTime::now_utc();
    let (certificates, admin_kubeconfig, ca_pem) = match pki::issue(&required, &observed.pki, now) {
        Ok(issued) => {
            let ca_pem = issued
                .secrets
                .get(&Names::new(&hcp.name_any()).ca_secret())
                .and_then(|d| d.get(pki::TLS_CERT))
                .cloned();
            let kubeconfig = issued
                .secrets
                .get(&Names::new(&hcp.name_any()).admin_kubeconfig_secret())
                .and_then(|d| d.get(KUBECONFIG_KEY))
                .map(|v| String::from_utf8_lossy(v).into_owned());
            let reissued: Vec<String> = issued.issued().into_iter().map(str::to_string).collect();

            // apply
            let applied = apply::children(client, &namespace, render::all(hcp, &issued), &observed).await?;
            if !applied.written.is_empty() || !applied.deleted.is_empty() {
                info!(written = ?applied.written, deleted = ?applied.deleted, "applied");
            }
            if !reissued.is_empty() {
                let fresh = reissued.len() == required.len();
                let note = if fresh {
                    format!("issued {} certificates, keys and kubeconfigs", reissued.len())
                } else {
                    let reasons: Vec<String> = issued
                        .verdicts
                        .iter()
                        .filter_map(|v| match &v.action {
                            pki::Action::Issue(why) => Some(format!("{}: {why}", v.secret)),
                            _ => None,
                        })
                        .collect();
                    format!("reissued {}", reasons.join("; "))
                };
                publish(context, hcp, EventType::Normal, "CertificatesIssued", note).await;
            }
            (Ok(()), kubeconfig, ca_pem)
        }
        Err(error @ PkiError::BrokenAuthority { .. }) => {
            let message = error.to_string();
            publish(
                context,
                hcp,
                EventType::Warning,
                "BrokenCertificateAuthority",
                message.clone(),
            )
            .await;
            (Err(message), None, None)
        }
        Err(error) => return Err(error.into()),
    };

    // inside the hosted cluster
    let endpoint = endpoint(hcp, &observed);
    let hosted = match &admin_kubeconfig {
        Some(kubeconfig) => match context
            .hosted_client(&hcp.uid().unwrap_or_default(), kubeconfig)
            .await
        {
            Ok(hosted) => match answers(&hosted, hcp.status.as_ref().is_some_and(|s| s.ready)).await {
                Ok(()) => {
                    if let (Some(endpoint), Some(ca_pem)) = (&endpoint, &ca_pem) {
                        prepare_for_join(context, hcp, &hosted, endpoint, ca_pem).await;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        None => Err("no admin kubeconfig".into()),
    };

    // status
    let inputs = status::Inputs {
        hcp,
        deployments: &observed.deployments,
        pods: &observed.pods,
        machines: &observed.machines,
        certificates,
        hosted,
        endpoint,
        now: Time(k8s_openapi::jiff::Timestamp::now()),
    };
    let next = status::compute(&inputs, hcp.status.as_ref());
    announce_transitions(context, hcp, hcp.status.as_ref(), &next).await;
    let ready = next.ready;
    write_status(client, hcp, &namespace, next).await?;
    Ok(Action::requeue(if ready {
        READY_RECHECK
    } else {
        NOT_READY_RECHECK
    }))
}

/// Whether the hosted API server answers `/readyz`. A control plane that was Ready gets a
/// second chance a second later: one slow answer on a busy machine (a fresh connection
/// after an operator restart, say) is not an outage worth flipping Ready for.
async fn answers(hosted: &Client, was_ready: bool) -> Result<(), String> {
    match tenant::readyz(hosted).await {
        Err(_) if was_ready => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tenant::readyz(hosted).await
        }
        result => result,
    }
}

/// Leave in the hosted cluster what `kubeadm join` needs; written only when it changed.
async fn prepare_for_join(
    context: &Context,
    hcp: &HostedControlPlane,
    hosted: &Client,
    endpoint: &str,
    ca_pem: &[u8],
) {
    let host_port = endpoint.trim_start_matches("https://");
    let objects = match tenant::addons::render(hcp, host_port, ca_pem) {
        Ok(objects) => objects,
        Err(error) => return warn!(%error, "cannot render the hosted cluster addons"),
    };
    let Ok(digest) = apply::digest(&objects) else {
        return;
    };
    let uid = hcp.uid().unwrap_or_default();
    if context.addons_applied(&uid, &digest) {
        return;
    }
    match tenant::addons::apply(hosted, &objects, FIELD_MANAGER).await {
        Ok(()) => {
            info!("hosted cluster addons applied");
            context.record_addons(&uid, digest);
        }
        Err(error) => {
            publish(context, hcp, EventType::Warning, "AddonsFailed", error.clone()).await;
            warn!(%error, "applying the hosted cluster addons failed");
        }
    }
}

/// `https://host:port` where clients reach the API server.
fn endpoint(hcp: &HostedControlPlane, observed: &observe::Observed) -> Option<String> {
    if let Some(endpoint) = &hcp.spec.control_plane_endpoint {
        return Some(format!("https://{}:{}", endpoint.host, endpoint.port));
    }
    observed.api_service.as_ref()?;
    Some(hcp.in_cluster_server())
}

/// Patch the status subresource only when it differs from what is stored.
async fn write_status(
    client: &Client,
    hcp: &HostedControlPlane,
    namespace: &str,
    next: HostedControlPlaneStatus,
) -> Result<(), Error> {
    if hcp.status.as_ref() == Some(&next) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": HostedControlPlane::api_version(&()),
        "kind": HostedControlPlane::kind(&()),
        "status": next,
    });
    Api::<HostedControlPlane>::namespaced(client.clone(), namespace)
        .patch_status(
            &hcp.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Events for conditions that changed: a component lost or regained, readiness.
async fn announce_transitions(
    context: &Context,
    hcp: &HostedControlPlane,
    previous: Option<&HostedControlPlaneStatus>,
    next: &HostedControlPlaneStatus,
) {
    for condition in &next.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == condition.type_));
        let was_true = before.map(|c| c.status == "True");
        let is_true = condition.status == "True";
        if was_true == Some(is_true) || (was_true.is_none() && !is_true && condition.reason == "Unavailable")
        {
            continue;
        }
        let (type_, reason) = match (condition.type_.as_str(), is_true) {
            ("Ready", true) => (EventType::Normal, "ControlPlaneReady".to_string()),
            ("Ready", false) if was_true == Some(true) => {
                (EventType::Warning, "ControlPlaneNotReady".to_string())
            }
            ("Ready", false) => continue,
            (_, true) if was_true == Some(false) => (
                EventType::Normal,
                format!("{}Recovered", condition.type_.trim_end_matches("Available")),
            ),
            (_, true) => continue,
            (_, false) => (EventType::Warning, condition.reason.clone()),
        };
        let note = format!("{}: {}", condition.type_, condition.message);
        publish(context, hcp, type_, &reason, note).await;
    }
}

async fn publish(context: &Context, hcp: &HostedControlPlane, type_: EventType, reason: &str, note: String) {
    context.publish(&hcp.object_ref(&()), type_, reason, note).await;
}
