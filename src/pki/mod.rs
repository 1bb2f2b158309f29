//! The control plane's certificates, keys and kubeconfigs.
//!
//! [`assets::required`] says what a HostedControlPlane needs, [`plan::check`] compares that
//! with the Secrets that exist, and [`issue`] keeps what is valid and issues the rest.

pub mod assets;
pub mod generate;
pub mod inspect;
pub mod kubeconfig;
pub mod plan;

use std::collections::BTreeMap;

use time::OffsetDateTime;

pub use assets::{Asset, AssetKind, CaKind, LeafSpec, SecretType, Usage};
pub use plan::{Action, Verdict};

pub use crate::contract::{KUBECONFIG_KEY, TLS_CERT, TLS_KEY};

/// Lifetime of a certificate authority.
pub const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// Lifetime of a leaf certificate.
pub const LEAF_VALIDITY: time::Duration = time::Duration::days(365);
/// A leaf certificate is renewed when it expires within this window.
pub const RENEWAL_WINDOW: time::Duration = time::Duration::days(30);
/// Certificates are backdated by this much to tolerate clock skew.
pub const BACKDATE: time::Duration = time::Duration::minutes(5);

/// The data of one Secret, key to bytes.
pub type SecretData = BTreeMap<String, Vec<u8>>;
/// Secrets by name.
pub type SecretSet = BTreeMap<String, SecretData>;

/// What [`issue`] decided and produced.
#[derive(Debug)]
pub struct IssuedPki {
    /// What was required: how each Secret is typed and labelled.
    pub assets: Vec<Asset>,
    /// The data of every PKI Secret: kept ones as they were, issued ones new.
    pub secrets: SecretSet,
    /// One verdict per asset.
    pub verdicts: Vec<Verdict>,
}

impl IssuedPki {
    /// Names of the Secrets whose content was (re)issued.
    pub fn issued(&self) -> Vec<&str> {
        self.verdicts
            .iter()
            .filter(|v| matches!(v.action, Action::Issue(_)))
            .map(|v| v.secret.as_str())
            .collect()
    }
}

/// Why PKI could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(
        "{secret}: {reason}; it is not replaced automatically because clients and nodes trust it — repair or delete the Secret"
    )]
    BrokenAuthority { secret: String, reason: String },
    #[error("generating {secret}: {source}")]
    Generate { secret: String, source: rcgen::Error },
}

/// Keep every valid asset in `existing`, issue the missing, invalid and expiring ones.
///
/// Certificate authorities and the service-account key are never replaced once they
/// exist; a broken one, or a missing one while certificates it signed exist, is an error.
pub fn issue(required: &[Asset], existing: &SecretSet, now: OffsetDateTime) -> Result<IssuedPki, PkiError> {
    let verdicts = plan::check(required, existing, now);
    if let Some(broken) = verdicts.iter().find_map(|v| match &v.action {
        Action::Broken(reason) => Some((v.secret.clone(), reason.clone())),
        _ => None,
    }) {
        return Err(PkiError::BrokenAuthority {
            secret: broken.0,
            reason: broken.1,
        });
    }
    let secrets = generate::materialize(required, &verdicts, existing, now)?;
    Ok(IssuedPki {
        assets: required.to_vec(),
        secrets,
        verdicts,
    })
}
