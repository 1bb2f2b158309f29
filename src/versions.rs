//! Component versions paired with a Kubernetes release.

/// Kubernetes version used by the examples and the local management cluster.
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.36.3";

/// etcd image tag paired with every supported Kubernetes minor.
pub const ETCD_IMAGE_TAG: &str = "3.6.6-0";

/// Minor of a version string such as `v1.36.3`, if it has that shape.
pub fn minor(version: &str) -> Option<u32> {
    let mut parts = version.strip_prefix('v')?.split('.');
    let _major = parts.next()?;
    parts.next()?.parse().ok()
}
