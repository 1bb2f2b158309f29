//! Workers on two management nodes joined only by routing: `hack/second-node.sh` runs the
//! second node in its own network namespace, with its own Pod range routed to it.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use podplane::api::PodMachine;
use serde_json::json;

use crate::harness::TestNamespace;

/// Label (and taint key) of the second management node.
const SECOND_NODE: &str = "podplane.dev/second-node";

/// The management nodes' names: the first node's and the second node's.
async fn management_nodes(ns: &TestNamespace) -> (String, String) {
    let nodes = Api::<Node>::all(ns.client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let (second, first): (Vec<Node>, Vec<Node>) = nodes
        .items
        .into_iter()
        .partition(|n| n.labels().contains_key(SECOND_NODE));
    let name = |nodes: Vec<Node>, what: &str| {
        nodes
            .first()
            .map(|n| n.name_any())
            .unwrap_or_else(|| panic!("no {what} management node: start it with hack/second-node.sh up"))
    };
    (name(first, "first"), name(second, "second"))
}

/// One PodMachine joining `cluster` on each management node: `<cluster>-a` on the first,
/// `<cluster>-b` on the second. Returns their names.
pub async fn one_machine_per_management_node(ns: &TestNamespace, cluster: &str) -> [String; 2] {
    let (first, second) = management_nodes(ns).await;
    let api = ns.api::<PodMachine>();
    let names = [format!("{cluster}-a"), format!("{cluster}-b")];
    for (name, node) in names.iter().zip([&first, &second]) {
        let machine = json!({
            "apiVersion": "infrastructure.podplane.dev/v1alpha1",
            "kind": "PodMachine",
            "metadata": {"name": name},
            "spec": {
                "hostedControlPlaneRef": {"name": cluster},
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": [{"key": SECOND_NODE, "operator": "Exists", "effect": "NoSchedule"}],
            },
        });
        api.patch(name, &PatchParams::apply("kubectl"), &Patch::Apply(&machine))
            .await
            .unwrap();
    }
    names
}

/// The machines' Pods run on different management nodes, in different Pod ranges (so
/// nothing between them is one L2 segment): their management node and Pod IP.
pub async fn assert_on_routed_nodes(ns: &TestNamespace, machines: &[String; 2]) -> Vec<(String, String)> {
    let pods = ns.api::<Pod>();
    let mut placed = vec![];
    for name in machines {
        let pod = pods.get(name).await.unwrap();
        let status = pod.status.unwrap_or_default();
        let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
        placed.push((node, status.pod_ip.unwrap_or_default()));
    }
    let subnet = |ip: &str| ip.rsplit_once('.').map(|(net, _)| net.to_string());
    assert_ne!(
        placed[0].0, placed[1].0,
        "machines on one management node: {placed:?}"
    );
    assert_ne!(
        subnet(&placed[0].1),
        subnet(&placed[1].1),
        "one Pod range: {placed:?}"
    );
    placed
}
