//! Reading a HostedControlPlane and what it made from the management cluster, with errors
//! that say what to do.

use anyhow::anyhow;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::api::{HostedControlPlane, PodMachine};
use crate::contract::{INSTANCE, MANAGED_BY, MANAGER};

const GROUP_VERSION: &str = "controlplane.podplane.dev/v1alpha1";

/// A control plane and its children, as read at one moment.
pub struct Snapshot {
    pub hcp: HostedControlPlane,
    pub deployments: Vec<Deployment>,
    pub pods: Vec<Pod>,
    /// PodMachines that join this control plane.
    pub machines: Vec<PodMachine>,
}

/// Where to look: a namespace, or every namespace.
pub enum Scope {
    Namespace(String),
    All,
}

/// A 404, whether the API server answered with a Status or (a path nothing serves, such as a
/// missing CRD's) with plain text.
fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// The error for a 404: podplane missing from the cluster, else `object` missing.
async fn not_found(client: &Client, object: anyhow::Error) -> anyhow::Error {
    if client.list_api_group_resources(GROUP_VERSION).await.is_err() {
        return anyhow!(
            "podplane is not installed in this cluster (the API {GROUP_VERSION} is not served): \
             run hack/up.sh or kubectl apply -k manifests/"
        );
    }
    object
}

/// Every HostedControlPlane in `scope`, sorted by namespace and name.
pub async fn list(client: &Client, scope: &Scope) -> anyhow::Result<Vec<HostedControlPlane>> {
    let api = match scope {
        Scope::Namespace(ns) => Api::<HostedControlPlane>::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by_key(|h| (h.metadata.namespace.clone(), h.metadata.name.clone()));
            Ok(items)
        }
        Err(e) if is_not_found(&e) => Err(not_found(client, e.into()).await),
        Err(e) => Err(anyhow::Error::new(e).context("listing HostedControlPlanes")),
    }
}

/// The HostedControlPlane `namespace/name`, or an error naming it and how to find the right one.
pub async fn get(client: &Client, namespace: &str, name: &str) -> anyhow::Result<HostedControlPlane> {
    let api = Api::<HostedControlPlane>::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(hcp) => Ok(hcp),
        Err(e) if is_not_found(&e) => {
            let missing = anyhow!(
                "HostedControlPlane {namespace}/{name} not found{}; list them with `kubectl get hcp -A`",
                elsewhere(client, namespace, name).await
            );
            Err(not_found(client, missing).await)
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("reading HostedControlPlane {namespace}/{name}")))
        }
    }
}

/// ` (there is one in namespace x: add -n x)` when `name` exists in other namespaces.
async fn elsewhere(client: &Client, namespace: &str, name: &str) -> String {
    let Ok(all) = Api::<HostedControlPlane>::all(client.clone())
        .list(&ListParams::default())
        .await
    else {
        return String::new();
    };
    let namespaces: Vec<String> = all
        .items
        .iter()
        .filter(|h| h.metadata.name.as_deref() == Some(name))
        .filter_map(|h| h.metadata.namespace.clone())
        .filter(|ns| ns != namespace)
        .collect();
    match namespaces.as_slice() {
        [] => String::new(),
        [one] => format!(" (there is one in namespace {one}: add -n {one})"),
        many => format!(" (there are ones in namespaces {})", many.join(", ")),
    }
}

/// The control plane and its Deployments, Pods and PodMachines. `with_pods` reads the Pods too
/// (for the images they run).
pub async fn snapshot(
    client: &Client,
    namespace: &str,
    name: &str,
    with_pods: bool,
) -> anyhow::Result<Snapshot> {
    let hcp = get(client, namespace, name).await?;
    let children = ListParams::default().labels(&format!("{INSTANCE}={name},{MANAGED_BY}={MANAGER}"));
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&children)
        .await?
        .items;
    let pods = if with_pods {
        Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&format!("{INSTANCE}={name}")))
            .await?
            .items
    } else {
        vec![]
    };
    let machines = match Api::<PodMachine>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list.items,
        // Installed without the infrastructure API (PodMachine CRD): no workers to show.
        Err(e) if is_not_found(&e) => vec![],
        Err(e) => return Err(e.into()),
    };
    let mut machines: Vec<PodMachine> = machines
        .into_iter()
        .filter(|m| m.control_plane_name() == Some(name))
        .collect();
    machines.sort_by(|a, b| worker_order(a.metadata.name.as_deref(), b.metadata.name.as_deref()));
    Ok(Snapshot {
        hcp,
        deployments,
        pods,
        machines,
    })
}

/// Names in natural order: `x-worker-2` before `x-worker-10`.
fn worker_order(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    let key = |n: Option<&str>| {
        let n = n.unwrap_or_default();
        let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (stem, number) = n.split_at(n.len() - digits);
        (
            stem.to_string(),
            number.parse::<u64>().unwrap_or(0),
            n.to_string(),
        )
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::worker_order;

    #[test]
    fn workers_sort_by_number() {
        let mut names = vec!["d-worker-10", "d-worker-2", "d-worker-1", "extra"];
        names.sort_by(|a, b| worker_order(Some(a), Some(b)));
        assert_eq!(names, ["d-worker-1", "d-worker-2", "d-worker-10", "extra"]);
    }
}
