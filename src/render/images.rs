//! Default container images, derived from the Kubernetes version.

use crate::api::{ComponentSpec, HostedControlPlane};
use crate::components::Component;
use crate::versions::ETCD_IMAGE_TAG;

/// `<imageRepository>/<component's image>:<version>` unless the component names an image.
pub fn component(hcp: &HostedControlPlane, spec: &ComponentSpec, component: Component) -> String {
    spec.image.clone().unwrap_or_else(|| {
        format!(
            "{}/{}:{}",
            hcp.image_repository(),
            component.image(),
            hcp.spec.version
        )
    })
}

/// The etcd image paired with the Kubernetes version unless `spec.etcd.image` is set.
pub fn etcd(hcp: &HostedControlPlane) -> String {
    hcp.spec.etcd.image.clone().unwrap_or_else(|| {
        format!(
            "{}/{}:{ETCD_IMAGE_TAG}",
            hcp.image_repository(),
            Component::Etcd.image()
        )
    })
}
