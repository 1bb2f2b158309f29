//! The operator core on the real cluster: what someone else changes or deletes is put back
//! within seconds with an Event, and a machine whose join hangs holds up nothing else.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{AttachParams, DeleteParams, ListParams, Patch, PatchParams};
use podplane::api::{HostedControlPlane, PodMachine};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::harness::{TestNamespace, eventually};
use crate::operator::{apply, hcp, wait_ready};
use crate::workers::{condition, machines_ready};

/// How long putting a child back may take: a watch event and one reconcile.
const REPAIR: Duration = Duration::from_secs(20);

async fn events(ns: &TestNamespace, reason: &str) -> Vec<String> {
    let params = ListParams::default().fields(&format!("reason={reason}"));
    let list = ns.api::<Event>().list(&params).await.unwrap();
    list.items.into_iter().filter_map(|e| e.note).collect()
}

fn container(deployment: &Deployment) -> (String, Vec<String>) {
    let spec = deployment.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let c = &spec.containers[0];
    (c.image.clone().unwrap(), c.command.clone().unwrap_or_default())
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_hand_edited_deployment_and_a_deleted_service_are_put_back_with_an_event() {
    let ns = TestNamespace::new("podplane-drift").await;
    apply(&ns, &hcp("drift", json!({}))).await;
    wait_ready(&ns, "drift").await;
    let deployments = ns.api::<Deployment>();
    let original = container(&deployments.get("drift-kube-apiserver").await.unwrap());

    let edit = json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.k8s.io/kube-apiserver:v0.0.0-edited"},
        {"op": "add", "path": "/spec/template/spec/containers/0/command/-", "value": "--v=9"},
    ]);
    let edited_at = Instant::now();
    deployments
        .patch(
            "drift-kube-apiserver",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(edit).unwrap()),
        )
        .await
        .expect("hand edit");
    eventually("the edited Deployment put back", REPAIR, || async {
        let now = container(
            &deployments
                .get("drift-kube-apiserver")
                .await
                .map_err(|e| e.to_string())?,
        );
        (now == original)
            .then_some(())
            .ok_or_else(|| format!("still {now:?}"))
    })
    .await;
    let reverted = eventually("a DriftReverted Event", REPAIR, || async {
        let notes = events(&ns, "DriftReverted").await;
        notes
            .into_iter()
            .find(|n| n.contains("Deployment/drift-kube-apiserver"))
            .ok_or("none yet".to_string())
    })
    .await;
    assert!(
        reverted.contains("image") || reverted.contains("command"),
        "{reverted}"
    );
    println!(
        "edited Deployment put back in {:.1}s: {reverted}",
        edited_at.elapsed().as_secs_f64()
    );

    let services = ns.api::<Service>();
    let old_uid = services.get("drift-kube-apiserver").await.unwrap().uid();
    let deleted_at = Instant::now();
    services
        .delete("drift-kube-apiserver", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted Service back", REPAIR, || async {
        let service = services
            .get_opt("drift-kube-apiserver")
            .await
            .map_err(|e| e.to_string())?;
        match service {
            Some(s) if s.uid() != old_uid && s.metadata.deletion_timestamp.is_none() => Ok(()),
            _ => Err("not recreated yet".to_string()),
        }
    })
    .await;
    eventually("an Event for the deleted Service", REPAIR, || async {
        let notes = events(&ns, "DriftReverted").await;
        notes
            .iter()
            .any(|n| n.contains("Service/drift-kube-apiserver: deleted"))
            .then_some(())
            .ok_or(format!("{notes:?}"))
    })
    .await;
    println!(
        "deleted Service back in {:.1}s",
        deleted_at.elapsed().as_secs_f64()
    );
    wait_ready(&ns, "drift").await;
}

/// Run `script` in the node container of `pod`.
async fn in_node(ns: &TestNamespace, pod: &str, script: &str) -> String {
    let params = AttachParams::default()
        .container("node")
        .stdout(true)
        .stderr(true);
    let mut process = ns
        .api::<Pod>()
        .exec(pod, ["sh", "-c", script], &params)
        .await
        .expect("exec in the node");
    let mut out = String::new();
    process.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    process.join().await.unwrap();
    out
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_hanging_join_holds_up_neither_another_machine_nor_the_status() {
    let ns = TestNamespace::with_pod_security("podplane-hang", Some("privileged")).await;
    // Not waiting for Ready: the node must be cut off before its join can start, which is
    // once the hosted API server answers (seconds after apply) and the node has booted.
    apply(&ns, &hcp("hang", json!({"workers": {"replicas": 1}}))).await;
    let ip = eventually("the API server Service", Duration::from_secs(30), || async {
        let service = ns
            .api::<Service>()
            .get_opt("hang-kube-apiserver")
            .await
            .map_err(|e| e.to_string())?;
        service
            .and_then(|s| s.spec?.cluster_ip)
            .ok_or("no Service yet".to_string())
    })
    .await;
    eventually(
        "worker-0's node container running",
        Duration::from_secs(120),
        || async {
            let pod = ns
                .api::<Pod>()
                .get_opt("hang-worker-0")
                .await
                .map_err(|e| e.to_string())?;
            let running = pod
                .and_then(|p| p.status)
                .and_then(|s| s.container_statuses)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.name == "node" && c.state.as_ref().is_some_and(|s| s.running.is_some()))
                });
            running.then_some(()).ok_or("not yet".to_string())
        },
    )
    .await;
    in_node(
        &ns,
        "hang-worker-0",
        &format!("iptables -I OUTPUT -d {ip} -j DROP"),
    )
    .await;
    let machines = ns.api::<PodMachine>();
    let joined = condition(&machines.get("hang-worker-0").await.unwrap(), "NodeJoined");
    let joined = joined.map(|c| c.0);
    assert_ne!(
        joined.as_deref(),
        Some("True"),
        "worker-0 joined before it was cut off"
    );
    eventually("worker-0 joining", Duration::from_secs(60), || async {
        let machine = machines.get("hang-worker-0").await.map_err(|e| e.to_string())?;
        match condition(&machine, "NodeJoined") {
            Some((_, reason, message)) if reason == "Joining" && message.contains(" since ") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let scaled_at = Instant::now();
    let scale = json!({"spec": {"workers": {"replicas": 2}}});
    ns.api::<HostedControlPlane>()
        .patch("hang", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    machines_ready(&ns, &["hang-worker-1"]).await;
    println!(
        "worker-1 Ready {:.1}s after the scale-up, beside a hanging join",
        scaled_at.elapsed().as_secs_f64()
    );
    let stuck = machines.get("hang-worker-0").await.unwrap();
    assert_eq!(
        condition(&stuck, "NodeJoined").unwrap().1,
        "Joining",
        "worker-0 still joins"
    );
    eventually("status.workers counts both", Duration::from_secs(10), || async {
        let hcp = ns
            .api::<HostedControlPlane>()
            .get("hang")
            .await
            .map_err(|e| e.to_string())?;
        let workers = hcp.status.and_then(|s| s.workers).ok_or("no workers status")?;
        (workers.replicas == 2 && workers.ready_replicas == 1)
            .then_some(())
            .ok_or(format!("{workers:?}"))
    })
    .await;
    // Deleting the control plane cancels the hanging join and removes both machines.
    ns.api::<HostedControlPlane>()
        .delete("hang", &DeleteParams::default())
        .await
        .unwrap();
    eventually("machines gone", Duration::from_secs(120), || async {
        let left = machines
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        (left == 0).then_some(()).ok_or(format!("{left} left"))
    })
    .await;
}
