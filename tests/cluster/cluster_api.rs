//! The real Cluster API controllers (installed by `clusterctl init` from the local
//! repository) drive podplane as control-plane and infrastructure provider.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use podplane::api::{HostedControlPlane, PodMachine};
use serde_json::json;

use crate::capi_support::*;
use crate::harness::{TestNamespace, eventually};

const BOOT: Duration = Duration::from_secs(300);

fn generate(ns: &TestNamespace, cluster: &str, workers: &str) -> String {
    clusterctl(&[
        "generate",
        "cluster",
        cluster,
        "--infrastructure",
        "podplane",
        "--kubernetes-version",
        podplane::versions::DEFAULT_KUBERNETES_VERSION,
        "--worker-machine-count",
        workers,
        "--target-namespace",
        &ns.name,
    ])
}

/// The hosted cluster's Ready Nodes: name → spec.providerID.
async fn ready_nodes(hosted: &Client) -> Result<Vec<(String, String)>, String> {
    let nodes = Api::<Node>::all(hosted.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(nodes
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|n| {
            let provider = n.spec.as_ref().and_then(|s| s.provider_id.clone());
            (n.name_any(), provider.unwrap_or_default())
        })
        .collect())
}

/// Every Machine runs, and the hosted cluster has exactly their Nodes, Ready, with the
/// Machines' provider IDs.
async fn converged(
    ns: &TestNamespace,
    hosted: &Client,
    cluster: &str,
    count: usize,
) -> Vec<(String, String, String)> {
    let machines = running_machines(ns, cluster, count, BOOT).await;
    let mut wanted: Vec<(String, String)> = machines.iter().map(|(_, p, n)| (n.clone(), p.clone())).collect();
    wanted.sort();
    eventually("the Machines' Nodes Ready, and no other", BOOT, || async {
        let mut nodes = ready_nodes(hosted).await?;
        nodes.sort();
        let all = Api::<Node>::all(hosted.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        (nodes == wanted && all.items.len() == count)
            .then_some(())
            .ok_or_else(|| {
                format!(
                    "Ready nodes {nodes:?}, {} in all; wanted {wanted:?}",
                    all.items.len()
                )
            })
    })
    .await;
    machines
}

async fn scale(ns: &TestNamespace, deployment: &str, replicas: i64) {
    capi(ns, "MachineDeployment", "machinedeployments")
        .patch(
            deployment,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the local cluster with Cluster API and podplane installed by clusterctl: hack/test.sh"]
async fn cluster_api_creates_scales_heals_and_deletes_a_podplane_cluster() {
    let ns = TestNamespace::with_pod_security("podplane-capi", Some("privileged")).await;
    let keep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "not-the-clusters"}})).unwrap();
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &keep)
        .await
        .unwrap();

    let started = Instant::now();
    kubectl(&["apply", "-f", "-"], &generate(&ns, "demo", "2"));
    let clusters = capi(&ns, "Cluster", "clusters");
    let hcps = ns.api::<HostedControlPlane>();
    let cluster = eventually("Cluster Available", BOOT, || async {
        let cluster = clusters.get("demo").await.map_err(|e| e.to_string())?;
        is_true(&cluster, "Available")
            .then_some(cluster.clone())
            .ok_or_else(|| format!("{:?}", condition_of(&cluster, "Available")))
    })
    .await;
    let endpoint = &cluster.data["spec"]["controlPlaneEndpoint"];
    assert_eq!(endpoint["host"], format!("demo-kube-apiserver.{}.svc", ns.name));
    let hcp = hcps.get("demo").await.unwrap();
    let status = hcp.status.clone().unwrap();
    assert!(status.initialization.unwrap().control_plane_initialized);
    assert_eq!(status.external_managed_control_plane, Some(true));
    let available = status.conditions.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!(available.status, "True", "{available:?}");
    for suffix in ["ca", "etcd", "proxy", "sa", "kubeconfig"] {
        let secret = ns.api::<Secret>().get(&format!("demo-{suffix}")).await.unwrap();
        assert_eq!(
            secret
                .labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str),
            Some("demo")
        );
    }

    let hosted = client_from_clusterctl(&ns, "demo", "demo").await;
    let machines = converged(&ns, &hosted, "demo", 2).await;
    println!(
        "apply → 2 Machines Running, 2 Nodes Ready: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    for (machine, provider, _) in &machines {
        let infra = ns.api::<PodMachine>().get(machine).await.unwrap();
        assert_eq!(infra.spec.provider_id.as_deref(), Some(provider.as_str()));
    }
    let described = clusterctl(&[
        "describe",
        "cluster",
        "demo",
        "-n",
        &ns.name,
        "--show-conditions",
        "all",
    ]);
    let line = |kind: &str| {
        described
            .lines()
            .any(|l| l.contains(kind) && l.contains(&format!("{}/demo", ns.name)))
    };
    assert!(line("Cluster") && line("HostedControlPlane"), "{described}");
    assert!(described.contains("MachineDeployment"), "{described}");

    scale(&ns, "demo-md-0", 3).await;
    converged(&ns, &hosted, "demo", 3).await;
    scale(&ns, "demo-md-0", 1).await;
    let survivors = converged(&ns, &hosted, "demo", 1).await;
    eventually(
        "PodMachines and their Pods follow the scale-down",
        BOOT,
        || async {
            let left = ns
                .api::<PodMachine>()
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let pods = ns
                .api::<Pod>()
                .list(&ListParams::default().labels("app.kubernetes.io/component=worker"))
                .await
                .map_err(|e| e.to_string())?;
            (left.items.len() == 1 && pods.items.len() == 1)
                .then_some(())
                .ok_or_else(|| format!("{} PodMachines, {} Pods", left.items.len(), pods.items.len()))
        },
    )
    .await;

    // The MachineHealthCheck of the template replaces a machine whose node Pod is gone.
    let (lost, _, _) = &survivors[0];
    ns.api::<Pod>()
        .delete(lost, &DeleteParams::default())
        .await
        .unwrap();
    let healed = Instant::now();
    let replaced = eventually(
        "a new Machine replaces the one whose Pod was deleted",
        BOOT,
        || async {
            let machines = machines_running(&ns, "demo", 1).await?;
            (machines[0].0 != *lost)
                .then_some(machines)
                .ok_or_else(|| format!("{lost} still the only one"))
        },
    )
    .await;
    converged(&ns, &hosted, "demo", 1).await;
    println!(
        "Pod deleted → replacement Machine Running: {:.1}s ({})",
        healed.elapsed().as_secs_f64(),
        replaced[0].0
    );

    clusters
        .delete("demo", &DeleteParams::background())
        .await
        .unwrap();
    eventually("the Cluster and everything it made gone", BOOT, || async {
        let mut left = vec![];
        if clusters
            .get_opt("demo")
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            left.push("Cluster".to_string());
        }
        let machines = capi(&ns, "Machine", "machines")
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        left.extend(machines.items.iter().map(|m| format!("Machine {}", m.name_any())));
        let infra = ns
            .api::<PodMachine>()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        left.extend(infra.items.iter().map(|m| format!("PodMachine {}", m.name_any())));
        let pods = ns
            .api::<Pod>()
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        left.extend(pods.items.iter().map(|p| format!("Pod {}", p.name_any())));
        if hcps.get_opt("demo").await.map_err(|e| e.to_string())?.is_some() {
            left.push("HostedControlPlane".into());
        }
        let secrets = ns
            .api::<Secret>()
            .list(&ListParams::default().labels("cluster.x-k8s.io/cluster-name=demo"))
            .await
            .map_err(|e| e.to_string())?;
        left.extend(secrets.items.iter().map(|s| format!("Secret {}", s.name_any())));
        left.is_empty().then_some(()).ok_or_else(|| left.join(", "))
    })
    .await;
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("not-the-clusters")
            .await
            .unwrap()
            .is_some(),
        "deleting the Cluster removed an object it did not make"
    );
}

