//! Condition types and reasons published in `status.conditions`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The control plane answers requests and every component is available.
pub const READY: &str = "Ready";
/// The control plane can serve requests (what Cluster API reads from a control plane).
pub const AVAILABLE: &str = "Available";
/// Reconciliation is paused by Cluster API (`Cluster.spec.paused` or the paused annotation).
pub const PAUSED: &str = "Paused";
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

/// Konnectivity agents in the hosted cluster are connected to every API server's
/// konnectivity server, so the API server reaches webhooks, aggregated APIs and kubelets.
pub const TUNNEL_AVAILABLE: &str = "TunnelAvailable";

/// An upgrade is rolling out (reason: the step under way, or `Stalled`); False once every
/// component and worker runs `spec.version`.
pub const ROLLING_OUT: &str = "RollingOut";

/// The last reconcile applied every child (and reached the hosted cluster), or why not.
pub const SYNCED: &str = "Synced";

/// A worker's Pod runs (PodMachine).
pub const POD_RUNNING: &str = "PodRunning";
/// `kubeadm join` succeeded in the worker's Pod (PodMachine).
pub const NODE_JOINED: &str = "NodeJoined";
/// The worker's Node reports Ready in the hosted cluster (PodMachine).
pub const NODE_READY: &str = "NodeReady";

/// The reasons of the conditions above, and of the Events that announce them.
pub mod reasons {
    // Ready (HostedControlPlane)
    pub const READY: &str = "Ready";
    pub const COMPONENTS_NOT_READY: &str = "ComponentsNotReady";
    pub const API_SERVER_NOT_RESPONDING: &str = "APIServerNotResponding";
    pub const API_SERVER_NOT_READY: &str = "APIServerNotReady";
    pub const KUBECONFIG_UNUSABLE: &str = "KubeconfigUnusable";
    // CertificatesReady
    pub const VALID: &str = "Valid";
    pub const BROKEN_CERTIFICATE_AUTHORITY: &str = "BrokenCertificateAuthority";
    pub const CERTIFICATE_FAILED: &str = "CertificateFailed";
    // EtcdAvailable, APIServerAvailable, ... (or the kubelet's own reason: ErrImagePull, ...)
    pub const AVAILABLE: &str = "Available";
    pub const UNAVAILABLE: &str = "Unavailable";
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    // Paused
    pub const PAUSED: &str = "Paused";
    pub const NOT_PAUSED: &str = "NotPaused";
    // Synced
    pub const APPLIED: &str = "Applied";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const ADDONS_FAILED: &str = "AddonsFailed";
    // TunnelAvailable
    pub const AGENTS_CONNECTED: &str = "AgentsConnected";
    // RollingOut (HostedControlPlane): the step under way, then UpToDate
    pub const ROLLING_OUT_ETCD: &str = "RollingOutEtcd";
    pub const ROLLING_OUT_API_SERVER: &str = "RollingOutAPIServer";
    pub const ROLLING_OUT_CONTROLLERS: &str = "RollingOutControllerManagerAndScheduler";
    pub const ROLLING_OUT_WORKERS: &str = "RollingOutWorkers";
    pub const ROLLOUT_STALLED: &str = "Stalled";
    pub const UP_TO_DATE: &str = "UpToDate";
    pub const DOWNGRADE_REFUSED: &str = "DowngradeRefused";
    pub const NO_AGENTS: &str = "NoAgents";
    pub const NO_SERVER: &str = "NoServer";
    // Events of a HostedControlPlane
    pub const CERTIFICATES_ISSUED: &str = "CertificatesIssued";
    pub const DRIFT_REVERTED: &str = "DriftReverted";
    pub const CONTROL_PLANE_READY: &str = "ControlPlaneReady";
    pub const CONTROL_PLANE_NOT_READY: &str = "ControlPlaneNotReady";

    // PodRunning (PodMachine)
    pub const RUNNING: &str = "Running";
    pub const POD_REFUSED: &str = "PodRefused";
    pub const POD_LOST: &str = "PodLost";
    pub const WAITING: &str = "Waiting";
    pub const RECREATING: &str = "Recreating";
    pub const TERMINATING: &str = "Terminating";
    pub const CONTAINER_CREATING: &str = "ContainerCreating";
    pub const POD_SCHEDULING: &str = "PodScheduling";
    // NodeJoined
    pub const JOINED: &str = "Joined";
    pub const JOINING: &str = "Joining";
    pub const JOIN_FAILED: &str = "JoinFailed";
    pub const WAITING_FOR_BOOTSTRAP_DATA: &str = "WaitingForBootstrapData";
    pub const BOOTSTRAP_FORMAT_UNSUPPORTED: &str = "BootstrapFormatUnsupported";
    pub const BOOTSTRAP_FAILED: &str = "BootstrapFailed";
    pub const BOOTSTRAP_DIRECTIVES_IGNORED: &str = "BootstrapDirectivesIgnored";
    pub const CLUSTER_DELETING: &str = "ClusterDeleting";
    pub const WAITING_FOR_POD: &str = "WaitingForPod";
    pub const WAITING_FOR_CONTROL_PLANE: &str = "WaitingForControlPlane";
    pub const WAITING_FOR_ADDONS: &str = "WaitingForAddons";
    pub const BOOTING: &str = "Booting";
    pub const HOSTED_CLUSTER_UNREACHABLE: &str = "HostedClusterUnreachable";
    pub const HOSTED_CONTROL_PLANE_NOT_FOUND: &str = "HostedControlPlaneNotFound";
    // NodeReady
    pub const NO_NODE: &str = "NoNode";
    pub const NODE_STARTING: &str = "NodeStarting";
    pub const KUBELET_READY: &str = "KubeletReady";
    // Events of a PodMachine
    pub const POD_CREATED: &str = "PodCreated";
    pub const RECREATING_POD: &str = "RecreatingPod";
    pub const DRAINED: &str = "Drained";
    pub const DRAIN_TIMED_OUT: &str = "DrainTimedOut";
    pub const DRAIN_FAILED: &str = "DrainFailed";
    pub const NODE_DELETED: &str = "NodeDeleted";
    pub const NODE_LEFT: &str = "NodeLeft";
}

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

/// `conditions` with Paused True for `why`, keeping its transition time when it was True.
pub fn mark_paused(conditions: &mut Vec<Condition>, why: String, generation: Option<i64>, now: &Time) {
    let mut paused = condition(PAUSED, true, reasons::PAUSED, why, generation, now);
    if let Some(old) = conditions.iter().find(|c| c.type_ == PAUSED)
        && old.status == paused.status
    {
        paused.last_transition_time = old.last_transition_time.clone();
    }
    conditions.retain(|c| c.type_ != PAUSED);
    conditions.push(paused);
}

/// Paused False: the object is reconciled.
pub fn not_paused(generation: Option<i64>, now: &Time) -> Condition {
    condition(PAUSED, false, reasons::NOT_PAUSED, String::new(), generation, now)
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
