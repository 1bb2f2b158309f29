//! Hosted networking: the API server reaches into the hosted cluster through konnectivity
//! (webhooks, conversion, aggregated metrics, the Service proxy, kubelets), Pods reach
//! each other across nodes over flannel, and ServiceAccount discovery verifies.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use podplane::api::HostedControlPlane;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestNamespace, eventually};
use crate::network_support::*;
use crate::routed_workers::{assert_on_routed_nodes, one_machine_per_management_node};
use crate::workers::{coredns_available, hosted_admin, machines_ready, ready_hcp_with};

const SETTLE: Duration = Duration::from_secs(120);

async fn raw(client: &Client, path: &str) -> Result<String, String> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    client.request_text(request).await.map_err(|e| e.to_string())
}

async fn tunnel_available(ns: &TestNamespace, name: &str) -> String {
    let api = ns.api::<HostedControlPlane>();
    eventually("TunnelAvailable True", SETTLE, || async {
        let hcp = api.get(name).await.map_err(|e| e.to_string())?;
        let condition = hcp
            .status
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "TunnelAvailable"));
        match condition {
            Some(c) if c.status == "True" => Ok(c.message),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn the_api_server_reaches_into_the_hosted_cluster() {
    let ns = TestNamespace::with_pod_security("podplane-network", Some("privileged")).await;
    let hcp = ready_hcp_with(&ns, "net", json!({"addons": {"metricsServer": true}})).await;
    let workers = one_machine_per_management_node(&ns, "net").await;
    machines_ready(&ns, &[&workers[0], &workers[1]]).await;
    let placed = assert_on_routed_nodes(&ns, &workers).await;
    let message = tunnel_available(&ns, "net").await;
    assert!(message.contains("net-kube-apiserver"), "{message}");
    let hosted = hosted_admin(&ns, &hcp).await;
    let pods = Api::<Pod>::namespaced(hosted.clone(), "default");

    // A web Deployment spread over both nodes, behind a Service.
    let deployments = Api::<Deployment>::namespaced(hosted.clone(), "default");
    let mut template = web_template();
    template["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    let web: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &web).await.unwrap();
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
    }))
    .unwrap();
    Api::<Service>::namespaced(hosted.clone(), "default")
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    eventually("web Pods ready on both nodes", SETTLE, || async {
        let status = deployments.get("web").await.map_err(|e| e.to_string())?.status;
        let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
        (ready == 2).then_some(()).ok_or(format!("{ready}/2 ready"))
    })
    .await;

    // The API server's Service proxy, through the tunnel to a Pod.
    let answer = eventually("Service proxy answers", SETTLE, || async {
        raw(&hosted, "/api/v1/namespaces/default/services/web:80/proxy/").await
    })
    .await;
    assert!(answer.starts_with("hello from web-"), "{answer}");

    // kubectl port-forward, through the tunnel to the kubelet.
    let web_pods = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
    let target = web_pods.items[0].name_any();
    let mut forwarder = pods.portforward(&target, &[80]).await.expect("port-forward");
    let mut stream = forwarder.take_stream(80).unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.contains(&format!("hello from {target}")), "{reply}");
    drop(stream);
    forwarder.abort();

    // Pods on each node reach the web Pods on both nodes and the Service (flannel).
    coredns_available(&hosted).await;
    for (index, node) in workers.iter().enumerate() {
        let ips: Vec<String> = web_pods
            .items
            .iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .collect();
        let script = format!(
            "getent hosts web.default.svc.cluster.local || sleep 2; \
             for target in {} web.default.svc.cluster.local; do exec 3<>/dev/tcp/$target/80; \
             printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; echo \"$target: $(tail -n 1 <&3)\"; done",
            ips.join(" ")
        );
        let client: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("client-{index}")},
            "spec": {"nodeName": node, "restartPolicy": "Never", "containers": [{
                "name": "client", "image": format!("registry.k8s.io/kube-proxy:{}", podplane::versions::DEFAULT_KUBERNETES_VERSION),
                "imagePullPolicy": "Never", "command": ["bash", "-c", script]}]},
        }))
        .unwrap();
        let (phase, logs) = run_to_completion(&hosted, client).await;
        assert_eq!(phase, "Succeeded", "client on {node}: {logs}");
        let logs = format!(
            "client on {node} (management node and IP {:?}): {logs}",
            placed[index]
        );
        for pod in &web_pods.items {
            assert!(
                logs.contains(&format!("hello from {}", pod.name_any())),
                "{node}: {logs}"
            );
        }
        assert!(
            logs.contains("web.default.svc.cluster.local: hello from web-"),
            "{logs}"
        );
    }

    // ServiceAccount issuer discovery, verified against the cluster CA from a Pod.
    let (phase, logs) = run_to_completion(&hosted, discovery_pod()).await;
    assert_eq!(phase, "Succeeded", "{logs}");
    assert!(
        logs.contains(r#""issuer":"https://kubernetes.default.svc.cluster.local""#),
        "{logs}"
    );
    assert!(
        logs.contains(r#""jwks_uri":"https://kubernetes.default.svc.cluster.local/openid/v1/jwks""#),
        "{logs}"
    );
    let jwks = logs
        .lines()
        .find_map(|l| l.strip_prefix("jwks: "))
        .unwrap_or_default();
    let keys: serde_json::Value = serde_json::from_str(jwks).unwrap_or_else(|e| panic!("JWKS {jwks}: {e}"));
    assert_eq!(keys["keys"][0]["kty"], "EC", "{keys}");

    // kubectl top: metrics-server's aggregated API, through the tunnel.
    for path in [
        "/apis/metrics.k8s.io/v1beta1/nodes",
        "/apis/metrics.k8s.io/v1beta1/pods",
    ] {
        eventually(
            &format!("{path} lists metrics"),
            Duration::from_secs(180),
            || async {
                let list: serde_json::Value =
                    serde_json::from_str(&raw(&hosted, path).await?).map_err(|e| e.to_string())?;
                let items = list["items"].as_array().cloned().unwrap_or_default();
                (items.len() >= 2 && items.iter().all(|i| i["metadata"]["name"].is_string()))
                    .then_some(())
                    .ok_or(format!("{list}"))
            },
        )
        .await;
    }

    webhooks_served_by_hosted_pods(&hosted).await;
}

/// A validating webhook and a conversion webhook, each served by a Pod in the hosted
/// cluster behind a Service: the API server calls them through the tunnel.
async fn webhooks_served_by_hosted_pods(hosted: &Client) {
    let (ca, cert, key) = webhook_certificates("webhook.default.svc");
    let ca_bundle = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ca);
    let pods = Api::<Pod>::namespaced(hosted.clone(), "default");
    pods.create(&PostParams::default(), &webhook_pod(&cert, &key))
        .await
        .unwrap();
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "webhook"},
        "spec": {"selector": {"app": "webhook"}, "ports": [{"port": 443, "targetPort": WEBHOOK_PORT}]},
    }))
    .unwrap();
    Api::<Service>::namespaced(hosted.clone(), "default")
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    eventually("webhook Pod ready", SETTLE, || async {
        let pod = pods.get("webhook").await.map_err(|e| e.to_string())?;
        let ready = pod.status.and_then(|s| s.conditions).unwrap_or_default();
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())
            .ok_or("not ready".to_string())
    })
    .await;

    let reference = |path: &str| json!({"service": {"name": "webhook", "namespace": "default", "path": path, "port": 443}, "caBundle": ca_bundle});
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": "refuse-guarded"},
        "webhooks": [{
            "name": "refuse.podplane.dev",
            "clientConfig": reference("/validate"),
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            "objectSelector": {"matchLabels": {"guarded": "true"}},
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
        }],
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(hosted.clone())
        .create(&PostParams::default(), &config)
        .await
        .unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(hosted.clone(), "default");
    let guarded: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "guarded", "labels": {"guarded": "true"}}}))
            .unwrap();
    let refusal = eventually("the webhook refuses", SETTLE, || async {
        match config_maps.create(&PostParams::default(), &guarded).await {
            Err(kube::Error::Api(e)) if e.message.contains("podplane test webhook") => Ok(e.message),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(refusal.contains("refuses guarded"), "{refusal}");

    let version = |name: &str, storage: bool| {
        json!({"name": name, "served": true, "storage": storage,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
    };
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.podplane.dev"},
        "spec": {
            "group": "example.podplane.dev",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "scope": "Namespaced",
            "versions": [version("v1", true), version("v2", false)],
            "conversion": {"strategy": "Webhook", "webhook": {
                "clientConfig": reference("/convert"), "conversionReviewVersions": ["v1"]}},
        },
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(hosted.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let gadgets = |version: &str| {
        let gvk = GroupVersionKind::gvk("example.podplane.dev", version, "Gadget");
        Api::<DynamicObject>::namespaced_with(hosted.clone(), "default", &ApiResource::from_gvk(&gvk))
    };
    let gadget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.podplane.dev/v1", "kind": "Gadget",
        "metadata": {"name": "g"}, "spec": {"size": 3}}))
    .unwrap();
    eventually("v1 Gadget created", SETTLE, || async {
        gadgets("v1")
            .create(&PostParams::default(), &gadget)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let as_v2 = eventually(
        "the v1 Gadget read as v2 (converted by the webhook)",
        SETTLE,
        || async { gadgets("v2").get("g").await.map_err(|e| e.to_string()) },
    )
    .await;
    assert_eq!(
        as_v2.types.as_ref().unwrap().api_version,
        "example.podplane.dev/v2"
    );
    assert_eq!(as_v2.data["spec"]["size"], 3);
}
