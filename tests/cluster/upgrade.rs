//! Upgrades: a v1.35.4 control plane with workers moves to the default version in the order
//! of the version skew policy, serving throughout; a new image that cannot start stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use podplane::api::{HostedControlPlane, PodMachine};
use podplane::versions::DEFAULT_KUBERNETES_VERSION as CURRENT;
use serde_json::json;
use tokio::sync::Mutex;

use crate::harness::{TestNamespace, eventually};
use crate::network_support::web_template;
use crate::upgrade_support::{Asker, Poll, get, order_of_starts};
use crate::workers::{hosted_admin, hosted_admin_kubeconfig, machines_ready, ready_hcp_with};

/// The release hack/previous-release.sh builds.
pub const PREVIOUS: &str = "v1.35.4";

async fn raw(client: &Client, path: &str) -> Result<String, String> {
    get(client, path, Duration::from_secs(2)).await
}

async fn rolling_out(ns: &TestNamespace) -> (String, String, String) {
    let hcp = ns.api::<HostedControlPlane>().get("up").await.unwrap();
    let status = hcp.status.unwrap_or_default();
    let condition = status.conditions.iter().find(|c| c.type_ == "RollingOut");
    let (reason, message) = condition
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default();
    (reason, message, status.version.unwrap_or_default())
}

/// A web Deployment (2 replicas, a PodDisruptionBudget of minAvailable 1) behind a Service,
/// and a ConfigMap written before the upgrade.
async fn workload(hosted: &Client) {
    let web: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": web_template()},
    }))
    .unwrap();
    let pp = PostParams::default();
    let deployments = Api::<Deployment>::namespaced(hosted.clone(), "default");
    deployments.create(&pp, &web).await.unwrap();
    let service =
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let budget = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let note = json!({"metadata": {"name": "before"}, "data": {"written": "before the upgrade"}});
    Api::<Service>::namespaced(hosted.clone(), "default")
        .create(&pp, &serde_json::from_value(service).unwrap())
        .await
        .unwrap();
    Api::<PodDisruptionBudget>::namespaced(hosted.clone(), "default")
        .create(&pp, &serde_json::from_value(budget).unwrap())
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(hosted.clone(), "default")
        .create(&pp, &serde_json::from_value(note).unwrap())
        .await
        .unwrap();
    eventually("web Pods ready", Duration::from_secs(120), || async {
        let ready = deployments
            .get("web")
            .await
            .map_err(|e| e.to_string())?
            .status
            .and_then(|s| s.ready_replicas);
        (ready == Some(2))
            .then_some(())
            .ok_or(format!("{ready:?}/2 ready"))
    })
    .await;
}

