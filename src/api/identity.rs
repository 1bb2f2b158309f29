//! Who a HostedControlPlane is: its names, namespace, the Cluster API cluster it belongs to
//! and where Pods of the management cluster reach its API server.

use super::HostedControlPlane;
use super::cluster_api::cluster_api_owner;
use crate::contract::CLUSTER_NAME;
use crate::names::Names;

impl HostedControlPlane {
    /// `metadata.name`, or empty when the object has none yet.
    pub fn name_any_or_default(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    /// `metadata.namespace`, or `default` as kubectl assumes.
    pub fn namespace_or_default(&self) -> String {
        self.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// The Cluster API cluster this control plane serves, which names the Secrets Cluster API
    /// reads: the label `cluster.x-k8s.io/cluster-name`, else the owning `Cluster`, else the
    /// control plane's own name.
    pub fn cluster_name(&self) -> String {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CLUSTER_NAME))
            .filter(|name| !name.is_empty())
            .cloned()
            .or_else(|| cluster_api_owner(&self.metadata, "Cluster"))
            .unwrap_or_else(|| self.name_any_or_default())
    }

    /// Whether a Cluster API `Cluster` is known to use this control plane.
    pub fn serves_a_cluster(&self) -> bool {
        self.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(CLUSTER_NAME))
            || cluster_api_owner(&self.metadata, "Cluster").is_some()
    }

    /// The names of everything derived from this control plane.
    pub fn names(&self) -> Names {
        Names::in_cluster(&self.name_any_or_default(), &self.cluster_name())
    }

    /// The API server's URL for Pods of the management cluster: its Service's DNS name.
    pub fn in_cluster_server(&self) -> String {
        let host = self.names().api_server_service_host(&self.namespace_or_default());
        format!("https://{host}:{}", self.spec.service.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::PkiSecret;

    fn control_plane(metadata: serde_json::Value) -> HostedControlPlane {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlplane.podplane.dev/v1alpha1",
            "kind": "HostedControlPlane",
            "metadata": metadata,
            "spec": {"version": "v1.36.3"},
        }))
        .unwrap()
    }

    #[test]
    fn cluster_api_secrets_follow_the_cluster_and_the_rest_the_control_plane() {
        let labelled = control_plane(serde_json::json!({
            "name": "cp", "namespace": "t", "labels": {CLUSTER_NAME: "demo"},
        }));
        let names = labelled.names();
        assert_eq!(names.ca_secret(), "demo-ca");
        assert_eq!(names.pki_secret(PkiSecret::EtcdCa), "demo-etcd");
        assert_eq!(names.pki_secret(PkiSecret::FrontProxyCa), "demo-proxy");
        assert_eq!(names.pki_secret(PkiSecret::ServiceAccountKey), "demo-sa");
        assert_eq!(names.admin_kubeconfig_secret(), "demo-kubeconfig");
        assert_eq!(names.api_server(), "cp-kube-apiserver");
        assert_eq!(names.pki_secret(PkiSecret::ApiServerServing), "cp-apiserver");
        assert!(labelled.serves_a_cluster());
    }

    #[test]
    fn the_owning_cluster_names_the_secrets_when_there_is_no_label() {
        let owned = control_plane(serde_json::json!({
            "name": "cp", "namespace": "t",
            "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "name": "demo", "uid": "u"}],
        }));
        assert_eq!(owned.cluster_name(), "demo");
        let alone = control_plane(serde_json::json!({"name": "cp", "namespace": "t"}));
        assert_eq!(alone.cluster_name(), "cp");
        assert_eq!(alone.names().ca_secret(), "cp-ca");
        assert!(!alone.serves_a_cluster());
    }
}
