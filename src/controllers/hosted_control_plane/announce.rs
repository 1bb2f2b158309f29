//! Events: what a pass changed (certificates issued, drift reverted) and conditions that
//! changed (a component lost or regained, readiness).

use kube::Resource;
use kube::runtime::events::EventType;

use super::apply::Applied;
use super::plan::Plan;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::conditions::{READY, ROLLING_OUT, reasons};
use crate::api::{HostedControlPlane, HostedControlPlaneStatus};
use crate::controllers::Context;

async fn publish(context: &Context, hcp: &HostedControlPlane, type_: EventType, reason: &str, note: String) {
    context.publish(&hcp.object_ref(&()), type_, reason, note).await;
}

/// Events for what `applied` changed.
pub async fn applied(context: &Context, hcp: &HostedControlPlane, plan: &Plan, applied: &Applied) {
    if let Some(note) = &plan.issued_note {
        publish(
            context,
            hcp,
            EventType::Normal,
            reasons::CERTIFICATES_ISSUED,
            note.clone(),
        )
        .await;
    }
    for (child, path) in &applied.reverted {
        let kind = child.kind.as_deref().unwrap_or_default();
        let what = format!("{kind}/{}", child.name.as_deref().unwrap_or_default());
        tracing::warn!(child = what, field = path, "drift reverted");
        let note = format!("put back what someone else changed: {what}: {path}");
        let (object, related) = (hcp.object_ref(&()), Some(child.clone()));
        let reason = reasons::DRIFT_REVERTED;
        context
            .publish_related(&object, related, EventType::Warning, reason, note)
            .await;
    }
}

/// Events for conditions that changed between `previous` and `next`.
pub async fn transitions(
    context: &Context,
    hcp: &HostedControlPlane,
    previous: Option<&HostedControlPlaneStatus>,
    next: &HostedControlPlaneStatus,
) {
    for condition in &next.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == condition.type_));
        if condition.type_ == ROLLING_OUT {
            rollout_step(context, hcp, before, condition).await;
            continue;
        }
        let was_true = before.map(|c| c.status == "True");
        let is_true = condition.status == "True";
        // A new control plane waits for its components and its first agents: no warning.
        let waiting = [reasons::UNAVAILABLE, reasons::NO_SERVER, reasons::NO_AGENTS];
        let first_wait = was_true.is_none() && !is_true && waiting.contains(&condition.reason.as_str());
        if was_true == Some(is_true) || first_wait {
            continue;
        }
        let (type_, reason) = match (condition.type_.as_str(), is_true) {
            (READY, true) => (EventType::Normal, reasons::CONTROL_PLANE_READY.to_string()),
            (READY, false) if was_true == Some(true) => {
                (EventType::Warning, reasons::CONTROL_PLANE_NOT_READY.to_string())
            }
            (READY, false) => continue,
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

/// An Event per upgrade step: Normal as each starts and when it is done, Warning when it stalls.
async fn rollout_step(
    context: &Context,
    hcp: &HostedControlPlane,
    before: Option<&Condition>,
    now: &Condition,
) {
    let was = before.map(|c| c.reason.as_str());
    if was == Some(now.reason.as_str()) || (was.is_none() && now.reason == reasons::UP_TO_DATE) {
        return;
    }
    let type_ = match now.reason.as_str() {
        reasons::ROLLOUT_STALLED | reasons::DOWNGRADE_REFUSED => EventType::Warning,
        _ => EventType::Normal,
    };
    publish(context, hcp, type_, &now.reason, now.message.clone()).await;
}
