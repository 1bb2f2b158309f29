//! Joining a machine's node container to the hosted cluster with `kubeadm join`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Client, ResourceExt};

use super::bootstrap::{self, JoinSource};
use super::status::JoinState;
use super::tasks::{Outcome, TaskState, Work};
use super::{Machine, exec};
use crate::api::conditions::reasons;
use crate::api::{HostedControlPlane, provider_id};
use crate::contract::JOINED_CONTAINER;
use crate::machine::NODE_CONTAINER;
use crate::machine::join::{Join, ca_cert_hash};
use crate::machine::token::{BootstrapToken, TOKEN_LIFETIME};
use crate::pki::TLS_CERT;
use crate::tenant::{self, nodes};

/// Why a join attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("Secret {0} has no {TLS_CERT}")]
    MissingCa(String),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Hosted(#[from] tenant::Error),
    #[error(transparent)]
    Credentials(#[from] crate::machine::CredentialsError),
    #[error("kubeadm join failed: {0}")]
    Kubeadm(String),
    #[error("the bootstrap data in Secret {secret} failed: {output}")]
    Bootstrap { secret: String, output: String },
}

impl JoinError {
    /// The reason of the NodeJoined condition and of the Event.
    pub fn reason(&self) -> &'static str {
        match self {
            JoinError::Bootstrap { .. } => reasons::BOOTSTRAP_FAILED,
            _ => reasons::JOIN_FAILED,
        }
    }
}

/// How long one check for a booted systemd may take; the reconcile checks again later.
const BOOT_CHECK: Duration = Duration::from_secs(8);
fn node_container_id(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == NODE_CONTAINER)?
        .container_id
        .clone()
}

fn waiting(reason: &'static str, message: impl Into<String>) -> JoinState {
    JoinState::Waiting {
        reason,
        message: message.into(),
    }
}

/// How long a machine waits before trying again after a join attempt that found the
/// hosted cluster not ready (or the node still booting), and after one that failed.
const WAIT_RETRY: Duration = Duration::from_secs(2);
const FAILURE_RETRY: Duration = Duration::from_secs(10);

/// Where the machine's join stands, starting a join task when one is due, and when the
/// machine should be looked at again.
pub async fn progress(machine: &Machine, hcp: &HostedControlPlane, pod: &Pod) -> (JoinState, Action) {
    let Some(container) = node_container_id(pod) else {
        let state = waiting(reasons::WAITING_FOR_POD, "the node container has no ID yet");
        return (state, Action::await_change());
    };
    if pod.annotations().get(JOINED_CONTAINER) == Some(&container) {
        machine.context.tasks.clear(&machine.uid);
        return (JoinState::Joined, Action::await_change());
    }
    match machine.context.tasks.state(&machine.uid) {
        TaskState::Running { since, .. } => {
            let since = since.strftime("%H:%M:%SZ");
            let message = format!("joining the hosted cluster {} since {since}", hcp.name_any());
            (waiting(reasons::JOINING, message), Action::await_change())
        }
        // The task recorded the join on the Pod; the cache may not show it yet.
        TaskState::Ended(Outcome::Joined { container: joined }) if joined == container => {
            (JoinState::Joined, Action::await_change())
        }
        TaskState::Ended(Outcome::NotJoined { state, retry_at }) if retry_at > Instant::now() => {
            (state, Action::requeue(retry_at - Instant::now()))
        }
        _ => {
            let source = match bootstrap::source(machine).await {
                Ok(source) => source,
                Err(state) => return (state, Action::requeue(WAIT_RETRY * 5)),
            };
            let task = attempt(machine.clone(), Arc::new(hcp.clone()), container, source);
            machine.context.tasks.clear(&machine.uid);
            machine
                .context
                .tasks
                .start(&machine.uid, machine.reference(), Work::Join, task);
            let message = format!("joining the hosted cluster {}", hcp.name_any());
            (waiting(reasons::JOINING, message), Action::await_change())
        }
    }
}

/// The machine's Node, as the watch of the hosted cluster's Nodes last saw it (a change of
/// the Node wakes the machine).
pub async fn node(machine: &Machine, hcp: &HostedControlPlane) -> Option<Node> {
    machine.hosted(hcp).await.ok()?;
    machine.context.hosted.node(&hcp.uid()?, &machine.name)
}

/// One join attempt, as a task: wait for what the join needs, then join.
async fn attempt(
    machine: Machine,
    hcp: Arc<HostedControlPlane>,
    container: String,
    source: JoinSource,
) -> Outcome {
    let started = Instant::now();
    match join_once(&machine, &hcp, &container, &source).await {
        Ok(()) => {
            let seconds = started.elapsed().as_secs_f64();
            machine.context.metrics.join_duration.observe(seconds);
            Outcome::Joined { container }
        }
        Err(state) => {
            let pause = if matches!(state, JoinState::Failed { .. }) {
                FAILURE_RETRY
            } else {
                WAIT_RETRY
            };
            Outcome::NotJoined {
                state,
                retry_at: Instant::now() + pause,
            }
        }
    }
}

