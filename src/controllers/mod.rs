//! The operator: controllers that turn podplane objects into running control planes.

pub mod error;
pub mod hosted_control_plane;

pub use error::Error;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "podplane";

/// Annotation holding a digest of what the operator last applied to a child, so an
/// unchanged child is not written again.
pub const APPLIED_DIGEST: &str = "controlplane.podplane.dev/applied-digest";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    /// Digest of the objects last applied inside each hosted cluster, by HostedControlPlane
    /// uid, so that an unchanged control plane is not written to again.
    pub hosted_applied: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Context {
    pub fn new(client: Client) -> Self {
        let reporter = Reporter {
            controller: "podplane".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            hosted_applied: Default::default(),
        }
    }
}
