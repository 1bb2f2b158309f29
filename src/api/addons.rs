//! What podplane runs inside a hosted cluster besides what `kubeadm init` leaves: the Pod
//! network and optional addons.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::HostedControlPlane;

/// The Pod network of the hosted cluster's nodes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    /// flannel with its VXLAN backend, which works across routed management networks.
    #[default]
    Flannel,
    /// No Pod network: nodes stay NotReady until the user installs a CNI plugin.
    None,
}

/// Optional addons in the hosted cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AddonsSpec {
    /// metrics-server, for `kubectl top` and autoscaling. On by default when
    /// `spec.workers.replicas` is above 0 (its aggregated API would be unavailable on a
    /// cluster without nodes, which slows discovery and namespace deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_server: Option<bool>,
}

impl AddonsSpec {
    pub fn is_empty(&self) -> bool {
        self == &AddonsSpec::default()
    }
}

impl HostedControlPlane {
    /// Whether the hosted cluster runs metrics-server.
    pub fn metrics_server(&self) -> bool {
        self.spec.addons.metrics_server.unwrap_or_else(|| {
            self.spec
                .workers
                .as_ref()
                .is_some_and(|workers| workers.replicas > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcp(spec: serde_json::Value) -> HostedControlPlane {
        HostedControlPlane::new("demo", serde_json::from_value(spec).unwrap())
    }

    #[test]
    fn metrics_server_follows_workers_unless_asked() {
        assert!(!hcp(serde_json::json!({"version": "v1.36.3"})).metrics_server());
        let with_workers = serde_json::json!({"version": "v1.36.3", "workers": {"replicas": 2}});
        assert!(hcp(with_workers).metrics_server());
        let off = serde_json::json!({"version": "v1.36.3", "workers": {"replicas": 2},
            "addons": {"metricsServer": false}});
        assert!(!hcp(off).metrics_server());
        let on = serde_json::json!({"version": "v1.36.3", "addons": {"metricsServer": true}});
        assert!(hcp(on).metrics_server());
    }

    #[test]
    fn flannel_is_the_default_network() {
        let spec = hcp(serde_json::json!({"version": "v1.36.3"})).spec;
        assert_eq!(spec.network.cni, Cni::Flannel);
        let none = hcp(serde_json::json!({"version": "v1.36.3", "network": {"cni": "none"}}));
        assert_eq!(none.spec.network.cni, Cni::None);
    }
}
