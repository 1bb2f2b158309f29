//! Rendering: every object a HostedControlPlane becomes, checked as a user would.

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use podplane::api::HostedControlPlane;
use podplane::pki::{self, SecretSet};
use podplane::render::{self, Child};
use time::OffsetDateTime;

fn render(hcp: &HostedControlPlane) -> Vec<Child> {
    let required = pki::assets::required(hcp, &[]);
    let issued = pki::issue(&required, &SecretSet::new(), OffsetDateTime::now_utc()).unwrap();
    render::all(hcp, &issued, None)
}

fn deployments(children: &[Child]) -> Vec<&Deployment> {
    children
        .iter()
        .filter_map(|c| match c {
            Child::Deployment(d) => Some(d.as_ref()),
            _ => None,
        })
        .collect()
}

fn pod_spec(deployment: &Deployment) -> &PodSpec {
    deployment.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn container(deployment: &Deployment) -> &Container {
    &pod_spec(deployment).containers[0]
}

fn component(deployment: &Deployment) -> &str {
    &deployment.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"]
}

fn metadata(child: &Child) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    child.kind_and_metadata().1
}

/// A file a container can read, and the ConfigMap (name, key) it comes from, if any.
struct MountedFile {
    path: String,
    config_map: Option<(String, String)>,
}

/// Files a container can read: mount path + projected item path, per volume.
fn mounted_files(deployment: &Deployment) -> Vec<MountedFile> {
    let spec = pod_spec(deployment);
    let mut files = vec![];
    for mount in container(deployment).volume_mounts.as_ref().unwrap() {
        let volume = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == mount.name)
            .unwrap();
        let Some(projected) = &volume.projected else {
            continue;
        };
        for source in projected.sources.as_ref().unwrap() {
            if let Some(secret) = &source.secret {
                for item in secret.items.as_ref().unwrap() {
                    files.push(MountedFile {
                        path: format!("{}/{}", mount.mount_path, item.path),
                        config_map: None,
                    });
                }
            }
            if let Some(cm) = &source.config_map {
                for item in cm.items.as_ref().unwrap() {
                    files.push(MountedFile {
                        path: format!("{}/{}", mount.mount_path, item.path),
                        config_map: Some((cm.name.clone(), item.key.clone())),
                    });
                }
            }
        }
    }
    files
}

fn writable_dirs(deployment: &Deployment) -> Vec<String> {
    container(deployment)
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.read_only != Some(true))
        .map(|m| m.mount_path.clone())
        .collect()
}

fn absolute_paths<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    words.filter(|w| w.starts_with('/')).map(str::to_string).collect()
}

#[test]
fn every_file_a_flag_names_is_mounted() {
    let hcp = common::with_spec("files", "version: v1.36.3\netcd:\n  replicas: 3");
    let children = render(&hcp);
    let config_maps: BTreeMap<String, BTreeMap<String, String>> = children
        .iter()
        .filter_map(|c| match c {
            Child::ConfigMap(cm) => Some((cm.metadata.name.clone().unwrap(), cm.data.clone().unwrap())),
            _ => None,
        })
        .collect();
    let deployments = deployments(&children);
    assert_eq!(deployments.len(), 6);
    for deployment in deployments {
        let name = deployment.metadata.name.as_ref().unwrap();
        let files = mounted_files(deployment);
        let writable = writable_dirs(deployment);
        let command = container(deployment).command.clone().unwrap();
        let mut paths = absolute_paths(
            command
                .iter()
                .filter_map(|arg| arg.split_once('=').map(|(_, v)| v)),
        );
        for file in &files {
            if let Some((cm, key)) = &file.config_map {
                let text = config_maps.get(cm).and_then(|d| d.get(key));
                let text = text.unwrap_or_else(|| panic!("{name} mounts {cm}/{key}, which is not rendered"));
                paths.extend(absolute_paths(text.split_whitespace()));
            }
        }
        assert!(paths.len() >= 2, "{name}: expected flags naming files");
        for path in paths {
            let mounted = files.iter().any(|f| f.path == path)
                || writable.iter().any(|dir| path.starts_with(&format!("{dir}/")));
            let listing: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert!(mounted, "{name}: {path} is not mounted (mounted: {listing:?})");
        }
    }
}

#[test]
fn every_child_is_labelled_and_owned_by_its_control_plane() {
    let hcp = common::with_spec(
        "owned",
        "version: v1.36.3\ningress:\n  hostname: owned.example.com\netcd:\n  replicas: 3\n  storage:\n    size: 1Gi",
    );
    let children = render(&hcp);
    for child in &children {
        let meta = metadata(child);
        let name = meta.name.as_ref().unwrap();
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "podplane", "{name}");
        assert_eq!(labels["app.kubernetes.io/instance"], "owned", "{name}");
        assert!(
            [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler"
            ]
            .contains(&labels["app.kubernetes.io/component"].as_str()),
            "{name}"
        );
        assert_eq!(meta.namespace.as_deref(), Some("tenant-a"));
        let owners = meta.owner_references.as_ref().unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "HostedControlPlane");
        assert_eq!(owners[0].name, "owned");
        assert_eq!(owners[0].uid, "6f1c1f0e-0000-4000-8000-000000000001");
        assert_eq!(owners[0].controller, Some(true));
    }
}

