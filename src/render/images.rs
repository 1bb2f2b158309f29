//! Default container images, derived from the Kubernetes version.

use crate::api::{ComponentSpec, HostedControlPlane};
use crate::versions::ETCD_IMAGE_TAG;

/// `<imageRepository>/<component>:<version>` unless the component names an image.
pub fn component(hcp: &HostedControlPlane, spec: &ComponentSpec, component: &str) -> String {
    spec.image
        .clone()
        .unwrap_or_else(|| format!("{}/{component}:{}", hcp.spec.image_repository, hcp.spec.version))
}

/// The etcd image paired with the Kubernetes version unless `spec.etcd.image` is set.
pub fn etcd(hcp: &HostedControlPlane) -> String {
    hcp.spec
        .etcd
        .image
        .clone()
        .unwrap_or_else(|| format!("{}/etcd:{ETCD_IMAGE_TAG}", hcp.spec.image_repository))
}
