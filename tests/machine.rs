//! Workers without a cluster: the machine Pod, the kubeadm join it runs, the PodMachines
//! `spec.workers` asks for.

mod common;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use podplane::api::{PodMachine, PodMachineSpec};
use podplane::machine::join::{Join, ca_cert_hash};
use podplane::machine::token::BootstrapToken;
use podplane::render::Child;
use sha2::{Digest, Sha256};

fn machine(name: &str, spec: serde_json::Value) -> PodMachine {
    let spec: PodMachineSpec = serde_json::from_value(spec).unwrap();
    let mut machine = PodMachine::new(name, spec);
    machine.metadata.namespace = Some("tenant-a".into());
    machine.metadata.uid = Some("2b6f0c44-0000-4000-8000-000000000002".into());
    machine
}

fn node_pod(machine: &PodMachine) -> Pod {
    let hcp = common::with_spec("demo", "version: v1.36.3");
    podplane::machine::pod::pod(machine, &hcp)
}

#[test]
fn the_node_pod_has_what_the_kind_image_needs_and_no_more() {
    let pod = node_pod(&machine(
        "demo-worker-0",
        serde_json::json!({"hostedControlPlaneRef": {"name": "demo"}}),
    ));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("demo-worker-0"));
    assert_eq!(spec.automount_service_account_token, Some(false));
    let node = &spec.containers[0];
    assert_eq!(node.image.as_deref(), Some("kindest/node:v1.36.3"));
    assert_eq!(node.tty, Some(true));
    assert_eq!(node.security_context.as_ref().unwrap().privileged, Some(true));
    let mounts: Vec<(String, bool)> = node
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.clone(), m.read_only.unwrap_or(false)))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/lib/modules".to_string(), true),
            ("/run".to_string(), false),
            ("/tmp".to_string(), false),
            ("/var/lib/containerd".to_string(), false),
        ]
    );
    let volumes = spec.volumes.as_ref().unwrap();
    let modules = volumes[0].host_path.as_ref().unwrap();
    assert_eq!(
        (modules.path.as_str(), modules.type_.as_deref()),
        ("/lib/modules", Some("DirectoryOrCreate"))
    );
    for (volume, medium) in [(1, Some("Memory")), (2, Some("Memory")), (3, None)] {
        assert_eq!(
            volumes[volume].empty_dir.as_ref().unwrap().medium.as_deref(),
            medium
        );
    }
    // The image's own containerd state (preloaded images) is copied into the emptyDir.
    let seed = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(seed.image, node.image);
    assert!(seed.command.as_ref().unwrap()[2].contains("cp -a /var/lib/containerd/."));
    // Owned by the machine, so the Pod goes with it.
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("PodMachine", Some(true))
    );
    assert_eq!(
        pod.metadata.labels.as_ref().unwrap()["cluster.x-k8s.io/cluster-name"],
        "demo"
    );
}

