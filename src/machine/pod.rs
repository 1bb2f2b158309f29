//! The Pod a PodMachine runs: what the kind node image needs to boot systemd, containerd and
//! a kubelet inside a Pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EmptyDirVolumeSource, HostPathVolumeSource, Pod, PodAffinityTerm, PodAntiAffinity,
    PodSpec, SecurityContext, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use kube::{Resource, ResourceExt};

use super::{NODE_CONTAINER, NODE_IMAGE_REPOSITORY};
use crate::api::{HostedControlPlane, PodMachine};
use crate::components::Component;
use crate::contract::{COMPONENT, INSTANCE, MACHINE_LABEL, MANAGED_BY, MANAGER, WORKER_COMPONENT};
use crate::render::meta::worker_labels;
// The controllers import this from here; its home is `crate::contract`.
/// Where the init container copies the image's containerd state (preloaded images).
const CONTAINERD_SEED: &str = "/seed/containerd";

/// The node image: the machine's, else `kindest/node:<control plane version>`.
pub fn image(machine: &PodMachine, hcp: &HostedControlPlane) -> String {
    machine
        .spec
        .template
        .image
        .clone()
        .unwrap_or_else(|| format!("{NODE_IMAGE_REPOSITORY}:{}", hcp.spec.version))
}

/// Labels of the Pod of `machine`, a worker of `cluster`.
fn labels(cluster: &str, machine: &str) -> BTreeMap<String, String> {
    let mut labels = worker_labels(cluster, "kind-node");
    labels.insert(MACHINE_LABEL.to_string(), machine.to_string());
    labels
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

fn empty_dir(name: &str, medium: Option<&str>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.map(str::to_string),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Prefer management nodes without this tenant's control plane, and spread workers.
fn keep_apart(cluster: &str) -> Affinity {
    let term = |weight, expressions: Vec<LabelSelectorRequirement>| WeightedPodAffinityTerm {
        weight,
        pod_affinity_term: PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_expressions: Some(expressions),
                ..Default::default()
            }),
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        },
    };
    let is = |key: &str, values: Vec<String>| LabelSelectorRequirement {
        key: key.into(),
        operator: "In".into(),
        values: Some(values),
    };
    let control_plane = Component::ALL.map(|c| c.as_str().to_string()).to_vec();
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                term(
                    100,
                    vec![is(MANAGED_BY, vec![MANAGER.into()]), is(COMPONENT, control_plane)],
                ),
                term(
                    50,
                    vec![
                        is(INSTANCE, vec![cluster.into()]),
                        is(COMPONENT, vec![WORKER_COMPONENT.into()]),
                    ],
                ),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The machine's Pod: privileged (systemd, nested containers, iptables), a tty for systemd's
/// console, tmpfs on /run and /tmp, an emptyDir for containerd's state, the host's kernel
/// modules read-only, and no service account token.
pub fn pod(machine: &PodMachine, hcp: &HostedControlPlane) -> Pod {
    let name = machine.name_any();
    let cluster = hcp.name_any();
    let image = image(machine, hcp);
    let spec = &machine.spec.template;
    // The kind image may carry containerd state (preloaded images) under /var/lib/containerd,
    // which the emptyDir would hide: copy it in first. Instant when the image has none.
    let seed = Container {
        name: "containerd-state".into(),
        image: Some(image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            format!("[ ! -d /var/lib/containerd ] || cp -a /var/lib/containerd/. {CONTAINERD_SEED}/"),
        ]),
        volume_mounts: Some(vec![mount("containerd", CONTAINERD_SEED, false)]),
        ..Default::default()
    };
    let node = Container {
        name: NODE_CONTAINER.into(),
        image: Some(image),
        image_pull_policy: Some("IfNotPresent".into()),
        tty: Some(true),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        resources: spec.resources.clone(),
        // Stopping relies on the image's StopSignal (SIGRTMIN+3 in kind's images: systemd halts).
        volume_mounts: Some(vec![
            mount("modules", "/lib/modules", true),
            mount("run", "/run", false),
            mount("tmp", "/tmp", false),
            mount("containerd", "/var/lib/containerd", false),
        ]),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: machine.namespace(),
            labels: Some(labels(&cluster, &name)),
            owner_references: machine.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            hostname: Some(name),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
            tolerations: (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
            affinity: Some(keep_apart(&cluster)),
            init_containers: Some(vec![seed]),
            containers: vec![node],
            volumes: Some(vec![
                Volume {
                    name: "modules".into(),
                    // DirectoryOrCreate: some hosts (kernels without modules) have none.
                    host_path: Some(HostPathVolumeSource {
                        path: "/lib/modules".into(),
                        type_: Some("DirectoryOrCreate".into()),
                    }),
                    ..Default::default()
                },
                empty_dir("run", Some("Memory")),
                empty_dir("tmp", Some("Memory")),
                empty_dir("containerd", None),
            ]),
            ..Default::default()
        }),
        status: None,
    }
}
