//! Errors a reconcile can end with.

use crate::pki::PkiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
    #[error("encoding {what}: {source}")]
    Encode { what: String, source: serde_json::Error },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("hosted cluster: {0}")]
    Hosted(String),
}

impl Error {
    /// Low-cardinality label for logs and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::Pki(_) => "pki",
            Error::Encode { .. } => "encode",
            Error::MissingField(_) => "missing_field",
            Error::Hosted(_) => "hosted_cluster",
        }
    }
}
