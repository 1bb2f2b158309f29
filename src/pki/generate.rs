//! Issuing certificates, keys and kubeconfigs with rcgen (ECDSA P-256).

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::OffsetDateTime;

use super::kubeconfig::{self, KubeconfigParts};
use super::plan::{Action, Verdict};
use super::{
    Asset, AssetKind, BACKDATE, CA_VALIDITY, CaKind, KUBECONFIG_KEY, LEAF_VALIDITY, LeafSpec, PkiError,
    SecretData, SecretSet, TLS_CERT, TLS_KEY,
};

/// A certificate and its private key, PEM encoded.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Build the data of every required Secret, issuing what the verdicts ask for.
pub fn materialize(
    required: &[Asset],
    verdicts: &[Verdict],
    existing: &SecretSet,
    now: OffsetDateTime,
) -> Result<SecretSet, PkiError> {
    let mut authorities: BTreeMap<CaKind, Pair> = BTreeMap::new();
    let mut secrets = SecretSet::new();
    for (asset, verdict) in required.iter().zip(verdicts) {
        debug_assert_eq!(asset.secret, verdict.secret);
        let generate_error = |source| PkiError::Generate {
            secret: asset.secret.clone(),
            source,
        };
        let data = match (&verdict.action, &asset.kind) {
            (Action::Keep, _) => existing[&asset.secret].clone(),
            (Action::Issue(_), AssetKind::Authority(kind)) => {
                pair_data(&authority(*kind, now).map_err(generate_error)?)
            }
            (Action::Issue(_), AssetKind::ServiceAccountKey) => {
                let key = new_key().map_err(generate_error)?;
                BTreeMap::from([
                    (TLS_CERT.to_string(), key.public_key_pem().into_bytes()),
                    (TLS_KEY.to_string(), key.serialize_pem().into_bytes()),
                ])
            }
            (Action::Issue(_), AssetKind::Certificate(spec)) => {
                let ca = &authorities[&spec.issuer];
                pair_data(&leaf(spec, ca, now).map_err(generate_error)?)
            }
            (
                Action::Issue(_),
                AssetKind::Kubeconfig {
                    leaf: spec,
                    server,
                    cluster_name,
                },
            ) => {
                let ca = &authorities[&spec.issuer];
                let pair = leaf(spec, ca, now).map_err(generate_error)?;
                let parts = KubeconfigParts {
                    server: server.clone(),
                    certificate_authority: ca.cert_pem.clone().into_bytes(),
                    client_certificate: pair.cert_pem.into_bytes(),
                    client_key: pair.key_pem.into_bytes(),
                };
                let text = kubeconfig::build(cluster_name, &spec.common_name, &parts);
                BTreeMap::from([(KUBECONFIG_KEY.to_string(), text.into_bytes())])
            }
            (Action::Broken(_) | Action::Blocked(_), _) => {
                unreachable!("issue() refuses plans with broken authorities")
            }
        };
        if let AssetKind::Authority(kind) = asset.kind {
            authorities.insert(kind, pair_from_data(&data));
        }
        secrets.insert(asset.secret.clone(), data);
    }
    Ok(secrets)
}

fn pair_data(pair: &Pair) -> SecretData {
    BTreeMap::from([
        (TLS_CERT.to_string(), pair.cert_pem.clone().into_bytes()),
        (TLS_KEY.to_string(), pair.key_pem.clone().into_bytes()),
    ])
}

fn pair_from_data(data: &SecretData) -> Pair {
    let text = |key: &str| String::from_utf8_lossy(&data[key]).into_owned();
    Pair {
        cert_pem: text(TLS_CERT),
        key_pem: text(TLS_KEY),
    }
}

fn new_key() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
}

fn base_params(
    common_name: &str,
    organizations: &[String],
    now: OffsetDateTime,
    validity: time::Duration,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    for organization in organizations {
        subject.push(DnType::OrganizationName, organization.as_str());
    }
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.use_authority_key_identifier_extension = true;
    params
}

/// A self-signed certificate authority.
pub fn authority(kind: CaKind, now: OffsetDateTime) -> Result<Pair, rcgen::Error> {
    let key = new_key()?;
    let mut params = base_params(kind.common_name(), &[], now, CA_VALIDITY);
    params.use_authority_key_identifier_extension = false;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A leaf certificate for `spec`, signed by `ca`.
pub fn leaf(spec: &LeafSpec, ca: &Pair, now: OffsetDateTime) -> Result<Pair, rcgen::Error> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let key = new_key()?;
    let mut params = base_params(&spec.common_name, &spec.organizations, now, LEAF_VALIDITY);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if spec.usage.server() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if spec.usage.client() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for dns in &spec.dns_names {
        params
            .subject_alt_names
            .push(SanType::DnsName(dns.as_str().try_into()?));
    }
    for ip in &spec.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
