//! Workers: PodMachines whose kindest/node Pods join the hosted cluster as Nodes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use podplane::api::{HostedControlPlane, PodMachine};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::harness::{TestNamespace, eventually};

const BOOT: Duration = Duration::from_secs(240);

fn image(name: &str) -> String {
    format!(
        "registry.k8s.io/{name}:{}",
        podplane::versions::DEFAULT_KUBERNETES_VERSION
    )
}

pub(crate) async fn ready_hcp(ns: &TestNamespace, name: &str, workers: i32) -> HostedControlPlane {
    ready_hcp_with(ns, name, json!({"workers": {"replicas": workers}})).await
}

/// Apply a HostedControlPlane with `spec` (the default version unless it names one) and wait
/// until it is Ready.
pub(crate) async fn ready_hcp_with(
    ns: &TestNamespace,
    name: &str,
    mut spec: serde_json::Value,
) -> HostedControlPlane {
    if spec.get("version").is_none() {
        spec["version"] = json!(podplane::versions::DEFAULT_KUBERNETES_VERSION);
    }
    let object = json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": name},
        "spec": spec,
    });
    let api = ns.api::<HostedControlPlane>();
    api.patch(name, &PatchParams::apply("kubectl"), &Patch::Apply(&object))
        .await
        .unwrap();
    eventually("HostedControlPlane Ready", BOOT, || async {
        let hcp = api.get(name).await.map_err(|e| e.to_string())?;
        hcp.status
            .as_ref()
            .is_some_and(|s| s.ready)
            .then_some(hcp)
            .ok_or_else(|| "not ready".to_string())
    })
    .await
}

pub(crate) async fn hosted_admin(ns: &TestNamespace, hcp: &HostedControlPlane) -> Client {
    podplane::tenant::client(&hosted_admin_kubeconfig(ns, hcp).await)
        .await
        .unwrap()
}

/// An admin kubeconfig of the hosted cluster that reaches it from this machine.
pub(crate) async fn hosted_admin_kubeconfig(ns: &TestNamespace, hcp: &HostedControlPlane) -> String {
    let (server, tls_name) = podplane::tenant::access::external_server(&ns.client, hcp, &ns.name)
        .await
        .unwrap();
    podplane::tenant::access::admin_kubeconfig(&ns.client, hcp, &ns.name, &server, tls_name.as_deref())
        .await
        .unwrap()
}

