//! The operator running in the cluster from manifests/: a real control plane from
//! `kubectl apply`, updates, restarts, deletion, isolation between tenants.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use podplane::api::HostedControlPlane;
use serde_json::json;

use crate::harness::{TestNamespace, eventually};

const READY_TIMEOUT: Duration = Duration::from_secs(240);

pub(crate) fn hcp(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"version": podplane::versions::DEFAULT_KUBERNETES_VERSION});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": name},
        "spec": spec,
    })
}

pub(crate) async fn apply(ns: &TestNamespace, object: &serde_json::Value) -> HostedControlPlane {
    let name = object["metadata"]["name"].as_str().unwrap();
    ns.api::<HostedControlPlane>()
        .patch(name, &PatchParams::apply("kubectl"), &Patch::Apply(object))
        .await
        .expect("HostedControlPlane admitted")
}

fn condition(hcp: &HostedControlPlane, type_: &str) -> Option<(String, String, String)> {
    let status = hcp.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub(crate) async fn wait_ready(ns: &TestNamespace, name: &str) -> HostedControlPlane {
    let api = ns.api::<HostedControlPlane>();
    eventually(&format!("{}/{name} Ready", ns.name), READY_TIMEOUT, || async {
        let hcp = api.get(name).await.map_err(|e| e.to_string())?;
        match condition(&hcp, "Ready") {
            Some((s, _, _)) if s == "True" && hcp.status.as_ref().unwrap().ready => Ok(hcp),
            other => Err(format!("Ready: {other:?}")),
        }
    })
    .await
}

/// A client for the hosted cluster, as `podplane kubeconfig` gives it to a user.
async fn hosted_client(ns: &TestNamespace, hcp: &HostedControlPlane) -> Client {
    let (server, tls_name) = podplane::tenant::access::external_server(&ns.client, hcp, &ns.name)
        .await
        .unwrap();
    let kubeconfig =
        podplane::tenant::access::admin_kubeconfig(&ns.client, hcp, &ns.name, &server, tls_name.as_deref())
            .await
            .unwrap();
    podplane::tenant::client(&kubeconfig).await.unwrap()
}

async fn child_versions(ns: &TestNamespace, name: &str) -> BTreeMap<String, String> {
    let params = ListParams::default().labels(&format!("app.kubernetes.io/instance={name}"));
    let mut versions = BTreeMap::new();
    for s in ns.api::<Secret>().list(&params).await.unwrap() {
        versions.insert(format!("Secret/{}", s.name_any()), s.resource_version().unwrap());
    }
    for c in ns.api::<ConfigMap>().list(&params).await.unwrap() {
        versions.insert(
            format!("ConfigMap/{}", c.name_any()),
            c.resource_version().unwrap(),
        );
    }
    for d in ns.api::<Deployment>().list(&params).await.unwrap() {
        versions.insert(
            format!("Deployment/{}", d.name_any()),
            d.metadata.generation.unwrap().to_string(),
        );
    }
    let hcp = ns.api::<HostedControlPlane>().get(name).await.unwrap();
    versions.insert("HostedControlPlane".into(), hcp.resource_version().unwrap());
    versions
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_hosted_control_plane_serves_a_real_cluster() {
    let ns = TestNamespace::new("podplane-hcp").await;
    apply(&ns, &hcp("demo", json!({}))).await;
    let ready = wait_ready(&ns, "demo").await;
    let status = ready.status.as_ref().unwrap();
    assert!(status.initialized);
    assert_eq!(
        status.version.as_deref(),
        Some(podplane::versions::DEFAULT_KUBERNETES_VERSION)
    );
    for type_ in [
        "CertificatesReady",
        "EtcdAvailable",
        "APIServerAvailable",
        "ControllerManagerAvailable",
        "SchedulerAvailable",
    ] {
        assert_eq!(condition(&ready, type_).unwrap().0, "True", "{type_}");
    }
    let pods = ns
        .api::<Pod>()
        .list(&ListParams::default().labels("app.kubernetes.io/instance=demo"))
        .await
        .unwrap();
    let mut running: Vec<String> = pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| p.labels()["app.kubernetes.io/component"].clone())
        .collect();
    running.sort();
    assert_eq!(
        running,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ]
    );

    let hosted = hosted_client(&ns, &ready).await;
    podplane::tenant::readyz(&hosted)
        .await
        .expect("hosted /readyz is ok");
    let namespaces: Vec<String> = Api::<Namespace>::all(hosted.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(namespaces.contains(&"kube-system".to_string()), "{namespaces:?}");
    let leases = Api::<Lease>::namespaced(hosted.clone(), "kube-system");
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        eventually(
            &format!("hosted lease {lease} held"),
            Duration::from_secs(60),
            || async {
                let held = leases
                    .get_opt(lease)
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|l| l.spec)
                    .and_then(|s| s.holder_identity);
                held.filter(|h| !h.is_empty())
                    .ok_or_else(|| "no holder".to_string())
            },
        )
        .await;
    }

    // An unchanged object is not written again, even across an operator restart.
    let before = child_versions(&ns, "demo").await;
    let status_before = ns.api::<HostedControlPlane>().get("demo").await.unwrap().status;
    let operator = Api::<Pod>::namespaced(ns.client.clone(), "podplane-system");
    for pod in operator
        .list(&ListParams::default().labels("app.kubernetes.io/name=podplane"))
        .await
        .unwrap()
    {
        operator
            .delete(&pod.name_any(), &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually("operator back", Duration::from_secs(90), || async {
        let pods = operator
            .list(&ListParams::default().labels("app.kubernetes.io/name=podplane"))
            .await
            .map_err(|e| e.to_string())?;
        let ready = pods.iter().any(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        ready.then_some(()).ok_or_else(|| "not ready".into())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let status_after = ns.api::<HostedControlPlane>().get("demo").await.unwrap().status;
    assert_eq!(
        child_versions(&ns, "demo").await,
        before,
        "a restart wrote to unchanged objects; status before {status_before:#?} after {status_after:#?}"
    );

    // Changing one component's flags rolls only that Deployment.
    apply(&ns, &hcp("demo", json!({"apiServer": {"extraArgs": {"v": "3"}}}))).await;
    eventually("api server rolled", Duration::from_secs(60), || async {
        let now = child_versions(&ns, "demo").await;
        let changed: Vec<&String> = now
            .iter()
            .filter(|(k, v)| k.starts_with("Deployment/") && before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        if changed == ["Deployment/demo-kube-apiserver"] {
            Ok(())
        } else {
            Err(format!("changed: {changed:?}"))
        }
    })
    .await;

    // Deleting the control plane removes its children and nothing else.
    let bystander: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "bystander"}, "data": {"keep": "me"}})).unwrap();
    ns.api::<ConfigMap>()
        .create(&PostParams::default(), &bystander)
        .await
        .unwrap();
    ns.api::<HostedControlPlane>()
        .delete("demo", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("children removed", Duration::from_secs(120), || async {
        let params = ListParams::default().labels("app.kubernetes.io/instance=demo");
        let left = ns
            .api::<Secret>()
            .list(&params)
            .await
            .map_err(|e| e.to_string())?
            .items
            .len()
            + ns.api::<Deployment>()
                .list(&params)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len()
            + ns.api::<ConfigMap>()
                .list(&params)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len()
            + ns.api::<k8s_openapi::api::core::v1::Service>()
                .list(&params)
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} children left"))
        }
    })
    .await;
    assert!(
        ns.api::<ConfigMap>()
            .get_opt("bystander")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn tenants_are_isolated_and_a_broken_one_does_not_stop_the_other() {
    let a = TestNamespace::new("podplane-tenant-a").await;
    let b = TestNamespace::new("podplane-tenant-b").await;
    let broken = TestNamespace::new("podplane-tenant-broken").await;
    apply(&a, &hcp("alpha", json!({}))).await;
    apply(&b, &hcp("beta", json!({}))).await;
    apply(
        &broken,
        &hcp(
            "gamma",
            json!({"apiServer": {"image": "registry.k8s.io/kube-apiserver:v0.0.0-missing"}}),
        ),
    )
    .await;

    let alpha = wait_ready(&a, "alpha").await;
    let beta = wait_ready(&b, "beta").await;

    // The broken one says why, in a condition with a reason.
    let api = broken.api::<HostedControlPlane>();
    let (reason, message) = eventually(
        "broken tenant reports the image",
        Duration::from_secs(120),
        || async {
            let hcp = api.get("gamma").await.map_err(|e| e.to_string())?;
            match condition(&hcp, "APIServerAvailable") {
                Some((s, r, m)) if s == "False" && r.contains("Image") => Ok((r, m)),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(message.contains("gamma-kube-apiserver"), "{reason}: {message}");
    assert_eq!(
        condition(&api.get("gamma").await.unwrap(), "Ready").unwrap().0,
        "False"
    );

    // Distinct CAs: A's admin certificate is refused by B's API server.
    let ca_a = a.api::<Secret>().get("alpha-ca").await.unwrap().data.unwrap()["tls.crt"].clone();
    let ca_b = b.api::<Secret>().get("beta-ca").await.unwrap().data.unwrap()["tls.crt"].clone();
    assert_ne!(ca_a, ca_b);
    let (server_b, name_b) = podplane::tenant::access::external_server(&b.client, &beta, &b.name)
        .await
        .unwrap();
    let kubeconfig_b =
        podplane::tenant::access::admin_kubeconfig(&b.client, &beta, &b.name, &server_b, name_b.as_deref())
            .await
            .unwrap();
    let kubeconfig_a = String::from_utf8(
        a.api::<Secret>()
            .get("alpha-kubeconfig")
            .await
            .unwrap()
            .data
            .unwrap()["value"]
            .0
            .clone(),
    )
    .unwrap();
    let parts_a = podplane::pki::kubeconfig::parse(kubeconfig_a.as_bytes()).unwrap();
    let mut mixed: serde_yaml::Value = serde_yaml::from_str(&kubeconfig_b).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    mixed["users"][0]["user"]["client-certificate-data"] = b64.encode(&parts_a.client_certificate).into();
    mixed["users"][0]["user"]["client-key-data"] = b64.encode(&parts_a.client_key).into();
    let intruder = podplane::tenant::client(&serde_yaml::to_string(&mixed).unwrap())
        .await
        .unwrap();
    let refused = Api::<Namespace>::all(intruder)
        .list(&Default::default())
        .await
        .expect_err("B refuses A's certificate");
    assert!(
        matches!(&refused, kube::Error::Api(e) if e.code == 401),
        "{refused:?}"
    );
    let own = hosted_client(&b, &beta).await;
    Api::<Namespace>::all(own)
        .list(&Default::default())
        .await
        .expect("B accepts its own admin");
    let _ = alpha;
}
