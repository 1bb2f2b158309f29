//! The hosted cluster is prepared the way `kubeadm init` leaves a cluster, so that a
//! plain `kubeadm join` with a bootstrap token works against it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use podplane::api::HostedControlPlane;
use serde_json::json;

use crate::harness::{TestNamespace, eventually};

const TOKEN_ID: &str = "pdtest";
const TOKEN_SECRET: &str = "0123456789abcdef";

async fn hosted_with_user(admin_kubeconfig: &str, user: serde_yaml::Value) -> Client {
    let mut config: serde_yaml::Value = serde_yaml::from_str(admin_kubeconfig).unwrap();
    config["users"][0]["user"] = user;
    podplane::tenant::client(&serde_yaml::to_string(&config).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_bootstrap_token_can_discover_and_join_the_hosted_cluster() {
    let ns = TestNamespace::new("podplane-join").await;
    let object = json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": "joinable"},
        "spec": {"version": podplane::versions::DEFAULT_KUBERNETES_VERSION},
    });
    let api = ns.api::<HostedControlPlane>();
    api.patch("joinable", &PatchParams::apply("kubectl"), &Patch::Apply(&object))
        .await
        .unwrap();
    let hcp = eventually("Ready", Duration::from_secs(240), || async {
        let hcp = api.get("joinable").await.map_err(|e| e.to_string())?;
        if hcp.status.as_ref().is_some_and(|s| s.ready) {
            Ok(hcp)
        } else {
            Err("not ready".into())
        }
    })
    .await;
    let (server, tls_name) = podplane::tenant::access::external_server(&ns.client, &hcp, &ns.name)
        .await
        .unwrap();
    let admin =
        podplane::tenant::access::admin_kubeconfig(&ns.client, &hcp, &ns.name, &server, tls_name.as_deref())
            .await
            .unwrap();
    let hosted = podplane::tenant::client(&admin).await.unwrap();

    // cluster-info points joining nodes at the control plane's in-cluster address.
    let public = Api::<ConfigMap>::namespaced(hosted.clone(), "kube-public");
    let info = eventually("cluster-info", Duration::from_secs(60), || async {
        public
            .get_opt("cluster-info")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "missing".to_string())
    })
    .await;
    let kubeconfig = &info.data.as_ref().unwrap()["kubeconfig"];
    assert!(
        kubeconfig.contains(&format!(
            "server: https://joinable-kube-apiserver.{}.svc:6443",
            ns.name
        )),
        "{kubeconfig}"
    );

    // kube-proxy and cluster DNS wait for nodes, as after `kubeadm init`.
    let daemon_sets = Api::<k8s_openapi::api::apps::v1::DaemonSet>::namespaced(hosted.clone(), "kube-system");
    eventually("kube-proxy DaemonSet", Duration::from_secs(30), || async {
        daemon_sets
            .get_opt("kube-proxy")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "missing".to_string())
    })
    .await;
    let dns = Api::<k8s_openapi::api::core::v1::Service>::namespaced(hosted.clone(), "kube-system")
        .get("kube-dns")
        .await
        .expect("kube-dns Service");
    assert_eq!(dns.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.10"));
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(hosted.clone(), "kube-system")
        .get("coredns")
        .await
        .expect("CoreDNS Deployment");

    // A bootstrap token: the hosted controller-manager signs cluster-info with it.
    let token: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("bootstrap-token-{TOKEN_ID}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "token-id": TOKEN_ID,
            "token-secret": TOKEN_SECRET,
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": podplane::contract::TOKEN_GROUP,
        },
    }))
    .unwrap();
    Api::<Secret>::namespaced(hosted.clone(), "kube-system")
        .create(&PostParams::default(), &token)
        .await
        .unwrap();
    eventually(
        "cluster-info signed for the token",
        Duration::from_secs(60),
        || async {
            let info = public.get("cluster-info").await.map_err(|e| e.to_string())?;
            let signed = info
                .data
                .unwrap_or_default()
                .contains_key(&format!("jws-kubeconfig-{TOKEN_ID}"));
            signed.then_some(()).ok_or_else(|| "no signature yet".into())
        },
    )
    .await;

    // Discovery is anonymous; the token reads what kubeadm join reads, and no more.
    let anonymous = hosted_with_user(&admin, serde_yaml::Value::Mapping(Default::default())).await;
    Api::<ConfigMap>::namespaced(anonymous, "kube-public")
        .get("cluster-info")
        .await
        .expect("anonymous discovery");
    let bootstrapper = hosted_with_user(
        &admin,
        serde_yaml::from_str(&format!("token: {TOKEN_ID}.{TOKEN_SECRET}")).unwrap(),
    )
    .await;
    let system = Api::<ConfigMap>::namespaced(bootstrapper.clone(), "kube-system");
    let kubeadm = system
        .get("kubeadm-config")
        .await
        .expect("the token reads kubeadm-config");
    assert!(kubeadm.data.unwrap()["ClusterConfiguration"].contains("kubernetesVersion: v1.36"));
    let kubelet = system
        .get("kubelet-config")
        .await
        .expect("the token reads kubelet-config");
    assert!(kubelet.data.unwrap()["kubelet"].contains("clusterDNS"));
    let denied = Api::<Secret>::namespaced(bootstrapper, "kube-system")
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(e) if e.code == 403),
        "{denied:?}"
    );
}