pub(crate) fn condition(machine: &PodMachine, type_: &str) -> Option<(String, String, String)> {
    machine
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub(crate) async fn machines_ready(ns: &TestNamespace, names: &[&str]) -> Vec<PodMachine> {
    let api = ns.api::<PodMachine>();
    eventually("PodMachines Ready", BOOT, || async {
        let mut ready = vec![];
        for name in names {
            let machine = api.get(name).await.map_err(|e| e.to_string())?;
            if !machine.status.as_ref().is_some_and(|s| s.ready) {
                return Err(format!("{name}: {:?}", condition(&machine, "Ready")));
            }
            ready.push(machine);
        }
        Ok(ready)
    })
    .await
}

/// Wait until every CoreDNS replica of the hosted cluster is available.
pub(crate) async fn coredns_available(hosted: &Client) {
    let deployments = Api::<Deployment>::namespaced(hosted.clone(), "kube-system");
    eventually("CoreDNS available", Duration::from_secs(120), || async {
        let status = deployments
            .get("coredns")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        (status.available_replicas.unwrap_or(0) >= 1 && status.available_replicas == status.replicas)
            .then_some(())
            .ok_or_else(|| format!("{status:?}"))
    })
    .await;
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A Pod on `node` that resolves and reaches the API server, then every CoreDNS Pod
/// (at least one of them on the other node) by Pod IP.
fn probe(name: &str, node: &str, dns_pods: &[String]) -> Pod {
    let script = format!(
        r#"set -e
getent hosts kubernetes.default.svc.cluster.local
exec 3<>/dev/tcp/kubernetes.default.svc.cluster.local/443
printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3
echo "api: $(head -c 200 <&3 | tail -n 1)"
for ip in {}; do
  # Routes to a node that joined moments ago follow within seconds.
  for try in 1 2 3 4 5 6 7 8 9 10; do
    if (exec 5<>/dev/tcp/$ip/8080) 2>/dev/null; then break; fi
    sleep 1
  done
  exec 4<>/dev/tcp/$ip/8080
  printf 'GET /health HTTP/1.0\r\n\r\n' >&4
  echo "coredns $ip: $(head -n 1 <&4)"
done"#,
        dns_pods.join(" ")
    );
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "containers": [{
                "name": "probe",
                "image": image("kube-proxy"),
                "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
            }],
        },
    }))
    .unwrap()
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn workers_join_run_pods_scale_down_and_leave_with_the_control_plane() {
    let ns = TestNamespace::with_pod_security("podplane-workers", Some("privileged")).await;
    let hcp = ready_hcp(&ns, "class", 2).await;
    let names = ["class-worker-0", "class-worker-1"];
    let machines = machines_ready(&ns, &names).await;
    let hosted = hosted_admin(&ns, &hcp).await;
    let hcps = ns.api::<HostedControlPlane>();
    eventually("status.workers", Duration::from_secs(30), || async {
        let workers = hcps
            .get("class")
            .await
            .map_err(|e| e.to_string())?
            .status
            .and_then(|s| s.workers);
        (workers.as_ref().map(|w| (w.replicas, w.ready_replicas)) == Some((2, 2)))
            .then_some(())
            .ok_or_else(|| format!("{workers:?}"))
    })
    .await;

    // Two Ready Nodes, each with its providerID, matching the machines' status.
    let nodes = Api::<Node>::all(hosted.clone());
    for machine in &machines {
        let name = machine.name_any();
        let node = nodes.get(&name).await.expect("the machine's Node");
        let provider = format!("podplane://{}/{name}", ns.name);
        assert_eq!(
            node.spec.as_ref().unwrap().provider_id.as_deref(),
            Some(provider.as_str())
        );
        assert_eq!(machine.spec.provider_id.as_deref(), Some(provider.as_str()));
        assert!(node_ready(&node), "{name} not Ready");
        let status = machine.status.as_ref().unwrap();
        assert_eq!(
            status.node_ref.as_ref().map(|r| r.name.as_str()),
            Some(name.as_str())
        );
        let pod_ip = ns
            .api::<Pod>()
            .get(&name)
            .await
            .unwrap()
            .status
            .unwrap()
            .pod_ip
            .unwrap();
        assert!(
            status
                .addresses
                .iter()
                .any(|a| a.type_ == "InternalIP" && a.address == pod_ip),
            "{:?}",
            status.addresses
        );
    }

    // A two-replica Deployment puts one Pod on each node.
    let deployments = Api::<Deployment>::namespaced(hosted.clone(), "default");
    let spread: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "spread"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "spread"}},
            "template": {
                "metadata": {"labels": {"app": "spread"}},
                "spec": {
                    "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}
                    ]}},
                    "containers": [{
                        "name": "sleep",
                        "image": image("kube-proxy"),
                        "imagePullPolicy": "Never",
                        "command": ["sleep", "3600"],
                    }],
                },
            },
        },
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &spread).await.unwrap();
    let pods = Api::<Pod>::namespaced(hosted.clone(), "default");
    let spread_pods = eventually(
        "spread Pods running on both nodes",
        Duration::from_secs(90),
        || async {
            let list = pods
                .list(&ListParams::default().labels("app=spread"))
                .await
                .map_err(|e| e.to_string())?;
            let mut on: Vec<String> = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                .collect();
            on.sort();
            if on == names {
                Ok(list.items)
            } else {
                Err(format!("running on {on:?}"))
            }
        },
    )
    .await;

    // kubectl exec: through the hosted API server to the node's kubelet.
    let target = spread_pods[0].name_any();
    let mut process = pods
        .exec(
            &target,
            ["cat", "/etc/hostname"],
            &AttachParams::default().stderr(false),
        )
        .await
        .expect("exec into a hosted Pod");
    let mut hostname = String::new();
    process
        .stdout()
        .unwrap()
        .read_to_string(&mut hostname)
        .await
        .unwrap();
    process.join().await.unwrap();
    assert_eq!(hostname.trim(), target);

    // DNS through CoreDNS, the API server through its Service, Pods on the other node.
    coredns_available(&hosted).await;
    let dns_pods: Vec<String> = Api::<Pod>::namespaced(hosted.clone(), "kube-system")
        .list(&ListParams::default().labels("k8s-app=kube-dns"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status?.pod_ip)
        .collect();
    assert!(!dns_pods.is_empty(), "CoreDNS has no Pod IPs");
    for (index, node) in names.iter().enumerate() {
        let name = format!("probe-{index}");
        pods.create(&PostParams::default(), &probe(&name, node, &dns_pods))
            .await
            .unwrap();
        let phase = eventually("probe finished", Duration::from_secs(90), || async {
            let pod = pods.get(&name).await.map_err(|e| e.to_string())?;
            match pod.status.and_then(|s| s.phase) {
                Some(p) if p == "Succeeded" || p == "Failed" => Ok(p),
                other => Err(format!("phase {other:?}")),
            }
        })
        .await;
        // kubectl logs: through the hosted API server to the node's kubelet.
        let logs = pods.logs(&name, &LogParams::default()).await.unwrap();
        assert_eq!(phase, "Succeeded", "probe on {node}: {logs}");
        assert!(logs.contains("kubernetes.default.svc.cluster.local"), "{logs}");
        assert!(
            logs.contains("Client sent an HTTP request to an HTTPS server"),
            "{logs}"
        );
        assert_eq!(logs.matches(" 200 OK").count(), dns_pods.len(), "{logs}");
    }

    // A Pod that disappears is reported, not silently replaced...
    let machines_api = ns.api::<PodMachine>();
    ns.api::<Pod>()
        .delete("class-worker-1", &DeleteParams::default())
        .await
        .unwrap();
    eventually("PodLost reported", Duration::from_secs(60), || async {
        let machine = machines_api
            .get("class-worker-1")
            .await
            .map_err(|e| e.to_string())?;
        match condition(&machine, "PodRunning") {
            Some((status, reason, message)) if status == "False" && reason == "PodLost" => {
                assert!(message.contains("spec.recreatePod"), "{message}");
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ns.api::<Pod>().get_opt("class-worker-1").await.unwrap().is_none(),
        "the lost Pod was recreated without spec.recreatePod"
    );
    // ...and replaced, joining again, once the spec says so.
    machines_api
        .patch(
            "class-worker-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"recreatePod": true}})),
        )
        .await
        .unwrap();
    machines_ready(&ns, &names).await;

    // Scaling to one worker drains and removes the other Node.
    hcps.patch(
        "class",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"workers": {"replicas": 1}}})),
    )
    .await
    .unwrap();
    eventually("one Node left", Duration::from_secs(120), || async {
        let left: Vec<String> = nodes
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .iter()
            .map(|n| n.name_any())
            .collect();
        let machine_gone = machines_api
            .get_opt("class-worker-1")
            .await
            .map_err(|e| e.to_string())?
            .is_none();
        (left == ["class-worker-0"] && machine_gone)
            .then_some(())
            .ok_or_else(|| format!("nodes {left:?}, machine gone: {machine_gone}"))
    })
    .await;
    assert!(ns.api::<Pod>().get_opt("class-worker-1").await.unwrap().is_none());

    // Deleting the control plane takes its workers with it.
    hcps.delete("class", &DeleteParams::background()).await.unwrap();
    eventually("workers gone", Duration::from_secs(120), || async {
        let machines = machines_api
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        let worker_pods = ns
            .api::<Pod>()
            .list(&ListParams::default().labels("app.kubernetes.io/component=worker"))
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        (machines == 0 && worker_pods == 0)
            .then_some(())
            .ok_or_else(|| format!("{machines} machines, {worker_pods} worker Pods"))
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_machine_says_what_it_waits_for_and_how_to_fix_it() {
    let ns = TestNamespace::with_pod_security("podplane-machine", Some("baseline")).await;
    let machines = ns.api::<PodMachine>();
    let create = |name: &str, spec: serde_json::Value| {
        let machine: PodMachine = serde_json::from_value(json!({
            "apiVersion": "infrastructure.podplane.dev/v1alpha1",
            "kind": "PodMachine",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap();
        let machines = machines.clone();
        async move { machines.create(&PostParams::default(), &machine).await.unwrap() }
    };
    create("orphan", json!({})).await;
    create("wrong-ref", json!({"hostedControlPlaneRef": {"name": "missing"}})).await;
    let said = |name: &'static str, needle: &'static str| {
        let machines = machines.clone();
        async move {
            eventually(name, Duration::from_secs(30), || async {
                let machine = machines.get(name).await.map_err(|e| e.to_string())?;
                match condition(&machine, "Ready") {
                    Some((status, _, message)) if status == "False" && message.contains(needle) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await
        }
    };
    said("orphan", "spec.hostedControlPlaneRef is not set").await;
    said("wrong-ref", "HostedControlPlane missing does not exist").await;

    // A namespace that does not allow privileged Pods: the machine says which label to set.
    ready_hcp(&ns, "strict", 0).await;
    create("refused", json!({"hostedControlPlaneRef": {"name": "strict"}})).await;
    said("refused", "pod-security.kubernetes.io/enforce=privileged").await;
    assert!(ns.api::<Pod>().get_opt("refused").await.unwrap().is_none());
    // As Cluster API makes them: no reference, the cluster's name in a label.
    let by_label: PodMachine = serde_json::from_value(json!({
        "apiVersion": "infrastructure.podplane.dev/v1alpha1",
        "kind": "PodMachine",
        "metadata": {"name": "md-0-x7k2p", "labels": {"cluster.x-k8s.io/cluster-name": "strict"}},
        "spec": {},
    }))
    .unwrap();
    machines.create(&PostParams::default(), &by_label).await.unwrap();
    said("md-0-x7k2p", "pod-security.kubernetes.io/enforce=privileged").await;

    // The schema refuses a name that cannot be a hostname.
    let bad: PodMachine = serde_json::from_value(json!({
        "apiVersion": "infrastructure.podplane.dev/v1alpha1",
        "kind": "PodMachine",
        "metadata": {"name": "worker.one"},
        "spec": {},
    }))
    .unwrap();
    let error = machines.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(
        error.to_string().contains("it becomes the Pod's hostname"),
        "{error}"
    );
}
