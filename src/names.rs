//! Deterministic names of everything derived from a HostedControlPlane.
//!
//! Every name is `<hcp name>-<suffix>`; the longest suffix bounds `metadata.name`
//! (see [`crate::api::MAX_NAME_LENGTH`]).

use crate::components::{Component, PkiSecret};

/// Names of the children of one HostedControlPlane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    base: String,
    /// The Cluster API cluster name, which names the Secrets Cluster API reads.
    cluster: String,
}

impl Names {
    /// Names for a control plane that is its own cluster (no Cluster API `Cluster`, or one
    /// with the same name).
    pub fn new(hcp_name: &str) -> Self {
        Self::in_cluster(hcp_name, hcp_name)
    }

    /// Names for the control plane `hcp_name` of the Cluster API cluster `cluster`.
    pub fn in_cluster(hcp_name: &str, cluster: &str) -> Self {
        Self {
            base: hcp_name.to_string(),
            cluster: cluster.to_string(),
        }
    }

    fn with(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.base)
    }

    fn cluster_with(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.cluster)
    }

    /// The HostedControlPlane's own name.
    pub fn control_plane(&self) -> &str {
        &self.base
    }

    /// The Cluster API cluster name (the HostedControlPlane's own name without a Cluster).
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Deployment and Service of etcd member `index`.
    pub fn etcd_member(&self, index: usize) -> String {
        self.with(&format!("{}-{index}", Component::Etcd.as_str()))
    }
    /// PersistentVolumeClaim of etcd member `index`.
    pub fn etcd_data(&self, index: usize) -> String {
        format!("{}-data", self.etcd_member(index))
    }
    /// PodDisruptionBudget over all etcd members.
    pub fn etcd_pdb(&self) -> String {
        self.with(Component::Etcd.as_str())
    }

    /// Deployment, Service, PodDisruptionBudget and Ingress of the API server.
    pub fn api_server(&self) -> String {
        self.with(Component::ApiServer.as_str())
    }
    /// Deployment and PodDisruptionBudget of the controller-manager.
    pub fn controller_manager(&self) -> String {
        self.with(Component::ControllerManager.as_str())
    }
    /// Deployment, PodDisruptionBudget and ConfigMap of the scheduler.
    pub fn scheduler(&self) -> String {
        self.with(Component::Scheduler.as_str())
    }
    /// ConfigMap of the API server's egress selector (traffic into the hosted cluster goes
    /// through the konnectivity server).
    pub fn egress_selector(&self) -> String {
        self.with("egress-selector")
    }

    /// PodMachine (and Pod, hostname and Node) of worker `index` from `spec.workers`.
    pub fn worker(&self, index: usize) -> String {
        self.with(&format!("worker-{index}"))
    }

    /// The index of a worker named by [`Names::worker`], if `name` is one.
    pub fn worker_index(&self, name: &str) -> Option<usize> {
        name.strip_prefix(&self.with("worker-"))?.parse().ok()
    }

    /// Cluster CA (Cluster API name: after the cluster).
    pub fn ca_secret(&self) -> String {
        self.cluster_with("ca")
    }
    /// Admin kubeconfig (Cluster API name: after the cluster; key `value`).
    pub fn admin_kubeconfig_secret(&self) -> String {
        self.cluster_with("kubeconfig")
    }

    /// The Secret holding `secret`. The authorities, the service-account key pair and the
    /// admin kubeconfig have the names Cluster API expects: `<cluster>-<purpose>`.
    pub fn pki_secret(&self, secret: PkiSecret) -> String {
        match secret {
            PkiSecret::ClusterCa => self.ca_secret(),
            // `etcd` is the CA's purpose in Cluster API's name, not the component.
            PkiSecret::EtcdCa => self.cluster_with("etcd"),
            PkiSecret::FrontProxyCa => self.cluster_with("proxy"),
            PkiSecret::ServiceAccountKey => self.cluster_with("sa"),
            PkiSecret::AdminKubeconfig => self.admin_kubeconfig_secret(),
            PkiSecret::ApiServerServing => self.with("apiserver"),
            PkiSecret::ApiServerKubeletClient => self.with("apiserver-kubelet-client"),
            PkiSecret::ApiServerEtcdClient => self.with("apiserver-etcd-client"),
            PkiSecret::FrontProxyClient => self.with("front-proxy-client"),
            PkiSecret::TunnelCa => self.with("konnectivity-ca"),
            PkiSecret::TunnelServer => self.with("konnectivity-server"),
            PkiSecret::TunnelAgent => self.with("konnectivity-agent"),
            PkiSecret::EtcdServer(member) => format!("{}-server", self.etcd_member(member)),
            PkiSecret::EtcdPeer(member) => format!("{}-peer", self.etcd_member(member)),
            PkiSecret::ControllerManagerKubeconfig => self.with("controller-manager-kubeconfig"),
            PkiSecret::SchedulerKubeconfig => self.with("scheduler-kubeconfig"),
        }
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
            self.egress_selector(),
        ];
        names.extend(PkiSecret::SHARED.map(|secret| self.pki_secret(secret)));
        for index in 0..etcd_members {
            names.push(self.etcd_member(index));
            names.push(self.etcd_data(index));
            names.push(self.pki_secret(PkiSecret::EtcdServer(index)));
            names.push(self.pki_secret(PkiSecret::EtcdPeer(index)));
        }
        names
    }
}
