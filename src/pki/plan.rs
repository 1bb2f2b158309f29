//! Deciding, asset by asset, what to keep and what to issue.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::inspect::{ParsedCert, leaf_problem, parse_key};
use super::{Asset, AssetKind, CaKind, KUBECONFIG_KEY, SecretSet, TLS_CERT, TLS_KEY, kubeconfig};

/// What happens to one asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The existing Secret is valid and stays as it is.
    Keep,
    /// The Secret is (re)issued, for the reason given.
    Issue(String),
    /// An authority or key that others depend on is unusable; nothing is replaced.
    Broken(String),
    /// Cannot be checked or issued because its authority is broken.
    Blocked(String),
}

/// The decision for the Secret named `secret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub secret: String,
    pub action: Action,
}

enum Authority {
    Existing(ParsedCert),
    New,
    Broken,
}

/// Compare what is required with what exists.
pub fn check(required: &[Asset], existing: &SecretSet, now: OffsetDateTime) -> Vec<Verdict> {
    let mut authorities: BTreeMap<CaKind, Authority> = BTreeMap::new();
    let mut verdicts = Vec::with_capacity(required.len());
    for asset in required {
        let action = match &asset.kind {
            AssetKind::Authority(kind) => {
                let (action, authority) = check_authority(asset, *kind, required, existing, now);
                authorities.insert(*kind, authority);
                action
            }
            AssetKind::ServiceAccountKey => check_service_account(asset, existing),
            AssetKind::Certificate(_) | AssetKind::Kubeconfig { .. } => {
                let issuer = asset.issuer().expect("leaf assets have an issuer");
                match authorities.get(&issuer) {
                    Some(Authority::Existing(ca)) => check_leaf(asset, ca, existing, now),
                    Some(Authority::New) => Action::Issue("its certificate authority is new".into()),
                    Some(Authority::Broken) | None => {
                        Action::Blocked(format!("its certificate authority ({issuer:?}) is unusable"))
                    }
                }
            }
        };
        verdicts.push(Verdict {
            secret: asset.secret.clone(),
            action,
        });
    }
    verdicts
}

fn check_authority(
    asset: &Asset,
    kind: CaKind,
    required: &[Asset],
    existing: &SecretSet,
    now: OffsetDateTime,
) -> (Action, Authority) {
    let Some(data) = existing.get(&asset.secret) else {
        let dependents: Vec<&str> = required
            .iter()
            .filter(|a| a.issuer() == Some(kind) && existing.contains_key(&a.secret))
            .map(|a| a.secret.as_str())
            .collect();
        if dependents.is_empty() {
            return (Action::Issue("missing".into()), Authority::New);
        }
        let reason = format!(
            "certificate authority is missing while certificates it signed exist ({})",
            dependents.join(", ")
        );
        return (Action::Broken(reason), Authority::Broken);
    };
    match authority_problem(data.get(TLS_CERT), data.get(TLS_KEY), now) {
        Ok(cert) => (Action::Keep, Authority::Existing(cert)),
        Err(reason) => (Action::Broken(reason), Authority::Broken),
    }
}

fn authority_problem(
    cert: Option<&Vec<u8>>,
    key: Option<&Vec<u8>>,
    now: OffsetDateTime,
) -> Result<ParsedCert, String> {
    let cert = ParsedCert::from_pem(cert.ok_or(format!("{TLS_CERT} is missing"))?)?;
    let key = parse_key(key.ok_or(format!("{TLS_KEY} is missing"))?)?;
    if !cert.is_ca() {
        return Err("certificate is not a certificate authority".into());
    }
    if !cert.matches_key(&key) {
        return Err("private key does not match the certificate".into());
    }
    if cert.not_after() <= now {
        return Err(format!("certificate authority expired {}", cert.not_after()));
    }
    Ok(cert)
}

fn check_service_account(asset: &Asset, existing: &SecretSet) -> Action {
    let Some(data) = existing.get(&asset.secret) else {
        return Action::Issue("missing".into());
    };
    let key = match data.get(TLS_KEY).map(|k| parse_key(k)) {
        Some(Ok(key)) => key,
        Some(Err(reason)) => return Action::Broken(reason),
        None => return Action::Broken(format!("{TLS_KEY} is missing")),
    };
    let public = data
        .get(TLS_CERT)
        .map(|p| String::from_utf8_lossy(p).trim().to_string());
    if public.as_deref() != Some(key.public_key_pem().trim()) {
        return Action::Broken(format!("{TLS_CERT} is not the public key of {TLS_KEY}"));
    }
    Action::Keep
}

fn check_leaf(asset: &Asset, ca: &ParsedCert, existing: &SecretSet, now: OffsetDateTime) -> Action {
    let Some(data) = existing.get(&asset.secret) else {
        return Action::Issue("missing".into());
    };
    let problem = match &asset.kind {
        AssetKind::Certificate(spec) => leaf_parts(data.get(TLS_CERT), data.get(TLS_KEY))
            .and_then(|(cert, key)| leaf_problem(&cert, &key, ca, spec, now).map_or(Ok(()), Err)),
        AssetKind::Kubeconfig { leaf, server, .. } => {
            kubeconfig_problem(data.get(KUBECONFIG_KEY), ca, server)
                .and_then(|(cert, key)| leaf_problem(&cert, &key, ca, leaf, now).map_or(Ok(()), Err))
        }
        _ => unreachable!("only leaves are checked here"),
    };
    match problem {
        Ok(()) => Action::Keep,
        Err(reason) => Action::Issue(reason),
    }
}

fn leaf_parts(cert: Option<&Vec<u8>>, key: Option<&Vec<u8>>) -> Result<(ParsedCert, rcgen::KeyPair), String> {
    let cert = ParsedCert::from_pem(cert.ok_or(format!("{TLS_CERT} is missing"))?)?;
    let key = parse_key(key.ok_or(format!("{TLS_KEY} is missing"))?)?;
    Ok((cert, key))
}

fn kubeconfig_problem(
    value: Option<&Vec<u8>>,
    ca: &ParsedCert,
    server: &str,
) -> Result<(ParsedCert, rcgen::KeyPair), String> {
    let parts = kubeconfig::parse(value.ok_or(format!("{KUBECONFIG_KEY} is missing"))?)?;
    if parts.server != server {
        return Err(format!("server is {}, not {server}", parts.server));
    }
    let embedded_ca = ParsedCert::from_pem(&parts.certificate_authority)?;
    if embedded_ca.der() != ca.der() {
        return Err("embeds another certificate authority".into());
    }
    leaf_parts(Some(&parts.client_certificate), Some(&parts.client_key))
}
