//! The parts of Cluster API's `Cluster` and `Machine` (v1beta2) that podplane reads: which
//! control plane a Cluster uses, whether it is paused or going away, and a Machine's
//! bootstrap data and failure domain. Read-only views: podplane never writes them.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Serialize};

/// Cluster API's group.
pub const CLUSTER_API_GROUP: &str = "cluster.x-k8s.io";
/// The Cluster API version podplane reads (contract v1beta2).
pub const CLUSTER_API_VERSION: &str = "v1beta2";
/// Annotation that pauses reconciliation of a Cluster API object.
pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";

/// A reference by group, kind and name (v1beta2 `ContractVersionedObjectReference`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContractReference {
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// The part of `Cluster.spec` podplane reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_ref: Option<ContractReference>,
}

/// A Cluster API `Cluster`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Cluster {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ClusterSpec,
}

/// `Machine.spec.bootstrap`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// The Secret with the bootstrap data (key `value`, format in key `format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_secret_name: Option<String>,
}

/// The part of `Machine.spec` podplane reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MachineSpec {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub bootstrap: Bootstrap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// The infrastructure machine (a PodMachine, for podplane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ref: Option<ContractReference>,
}

/// A Cluster API `Machine`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Machine {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: MachineSpec,
}

macro_rules! cluster_api_resource {
    ($type:ty, $kind:literal, $plural:literal) => {
        impl Resource for $type {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                CLUSTER_API_GROUP.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                CLUSTER_API_VERSION.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

cluster_api_resource!(Cluster, "Cluster", "clusters");
cluster_api_resource!(Machine, "Machine", "machines");

impl Cluster {
    /// `spec.paused` or the paused annotation.
    pub fn is_paused(&self) -> bool {
        self.spec.paused == Some(true) || is_paused(&self.metadata)
    }

    /// Whether the Cluster is being deleted.
    pub fn is_deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    /// Whether `spec.controlPlaneRef` names the HostedControlPlane `name`.
    pub fn uses_control_plane(&self, name: &str) -> bool {
        self.control_plane_name() == Some(name)
    }

    /// The HostedControlPlane this Cluster uses, if its control plane is one.
    pub fn control_plane_name(&self) -> Option<&str> {
        let reference = self.spec.control_plane_ref.as_ref()?;
        let ours = reference.api_group.is_empty() || reference.api_group == "controlplane.podplane.dev";
        (ours && reference.kind == "HostedControlPlane").then_some(reference.name.as_str())
    }
}

/// Whether `metadata` carries the paused annotation.
pub fn is_paused(metadata: &ObjectMeta) -> bool {
    metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PAUSED_ANNOTATION))
}

/// The name of the owner of kind `kind` in Cluster API's group, if any.
pub fn cluster_api_owner(metadata: &ObjectMeta, kind: &str) -> Option<String> {
    metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == kind && o.api_version.starts_with(&format!("{CLUSTER_API_GROUP}/")))
        .map(|o| o.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_v1beta2_cluster() {
        let cluster: Cluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": "demo", "namespace": "t", "annotations": {PAUSED_ANNOTATION: ""}},
            "spec": {
                "controlPlaneRef": {"apiGroup": "controlplane.podplane.dev", "kind": "HostedControlPlane", "name": "cp"},
                "clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}},
            },
        }))
        .unwrap();
        assert!(cluster.is_paused());
        assert!(cluster.uses_control_plane("cp"));
        assert!(!cluster.uses_control_plane("demo"));
        assert_eq!(cluster.control_plane_name(), Some("cp"));
    }

    #[test]
    fn reads_a_machine_waiting_for_bootstrap_data() {
        let machine: Machine = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "m"},
            "spec": {"clusterName": "demo", "bootstrap": {"configRef": {"kind": "KubeadmConfig"}}},
        }))
        .unwrap();
        assert_eq!(machine.spec.bootstrap.data_secret_name, None);
        assert_eq!(machine.spec.cluster_name, "demo");
    }
}
