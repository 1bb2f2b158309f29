//! Deterministic names of everything derived from a HostedControlPlane.
//!
//! Every name is `<hcp name>-<suffix>`; the longest suffix bounds `metadata.name`
//! (see [`crate::api::MAX_NAME_LENGTH`]).

/// Names of the children of one HostedControlPlane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    base: String,
}

impl Names {
    pub fn new(hcp_name: &str) -> Self {
        Self {
            base: hcp_name.to_string(),
        }
    }

    fn with(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.base)
    }

    /// The HostedControlPlane's own name (also the Cluster API cluster name).
    pub fn cluster(&self) -> &str {
        &self.base
    }

    /// Deployment and Service of etcd member `index`.
    pub fn etcd_member(&self, index: usize) -> String {
        self.with(&format!("etcd-{index}"))
    }
    /// PersistentVolumeClaim of etcd member `index`.
    pub fn etcd_data(&self, index: usize) -> String {
        self.with(&format!("etcd-{index}-data"))
    }
    /// Serving certificate of etcd member `index`.
    pub fn etcd_server_cert(&self, index: usize) -> String {
        self.with(&format!("etcd-{index}-server"))
    }
    /// Peer certificate of etcd member `index`.
    pub fn etcd_peer_cert(&self, index: usize) -> String {
        self.with(&format!("etcd-{index}-peer"))
    }
    /// PodDisruptionBudget over all etcd members.
    pub fn etcd_pdb(&self) -> String {
        self.with("etcd")
    }

    /// Deployment, Service, PodDisruptionBudget and Ingress of the API server.
    pub fn api_server(&self) -> String {
        self.with("kube-apiserver")
    }
    /// Deployment and PodDisruptionBudget of the controller-manager.
    pub fn controller_manager(&self) -> String {
        self.with("kube-controller-manager")
    }
    /// Deployment, PodDisruptionBudget and ConfigMap of the scheduler.
    pub fn scheduler(&self) -> String {
        self.with("kube-scheduler")
    }

    /// PodMachine (and Pod, hostname and Node) of worker `index` from `spec.workers`.
    pub fn worker(&self, index: usize) -> String {
        self.with(&format!("worker-{index}"))
    }

    /// Cluster CA (Cluster API name).
    pub fn ca_secret(&self) -> String {
        self.with("ca")
    }
    /// etcd CA (Cluster API name).
    pub fn etcd_ca_secret(&self) -> String {
        self.with("etcd")
    }
    /// Front-proxy CA (Cluster API name).
    pub fn front_proxy_ca_secret(&self) -> String {
        self.with("proxy")
    }
    /// Service-account signing key pair (Cluster API name).
    pub fn service_account_secret(&self) -> String {
        self.with("sa")
    }
    /// Admin kubeconfig (Cluster API name, key `value`).
    pub fn admin_kubeconfig_secret(&self) -> String {
        self.with("kubeconfig")
    }
    /// API server serving certificate.
    pub fn api_server_cert_secret(&self) -> String {
        self.with("apiserver")
    }
    /// Client certificate the API server presents to kubelets.
    pub fn api_server_kubelet_client_secret(&self) -> String {
        self.with("apiserver-kubelet-client")
    }
    /// Client certificate the API server presents to etcd.
    pub fn api_server_etcd_client_secret(&self) -> String {
        self.with("apiserver-etcd-client")
    }
    /// Client certificate the API server presents to aggregated API servers.
    pub fn front_proxy_client_secret(&self) -> String {
        self.with("front-proxy-client")
    }
    /// Kubeconfig of the controller-manager.
    pub fn controller_manager_kubeconfig_secret(&self) -> String {
        self.with("controller-manager-kubeconfig")
    }
    /// Kubeconfig of the scheduler.
    pub fn scheduler_kubeconfig_secret(&self) -> String {
        self.with("scheduler-kubeconfig")
    }

    /// DNS name of the API server Service inside the management cluster.
    pub fn api_server_service_host(&self, namespace: &str) -> String {
        format!("{}.{namespace}.svc", self.api_server())
    }
    /// DNS name of etcd member `index` inside the management cluster.
    pub fn etcd_member_host(&self, index: usize, namespace: &str) -> String {
        format!("{}.{namespace}.svc", self.etcd_member(index))
    }

    /// Every name above for a control plane with `etcd_members` members.
    pub fn all(&self, etcd_members: usize) -> Vec<String> {
        let mut names = vec![
            self.etcd_pdb(),
            self.api_server(),
            self.controller_manager(),
            self.scheduler(),
            self.ca_secret(),
            self.etcd_ca_secret(),
            self.front_proxy_ca_secret(),
            self.service_account_secret(),
            self.admin_kubeconfig_secret(),
            self.api_server_cert_secret(),
            self.api_server_kubelet_client_secret(),
            self.api_server_etcd_client_secret(),
            self.front_proxy_client_secret(),
            self.controller_manager_kubeconfig_secret(),
            self.scheduler_kubeconfig_secret(),
        ];
        for index in 0..etcd_members {
            names.push(self.etcd_member(index));
            names.push(self.etcd_data(index));
            names.push(self.etcd_server_cert(index));
            names.push(self.etcd_peer_cert(index));
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MAX_NAME_LENGTH;

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