#[test]
fn names_of_the_longest_allowed_control_plane_are_dns_labels() {
    let longest = "x".repeat(podplane::api::MAX_NAME_LENGTH);
    let hcp = common::with_spec(
        &longest,
        "version: v1.36.3\ningress:\n  hostname: a.example.com\netcd:\n  replicas: 5\n  storage:\n    size: 1Gi",
    );
    for child in render(&hcp) {
        let name = metadata(&child).name.clone().unwrap();
        assert!(name.len() <= 63, "{name} has {} characters", name.len());
    }
}

#[test]
fn components_are_the_four_deployments_users_expect() {
    let children = render(&common::example());
    let mut components: Vec<&str> = deployments(&children).into_iter().map(component).collect();
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
}

#[test]
fn each_etcd_member_is_a_single_replica_recreated_deployment_with_its_own_service() {
    let hcp = common::with_spec("quorum", "version: v1.36.3\netcd:\n  replicas: 3");
    let children = render(&hcp);
    let members: Vec<&Deployment> = deployments(&children)
        .into_iter()
        .filter(|d| component(d) == "etcd")
        .collect();
    assert_eq!(members.len(), 3);
    for (i, member) in members.iter().enumerate() {
        let spec = member.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.strategy.as_ref().unwrap().type_.as_deref(), Some("Recreate"));
        let command = container(member).command.clone().unwrap();
        assert!(command.contains(&format!("--name=quorum-etcd-{i}")));
        assert!(command.contains(&"--initial-cluster=quorum-etcd-0=https://quorum-etcd-0.tenant-a.svc:2380,quorum-etcd-1=https://quorum-etcd-1.tenant-a.svc:2380,quorum-etcd-2=https://quorum-etcd-2.tenant-a.svc:2380".to_string()));
        let data = pod_spec(member)
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "data")
            .unwrap();
        assert!(data.empty_dir.is_some(), "no storage asked: emptyDir");
    }
    let services: Vec<String> = children
        .iter()
        .filter_map(|c| match c {
            Child::Service(s) if s.spec.as_ref().unwrap().publish_not_ready_addresses == Some(true) => {
                s.metadata.name.clone()
            }
            _ => None,
        })
        .collect();
    assert_eq!(services, ["quorum-etcd-0", "quorum-etcd-1", "quorum-etcd-2"]);
    let api = deployments(&children)
        .into_iter()
        .find(|d| component(d) == "kube-apiserver")
        .unwrap();
    assert!(container(api).command.as_ref().unwrap().contains(
        &"--etcd-servers=https://quorum-etcd-0.tenant-a.svc:2379,https://quorum-etcd-1.tenant-a.svc:2379,https://quorum-etcd-2.tenant-a.svc:2379".to_string()
    ));
}

#[test]
fn storage_gives_each_member_a_claim() {
    let hcp = common::with_spec(
        "stored",
        "version: v1.36.3\netcd:\n  storage:\n    size: 2Gi\n    storageClassName: fast",
    );
    let children = render(&hcp);
    let claims: Vec<_> = children
        .iter()
        .filter_map(|c| match c {
            Child::PersistentVolumeClaim(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("stored-etcd-0-data"));
    let spec = claims[0].spec.as_ref().unwrap();
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0,
        "2Gi"
    );
    let member = deployments(&children)
        .into_iter()
        .find(|d| component(d) == "etcd")
        .unwrap();
    let data = pod_spec(member)
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        "stored-etcd-0-data"
    );
}

