//! The machine's Pod: created once, reported when lost, recreated only when the spec says so.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::Machine;
use super::status::PodState;
use crate::api::HostedControlPlane;
use crate::api::conditions::{POD_RUNNING, reasons};
use crate::controllers::Error;
use crate::machine::{self, NODE_CONTAINER};

/// The Pod with its node container running, or where it stands (with the Pod's uid).
pub type Ensured = Result<Pod, (PodState, Option<String>)>;

fn owned_by(pod: &Pod, machine: &Machine) -> bool {
    let uid = machine.object.uid();
    pod.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

fn failed(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref()?;
    (phase == "Failed" || phase == "Succeeded").then(|| {
        let why = [status.reason.as_deref(), status.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        format!("Pod {} ended with phase {phase}. {why}", pod.name_any())
            .trim_end()
            .to_string()
    })
}

/// The node container's state when it is not running: (reason, message).
fn not_running(pod: &Pod) -> Option<(String, String)> {
    let status = pod.status.as_ref();
    let first_init = status.and_then(|s| s.init_container_statuses.iter().flatten().next().cloned());
    if let Some(init) = first_init
        && let Some(waiting) = init.state.as_ref().and_then(|s| s.waiting.as_ref())
        && waiting.reason.as_deref() != Some("PodInitializing")
    {
        let reason = waiting.reason.clone().unwrap_or_else(|| reasons::WAITING.into());
        return Some((
            reason.clone(),
            format!(
                "init container {}: {reason}: {}",
                init.name,
                waiting.message.clone().unwrap_or_default()
            ),
        ));
    }
    let node = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().find(|c| c.name == NODE_CONTAINER));
    match node.and_then(|c| c.state.as_ref()) {
        Some(state) if state.running.is_some() => None,
        Some(state) => {
            let (reason, message) = match (&state.waiting, &state.terminated) {
                (Some(w), _) => (w.reason.clone(), w.message.clone()),
                (_, Some(t)) => (t.reason.clone(), t.message.clone()),
                _ => (None, None),
            };
            let reason = reason.unwrap_or_else(|| reasons::CONTAINER_CREATING.into());
            let image = node.map(|c| c.image.clone()).unwrap_or_default();
            Some((
                reason.clone(),
                format!(
                    "node container ({image}): {reason} {}",
                    message.unwrap_or_default()
                )
                .trim_end()
                .to_string(),
            ))
        }
        None => Some((
            reasons::POD_SCHEDULING.into(),
            format!("Pod {} is not running yet", pod.name_any()),
        )),
    }
}

/// Make sure the machine's Pod exists and its node container runs.
pub async fn ensure(machine: &Machine, hcp: &HostedControlPlane) -> Result<Ensured, Error> {
    let spec = &machine.object.spec.template;
    let had_pod = machine.object.status.as_ref().and_then(|s| s.pod_uid.clone());
    let cached = machine
        .context
        .caches
        .pods
        .get(&ObjectRef::new(&machine.name).within(&machine.namespace));
    let pod = match cached.map(|p| p.as_ref().clone()) {
        Some(pod) if !owned_by(&pod, machine) => {
            return Ok(Err((
                PodState::Refused(format!(
                    "a Pod named {} exists that this machine does not own: delete or rename it",
                    machine.name
                )),
                None,
            )));
        }
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
            return Ok(Err((
                PodState::Starting {
                    reason: reasons::TERMINATING.into(),
                    message: format!("Pod {} is terminating", machine.name),
                },
                pod.uid(),
            )));
        }
        Some(pod) => pod,
        None => return create(machine, hcp, had_pod).await,
    };
    if let Some(why) = failed(&pod) {
        if spec.recreate_pod {
            machine
                .pods
                .delete(&machine.name, &DeleteParams::default())
                .await
                .map_err(Error::kube(format!("deleting Pod {}", machine.name)))?;
            machine
                .publish(
                    EventType::Normal,
                    reasons::RECREATING_POD,
                    format!("{why}; spec.recreatePod is set"),
                )
                .await;
            return Ok(Err((
                PodState::Starting {
                    reason: reasons::RECREATING.into(),
                    message: why,
                },
                pod.uid(),
            )));
        }
        return Ok(Err((lost(machine, why).await, pod.uid())));
    }
    Ok(match not_running(&pod) {
        None => Ok(pod),
        Some((reason, message)) => Err((PodState::Starting { reason, message }, pod.uid())),
    })
}

/// A lost Pod, reported with an Event the first time.
async fn lost(machine: &Machine, why: String) -> PodState {
    let message = format!("{why}. Set spec.recreatePod: true to get a new Pod, or delete the PodMachine");
    if !machine.reported(POD_RUNNING, reasons::POD_LOST) {
        machine
            .publish(EventType::Warning, reasons::POD_LOST, message.clone())
            .await;
    }
    PodState::Lost(message)
}

async fn create(
    machine: &Machine,
    hcp: &HostedControlPlane,
    had_pod: Option<String>,
) -> Result<Ensured, Error> {
    if let Some(uid) = had_pod
        && !machine.object.spec.template.recreate_pod
    {
        let why = format!("Pod {} (uid {uid}) is gone", machine.name);
        return Ok(Err((lost(machine, why).await, None)));
    }
    let pod = machine::pod::pod(&machine.object, hcp);
    match machine.pods.create(&PostParams::default(), &pod).await {
        Ok(created) => {
            let image = machine::pod::image(&machine.object, hcp);
            machine
                .publish(
                    EventType::Normal,
                    reasons::POD_CREATED,
                    format!("created Pod {} from {image}", machine.name),
                )
                .await;
            Ok(Err((
                PodState::Starting {
                    reason: reasons::CONTAINER_CREATING.into(),
                    message: format!("Pod {} created", machine.name),
                },
                created.uid(),
            )))
        }
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => {
            let hint = if e.message.contains("PodSecurity") {
                format!(
                    ". Worker Pods are privileged: label the namespace with pod-security.kubernetes.io/enforce=privileged (kubectl label namespace {} pod-security.kubernetes.io/enforce=privileged --overwrite)",
                    machine.namespace
                )
            } else {
                String::new()
            };
            let message = format!(
                "the management cluster refused Pod {}: {}{hint}",
                machine.name, e.message
            );
            if !machine.reported(POD_RUNNING, reasons::POD_REFUSED) {
                machine
                    .publish(EventType::Warning, reasons::POD_REFUSED, message.clone())
                    .await;
            }
            Ok(Err((PodState::Refused(message), None)))
        }
        Err(e) => Err(Error::kube(format!("creating Pod {}", machine.name))(e)),
    }
}
