//! etcd on real volumes: a 3-member HostedControlPlane with `spec.etcd.storage` gets one
//! claim per member from the local cluster's default StorageClass (local-path, installed by
//! hack/up.sh), and a member whose Pod is deleted comes back as the same member with its data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use podplane::api::HostedControlPlane;
use podplane::components::ETCD_METRICS_PORT;
use serde_json::json;

use crate::harness::{TestNamespace, eventually};
use crate::upgrade_support::{Asker, Poll};
use crate::workers::{hosted_admin, hosted_admin_kubeconfig, ready_hcp_with};

const MEMBERS: usize = 3;

/// Member `m`'s running Pod: its name and whether it is Ready.
async fn member_pod(pods: &Api<Pod>, member: usize) -> Option<(String, bool)> {
    let prefix = format!("st-etcd-{member}-");
    let list = pods.list(&ListParams::default()).await.ok()?;
    list.items.into_iter().find_map(|pod| {
        let name = pod.metadata.name.clone()?;
        let leaving = pod.metadata.deletion_timestamp.is_some();
        let conditions = pod.status?.conditions?;
        let ready = conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (name.starts_with(&prefix) && !leaving).then_some((name, ready))
    })
}

/// The etcd member ID a member's Pod serves as, from its metrics (`etcd_server_id`).
async fn member_id(client: &Client, namespace: &str, pod: &str) -> Result<String, String> {
    let path = format!(
        "/api/v1/namespaces/{namespace}/pods/{pod}:{}/proxy/metrics",
        ETCD_METRICS_PORT.number
    );
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let metrics = client.request_text(request).await.map_err(|e| e.to_string())?;
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("etcd_server_id{server_id=\"")?
                .split('"')
                .next()
        })
        .map(str::to_string)
        .ok_or_else(|| "etcd_server_id missing".into())
}

/// Every member's ID once all are Ready, in member order.
async fn member_ids(ns: &TestNamespace) -> Vec<String> {
    let pods = ns.api::<Pod>();
    eventually("every etcd member Ready", Duration::from_secs(180), || async {
        let mut ids = vec![];
        for member in 0..MEMBERS {
            match member_pod(&pods, member).await {
                Some((name, true)) => ids.push(member_id(&ns.client, &ns.name, &name).await?),
                other => return Err(format!("member {member}: {other:?}")),
            }
        }
        Ok(ids)
    })
    .await
}

async fn delete_member_pods(ns: &TestNamespace, members: &[usize]) -> Vec<String> {
    let pods = ns.api::<Pod>();
    let mut deleted = vec![];
    for member in members {
        let (name, _) = member_pod(&pods, *member).await.expect("member Pod");
        pods.delete(&name, &DeleteParams::default()).await.unwrap();
        deleted.push(name);
    }
    deleted
}

/// Wait until the members' Pods are new ones, Ready, and the control plane Ready again.
async fn back(ns: &TestNamespace, deleted: &[String]) {
    let pods = ns.api::<Pod>();
    eventually(
        "members back and the control plane Ready",
        Duration::from_secs(240),
        || async {
            for member in 0..MEMBERS {
                match member_pod(&pods, member).await {
                    Some((name, true)) if !deleted.contains(&name) => {}
                    other => return Err(format!("member {member}: {other:?}")),
                }
            }
            let hcp = ns
                .api::<HostedControlPlane>()
                .get("st")
                .await
                .map_err(|e| e.to_string())?;
            let ready = hcp.status.is_some_and(|s| s.ready);
            ready.then_some(()).ok_or("control plane not Ready".to_string())
        },
    )
    .await;
}

async fn write_note(hosted: &Client, name: &str) -> Result<ConfigMap, kube::Error> {
    let note = json!({"metadata": {"name": name}, "data": {"written": name}});
    Api::<ConfigMap>::namespaced(hosted.clone(), "default")
        .create(&PostParams::default(), &serde_json::from_value(note).unwrap())
        .await
}

async fn note(hosted: &Client) -> Option<String> {
    let maps = Api::<ConfigMap>::namespaced(hosted.clone(), "default");
    let note = maps.get("before").await.ok()?;
    note.data?.get("written").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local cluster with the operator and local-path: hack/test.sh"]
async fn etcd_members_on_volumes_come_back_with_their_data() {
    let ns = TestNamespace::new("podplane-etcd").await;
    let spec = json!({"etcd": {"replicas": MEMBERS, "storage": {"size": "1Gi"}}});
    let hcp = ready_hcp_with(&ns, "st", spec).await;
    let claims = ns
        .api::<PersistentVolumeClaim>()
        .list(&ListParams::default())
        .await
        .unwrap();
    let bound: Vec<(String, String)> = claims
        .items
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
        .map(|c| {
            let class = c.spec.as_ref().and_then(|s| s.storage_class_name.clone());
            (c.metadata.name.clone().unwrap(), class.unwrap_or_default())
        })
        .collect();
    let expected: Vec<(String, String)> = (0..MEMBERS)
        .map(|m| (format!("st-etcd-{m}-data"), "local-path".to_string()))
        .collect();
    assert_eq!(
        bound, expected,
        "one claim per member, bound on the default class"
    );

    let hosted = hosted_admin(&ns, &hcp).await;
    write_note(&hosted, "before").await.unwrap();
    let ids = member_ids(&ns).await;

    // One member's Pod deleted: quorum holds, the API server answers throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let kubeconfig = hosted_admin_kubeconfig(&ns, &hcp).await;
    let readyz = Poll::start(Asker::Fresh(kubeconfig), "/readyz", stop.clone());
    let deleted = delete_member_pods(&ns, &[0]).await;
    back(&ns, &deleted).await;
    stop.store(true, Ordering::Relaxed);
    let readyz = readyz.finish().await;
    println!("one member's Pod deleted: /readyz {readyz}");
    assert_eq!(readyz.failed, 0, "/readyz while one member was away: {readyz}");
    assert_eq!(
        member_ids(&ns).await,
        ids,
        "the member rejoined as itself, with its data"
    );
    assert_eq!(note(&hosted).await.as_deref(), Some("before"));

    // Two at once: no quorum until they are back, then the same three members.
    let deleted = delete_member_pods(&ns, &[1, 2]).await;
    back(&ns, &deleted).await;
    assert_eq!(member_ids(&ns).await, ids, "no member was replaced");
    assert_eq!(note(&hosted).await.as_deref(), Some("before"));
    write_note(&hosted, "after").await.expect("writes work again");
}
