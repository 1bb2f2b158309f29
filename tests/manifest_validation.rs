//! Bad input is refused with a message naming the field, as the API server would refuse it.

use std::process::Command;

fn manifest(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: controlplane.podplane.dev/v1alpha1\nkind: HostedControlPlane\nmetadata:\n  name: {name}\nspec:\n{}",
        spec.lines().map(|l| format!("  {l}\n")).collect::<String>()
    )
}

fn rejection(text: &str) -> String {
    podplane::validate::parse_hosted_control_plane(text)
        .map(|_| "accepted".to_string())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn each_bad_field_is_named_with_what_is_wrong() {
    let cases = [
        (
            "demo",
            "version: 1.36.3",
            "spec.version: spec.version must be a Kubernetes release such as v1.36.3",
        ),
        (
            "demo",
            "version: v1.30.1",
            "spec.version: spec.version must be v1.34.x, v1.35.x or v1.36.x",
        ),
        (
            "demo",
            "version: v1.36.3\netcd:\n  replicas: 2",
            "spec.etcd.replicas: spec.etcd.replicas must be 1, 3 or 5",
        ),
        (
            "demo",
            "version: v1.36.3\netcd:\n  replicas: three",
            "spec.etcd.replicas: invalid type: string \"three\"",
        ),
        (
            "demo",
            "version: v1.36.3\nnetwork:\n  serviceCIDR: 10.96.0.0/33",
            "spec.network.serviceCIDR: spec.network.serviceCIDR must be a CIDR",
        ),
        (
            "demo",
            "version: v1.36.3\nnetwork:\n  podCIDR: 10.96.0.0/16",
            "spec.network: spec.network.serviceCIDR and spec.network.podCIDR must not overlap",
        ),
        (
            "demo",
            "version: v1.36.3\nservice:\n  type: Internal",
            "spec.service.type: unknown variant `Internal`, expected one of `ClusterIP`, `NodePort`, `LoadBalancer`",
        ),
        (
            "demo",
            "version: v1.36.3\nservice:\n  nodePort: 31000",
            "spec.service: spec.service.nodePort needs spec.service.type NodePort or LoadBalancer",
        ),
        (
            "demo",
            "version: v1.36.3\nservice:\n  type: NodePort\n  nodePort: 80",
            "spec.service.nodePort: spec.service.nodePort must be in the node port range 30000-32767",
        ),
        (
            "demo",
            "version: v1.36.3\nservice:\n  port: 70000",
            "spec.service.port: spec.service.port must be between 1 and 65535",
        ),
        (
            "demo",
            "version: v1.36.3\ningress:\n  className: nginx",
            "spec.ingress.hostname: required field is missing",
        ),
        (
            "demo",
            "version: v1.36.3\ningress:\n  hostname: Bad_Host",
            "spec.ingress.hostname: spec.ingress.hostname must be a lowercase DNS name",
        ),
        (
            "demo",
            "version: v1.36.3\nreplicas: 0",
            "spec.replicas: spec.replicas must be between 1 and 9",
        ),
        (
            "demo",
            "version: v1.36.3\napiServer:\n  extraArgs:\n    --v: \"2\"",
            "spec.apiServer.extraArgs: extraArgs keys are flag names without leading dashes",
        ),
        (
            "demo",
            "version: v1.36.3\ncertSANs: [\"not a name\"]",
            "spec.certSANs: spec.certSANs entries must be IP addresses or lowercase DNS names",
        ),
        (
            "demo",
            "version: v1.36.3\netcd:\n  replica: 3",
            "spec.etcd.replica: unknown field",
        ),
        ("demo", "replicas: 1", "spec.version: required field is missing"),
        (
            "demo",
            "version: v1.35.4\nworkers:\n  replicas: 1\n  image: kindest/node:v1.36.3",
            "spec.workers.image may not be newer than spec.version",
        ),
        (
            "demo",
            "version: v1.36.3\nworkers:\n  replicas: 1\n  image: localhost:5000/kindest/node:v1.32.0",
            "spec.workers.image may be at most 3 minor versions older than spec.version",
        ),
        (
            "this-name-is-far-too-long-for-a-control-plane",
            "version: v1.36.3",
            "metadata.name must be at most 32 characters",
        ),
        (
            "9lives",
            "version: v1.36.3",
            "metadata.name must be at most 32 characters, start with a letter",
        ),
    ];
    for (name, spec, expected) in cases {
        let message = rejection(&manifest(name, spec));
        assert!(
            message.contains(expected),
            "for\n{spec}\nexpected «{expected}»\ngot «{message}»"
        );
    }
}

#[test]
fn workers_may_lag_the_control_plane_by_up_to_three_minors() {
    for image in [
        "kindest/node:v1.36.3",
        "kindest/node:v1.33.1",
        "localhost:5000/node:v1.35.4",
        "mine:latest",
    ] {
        let spec = format!("version: v1.36.3\nworkers:\n  replicas: 1\n  image: {image}");
        assert_eq!(rejection(&manifest("demo", &spec)), "accepted", "{image}");
    }
}

#[test]
fn the_wrong_kind_or_version_is_named() {
    let text = manifest("demo", "version: v1.36.3").replace("v1alpha1", "v1");
    assert!(rejection(&text).starts_with("apiVersion: must be controlplane.podplane.dev/v1alpha1"));
    let text = manifest("demo", "version: v1.36.3").replace("kind: HostedControlPlane", "kind: Cluster");
    assert!(rejection(&text).starts_with("kind: must be HostedControlPlane"));
}

#[test]
fn a_valid_manifest_gets_the_schema_defaults() {
    let hcp = podplane::validate::parse_hosted_control_plane(&manifest("demo", "version: v1.36.3")).unwrap();
    assert_eq!(hcp.spec.replicas, 1);
    assert_eq!(hcp.spec.etcd.replicas, 1);
    assert_eq!(hcp.spec.network.service_cidr, "10.96.0.0/12");
    assert_eq!(hcp.spec.network.dns_domain, "cluster.local");
    assert_eq!(hcp.spec.service.port, 6443);
    // No schema default: the operator's --image-repository applies.
    assert_eq!(hcp.spec.image_repository, None);
    assert_eq!(hcp.image_repository(), "registry.k8s.io");
}

#[test]
fn render_exits_non_zero_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("podplane-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(&file, manifest("demo", "version: v1.36.3\netcd:\n  replicas: 4")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_podplane"))
        .args(["render", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing is printed for a bad manifest");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("spec.etcd.replicas"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn render_prints_every_component_of_the_example() {
    let output = Command::new(env!("CARGO_BIN_EXE_podplane"))
        .args([
            "render",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hostedcontrolplane.yaml"),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_slice(&output.stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let mut components: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(|d| {
            d["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .unwrap()
        })
        .collect();
    components.sort();
    assert_eq!(
        components,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ]
    );
    let kubeconfig = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "demo-kubeconfig")
        .unwrap();
    assert!(kubeconfig["data"]["value"].is_string());
}
