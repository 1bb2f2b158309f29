//! Custom resource types served by podplane.

pub mod conditions;
pub mod hosted_control_plane;
pub mod pod_machine;

pub use hosted_control_plane::*;
pub use pod_machine::*;

/// Group of the control-plane API (Cluster API control-plane contract).
pub const CONTROLPLANE_GROUP: &str = "controlplane.podplane.dev";
/// Version served for every podplane API group.
pub const API_VERSION: &str = "v1alpha1";

/// Every CustomResourceDefinition podplane serves, in a stable order.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube::CustomResourceExt;
    vec![
        HostedControlPlane::crd(),
        PodMachine::crd(),
        PodMachineTemplate::crd(),
    ]
}