#[test]
fn containers_are_probed_sized_and_restricted() {
    for deployment in deployments(&render(&common::example())) {
        let name = deployment.metadata.name.clone().unwrap();
        let c = container(deployment);
        assert!(
            c.startup_probe.is_some() && c.readiness_probe.is_some() && c.liveness_probe.is_some(),
            "{name}"
        );
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert!(
            requests.contains_key("cpu") && requests.contains_key("memory"),
            "{name}"
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        let pod = pod_spec(deployment);
        assert_eq!(
            pod.security_context.as_ref().unwrap().run_as_non_root,
            Some(true),
            "{name}"
        );
        assert_eq!(pod.automount_service_account_token, Some(false), "{name}");
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    }
}

#[test]
fn images_follow_the_version_unless_overridden() {
    let hcp = common::with_spec(
        "img",
        "version: v1.35.2\nscheduler:\n  image: example.com/sched:dev\netcd:\n  image: example.com/etcd:x",
    );
    let images: BTreeMap<String, String> = deployments(&render(&hcp))
        .into_iter()
        .map(|d| (component(d).to_string(), container(d).image.clone().unwrap()))
        .collect();
    assert_eq!(images["kube-apiserver"], "registry.k8s.io/kube-apiserver:v1.35.2");
    assert_eq!(
        images["kube-controller-manager"],
        "registry.k8s.io/kube-controller-manager:v1.35.2"
    );
    assert_eq!(images["kube-scheduler"], "example.com/sched:dev");
    assert_eq!(images["etcd"], "example.com/etcd:x");
    let default = deployments(&render(&common::example()))
        .into_iter()
        .find(|d| component(d) == "etcd")
        .map(|d| container(d).image.clone().unwrap())
        .unwrap();
    assert_eq!(
        default,
        format!("registry.k8s.io/etcd:{}", podplane::versions::ETCD_IMAGE_TAG)
    );
}

#[test]
fn replicas_and_extra_args_reach_their_deployments() {
    let hcp = common::with_spec(
        "tuned",
        "version: v1.36.3\nreplicas: 3\napiServer:\n  extraArgs:\n    v: \"4\"\n    profiling: \"true\"",
    );
    let children = render(&hcp);
    for deployment in deployments(&children) {
        let expected = if component(deployment) == "etcd" { 1 } else { 3 };
        assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(expected));
    }
    let api = deployments(&children)
        .into_iter()
        .find(|d| component(d) == "kube-apiserver")
        .unwrap();
    let command = container(api).command.clone().unwrap();
    assert!(command.contains(&"--v=4".to_string()));
    assert!(command.contains(&"--profiling=true".to_string()));
    assert!(
        !command.contains(&"--profiling=false".to_string()),
        "extraArgs override defaults"
    );
}

#[test]
fn the_service_and_ingress_expose_the_api_server_as_asked() {
    let hcp = common::with_spec(
        "exposed",
        "version: v1.36.3\nservice:\n  type: NodePort\n  port: 443\n  nodePort: 31443\ningress:\n  className: nginx\n  hostname: exposed.example.com\n  annotations:\n    example.com/x: y",
    );
    let children = render(&hcp);
    let service = children
        .iter()
        .find_map(|c| match c {
            Child::Service(s) if s.metadata.name.as_deref() == Some("exposed-kube-apiserver") => Some(s),
            _ => None,
        })
        .unwrap();
    let spec = service.spec.as_ref().unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    let port = &spec.ports.as_ref().unwrap()[0];
    assert_eq!((port.port, port.node_port), (443, Some(31443)));
    let ingress = children
        .iter()
        .find_map(|c| match c {
            Child::Ingress(i) => Some(i),
            _ => None,
        })
        .unwrap();
    let annotations = ingress.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["nginx.ingress.kubernetes.io/ssl-passthrough"], "true");
    assert_eq!(annotations["example.com/x"], "y");
    let spec = ingress.spec.as_ref().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        spec.rules.as_ref().unwrap()[0].host.as_deref(),
        Some("exposed.example.com")
    );
    assert!(
        render(&common::example())
            .iter()
            .all(|c| !matches!(c, Child::Ingress(_)))
    );
}

#[test]
fn secrets_carry_cluster_api_names_types_and_labels() {
    let children = render(&common::example());
    let secrets: BTreeMap<String, _> = children
        .iter()
        .filter_map(|c| match c {
            Child::Secret(s) => Some((s.metadata.name.clone().unwrap(), s)),
            _ => None,
        })
        .collect();
    for name in ["demo-ca", "demo-etcd", "demo-proxy", "demo-sa", "demo-kubeconfig"] {
        let secret = secrets.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(secret.type_.as_deref(), Some("cluster.x-k8s.io/secret"), "{name}");
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap()["cluster.x-k8s.io/cluster-name"],
            "demo"
        );
    }
    assert!(
        secrets["demo-kubeconfig"]
            .data
            .as_ref()
            .unwrap()
            .contains_key("value")
    );
    for name in ["demo-ca", "demo-etcd", "demo-proxy", "demo-sa"] {
        let data = secrets[name].data.as_ref().unwrap();
        assert!(
            data.contains_key("tls.crt") && data.contains_key("tls.key"),
            "{name}"
        );
    }
}

#[test]
fn disruption_budgets_protect_etcd_quorum() {
    for (members, allowed) in [(1, 1), (3, 1), (5, 2)] {
        let hcp = common::with_spec("pdb", &format!("version: v1.36.3\netcd:\n  replicas: {members}"));
        let budget = render(&hcp)
            .into_iter()
            .find_map(|c| match c {
                Child::PodDisruptionBudget(p) if p.metadata.name.as_deref() == Some("pdb-etcd") => Some(p),
                _ => None,
            })
            .unwrap();
        let max = budget.spec.unwrap().max_unavailable.unwrap();
        assert_eq!(
            max,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(allowed),
            "{members} members"
        );
    }
}
