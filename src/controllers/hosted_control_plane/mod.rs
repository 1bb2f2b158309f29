//! Reconciling a HostedControlPlane, in stages: observe (watch caches) → plan (pure: which
//! certificates to issue, which children to write or remove) → apply → reach the hosted
//! cluster → status, which is written on every exit, error or not.

pub mod announce;
pub mod apply;
pub mod membership;
pub mod observe;
pub mod plan;
pub mod reach;
pub mod rollout;
pub mod status;
pub mod tunnel;
pub mod worker_rollout;

#[cfg(test)]
mod reconcile_tests;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{Instrument, info, info_span};

use super::cache::ControlPlaneRef;
use super::{Context, Error, FIELD_MANAGER, decoded};
use crate::api::{HostedControlPlane, HostedControlPlaneStatus};
use membership::Standing;
use observe::Observed;
use status::Report;

/// How often a control plane whose API server does not answer yet is looked at again.
const NOT_ANSWERING_RECHECK: Duration = Duration::from_secs(2);
/// How often a control plane whose tunnel has no agents yet is looked at again: soon when
/// it has machines (their agents connect seconds after they join), rarely when it has none.
const TUNNEL_RECHECK: Duration = Duration::from_secs(10);
const TUNNEL_RECHECK_WITH_MACHINES: Duration = Duration::from_secs(2);
/// How often an API server rollout waiting for agents to reach a new server looks again.
const AGENT_RECHECK: Duration = Duration::from_secs(1);
/// The controller's name in metrics.
const NAME: &str = "hostedcontrolplane";

/// Run the HostedControlPlane controller until the process is asked to stop; `triggers`
/// carries the control planes that watch events concern.
pub async fn run(context: Arc<Context>, triggers: UnboundedReceiver<ControlPlaneRef>) {
    let store = context.caches.control_planes.clone();
    super::drive(NAME, store, triggers, reconcile, context).await;
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
        context.hosted.forget(&hcp.uid().unwrap_or_default());
        return Ok(Action::await_change());
    }
    let mut observed = observe::observe(&context.caches, hcp);
    let mut report = Report::default();
    let cluster = membership::cluster(context, hcp);
    let outcome = match membership::standing(hcp, cluster.as_deref()) {
        Standing::Active => {
            if membership::adopt_cluster_name(context, hcp, cluster.as_deref(), &observed).await? {
                return Ok(Action::await_change());
            }
            converge(hcp, context, &mut observed, &mut report).await
        }
        Standing::Paused(why) => {
            let now = Time(k8s_openapi::jiff::Timestamp::now());
            write_status(context, hcp, status::paused_status(hcp, why, now)).await?;
            return Ok(Action::await_change());
        }
        Standing::ClusterDeleting(why) => {
            info!(why, "not reconciling: its Cluster is going away");
            Ok(())
        }
    };
    let next = status::compute(&status::Inputs {
        hcp,
        observed: &observed,
        report: &report,
        error: outcome.as_ref().err(),
        now: Time(k8s_openapi::jiff::Timestamp::now()),
    });
    announce::transitions(context, hcp, hcp.status.as_ref(), &next).await;
    write_status(context, hcp, next).await?;
    outcome?;
    let answering = report.hosted.as_ref().is_some_and(Result::is_ok);
    let tunnel_up = report.tunnel.as_deref().is_some_and(tunnel::all_connected);
    let waiting_for_agents = report
        .rollout
        .as_ref()
        .is_some_and(|r| r.control_plane.wait_for_agents);
    Ok(Action::requeue(if waiting_for_agents {
        // Agents find a new API server with no event here: the old one stops once they did.
        AGENT_RECHECK
    } else if !answering {
        NOT_ANSWERING_RECHECK
    } else if !tunnel_up {
        // Agents connect as nodes come up, with no event here: look again soon.
        let recheck = if observed.machines.is_empty() {
            TUNNEL_RECHECK
        } else {
            TUNNEL_RECHECK_WITH_MACHINES
        };
        recheck.min(context.tuning.resync_interval)
    } else {
        context.tuning.resync_interval
    }))
}

/// Plan, apply, reach the hosted cluster; what status needs to know goes into `report`.
async fn converge(
    hcp: &HostedControlPlane,
    context: &Context,
    observed: &mut Observed,
    report: &mut Report,
) -> Result<(), Error> {
    let namespace = hcp.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    observe::ensure_api_service(&context.client, hcp, observed).await?;
    let required = plan::required_pki(hcp, observed);
    observe::complete_pki(&context.client, hcp, &required, &mut observed.pki).await?;
    let mut rollout = rollout::Rollout::observe(hcp, observed);
    // The API server step asks the tunnel before the plan; that answer serves the status too.
    let mut servers = None;
    if rollout.control_plane.step == Some(rollout::Step::ApiServer) {
        let asked = tunnel::observe(&context.client, &namespace, &observed.pods).await;
        rollout.control_plane.wait_for_agents =
            tunnel::hold_for_agents(&hcp.spec.version, &asked, &observed.pods);
        servers = Some(asked);
    }
    let plan = plan::plan(
        hcp,
        &required,
        observed,
        &rollout,
        time::OffsetDateTime::now_utc(),
    )?;
    report.rollout = Some(rollout);
    report.certificates_valid = true;
    let applied = apply::apply(&context.client, &namespace, &plan).await?;
    if !applied.is_empty() {
        info!(written = ?applied.written, removed = ?applied.removed, "applied");
    }
    announce::applied(context, hcp, &plan, &applied).await;
    membership::publish_endpoint(context, hcp, observed).await?;
    report.endpoint = Some(reach::endpoint(hcp));
    let address = observed.published_address();
    let reached = reach::reach(context, hcp, &plan, report.endpoint.as_deref(), address).await;
    if reached.answered.is_ok() {
        report.tunnel = Some(match servers {
            Some(servers) => servers,
            None => tunnel::observe(&context.client, &namespace, &observed.pods).await,
        });
    }
    report.hosted = Some(reached.answered);
    reached.addons.map_err(Error::Hosted)
}

/// Patch the status subresource only when it differs from what is stored.
async fn write_status(
    context: &Context,
    hcp: &HostedControlPlane,
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
    Api::<HostedControlPlane>::namespaced(context.client.clone(), &hcp.namespace().unwrap_or_default())
        .patch_status(
            &hcp.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube("writing status"))?;
    Ok(())
}