// Several threads: one poll that waits must not delay the others' clocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local cluster with the operator and hack/previous-release.sh: hack/test.sh"]
async fn a_control_plane_and_its_workers_upgrade_in_order_while_serving() {
    let ns = TestNamespace::with_pod_security("podplane-upgrade", Some("privileged")).await;
    // API server replicas: 2 (the goal: no failed poll); PODPLANE_UPGRADE_REPLICAS=1 measures
    // the single-replica case, where the new Pod is Ready before the old one stops too.
    let replicas: u32 = std::env::var("PODPLANE_UPGRADE_REPLICAS").map_or(2, |r| r.parse().unwrap());
    let spec = json!({"version": PREVIOUS, "replicas": replicas, "workers": {"replicas": 2}});
    let hcp = ready_hcp_with(&ns, "up", spec).await;
    machines_ready(&ns, &["up-worker-0", "up-worker-1"]).await;
    let hosted = hosted_admin(&ns, &hcp).await;
    workload(&hosted).await;
    let api = ns.api::<HostedControlPlane>();
    let apply = |spec: serde_json::Value| {
        let object = json!({"apiVersion": "controlplane.podplane.dev/v1alpha1", "kind": "HostedControlPlane",
            "metadata": {"name": "up"}, "spec": spec});
        let api = api.clone();
        async move {
            api.patch("up", &PatchParams::apply("kubectl"), &Patch::Apply(&object))
                .await
                .unwrap()
        }
    };

    // A new API server image that is not there: the rollout stops, the old version serves.
    let broken = "registry.k8s.io/kube-apiserver:v1.36.99";
    apply(json!({"version": CURRENT, "replicas": replicas, "workers": {"replicas": 2}, "apiServer": {"image": broken}})).await;
    let message = eventually("RollingOut Stalled", Duration::from_secs(120), || async {
        let (reason, message, _) = rolling_out(&ns).await;
        (reason == "Stalled")
            .then_some(message.clone())
            .ok_or(format!("{reason}: {message}"))
    })
    .await;
    assert!(message.contains("kube-apiserver cannot start"), "{message}");
    assert_eq!(raw(&hosted, "/readyz").await.as_deref(), Ok("ok"));
    let version = raw(&hosted, "/version").await.unwrap();
    assert!(
        version.contains(&format!("\"gitVersion\": \"{PREVIOUS}\"")),
        "{version}"
    );
    assert_eq!(rolling_out(&ns).await.2, PREVIOUS, "status.version is what runs");

    // The fix resumes it; the API server and the Service answer throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let kubeconfig = hosted_admin_kubeconfig(&ns, &hcp).await;
    let readyz = Poll::start(Asker::Fresh(kubeconfig), "/readyz", stop.clone());
    let kept = Poll::start(Asker::Kept(hosted.clone()), "/readyz", stop.clone());
    let proxy = "/api/v1/namespaces/default/services/web:80/proxy/";
    let web = Poll::start(Asker::Kept(hosted.clone()), proxy, stop.clone());
    let versions = Arc::new(Mutex::new(Vec::<(f64, String)>::new()));
    let started = Instant::now();
    let seen = versions.clone();
    let watch_versions = tokio::spawn({
        let (hosted, stop) = (hosted.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(answer) = raw(&hosted, "/version").await {
                    let value: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                    let version = value["gitVersion"].as_str().unwrap_or_default().to_string();
                    let mut seen = seen.lock().await;
                    if seen.last().is_none_or(|(_, v)| *v != version) {
                        seen.push((started.elapsed().as_secs_f64(), version));
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    apply(json!({"version": CURRENT, "replicas": replicas, "workers": {"replicas": 2}})).await;
    eventually(
        "control plane and workers on the new version",
        Duration::from_secs(900),
        || async {
            let (reason, message, version) = rolling_out(&ns).await;
            let nodes = Api::<Node>::all(hosted.clone())
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let kubelets: Vec<String> = nodes
                .items
                .iter()
                .filter_map(|n| Some(n.status.as_ref()?.node_info.as_ref()?.kubelet_version.clone()))
                .collect();
            let done = reason == "UpToDate"
                && version == CURRENT
                && kubelets.len() == 2
                && kubelets.iter().all(|v| v == CURRENT);
            done.then_some(()).ok_or(format!(
                "{reason}: {message}; status.version {version}; kubelets {kubelets:?}"
            ))
        },
    )
    .await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (readyz, kept, web) = (readyz.finish().await, kept.finish().await, web.finish().await);
    watch_versions.await.unwrap();
    let versions = versions.lock().await.clone();
    println!(
        "upgrade {PREVIOUS} -> {CURRENT} in {:.0}s; /version answers {versions:?}",
        took.as_secs_f64()
    );
    println!("/readyz, a new connection each time: {readyz}; over kept connections: {kept}");
    println!("the Service through the API server's proxy: {web}");
    assert_eq!(readyz.failed, 0, "/readyz failed during the upgrade: {readyz}");
    // A kept connection can meet a stopping API server between its signal and its closing
    // the connection: at most one poll.
    assert!(kept.failed <= 1, "/readyz over kept connections: {kept}");
    // A new API server counts as available only once a konnectivity agent reached it, and
    // agents on a new node start once it is in the Pod network, so the proxy keeps
    // answering; a request may still meet a web Pod at the instant of its eviction.
    assert!(
        web.failed <= 2,
        "the Service through the API server's proxy: {web}"
    );
    assert_eq!(versions.last().map(|(_, v)| v.as_str()), Some(CURRENT));

    // The order, from the management cluster's Pods and the machines.
    let order = order_of_starts(&ns.api::<Pod>(), &ns.api::<PodMachine>(), "up").await;
    println!("order: {order:?}");
    assert!(
        order.last_api_server_ready <= order.first_controller_start,
        "{order:?}"
    );
    assert!(order.last_controller_ready <= order.first_new_worker, "{order:?}");
    let kept = Api::<ConfigMap>::namespaced(hosted.clone(), "default")
        .get("before")
        .await
        .unwrap();
    assert_eq!(kept.data.unwrap()["written"], "before the upgrade");
    let machines = ns.api::<PodMachine>().list(&ListParams::default()).await.unwrap();
    let images: Vec<String> = machines
        .items
        .iter()
        .map(|m| m.spec.template.image.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        images,
        vec![format!("kindest/node:{CURRENT}"); 2],
        "{:?}",
        machines.items.iter().map(|m| m.name_any()).collect::<Vec<_>>()
    );
}