#[test]
fn the_machine_spec_shapes_the_pod() {
    let pod = node_pod(&machine(
        "big",
        serde_json::json!({
            "hostedControlPlaneRef": {"name": "demo"},
            "image": "registry.example/node:custom",
            "resources": {"limits": {"memory": "2Gi"}},
            "nodeSelector": {"pool": "workers"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        }),
    ));
    let spec = pod.spec.unwrap();
    let node = &spec.containers[0];
    assert_eq!(node.image.as_deref(), Some("registry.example/node:custom"));
    assert_eq!(
        node.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0,
        "2Gi"
    );
    assert_eq!(spec.node_selector.unwrap()["pool"], "workers");
    assert_eq!(spec.tolerations.unwrap()[0].key.as_deref(), Some("dedicated"));
}

#[test]
fn the_join_configuration_pins_the_ca_and_sets_the_provider_id() {
    let token = BootstrapToken {
        id: "abcdef".into(),
        secret: "0123456789abcdef".into(),
    };
    let join = Join {
        node: "demo-worker-0",
        api_server: "demo-kube-apiserver.tenant-a.svc:6443",
        token: &token,
        ca_cert_hash: "sha256:00",
        provider_id: "podplane://tenant-a/demo-worker-0",
    };
    let config: serde_json::Value = serde_yaml::from_str(&join.configuration()).unwrap();
    assert_eq!(config["kind"], "JoinConfiguration");
    assert_eq!(config["apiVersion"], "kubeadm.k8s.io/v1beta4");
    let discovery = &config["discovery"]["bootstrapToken"];
    assert_eq!(
        discovery["apiServerEndpoint"],
        "demo-kube-apiserver.tenant-a.svc:6443"
    );
    assert_eq!(discovery["token"], "abcdef.0123456789abcdef");
    assert_eq!(discovery["caCertHashes"][0], "sha256:00");
    let registration = &config["nodeRegistration"];
    assert_eq!(registration["name"], "demo-worker-0");
    assert_eq!(
        registration["kubeletExtraArgs"],
        serde_json::json!([{"name": "provider-id", "value": "podplane://tenant-a/demo-worker-0"}])
    );
    assert_eq!(
        registration["ignorePreflightErrors"],
        serde_json::json!(["SystemVerification"])
    );
    // The token travels on stdin, never on the command line (API server audit logs).
    assert!(join.command().iter().all(|arg| !arg.contains(&token.secret)));
}

#[test]
fn the_ca_hash_is_sha256_of_the_public_key_info() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    let public_pem = key.public_key_pem();
    let (_, spki) = x509_parser::pem::parse_x509_pem(public_pem.as_bytes()).unwrap();
    assert_eq!(spki.label, "PUBLIC KEY");
    let expected = format!("sha256:{:x}", Sha256::digest(&spki.contents));
    assert_eq!(ca_cert_hash(ca.pem().as_bytes()).unwrap(), expected);
    assert!(ca_cert_hash(b"not a certificate").is_err());
}

#[test]
fn spec_workers_becomes_that_many_owned_machines() {
    let hcp = common::with_spec(
        "demo",
        "version: v1.36.3\nworkers:\n  replicas: 3\n  image: kindest/node:mine",
    );
    let pki = podplane::pki::issue(
        &podplane::pki::assets::required(&hcp, &[]),
        &Default::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let machines: Vec<PodMachine> = podplane::render::all(&hcp, &pki, None)
        .into_iter()
        .filter_map(|c| match c {
            Child::PodMachine(m) => Some(*m),
            _ => None,
        })
        .collect();
    let names: Vec<String> = machines
        .iter()
        .map(|m| m.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["demo-worker-0", "demo-worker-1", "demo-worker-2"]);
    for machine in &machines {
        assert_eq!(machine.control_plane_name(), Some("demo"));
        assert_eq!(machine.spec.template.image.as_deref(), Some("kindest/node:mine"));
        let owner = machine.owner_references().first().unwrap();
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("HostedControlPlane", Some(true))
        );
    }
    let none = common::with_spec("demo", "version: v1.36.3");
    let rendered = podplane::render::all(&none, &pki, None);
    assert!(!rendered.iter().any(|c| matches!(c, Child::PodMachine(_))));
}

#[test]
fn a_machine_joins_its_ref_or_else_its_cluster_api_cluster() {
    let mut by_label = machine("md-0-abcde", serde_json::json!({}));
    assert_eq!(by_label.control_plane_name(), None);
    by_label.metadata.labels =
        Some([("cluster.x-k8s.io/cluster-name".to_string(), "demo".to_string())].into());
    assert_eq!(by_label.control_plane_name(), Some("demo"));
    let mut by_ref = machine(
        "w",
        serde_json::json!({"hostedControlPlaneRef": {"name": "other"}}),
    );
    by_ref.metadata.labels = by_label.metadata.labels.clone();
    assert_eq!(
        by_ref.control_plane_name(),
        Some("other"),
        "the explicit reference wins"
    );
}
