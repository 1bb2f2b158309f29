//! Component versions paired with a Kubernetes release.

/// Kubernetes version used by the examples and the local management cluster.
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.36.3";

/// etcd image tag paired with every supported Kubernetes minor.
pub const ETCD_IMAGE_TAG: &str = "3.6.8-0";

/// CoreDNS image tag of the hosted clusters' DNS addon (what kubeadm of that release uses).
pub const COREDNS_VERSION: &str = "v1.14.2";

/// Konnectivity (apiserver-network-proxy): the server beside each hosted API server and
/// the agents in the hosted cluster.
pub const KONNECTIVITY_VERSION: &str = "v0.34.0";

/// flannel, the hosted clusters' default Pod network.
pub const FLANNEL_VERSION: &str = "v0.28.10";

/// metrics-server, the optional `kubectl top` addon.
pub const METRICS_SERVER_VERSION: &str = "v0.9.0";

/// `v1.36.3` as (1, 36, 3), for ordering versions; `None` when it is not of that form.
pub fn parse(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.strip_prefix('v')?.splitn(3, '.');
    let mut next = || parts.next()?.parse().ok();
    Some((next()?, next()?, next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_number() {
        assert_eq!(parse("v1.36.3"), Some((1, 36, 3)));
        assert!(parse("v1.35.10") > parse("v1.35.9"));
        assert_eq!(parse("1.36.3"), None);
        assert_eq!(parse("v1.36"), None);
    }

    fn pinned(key: &str) -> String {
        let env = include_str!("../hack/versions.env");
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("hack/versions.env pins no {key}"))
            .trim()
            .to_string()
    }

    #[test]
    fn defaults_match_the_images_the_local_cluster_builds() {
        assert_eq!(DEFAULT_KUBERNETES_VERSION, pinned("KUBE_VERSION"));
        assert_eq!(ETCD_IMAGE_TAG, pinned("ETCD_IMAGE_TAG"));
        assert_eq!(COREDNS_VERSION, pinned("COREDNS_VERSION"));
        assert_eq!(KONNECTIVITY_VERSION, pinned("KONNECTIVITY_VERSION"));
        assert_eq!(FLANNEL_VERSION, pinned("FLANNEL_VERSION"));
        assert_eq!(METRICS_SERVER_VERSION, pinned("METRICS_SERVER_VERSION"));
    }
}