/// Conditions' messages of every object of `api` whose name starts with `prefix`.
async fn messages(api: &Api<kube::api::DynamicObject>, prefix: &str) -> Result<String, String> {
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .iter()
        .filter(|o| o.name_any().starts_with(prefix))
        .flat_map(|o| {
            o.data["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| format!("{} {}: {}", c["type"], c["reason"], c["message"]))
        .collect::<Vec<_>>()
        .join("; "))
}

#[tokio::test]
#[ignore = "needs the local cluster with Cluster API and podplane installed by clusterctl: hack/test.sh"]
async fn bad_references_and_failing_bootstrap_data_say_why_where_a_user_looks() {
    let ns = TestNamespace::with_pod_security("podplane-capi-refs", Some("privileged")).await;
    let other = TestNamespace::new("podplane-capi-other").await;
    kubectl(&["apply", "-f", "-"], &generate(&ns, "refs", "0"));
    let extra = format!(
        r#"
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {{name: ghost, namespace: {ns}}}
spec:
  controlPlaneRef: {{apiGroup: controlplane.podplane.dev, kind: HostedControlPlane, name: nowhere}}
---
apiVersion: infrastructure.podplane.dev/v1alpha1
kind: PodMachineTemplate
metadata: {{name: elsewhere, namespace: {other}}}
spec: {{template: {{spec: {{}}}}}}
---
apiVersion: cluster.x-k8s.io/v1beta2
kind: MachineDeployment
metadata: {{name: refs-elsewhere, namespace: {ns}}}
spec:
  clusterName: refs
  replicas: 1
  template:
    spec:
      clusterName: refs
      version: {version}
      bootstrap: {{configRef: {{apiGroup: bootstrap.cluster.x-k8s.io, kind: KubeadmConfigTemplate, name: refs-md-0}}}}
      infrastructureRef: {{apiGroup: infrastructure.podplane.dev, kind: PodMachineTemplate, name: elsewhere}}
---
apiVersion: bootstrap.cluster.x-k8s.io/v1beta2
kind: KubeadmConfigTemplate
metadata: {{name: refs-broken, namespace: {ns}}}
spec:
  template:
    spec:
      preKubeadmCommands: ["echo the-site-script-failed >&2; exit 3"]
      joinConfiguration:
        nodeRegistration: {{criSocket: unix:///run/containerd/containerd.sock}}
---
apiVersion: cluster.x-k8s.io/v1beta2
kind: MachineDeployment
metadata: {{name: refs-broken, namespace: {ns}}}
spec:
  clusterName: refs
  replicas: 1
  template:
    spec:
      clusterName: refs
      version: {version}
      bootstrap: {{configRef: {{apiGroup: bootstrap.cluster.x-k8s.io, kind: KubeadmConfigTemplate, name: refs-broken}}}}
      infrastructureRef: {{apiGroup: infrastructure.podplane.dev, kind: PodMachineTemplate, name: refs-md-0}}
"#,
        ns = ns.name,
        other = other.name,
        version = podplane::versions::DEFAULT_KUBERNETES_VERSION,
    );
    kubectl(&["apply", "-f", "-"], &extra);

    let clusters = capi(&ns, "Cluster", "clusters");
    eventually(
        "the Cluster says its control plane does not exist",
        BOOT,
        || async {
            let ghost = clusters.get("ghost").await.map_err(|e| e.to_string())?;
            match condition_of(&ghost, "ControlPlaneAvailable") {
                Some((status, _, message))
                    if status == "False" && message.contains("HostedControlPlane does not exist") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    let sets = capi(&ns, "MachineSet", "machinesets");
    let deployments = capi(&ns, "MachineDeployment", "machinedeployments");
    eventually(
        "the MachineDeployment says its template does not exist",
        BOOT,
        || async {
            let said = format!(
                "{} | {}",
                messages(&deployments, "refs-elsewhere").await?,
                messages(&sets, "refs-elsewhere").await?
            );
            said.contains("PodMachineTemplate does not exist")
                .then_some(())
                .ok_or(said)
        },
    )
    .await;

    let machines = ns.api::<PodMachine>();
    let failed = eventually("the PodMachine says its bootstrap data failed", BOOT, || async {
        let list = machines
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let joined: Vec<_> = list
            .items
            .iter()
            .filter(|m| m.name_any().starts_with("refs-broken"))
            .filter_map(|m| crate::workers::condition(m, "NodeJoined").map(|c| (m.name_any(), c)))
            .collect();
        match joined
            .iter()
            .find(|(_, (_, reason, _))| reason == "BootstrapFailed")
        {
            Some((name, (_, _, message))) => Ok((name.clone(), message.clone())),
            None => Err(format!("{joined:?}")),
        }
    })
    .await;
    assert!(failed.1.contains("the-site-script-failed"), "{failed:?}");
    eventually(
        "the Machine shows why its infrastructure is not ready",
        BOOT,
        || async {
            let said = messages(&capi(&ns, "Machine", "machines"), "refs-broken").await?;
            said.contains("BootstrapFailed").then_some(()).ok_or(said)
        },
    )
    .await;

    // A paused Cluster stops every change to its control plane, and says so.
    let hcps = ns.api::<HostedControlPlane>();
    let paused_condition = |hcp: &HostedControlPlane| {
        hcp.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Paused"))
            .map(|c| (c.status.clone(), c.message.clone()))
    };
    clusters
        .patch(
            "refs",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    eventually("Paused on the HostedControlPlane", BOOT, || async {
        let hcp = hcps.get("refs").await.map_err(|e| e.to_string())?;
        match paused_condition(&hcp) {
            Some((status, message)) if status == "True" && message == "Cluster refs is paused" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    hcps.patch(
        "refs",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    let deployments = ns.api::<k8s_openapi::api::apps::v1::Deployment>();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let api_server = deployments.get("refs-kube-apiserver").await.unwrap();
    assert_eq!(
        api_server.spec.unwrap().replicas,
        Some(1),
        "a paused control plane was changed"
    );
    clusters
        .patch(
            "refs",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    eventually("unpaused, the change applies", BOOT, || async {
        let hcp = hcps.get("refs").await.map_err(|e| e.to_string())?;
        let replicas = deployments
            .get("refs-kube-apiserver")
            .await
            .map_err(|e| e.to_string())?
            .spec
            .and_then(|s| s.replicas);
        match (paused_condition(&hcp), replicas) {
            (Some((status, _)), Some(2)) if status == "False" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the local cluster with Cluster API and podplane installed by clusterctl: hack/test.sh"]
async fn a_control_plane_named_unlike_its_cluster_gives_it_the_secrets_cluster_api_reads() {
    let ns = TestNamespace::new("podplane-capi-names").await;
    let manifest = format!(
        r#"
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {{name: team, namespace: {ns}}}
spec:
  controlPlaneRef: {{apiGroup: controlplane.podplane.dev, kind: HostedControlPlane, name: team-cp}}
  infrastructureRef: {{apiGroup: controlplane.podplane.dev, kind: HostedControlPlane, name: team-cp}}
---
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: team-cp
  namespace: {ns}
spec: {{version: {version}}}
"#,
        ns = ns.name,
        version = podplane::versions::DEFAULT_KUBERNETES_VERSION,
    );
    kubectl(&["apply", "-f", "-"], &manifest);
    let clusters = capi(&ns, "Cluster", "clusters");
    eventually("Cluster team Available", BOOT, || async {
        let cluster = clusters.get("team").await.map_err(|e| e.to_string())?;
        is_true(&cluster, "Available")
            .then_some(())
            .ok_or_else(|| format!("{:?}", condition_of(&cluster, "Available")))
    })
    .await;
    let secrets = ns.api::<Secret>();
    for suffix in ["ca", "etcd", "proxy", "sa", "kubeconfig"] {
        let secret = secrets.get(&format!("team-{suffix}")).await.unwrap();
        assert_eq!(
            secret
                .labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str),
            Some("team")
        );
        assert!(
            secrets
                .get_opt(&format!("team-cp-{suffix}"))
                .await
                .unwrap()
                .is_none()
        );
    }
    let ca = secrets.get("team-ca").await.unwrap();
    assert!(
        ca.data.unwrap().contains_key("tls.key"),
        "the kubeadm bootstrap provider needs the CA key"
    );
    assert!(
        secrets.get_opt("team-cp-apiserver").await.unwrap().is_some(),
        "the rest follow the control plane"
    );
    let hosted = client_from_clusterctl(&ns, "team", "team-cp").await;
    Api::<Node>::all(hosted)
        .list(&ListParams::default())
        .await
        .unwrap();
}