async fn join_once(
    machine: &Machine,
    hcp: &HostedControlPlane,
    container: &str,
    source: &JoinSource,
) -> Result<(), JoinState> {
    let hosted = machine
        .hosted(hcp)
        .await
        .map_err(|e| waiting(reasons::WAITING_FOR_CONTROL_PLANE, e.to_string()))?;
    // The join needs the API server and the addons, not every component Ready.
    tenant::readyz(&hosted).await.map_err(|why| {
        let message = format!("the API server of {} is not ready yet: {why}", hcp.name_any());
        waiting(reasons::WAITING_FOR_CONTROL_PLANE, message)
    })?;
    booted(machine).await?;
    let unreachable = |e: tenant::Error| waiting(reasons::HOSTED_CLUSTER_UNREACHABLE, e.to_string());
    if nodes::node(&hosted, &machine.name)
        .await
        .map_err(unreachable)?
        .is_some()
    {
        // Left by an earlier container or Pod of this machine: the new kubelet registers afresh.
        nodes::delete_node(&hosted, &machine.name)
            .await
            .map_err(unreachable)?;
    }
    let started = Instant::now();
    let joined = match source {
        JoinSource::Own => join(machine, hcp, &hosted).await,
        JoinSource::ClusterApi { secret, bootstrap } => bootstrap::run(machine, secret, bootstrap).await,
    };
    if let Err(error) = joined {
        let message = error.to_string();
        machine
            .publish(EventType::Warning, error.reason(), message.clone())
            .await;
        return Err(JoinState::Failed {
            reason: error.reason(),
            message,
        });
    }
    let annotation = serde_json::json!({"metadata": {"annotations": {JOINED_CONTAINER: container}}});
    machine
        .pods
        .patch(&machine.name, &PatchParams::default(), &Patch::Merge(&annotation))
        .await
        .map_err(|e| JoinState::Failed {
            reason: reasons::JOIN_FAILED,
            message: format!("joined, but recording it on Pod {} failed: {e}", machine.name),
        })?;
    let note = format!(
        "joined the hosted cluster {} as Node {} in {:.1}s",
        hcp.name_any(),
        machine.name,
        started.elapsed().as_secs_f64()
    );
    machine.publish(EventType::Normal, reasons::JOINED, note).await;
    Ok(())
}

/// systemd in the node container finished booting (containerd runs, images are imported).
async fn booted(machine: &Machine) -> Result<(), JoinState> {
    let command = ["timeout", "5", "systemctl", "is-system-running", "--wait"]
        .map(String::from)
        .to_vec();
    let output = exec::run(&machine.pods, &machine.name, command, None, BOOT_CHECK)
        .await
        .map_err(|e| waiting(reasons::BOOTING, e.to_string()))?;
    let state = output.text.trim().to_string();
    match state.as_str() {
        "running" | "degraded" => Ok(()),
        "" => Err(waiting(
            reasons::BOOTING,
            "systemd in the node container is still starting",
        )),
        other => Err(waiting(
            reasons::BOOTING,
            format!("systemd in the node container is {other}"),
        )),
    }
}

/// Run `kubeadm join` in the node container with a fresh, short-lived bootstrap token.
async fn join(machine: &Machine, hcp: &HostedControlPlane, hosted: &Client) -> Result<(), JoinError> {
    let ca_pem = machine
        .ca_pem(hcp)
        .ok_or_else(|| JoinError::MissingCa(hcp.names().ca_secret()))?;
    let token = BootstrapToken::generate()?;
    let expiration = k8s_openapi::jiff::Timestamp::now()
        + k8s_openapi::jiff::SignedDuration::try_from(TOKEN_LIFETIME).expect("15 minutes fit");
    nodes::create_token(hosted, &token.secret(&machine.name, &expiration.to_string())).await?;
    let api_server = hcp.in_cluster_server();
    let provider = provider_id(&machine.namespace, &machine.name);
    let hash = ca_cert_hash(&ca_pem)?;
    let join = Join {
        node: &machine.name,
        api_server: api_server.trim_start_matches("https://"),
        token: &token,
        ca_cert_hash: &hash,
        provider_id: &provider,
    };
    let result = exec::run(
        &machine.pods,
        &machine.name,
        join.command(),
        Some(&join.configuration()),
        machine.context.tuning.join_timeout,
    )
    .await;
    // The token has done its work (or failed to); it must not outlive the join.
    let removed = nodes::delete_token(hosted, &token.secret_name()).await;
    let output = result?;
    if !output.success {
        return Err(JoinError::Kubeadm(output.tail(6)));
    }
    Ok(removed?)
}
