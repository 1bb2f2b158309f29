//! The `HostedControlPlane` custom resource: a Kubernetes control plane run as Pods.

use std::collections::BTreeMap;

use super::addons::{AddonsSpec, Cni};
use super::hosted_control_plane_status::HostedControlPlaneStatus;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest `metadata.name` accepted: the longest derived child name
/// (`<name>-controller-manager-kubeconfig`) must stay a 63-character DNS label.
pub const MAX_NAME_LENGTH: usize = 32;

/// Desired state of a hosted Kubernetes control plane.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "controlplane.podplane.dev",
    version = "v1alpha1",
    kind = "HostedControlPlane",
    namespaced,
    shortname = "hcp",
    category = "cluster-api",
    status = "HostedControlPlaneStatus",
    cel,
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version", description = "Kubernetes version of the control plane"),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.ready", description = "The control plane serves requests"),
    printcolumn(name = "Workers", type_ = "integer", json_path = ".status.workers.readyReplicas", description = "Worker nodes Ready (spec.workers)"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.endpoint", description = "URL of the hosted API server"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    label("cluster.x-k8s.io/v1beta1", "v1alpha1"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha1"),
    validation = Rule::new(
        "self.metadata.name.size() <= 32 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
    ).message(
        "metadata.name must be at most 32 characters, start with a letter and contain only lowercase letters, digits and '-' (it prefixes every child name, which must stay a DNS label)"
    ),
)]
#[x_kube(validation = Rule::new(
    "!self.version.matches('^v1[.][0-9]+[.][0-9]+$') || !oldSelf.version.matches('^v1[.][0-9]+[.][0-9]+$') || int(self.version.split('.')[1]) <= int(oldSelf.version.split('.')[1]) + 1"
).message("spec.version may move up one minor version at a time (for example v1.34.x to v1.35.x, then to v1.36.x): the version skew policy lets the API server lead its other components by one minor only").field_path(".version"))]
#[x_kube(validation = Rule::new(
    "!self.version.matches('^v1[.][0-9]+[.][0-9]+$') || !oldSelf.version.matches('^v1[.][0-9]+[.][0-9]+$') || int(self.version.split('.')[1]) >= int(oldSelf.version.split('.')[1])"
).message("spec.version may not move back to an older minor version: etcd holds objects the newer API server wrote; restore a backup into a new HostedControlPlane instead").field_path(".version"))]
#[x_kube(validation = Rule::new(
    "!has(self.workers) || !has(self.workers.image) || !self.workers.image.matches(':v1[.][0-9]+[.][0-9]+$') || !self.version.matches('^v1[.][0-9]+[.][0-9]+$') || int(self.workers.image.substring(self.workers.image.lastIndexOf(':v1.') + 4).split('.')[0]) <= int(self.version.split('.')[1])"
).message("spec.workers.image may not be newer than spec.version: a kubelet may not lead its API server (version skew policy)").field_path(".workers.image"))]
#[x_kube(validation = Rule::new(
    "!has(self.workers) || !has(self.workers.image) || !self.workers.image.matches(':v1[.][0-9]+[.][0-9]+$') || !self.version.matches('^v1[.][0-9]+[.][0-9]+$') || int(self.workers.image.substring(self.workers.image.lastIndexOf(':v1.') + 4).split('.')[0]) + 3 >= int(self.version.split('.')[1])"
).message("spec.workers.image may be at most 3 minor versions older than spec.version (version skew policy): upgrade the workers first").field_path(".workers.image"))]
#[serde(rename_all = "camelCase")]
pub struct HostedControlPlaneSpec {
    /// Kubernetes version of every control-plane component, e.g. `v1.36.3`.
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$')").message("spec.version must be a Kubernetes release such as v1.36.3"))]
    #[x_kube(validation = Rule::new("!self.matches('^v[0-9]+[.][0-9]+[.][0-9]+$') || self.matches('^v1[.]3[4-6][.]')").message("spec.version must be v1.34.x, v1.35.x or v1.36.x: other minor versions are not supported"))]
    pub version: String,

    /// Number of kube-apiserver replicas (and of controller-manager and scheduler replicas).
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 9").message("spec.replicas must be between 1 and 9"))]
    pub replicas: i32,

    /// Where clients reach the API server; derived from the Service when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,

    /// Registry prefix of the default component images; the operator's
    /// `--image-repository` (registry.k8s.io unless set) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub image_repository: Option<String>,

    /// The etcd cluster that stores this control plane's state.
    #[serde(default)]
    pub etcd: EtcdSpec,

    /// Address ranges and DNS domain of the hosted cluster.
    #[serde(default)]
    pub network: NetworkSpec,

    /// The Service in front of the API server.
    #[serde(default)]
    pub service: ApiServerServiceSpec,

    /// An Ingress that passes TLS through to the API server by hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Extra subject alternative names for the API server certificate.
    #[serde(default, rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(s, (isIP(s) || s.matches('^(\\\\*[.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')))").message("spec.certSANs entries must be IP addresses or lowercase DNS names"))]
    pub cert_sans: Vec<String>,

    /// kube-apiserver settings.
    #[serde(default, skip_serializing_if = "ComponentSpec::is_empty")]
    pub api_server: ComponentSpec,

    /// kube-controller-manager settings.
    #[serde(default, skip_serializing_if = "ComponentSpec::is_empty")]
    pub controller_manager: ComponentSpec,

    /// kube-scheduler settings.
    #[serde(default, skip_serializing_if = "ComponentSpec::is_empty")]
    pub scheduler: ComponentSpec,

    /// Worker nodes podplane creates as PodMachines named `<name>-worker-<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<WorkersSpec>,

