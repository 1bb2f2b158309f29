//! Custom resource types served by podplane.

pub mod addons;
pub mod cluster_api;
pub mod conditions;
pub mod hosted_control_plane;
mod hosted_control_plane_status;
mod identity;
mod images;
mod machine_phase;
pub mod pod_machine;

pub use addons::{AddonsSpec, Cni};
pub use hosted_control_plane::*;
pub use hosted_control_plane_status::*;
pub use images::{DEFAULT_IMAGE_REPOSITORY, set_default_image_repository};
pub use pod_machine::*;

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

#[cfg(test)]
mod tests {
    use super::MAX_NAME_LENGTH;
    use crate::names::Names;

    fn is_dns_label(name: &str) -> bool {
        name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn every_child_name_of_the_longest_allowed_name_is_a_dns_label() {
        let longest = "a".repeat(MAX_NAME_LENGTH);
        for name in Names::new(&longest).all(5) {
            assert!(
                is_dns_label(&name),
                "{name} ({} chars) is not a DNS label",
                name.len()
            );
        }
    }

    #[test]
    fn the_bound_is_tight() {
        let longer = "a".repeat(MAX_NAME_LENGTH + 2);
        assert!(Names::new(&longer).all(5).iter().any(|n| !is_dns_label(n)));
    }
}
