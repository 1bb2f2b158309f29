//! Joining a machine's node container to the hosted cluster with `kubeadm join`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Client, ResourceExt};

use super::status::JoinState;
use super::{Machine, exec};
use crate::api::{HostedControlPlane, provider_id};
use crate::machine::join::{Join, NETWORK_KUBECONFIG, ca_cert_hash, network_kubeconfig, write_file_command};
use crate::machine::token::{BootstrapToken, TOKEN_LIFETIME};
use crate::machine::{JOINED_CONTAINER, NODE_CONTAINER};
use crate::names::Names;
use crate::pki::TLS_CERT;
use crate::tenant::addons::NODE_NETWORK_TOKEN;
use crate::tenant::{self, nodes};

/// How long one check for a booted systemd may take; the reconcile checks again later.
const BOOT_CHECK: Duration = Duration::from_secs(8);
/// kubeadm join: discovery, TLS bootstrap and the kubelet's first start.
const JOIN_PATIENCE: Duration = Duration::from_secs(180);

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

/// The machine's Node once the node container has joined; joins it when it has not.
pub async fn ensure(
    machine: &Machine<'_>,
    hcp: &HostedControlPlane,
    hosted: &Client,
    pod: &Pod,
) -> Result<Option<Node>, JoinState> {
    let container =
        node_container_id(pod).ok_or_else(|| waiting("WaitingForPod", "the node container has no ID yet"))?;
    let joined = pod.annotations().get(JOINED_CONTAINER) == Some(&container);
    let node = || async {
        nodes::node(hosted, &machine.name)
            .await
            .map_err(|e| waiting("HostedClusterUnreachable", e))
    };
    if joined {
        return node().await;
    }
    // The join needs the API server and the addons, not every component Ready: it waits
    // for what it uses (the network token appears once the controller-manager runs).
    tenant::readyz(hosted).await.map_err(|why| {
        waiting(
            "WaitingForControlPlane",
            format!("the API server of {} is not ready yet: {why}", hcp.name_any()),
        )
    })?;
    booted(machine).await?;
    let network_token = network_token(hosted).await?;
    if node().await?.is_some() {
        // Left by an earlier container or Pod of this machine: the new kubelet registers afresh.
        nodes::delete_node(hosted, &machine.name)
            .await
            .map_err(|e| waiting("HostedClusterUnreachable", e))?;
    }
    let started = Instant::now();
    match join(machine, hcp, hosted, &network_token).await {
        Ok(()) => {}
        Err(message) => {
            machine
                .publish(EventType::Warning, "JoinFailed", message.clone())
                .await;
            return Err(JoinState::Failed(message));
        }
    }
    let annotation = serde_json::json!({"metadata": {"annotations": {JOINED_CONTAINER: container}}});
    machine
        .pods
        .patch(&machine.name, &PatchParams::default(), &Patch::Merge(&annotation))
        .await
        .map_err(|e| {
            JoinState::Failed(format!(
                "joined, but recording it on Pod {} failed: {e}",
                machine.name
            ))
        })?;
    machine
        .publish(
            EventType::Normal,
            "Joined",
            format!(
                "joined the hosted cluster {} as Node {} in {:.1}s",
                hcp.name_any(),
                machine.name,
                started.elapsed().as_secs_f64()
            ),
        )
        .await;
    node().await
}

/// systemd in the node container finished booting (containerd runs, images are imported).
async fn booted(machine: &Machine<'_>) -> Result<(), JoinState> {
    let command = ["timeout", "5", "systemctl", "is-system-running", "--wait"]
        .map(String::from)
        .to_vec();
    let output = exec::run(&machine.pods, &machine.name, command, None, BOOT_CHECK)
        .await
        .map_err(|e| waiting("Booting", e))?;
    let state = output.text.trim().to_string();
    match state.as_str() {
        "running" | "degraded" => Ok(()),
        "" => Err(waiting(
            "Booting",
            "systemd in the node container is still starting",
        )),
        other => Err(waiting(
            "Booting",
            format!("systemd in the node container is {other}"),
        )),
    }
}

/// Run `kubeadm join` in the node container with a fresh, short-lived bootstrap token.
async fn join(
    machine: &Machine<'_>,
    hcp: &HostedControlPlane,
    hosted: &Client,
    network_token: &str,
) -> Result<(), String> {
    let ca_secret = Names::new(&hcp.name_any()).ca_secret();
    let ca_pem = Api::<Secret>::namespaced(machine.client().clone(), &machine.namespace)
        .get_opt(&ca_secret)
        .await
        .map_err(|e| format!("reading Secret {ca_secret}: {e}"))?
        .and_then(|s| s.data)
        .and_then(|d: BTreeMap<_, _>| d.get(TLS_CERT).map(|v| v.0.clone()))
        .ok_or_else(|| format!("Secret {ca_secret} has no {TLS_CERT}"))?;
    network_credentials(machine, hcp, network_token, &ca_pem).await?;
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
        cluster_pod_cidr: &hcp.spec.network.pod_cidr,
    };
    let result = exec::run(
        &machine.pods,
        &machine.name,
        join.command(),
        Some(&join.configuration()),
        JOIN_PATIENCE,
    )
    .await;
    // The token has done its work (or failed to); it must not outlive the join.
    let removed = nodes::delete_token(hosted, &token.secret_name()).await;
    let output = result?;
    if !output.success {
        return Err(format!("kubeadm join failed: {}", output.tail(6)));
    }
    removed
}

/// The token of the podplane-node-network ServiceAccount, once the hosted
/// controller-manager has filled its Secret in (seconds after the addons are applied).
async fn network_token(hosted: &Client) -> Result<String, JoinState> {
    Api::<Secret>::namespaced(hosted.clone(), "kube-system")
        .get_opt(NODE_NETWORK_TOKEN)
        .await
        .map_err(|e| {
            waiting(
                "HostedClusterUnreachable",
                format!("reading kube-system/{NODE_NETWORK_TOKEN}: {e}"),
            )
        })?
        .and_then(|s| s.data)
        .and_then(|d| d.get("token").map(|t| String::from_utf8_lossy(&t.0).into_owned()))
        .ok_or_else(|| {
            waiting(
                "WaitingForAddons",
                format!("kube-system/{NODE_NETWORK_TOKEN} in the hosted cluster has no token yet"),
            )
        })
}

/// Give the node's network loop its kubeconfig (the podplane-node-network token).
async fn network_credentials(
    machine: &Machine<'_>,
    hcp: &HostedControlPlane,
    token: &str,
    ca_pem: &[u8],
) -> Result<(), String> {
    let kubeconfig = network_kubeconfig(&hcp.in_cluster_server(), ca_pem, token);
    let output = exec::run(
        &machine.pods,
        &machine.name,
        write_file_command(NETWORK_KUBECONFIG),
        Some(&kubeconfig),
        Duration::from_secs(20),
    )
    .await?;
    if output.success {
        Ok(())
    } else {
        Err(format!("writing {NETWORK_KUBECONFIG}: {}", output.tail(3)))
    }
}