    /// Optional addons in the hosted cluster.
    #[serde(default, skip_serializing_if = "AddonsSpec::is_empty")]
    pub addons: AddonsSpec,
}

/// Worker nodes owned by the control plane, for use without Cluster API.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkersSpec {
    /// Number of worker nodes. Scaling down drains and removes the highest-numbered ones.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 100").message("spec.workers.replicas must be between 0 and 100"))]
    pub replicas: i32,
    /// Node image; `kindest/node:<spec.version>` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Compute resources of each node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A host and port where the API server can be reached.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// DNS name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// TCP port.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("controlPlaneEndpoint.port must be between 1 and 65535"))]
    pub port: i32,
}

/// etcd members and their storage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EtcdSpec {
    /// Number of etcd members: 1, 3 or 5. Fixed at creation.
    #[serde(default = "default_etcd_replicas")]
    #[x_kube(validation = Rule::new("self == 1 || self == 3 || self == 5").message("spec.etcd.replicas must be 1, 3 or 5: etcd needs an odd number of members to keep quorum"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.etcd.replicas is immutable: create a new HostedControlPlane to change the member count"))]
    pub replicas: i32,

    /// A PersistentVolumeClaim per member; without it each member keeps its data in an emptyDir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<EtcdStorage>,

    /// etcd image; defaults to the etcd release paired with the Kubernetes version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// Compute resources of each etcd member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// Persistent storage of each etcd member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec.etcd.storage is immutable once set"))]
pub struct EtcdStorage {
    /// Requested size of each member's volume, e.g. `1Gi`.
    pub size: Quantity,
    /// StorageClass of the volumes; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// Address ranges and DNS domain of the hosted cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!isCIDR(self.serviceCIDR) || !isCIDR(self.podCIDR) || (!cidr(self.serviceCIDR).containsCIDR(cidr(self.podCIDR)) && !cidr(self.podCIDR).containsCIDR(cidr(self.serviceCIDR)))").message("spec.network.serviceCIDR and spec.network.podCIDR must not overlap"))]
pub struct NetworkSpec {
    /// Range of Service cluster IPs. Immutable.
    #[serde(default = "default_service_cidr", rename = "serviceCIDR")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("isCIDR(self)").message("spec.network.serviceCIDR must be a CIDR such as 10.96.0.0/12"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.network.serviceCIDR is immutable"))]
    pub service_cidr: String,

    /// Range of Pod IPs handed to nodes. Immutable.
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("isCIDR(self)").message("spec.network.podCIDR must be a CIDR such as 10.244.0.0/16"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.network.podCIDR is immutable"))]
    pub pod_cidr: String,

    /// Cluster DNS domain. Immutable.
    #[serde(default = "default_dns_domain")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("spec.network.dnsDomain must be a lowercase DNS name such as cluster.local"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.network.dnsDomain is immutable"))]
    pub dns_domain: String,

    /// The Pod network podplane installs: `flannel`, or `none` to install your own.
    /// Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.network.cni is immutable: create a new HostedControlPlane to change the Pod network"))]
    pub cni: Cni,
}

/// How the API server Service is exposed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServiceType {
    /// Reachable inside the management cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every management node.
    NodePort,
    /// Through a cloud load balancer.
    LoadBalancer,
}

/// The Service in front of the API server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.nodePort) || self.type != 'ClusterIP'").message("spec.service.nodePort needs spec.service.type NodePort or LoadBalancer"))]
pub struct ApiServerServiceSpec {
    /// Service type.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// Service port of the API server.
    #[serde(default = "default_service_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("spec.service.port must be between 1 and 65535"))]
    #[x_kube(validation = Rule::new("self != 8132").message("spec.service.port must not be 8132: the Service serves the konnectivity agents there"))]
    pub port: i32,
    /// Fixed node port (NodePort and LoadBalancer only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 30000 && self <= 32767").message("spec.service.nodePort must be in the node port range 30000-32767"))]
    pub node_port: Option<i32>,
    /// Annotations of the Service (e.g. for a cloud load balancer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An Ingress routing a hostname to the API server with TLS passthrough.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// IngressClass; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Hostname clients use; it is added to the API server certificate.
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("spec.ingress.hostname must be a lowercase DNS name such as api.tenant.example.com"))]
    pub hostname: String,
    /// Annotations of the Ingress, merged over the TLS-passthrough defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Settings of one control-plane component.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Container image; defaults to `<imageRepository>/<component>:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Extra command-line flags, without leading dashes: `{v: "2"}` becomes `--v=2`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('-'))").message("extraArgs keys are flag names without leading dashes, e.g. v: \"2\" for --v=2"))]
    pub extra_args: BTreeMap<String, String>,
    /// Compute resources of the component's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl ComponentSpec {
    fn is_empty(&self) -> bool {
        self == &ComponentSpec::default()
    }
}

fn default_replicas() -> i32 {
    1
}
fn default_etcd_replicas() -> i32 {
    1
}
fn default_service_cidr() -> String {
    "10.96.0.0/12".into()
}
fn default_pod_cidr() -> String {
    "10.244.0.0/16".into()
}
fn default_dns_domain() -> String {
    "cluster.local".into()
}
fn default_service_port() -> i32 {
    6443
}

impl Default for EtcdSpec {
    fn default() -> Self {
        Self {
            replicas: default_etcd_replicas(),
            storage: None,
            image: None,
            resources: None,
        }
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            service_cidr: default_service_cidr(),
            pod_cidr: default_pod_cidr(),
            dns_domain: default_dns_domain(),
            cni: Cni::default(),
        }
    }
}

impl Default for ApiServerServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_service_port(),
            node_port: None,
            annotations: BTreeMap::new(),
        }
    }
}
