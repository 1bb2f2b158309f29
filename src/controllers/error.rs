//! Errors a reconcile can end with; each names the condition reason that reports it.

use crate::api::conditions::reasons;
use crate::pki::PkiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
    #[error("encoding {what}: {source}")]
    Encode { what: String, source: serde_json::Error },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("hosted cluster: {0}")]
    Hosted(#[from] crate::tenant::Error),
    #[error("the watch caches closed before they synced")]
    CachesClosed,
}

impl Error {
    /// A closure that wraps a kube error with what was being done.
    pub fn kube(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Kube { what, source }
    }

    /// A write based on an outdated copy: the next reconcile reads the fresh object.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(e), .. } if e.code == 409)
    }

    /// A write refused because the namespace is being deleted: nothing to retry or report.
    pub fn is_namespace_terminating(&self) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(e), .. }
            if e.code == 403 && e.message.contains("because it is being terminated"))
    }

    /// The condition reason that reports this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { .. } | Error::Encode { .. } | Error::MissingField(_) | Error::CachesClosed => {
                reasons::APPLY_FAILED
            }
            Error::Pki(PkiError::BrokenAuthority { .. }) => reasons::BROKEN_CERTIFICATE_AUTHORITY,
            Error::Pki(_) => reasons::CERTIFICATE_FAILED,
            Error::Hosted(e) => e.reason(),
        }
    }
}
