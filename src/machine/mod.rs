//! Pure builders for worker machines: the node Pod, the `kubeadm join` that runs in it,
//! the node's network setup and its bootstrap token.
//!
//! Nothing here talks to an API server; `controllers::pod_machine` applies what these return.

pub mod cloud_init;
pub mod join;
pub mod pod;
pub mod token;

// The controllers import this from here; its home is `crate::contract`.

/// Name of the node container in a machine Pod.
pub const NODE_CONTAINER: &str = "node";
/// Image repository of the default node image.
pub const NODE_IMAGE_REPOSITORY: &str = "kindest/node";

/// Why a join could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("CA certificate: {0}")]
    Ca(String),
    #[error("random token: {0}")]
    Random(String),
}
