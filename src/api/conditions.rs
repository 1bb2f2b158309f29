//! Condition types and reasons published in `status.conditions`.

/// The control plane answers requests and every component is available.
pub const READY: &str = "Ready";
/// Every certificate and kubeconfig Secret is present and valid.
pub const CERTIFICATES_READY: &str = "CertificatesReady";
/// Enough etcd members are available for quorum.
pub const ETCD_AVAILABLE: &str = "EtcdAvailable";
/// At least one kube-apiserver replica is available.
pub const API_SERVER_AVAILABLE: &str = "APIServerAvailable";
/// The kube-controller-manager Deployment is available.
pub const CONTROLLER_MANAGER_AVAILABLE: &str = "ControllerManagerAvailable";
/// The kube-scheduler Deployment is available.
pub const SCHEDULER_AVAILABLE: &str = "SchedulerAvailable";
