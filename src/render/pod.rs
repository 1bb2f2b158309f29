//! Pieces every control-plane Pod shares: security contexts, probes, volumes, resources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapProjection, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler, ObjectFieldSelector, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, Probe, ProjectedVolumeSource, ResourceRequirements, SeccompProfile,
    SecretProjection, SecurityContext, SleepAction, Volume, VolumeMount, VolumeProjection,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::components::{Component, PkiFile, Port};
use crate::names::Names;

/// Unprivileged user the control-plane containers run as (distroless `nonroot`).
const NON_ROOT_UID: i64 = 65532;
/// Secret files are readable by the owner and the Pod's fsGroup only.
const SECRET_FILE_MODE: i32 = 0o440;

/// Pod-level security context for the restricted Pod Security level.
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NON_ROOT_UID),
        run_as_group: Some(NON_ROOT_UID),
        fs_group: Some(NON_ROOT_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Container security context for the restricted Pod Security level.
fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// How often and how patiently a probe checks.
#[derive(Clone, Copy)]
struct Timing {
    period: i32,
    failures: i32,
}

/// Startup: check every second for up to `seconds`.
fn startup(seconds: i32) -> Timing {
    Timing {
        period: 1,
        failures: seconds,
    }
}
/// Readiness: check often, so a Pod turns ready quickly.
const READINESS: Timing = Timing {
    period: 2,
    failures: 3,
};
/// Liveness: restart only after a sustained failure.
const LIVENESS: Timing = Timing {
    period: 10,
    failures: 6,
};

/// Where a component reports its health, on its own port.
pub struct Health {
    pub scheme: &'static str,
    pub port: i32,
    /// Checked by the startup and liveness probes.
    pub live: &'static str,
    /// Checked by the readiness probe.
    pub ready: &'static str,
    /// How long the component may take to start.
    pub startup_seconds: i32,
}

/// Startup, readiness and liveness probes of `container` from `health`.
pub fn probe(container: &mut Container, health: Health) {
    let Health {
        scheme,
        port,
        live,
        ready,
        startup_seconds,
    } = health;
    container.startup_probe = Some(http_probe(scheme, live, port, startup(startup_seconds)));
    container.readiness_probe = Some(http_probe(scheme, ready, port, READINESS));
    container.liveness_probe = Some(http_probe(scheme, live, port, LIVENESS));
}

/// Only a liveness probe (a sidecar whose readiness must not hold its Pod back).
pub fn liveness(container: &mut Container, scheme: &str, port: i32, path: &str) {
    container.liveness_probe = Some(http_probe(scheme, path, port, LIVENESS));
}

pub fn container_ports(ports: &[Port]) -> Vec<ContainerPort> {
    ports
        .iter()
        .map(|port| ContainerPort {
            name: Some(port.name.into()),
            container_port: port.number,
            ..Default::default()
        })
        .collect()
}

/// An environment variable set from the Pod's own field `path` (`status.podIP`, ...).
pub fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An HTTP(S) GET probe on the container's own port.
fn http_probe(scheme: &str, path: &str, port: i32, timing: Timing) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            scheme: Some(scheme.into()),
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        period_seconds: Some(timing.period),
        failure_threshold: Some(timing.failures),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}

/// A file projected into a volume from one key of a Secret or a ConfigMap.
pub enum FileSource {
    Secret {
        name: String,
        key: &'static str,
        path: &'static str,
    },
    ConfigMap {
        name: String,
        key: &'static str,
        path: &'static str,
    },
}

/// The PKI files `files` of the control plane `names`.
pub fn pki_files(names: &Names, files: &[PkiFile]) -> Vec<FileSource> {
    files
        .iter()
        .map(|file| FileSource::Secret {
            name: names.pki_secret(file.secret),
            key: file.key,
            path: file.path,
        })
        .collect()
}

/// A file taken from `key` of ConfigMap `config_map`, placed at `path` in the volume.
pub fn config_map_file(config_map: String, key: &'static str, path: &'static str) -> FileSource {
    FileSource::ConfigMap {
        name: config_map,
        key,
        path,
    }
}

/// A projected volume assembling files from several Secrets and ConfigMaps.
pub fn projected_volume(name: &str, files: Vec<FileSource>) -> Volume {
    let items = |key: &str, path: &str| {
        Some(vec![KeyToPath {
            key: key.into(),
            path: path.into(),
            mode: None,
        }])
    };
    let sources = files
        .into_iter()
        .map(|file| match file {
            FileSource::Secret { name, key, path } => VolumeProjection {
                secret: Some(SecretProjection {
                    name,
                    items: items(key, path),
                    optional: Some(false),
                }),
                ..Default::default()
            },
            FileSource::ConfigMap { name, key, path } => VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name,
                    items: items(key, path),
                    optional: Some(false),
                }),
                ..Default::default()
            },
        })
        .collect();
    Volume {
        name: name.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            default_mode: Some(SECRET_FILE_MODE),
        }),
        ..Default::default()
    }
}

/// A read-only mount of volume `name` at `path`.
pub fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// A writable mount of volume `name` at `path`.
pub fn writable_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

/// The user's resources, or modest requests and no limits.
pub fn resources(user: Option<&ResourceRequirements>, cpu: &str, memory: &str) -> ResourceRequirements {
    user.cloned().unwrap_or_else(|| ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])),
        ..Default::default()
    })
}

/// Prefer spreading Pods matching `labels` over nodes.
pub fn spread(labels: BTreeMap<String, String>) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(labels),
                        ..Default::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                },
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container of `component`, with the fields every control-plane container shares.
pub fn container(component: Component, image: String, command: Vec<String>) -> Container {
    Container {
        name: component.as_str().into(),
        image: Some(image),
        ports: Some(container_ports(component.ports())),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(command),
        security_context: Some(container_security_context()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// A preStop that only waits `seconds`: the Pod keeps serving while it leaves its Service's
/// endpoints, so clients' new connections stop reaching it before it is signalled.
pub fn sleep_before_stop(seconds: i64) -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction { seconds }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
