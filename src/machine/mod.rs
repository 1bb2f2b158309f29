//! Pure builders for worker machines: the node Pod, the `kubeadm join` that runs in it,
//! the node's network setup and its bootstrap token.
//!
//! Nothing here talks to an API server; `controllers::pod_machine` applies what these return.

pub mod join;
pub mod pod;
pub mod token;

/// Name of the node container in a machine Pod.
pub const NODE_CONTAINER: &str = "node";
/// Label on a machine's Pod naming its PodMachine.
pub const MACHINE_LABEL: &str = "infrastructure.podplane.dev/machine";
/// Annotation on a machine's Pod: the container ID that ran a successful `kubeadm join`.
/// A restarted container has a fresh root filesystem and must join again.
pub const JOINED_CONTAINER: &str = "infrastructure.podplane.dev/joined-container";
/// Image repository of the default node image.
pub const NODE_IMAGE_REPOSITORY: &str = "kindest/node";
