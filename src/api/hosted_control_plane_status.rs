//! The observed state of a `HostedControlPlane`, in the shape Cluster API reads.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Observed state, in the shape Cluster API reads from control-plane providers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HostedControlPlaneStatus {
    /// The control plane serves requests (Cluster API v1beta1 contract).
    #[serde(default)]
    pub ready: bool,
    /// The API server has answered once (Cluster API v1beta1 contract).
    #[serde(default)]
    pub initialized: bool,
    /// Cluster API v1beta2 initialization flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<Initialization>,
    /// Version every component runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// kube-apiserver Pods.
    #[serde(default)]
    pub replicas: i32,
    /// kube-apiserver Pods ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// kube-apiserver Pods available (Cluster API v1beta2 contract).
    #[serde(default)]
    pub available_replicas: i32,
    /// kube-apiserver Pods on the current spec (Cluster API v1beta2 name).
    #[serde(default)]
    pub up_to_date_replicas: i32,
    /// kube-apiserver Pods on the current spec (Cluster API v1beta1 name).
    #[serde(default)]
    pub updated_replicas: i32,
    /// kube-apiserver Pods not available.
    #[serde(default)]
    pub unavailable_replicas: i32,
    /// Label selector of the kube-apiserver Pods (scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// URL of the hosted API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Cluster API: the control plane is not made of Machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_managed_control_plane: Option<bool>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Available, CertificatesReady, EtcdAvailable, APIServerAvailable, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The PodMachines of `spec.workers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<WorkersStatus>,
}

/// How many of the `spec.workers` machines exist and are Ready.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkersStatus {
    /// PodMachines that exist.
    #[serde(default)]
    pub replicas: i32,
    /// PodMachines whose Node is Ready.
    #[serde(default)]
    pub ready_replicas: i32,
}

/// Cluster API v1beta2 initialization flags.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Initialization {
    /// The API server has answered once.
    #[serde(default)]
    pub control_plane_initialized: bool,
    /// Infrastructure is provisioned (InfraCluster contract).
    #[serde(default)]
    pub provisioned: bool,
}
