//! The CRD as the API server serves it: defaults, CEL rules, immutability, scale.

use kube::api::{Patch, PatchParams, PostParams};
use podplane::api::HostedControlPlane;
use serde_json::json;

use crate::harness::{TestNamespace, install_crds};

fn manifest(name: &str, spec: serde_json::Value) -> HostedControlPlane {
    serde_json::from_value(json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

async fn create_raw(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> Result<HostedControlPlane, String> {
    let object = json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": name},
        "spec": spec,
    });
    ns.api::<HostedControlPlane>()
        .patch(
            name,
            &PatchParams::apply("podplane-tests"),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
#[ignore = "needs the local cluster: hack/cluster.sh up"]
async fn the_api_server_fills_in_the_schema_defaults() {
    let ns = TestNamespace::new("podplane-crd").await;
    install_crds(&ns.client).await;
    let created = ns
        .api::<HostedControlPlane>()
        .create(
            &PostParams::default(),
            &manifest("defaults", json!({"version": "v1.36.3"})),
        )
        .await
        .expect("a minimal HostedControlPlane is admitted");
    let spec = &created.spec;
    assert_eq!(spec.replicas, 1);
    assert_eq!(spec.etcd.replicas, 1);
    assert_eq!(spec.network.service_cidr, "10.96.0.0/12");
    assert_eq!(spec.network.pod_cidr, "10.244.0.0/16");
    assert_eq!(spec.network.dns_domain, "cluster.local");
    assert_eq!(spec.service.port, 6443);
    assert_eq!(
        spec.image_repository, None,
        "the operator's --image-repository applies"
    );
    assert_eq!(created.image_repository(), "registry.k8s.io");
}

#[tokio::test]
#[ignore = "needs the local cluster: hack/cluster.sh up"]
async fn the_api_server_rejects_what_podplane_render_rejects_with_the_same_message() {
    let ns = TestNamespace::new("podplane-crd").await;
    install_crds(&ns.client).await;
    let cases = [
        (
            json!({"version": "1.36.3"}),
            "spec.version must be a Kubernetes release such as v1.36.3",
        ),
        (
            json!({"version": "v1.30.1"}),
            "spec.version must be v1.34.x, v1.35.x or v1.36.x",
        ),
        (
            json!({"version": "v1.36.3", "etcd": {"replicas": 4}}),
            "spec.etcd.replicas must be 1, 3 or 5",
        ),
        (
            json!({"version": "v1.36.3", "network": {"serviceCIDR": "10.96.0.0/33"}}),
            "spec.network.serviceCIDR must be a CIDR",
        ),
        (
            json!({"version": "v1.36.3", "network": {"podCIDR": "10.96.0.0/16"}}),
            "must not overlap",
        ),
        (
            json!({"version": "v1.36.3", "service": {"nodePort": 31000}}),
            "spec.service.nodePort needs spec.service.type NodePort or LoadBalancer",
        ),
        (
            json!({"version": "v1.36.3", "ingress": {"hostname": "Bad_Host"}}),
            "spec.ingress.hostname must be a lowercase DNS name",
        ),
        (
            json!({"version": "v1.36.3", "apiServer": {"extraArgs": {"--v": "2"}}}),
            "extraArgs keys are flag names without leading dashes",
        ),
        (
            json!({"version": "v1.35.4", "workers": {"replicas": 1, "image": "kindest/node:v1.36.3"}}),
            "spec.workers.image may not be newer than spec.version",
        ),
        (
            json!({"version": "v1.36.3", "workers": {"replicas": 1, "image": "kindest/node:v1.32.0"}}),
            "spec.workers.image may be at most 3 minor versions older",
        ),
    ];
    for (spec, expected) in cases {
        // The client-side check used by `podplane render` says the same thing.
        let local = podplane::validate::parse_hosted_control_plane(
            &serde_json::to_string(&json!({
                "apiVersion": "controlplane.podplane.dev/v1alpha1",
                "kind": "HostedControlPlane",
                "metadata": {"name": "bad"},
                "spec": spec.clone(),
            }))
            .unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            local.contains(expected),
            "render: expected «{expected}», got «{local}»"
        );
        let server = create_raw(&ns, "bad", spec.clone())
            .await
            .expect_err("the API server rejects it");
        assert!(
            server.contains(expected),
            "API server: expected «{expected}», got «{server}»"
        );
    }
    let long = "n".repeat(33);
    let server = create_raw(&ns, &long, json!({"version": "v1.36.3"}))
        .await
        .unwrap_err();
    assert!(
        server.contains("metadata.name must be at most 32 characters"),
        "{server}"
    );
}

#[tokio::test]
#[ignore = "needs the local cluster: hack/cluster.sh up"]
async fn immutable_fields_and_version_skips_are_refused_on_update() {
    let ns = TestNamespace::new("podplane-crd").await;
    install_crds(&ns.client).await;
    create_raw(
        &ns,
        "fixed",
        json!({"version": "v1.34.2", "etcd": {"replicas": 3}}),
    )
    .await
    .unwrap();
    let updates = [
        (
            json!({"version": "v1.34.2", "etcd": {"replicas": 5}}),
            "spec.etcd.replicas is immutable",
        ),
        (
            json!({"version": "v1.34.2", "etcd": {"replicas": 3}, "network": {"serviceCIDR": "10.100.0.0/16"}}),
            "spec.network.serviceCIDR is immutable",
        ),
        (
            json!({"version": "v1.34.2", "etcd": {"replicas": 3}, "network": {"dnsDomain": "other.local"}}),
            "spec.network.dnsDomain is immutable",
        ),
        (
            json!({"version": "v1.36.0", "etcd": {"replicas": 3}}),
            "one minor version at a time",
        ),
    ];
    for (spec, expected) in updates {
        let err = create_raw(&ns, "fixed", spec)
            .await
            .expect_err("update is refused");
        assert!(err.contains(expected), "expected «{expected}», got «{err}»");
    }
    let upgraded = create_raw(
        &ns,
        "fixed",
        json!({"version": "v1.35.0", "etcd": {"replicas": 3}}),
    )
    .await;
    assert_eq!(upgraded.expect("one minor up is allowed").spec.version, "v1.35.0");
    let err = create_raw(
        &ns,
        "fixed",
        json!({"version": "v1.34.2", "etcd": {"replicas": 3}}),
    )
    .await
    .expect_err("a downgrade is refused");
    assert!(
        err.contains("may not move back to an older minor version"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs the local cluster: hack/cluster.sh up"]
async fn kubectl_scale_sets_the_api_server_replicas() {
    let ns = TestNamespace::new("podplane-crd").await;
    install_crds(&ns.client).await;
    create_raw(&ns, "scaled", json!({"version": "v1.36.3"}))
        .await
        .unwrap();
    let api = ns.api::<HostedControlPlane>();
    let scale = json!({"spec": {"replicas": 3}});
    api.patch_scale("scaled", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale subresource");
    assert_eq!(api.get("scaled").await.unwrap().spec.replicas, 3);
}
