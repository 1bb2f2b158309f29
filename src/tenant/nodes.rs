//! Nodes of a hosted cluster: bootstrap tokens for joining, drain and removal.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::Error;

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e) if e.code == 404)
}

pub async fn node(client: &Client, name: &str) -> Result<Option<Node>, Error> {
    Api::<Node>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(Error::api(format!("get Node {name}")))
}

/// Create a bootstrap token Secret in `kube-system`.
pub async fn create_token(client: &Client, secret: &Secret) -> Result<(), Error> {
    Api::<Secret>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), secret)
        .await
        .map(|_| ())
        .map_err(Error::api("create bootstrap token"))
}

/// Remove a bootstrap token Secret; one already gone is fine.
pub async fn delete_token(client: &Client, name: &str) -> Result<(), Error> {
    match Api::<Secret>::namespaced(client.clone(), "kube-system")
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::api(format!("delete bootstrap token {name}"))(e)),
    }
}

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every Pod that drain moves is gone.
    Empty,
    /// Pods remain after the time allowed (blocked by a PodDisruptionBudget, say).
    TimedOut { remaining: Vec<String> },
}

/// Pods a drain evicts: not mirror Pods, not DaemonSet Pods, not finished ones.
fn evictable(pod: &Pod) -> bool {
    let mirror = pod.annotations().contains_key("kubernetes.io/config.mirror");
    let daemon = pod
        .owner_references()
        .iter()
        .any(|o| o.kind == "DaemonSet" && o.controller == Some(true));
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    !mirror && !daemon && !finished
}

/// What `kubectl drain --ignore-daemonsets --delete-emptydir-data` does: cordon the Node,
/// then evict its Pods (respecting PodDisruptionBudgets) until none is left or `patience`
/// runs out.
pub async fn drain(client: &Client, name: &str, patience: Duration) -> Result<Drained, Error> {
    let nodes = Api::<Node>::all(client.clone());
    let cordon = serde_json::json!({"spec": {"unschedulable": true}});
    match nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(&cordon))
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(Drained::Empty),
        Err(e) => return Err(Error::api(format!("cordon Node {name}"))(e)),
    }
    let pods = Api::<Pod>::all(client.clone());
    let on_node = ListParams::default().fields(&format!("spec.nodeName={name}"));
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let left: Vec<Pod> = pods
            .list(&on_node)
            .await
            .map_err(Error::api(format!("list Pods on {name}")))?
            .items
            .into_iter()
            .filter(evictable)
            .collect();
        if left.is_empty() {
            return Ok(Drained::Empty);
        }
        if tokio::time::Instant::now() >= deadline {
            let remaining = left
                .iter()
                .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
                .collect();
            return Ok(Drained::TimedOut { remaining });
        }
        for pod in left.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let namespace = pod.namespace().unwrap_or_default();
            // 429: a PodDisruptionBudget says not now; the next round tries again.
            let _ = Api::<Pod>::namespaced(client.clone(), &namespace)
                .evict(&pod.name_any(), &EvictParams::default())
                .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Delete a Node object; one already gone is fine.
pub async fn delete_node(client: &Client, name: &str) -> Result<(), Error> {
    match Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::api(format!("delete Node {name}"))(e)),
    }
}
