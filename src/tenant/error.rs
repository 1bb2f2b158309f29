//! What can go wrong talking to a hosted cluster.

use crate::api::conditions::reasons;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("/readyz answered {0}")]
    NotReady(String),
    #[error("/readyz did not answer within {0}s")]
    Timeout(u64),
    #[error("{0}")]
    Addon(String),
    #[error("addon kind {0} is not supported")]
    UnsupportedAddon(String),
    #[error("{0}")]
    Missing(String),
}

impl Error {
    /// A closure that wraps a kube error with what was being done.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Api { what, source }
    }

    /// The condition reason that says this.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kubeconfig(_) | Error::Missing(_) => reasons::KUBECONFIG_UNUSABLE,
            Error::Api { .. } | Error::Timeout(_) => reasons::API_SERVER_NOT_RESPONDING,
            Error::NotReady(_) => reasons::API_SERVER_NOT_READY,
            Error::Addon(_) | Error::UnsupportedAddon(_) => reasons::ADDONS_FAILED,
        }
    }
}
