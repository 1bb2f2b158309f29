//! TunnelAvailable: whether konnectivity agents in the hosted cluster are connected to the
//! konnectivity server beside every API server, read from each server's own metrics.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Client;

use crate::api::conditions::{TUNNEL_AVAILABLE, condition, reasons};
use crate::components::{Component, TUNNEL_HEALTH_PORT};
use crate::contract::{COMPONENT, VERSION_ANNOTATION};

/// The metric a konnectivity server counts its connected agents in, per proxy strategy.
const READY_BACKENDS: &str = "konnectivity_network_proxy_server_ready_backends";

/// What one konnectivity server said: its Pod, and its agents (or why it did not say).
pub type Server = (String, Result<u64, String>);

/// The server said it has at least one agent.
fn has_agents((_, agents): &Server) -> bool {
    matches!(agents, Ok(n) if *n > 0)
}

/// Agents connected to `metrics`' server: the largest count over its strategies.
pub fn ready_backends(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(READY_BACKENDS))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|count| count as u64)
        .max()
}

/// API server Pods not being deleted.
fn staying_api_servers(pods: &[Arc<Pod>]) -> impl Iterator<Item = &Arc<Pod>> {
    pods.iter().filter(|pod| {
        let labels = pod.metadata.labels.as_ref();
        labels.and_then(|l| l.get(COMPONENT)).map(String::as_str) == Some(Component::ApiServer.as_str())
            && pod.metadata.deletion_timestamp.is_none()
    })
}

fn running_api_servers(pods: &[Arc<Pod>]) -> impl Iterator<Item = &Arc<Pod>> {
    staying_api_servers(pods)
        .filter(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
}

fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether API server Pods of `version` must wait before they count as available (and an
/// old one is stopped): agents are connected to the running servers, and a server of
/// `version` does not exist yet, is not Ready, or has no agent yet. Without this, a new
/// API server serves requests it cannot send into the hosted cluster (the Service proxy,
/// webhooks, logs) until the agents, which dial the Service every second, find it.
pub fn hold_for_agents(version: &str, servers: &[Server], pods: &[Arc<Pod>]) -> bool {
    let agents_exist = servers.iter().any(has_agents);
    let new: Vec<&Arc<Pod>> = staying_api_servers(pods)
        .filter(|pod| {
            let annotations = pod.metadata.annotations.as_ref();
            annotations
                .and_then(|a| a.get(VERSION_ANNOTATION))
                .map(String::as_str)
                == Some(version)
        })
        .collect();
    let connected = |pod: &Pod| {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        servers
            .iter()
            .any(|server| server.0 == name && has_agents(server))
    };
    agents_exist && (new.is_empty() || new.iter().any(|pod| !is_ready(pod) || !connected(pod)))
}

/// Ask each running API server Pod's konnectivity server (through the management API
/// server's Pod proxy) how many agents it has.
pub async fn observe(client: &Client, namespace: &str, pods: &[Arc<Pod>]) -> Vec<Server> {
    let mut servers = vec![];
    for pod in running_api_servers(pods) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods/{name}:{}/proxy/metrics",
            TUNNEL_HEALTH_PORT.number
        );
        let request = http::Request::get(path).body(Vec::new()).expect("static request");
        let answer =
            tokio::time::timeout(std::time::Duration::from_secs(3), client.request_text(request)).await;
        let agents = match answer {
            Ok(Ok(metrics)) => ready_backends(&metrics).ok_or_else(|| format!("{READY_BACKENDS} missing")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 3s".into()),
        };
        servers.push((name, agents));
    }
    servers
}

/// Whether there are servers and each has at least one agent.
pub fn all_connected(servers: &[Server]) -> bool {
    !servers.is_empty() && servers.iter().all(has_agents)
}

/// The condition from what the servers said.
pub fn available(servers: &[Server], generation: Option<i64>, now: &Time) -> Condition {
    let make =
        |ok, reason, message: String| condition(TUNNEL_AVAILABLE, ok, reason, message, generation, now);
    if servers.is_empty() {
        let message = "no API server Pod runs yet".into();
        return make(false, reasons::NO_SERVER, message);
    }
    let counts: Vec<String> = servers
        .iter()
        .map(|(pod, agents)| match agents {
            Ok(n) => format!("{pod}: {n}"),
            Err(why) => format!("{pod}: unknown ({why})"),
        })
        .collect();
    if all_connected(servers) {
        let message = format!("konnectivity agents connected ({})", counts.join(", "));
        return make(true, reasons::AGENTS_CONNECTED, message);
    }
    let message = format!(
        "the API server cannot reach into the hosted cluster (webhooks, aggregated APIs such as \
         metrics, kubectl exec/logs/port-forward) until a konnectivity agent connects: agents \
         run on the hosted cluster's nodes, one per node ({})",
        counts.join(", ")
    );
    make(false, reasons::NO_AGENTS, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agents_from_the_servers_metrics() {
        let metrics = "# TYPE konnectivity_network_proxy_server_ready_backends gauge\n\
            konnectivity_network_proxy_server_ready_backends{proxy_strategy=\"default\"} 2\n\
            konnectivity_network_proxy_server_ready_backends{proxy_strategy=\"destHost\"} 2\n";
        assert_eq!(ready_backends(metrics), Some(2));
        assert_eq!(ready_backends("other_metric 3\n"), None);
    }

    #[test]
    fn available_only_when_every_server_has_an_agent() {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let both = [("a".to_string(), Ok(2)), ("b".to_string(), Ok(1))];
        assert_eq!(available(&both, Some(1), &now).status, "True");
        let one = [("a".to_string(), Ok(2)), ("b".to_string(), Ok(0))];
        let condition = available(&one, Some(1), &now);
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("False", reasons::NO_AGENTS)
        );
        assert!(condition.message.contains("b: 0"), "{}", condition.message);
        assert_eq!(available(&[], Some(1), &now).reason, reasons::NO_SERVER);
    }

    fn api_server(name: &str, version: &str, ready: bool) -> Arc<Pod> {
        let pod = serde_json::json!({
            "metadata": {"name": name,
                "labels": {COMPONENT: Component::ApiServer.as_str()},
                "annotations": {VERSION_ANNOTATION: version}},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        });
        Arc::new(serde_json::from_value(pod).unwrap())
    }

    #[test]
    fn new_api_servers_wait_for_an_agent_only_where_agents_exist() {
        let server = |name: &str, agents: u64| (name.to_string(), Ok(agents));
        let old = api_server("old", "v1.35.4", true);
        let hold = |servers: &[Server], pods: &[Arc<Pod>]| hold_for_agents("v1.36.3", servers, pods);
        // About to roll: the new template is not applied yet.
        assert!(hold(&[server("old", 2)], std::slice::from_ref(&old)));
        let starting = api_server("new", "v1.36.3", false);
        assert!(hold(
            &[server("old", 2), server("new", 0)],
            &[old.clone(), starting]
        ));
        let ready = api_server("new", "v1.36.3", true);
        assert!(hold(
            &[server("old", 2), server("new", 0)],
            &[old.clone(), ready.clone()]
        ));
        let unknown = ("new".to_string(), Err("no answer within 3s".to_string()));
        assert!(hold(&[server("old", 2), unknown], &[old.clone(), ready.clone()]));
        assert!(!hold(
            &[server("old", 2), server("new", 1)],
            &[old.clone(), ready.clone()]
        ));
        // No agents anywhere (no nodes): nothing to wait for.
        assert!(!hold(&[server("old", 0), server("new", 0)], &[old, ready]));
    }
}
