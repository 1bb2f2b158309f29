//! `PodMachine` and `PodMachineTemplate`: worker nodes run as `kindest/node` Pods that join
//! a HostedControlPlane (Cluster API infrastructure machine contract).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Group of the infrastructure API (Cluster API infrastructure contract).
pub const INFRASTRUCTURE_GROUP: &str = "infrastructure.podplane.dev";
/// Prefix of every `spec.providerID` podplane sets: `podplane://<namespace>/<pod>`.
pub const PROVIDER_ID_SCHEME: &str = "podplane://";

/// A worker node: a Pod running the kind node image, joined to a hosted control plane.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "infrastructure.podplane.dev",
    version = "v1alpha1",
    kind = "PodMachine",
    namespaced,
    derive = "PartialEq",
    shortname = "pm",
    category = "cluster-api",
    status = "PodMachineStatus",
    cel,
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.hostedControlPlaneRef.name", description = "HostedControlPlane the machine joins"),
    printcolumn(name = "Node", type_ = "string", json_path = ".status.nodeRef.name", description = "Node in the hosted cluster"),
    printcolumn(name = "ProviderID", type_ = "string", json_path = ".spec.providerID", priority = 1),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.ready", description = "The Node is Ready"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    label("cluster.x-k8s.io/v1beta1", "v1alpha1"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha1"),
    validation = Rule::new(
        "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"
    ).message(
        "metadata.name must be at most 63 characters of lowercase letters, digits and '-': it becomes the Pod's hostname and the Node's name"
    ),
)]
#[serde(rename_all = "camelCase")]
pub struct PodMachineSpec {
    #[serde(flatten)]
    pub template: PodMachineTemplateSpecFields,

    /// `podplane://<namespace>/<pod>`; set by podplane once the Pod exists.
    #[serde(default, rename = "providerID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.startsWith('podplane://')").message("spec.providerID is set by podplane and has the form podplane://<namespace>/<pod>"))]
    pub provider_id: Option<String>,
}

/// What a PodMachine and a PodMachineTemplate share.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMachineTemplateSpecFields {
    /// The HostedControlPlane (same namespace) the node joins; when unset, the one named by
    /// the label `cluster.x-k8s.io/cluster-name` (as Cluster API sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_control_plane_ref: Option<LocalObjectReference>,

    /// Node image; `kindest/node:<version of the control plane>` when unset. Fixed once set:
    /// a new version is a new machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.image is immutable: a machine keeps its node image (and kubelet version); replace the machine (with Cluster API: a new PodMachineTemplate in the MachineDeployment)"))]
    pub image: Option<String>,

    /// Compute resources of the node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Management-cluster nodes the Pod may run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations of the Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub tolerations: Vec<Toleration>,

    /// Create a new Pod (and join it again) when the machine's Pod disappears or fails.
    /// Off by default: a lost Pod is reported and left for you to decide.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recreate_pod: bool,
}

/// A reference to an object in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LocalObjectReference {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Observed state of a PodMachine, in the shape Cluster API reads from infrastructure machines.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMachineStatus {
    /// The Node is Ready (Cluster API v1beta1 contract).
    #[serde(default)]
    pub ready: bool,
    /// Cluster API v1beta2 initialization flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<MachineInitialization>,
    /// The Node's addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MachineAddress>,
    /// The Node this machine became in the hosted cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ref: Option<NodeReference>,
    /// The failure domain Cluster API chose for the Machine, if it chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// UID of the Pod podplane created for this machine.
    #[serde(default, rename = "podUID", skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, PodRunning, NodeJoined, NodeReady.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Cluster API v1beta2 initialization flags of an infrastructure machine.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MachineInitialization {
    /// The machine's Pod runs and has joined the cluster.
    #[serde(default)]
    pub provisioned: bool,
}

/// An address of a machine (Cluster API `MachineAddress`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MachineAddress {
    /// Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

/// The Node a machine became.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NodeReference {
    /// Name of the Node.
    pub name: String,
    /// UID of the Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A template Cluster API MachineDeployments and MachineSets stamp PodMachines from.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "infrastructure.podplane.dev",
    version = "v1alpha1",
    kind = "PodMachineTemplate",
    namespaced,
    shortname = "pmt",
    category = "cluster-api",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.template.spec.image"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    label("cluster.x-k8s.io/v1beta1", "v1alpha1"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha1")
)]
pub struct PodMachineTemplateSpec {
    /// The PodMachine every stamped machine starts from.
    pub template: PodMachineTemplateResource,
}

/// The `template` of a PodMachineTemplate.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PodMachineTemplateResource {
    /// Spec of the PodMachines made from this template.
    pub spec: PodMachineTemplateSpecFields,
}

impl PodMachine {
    /// The HostedControlPlane this machine joins: `spec.hostedControlPlaneRef`, else the
    /// Cluster API cluster it belongs to (label `cluster.x-k8s.io/cluster-name`), since a
    /// HostedControlPlane is named after its cluster (that is how its Secrets are found).
    pub fn control_plane_name(&self) -> Option<&str> {
        self.spec
            .template
            .hosted_control_plane_ref
            .as_ref()
            .map(|r| r.name.as_str())
            .or_else(|| {
                self.metadata
                    .labels
                    .as_ref()?
                    .get(crate::contract::CLUSTER_NAME)
                    .map(String::as_str)
            })
    }
}

/// `podplane://<namespace>/<pod>`.
pub fn provider_id(namespace: &str, pod: &str) -> String {
    format!("{PROVIDER_ID_SCHEME}{namespace}/{pod}")
}

/// Lets PodMachines sit next to built-in kinds where only the kind's name is needed.
impl k8s_openapi::Resource for PodMachine {
    const API_VERSION: &'static str = "infrastructure.podplane.dev/v1alpha1";
    const GROUP: &'static str = INFRASTRUCTURE_GROUP;
    const KIND: &'static str = "PodMachine";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "podmachines";
    type Scope = k8s_openapi::NamespaceResourceScope;
}
