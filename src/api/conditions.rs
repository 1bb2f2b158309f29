//! Condition types and reasons published in `status.conditions`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

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

/// A worker's Pod runs (PodMachine).
pub const POD_RUNNING: &str = "PodRunning";
/// `kubeadm join` succeeded in the worker's Pod (PodMachine).
pub const NODE_JOINED: &str = "NodeJoined";
/// The worker's Node reports Ready in the hosted cluster (PodMachine).
pub const NODE_READY: &str = "NodeReady";

/// A condition of an object at `generation`, True when `ok`.
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Keep the transition time of every condition whose status did not change.
pub fn keep_transition_times(conditions: &mut [Condition], previous: &[Condition]) {
    for c in conditions {
        if let Some(old) = previous.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
}
