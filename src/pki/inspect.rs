//! Reading existing certificates and keys back, to decide whether they can be kept.

use std::net::IpAddr;

use rcgen::KeyPair;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use super::LeafSpec;

/// A certificate read from PEM, with the facts the checks need.
pub struct ParsedCert {
    pem: Pem,
}

impl ParsedCert {
    /// Parse the first certificate of a PEM bundle.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, String> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("not a PEM certificate: {e}"))?;
        if pem.label != "CERTIFICATE" {
            return Err(format!("PEM block is {}, not CERTIFICATE", pem.label));
        }
        pem.parse_x509()
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        Ok(Self { pem })
    }

    /// The parsed certificate. Parsing was checked in [`ParsedCert::from_pem`].
    pub fn x509(&self) -> X509Certificate<'_> {
        self.pem.parse_x509().expect("parsed when constructed")
    }

    pub fn der(&self) -> &[u8] {
        &self.pem.contents
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.x509().validity().not_after.to_datetime()
    }

    pub fn is_ca(&self) -> bool {
        self.x509().is_ca()
    }

    pub fn common_name(&self) -> Option<String> {
        self.x509()
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok().map(str::to_string))
    }

    pub fn organizations(&self) -> Vec<String> {
        self.x509()
            .subject()
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect()
    }

    /// DNS names and IP addresses among the subject alternative names.
    pub fn sans(&self) -> (Vec<String>, Vec<IpAddr>) {
        let cert = self.x509();
        let mut dns = vec![];
        let mut ips = vec![];
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::IPAddress(bytes) => match bytes.len() {
                        4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))),
                        16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        (dns, ips)
    }

    /// Server and client authentication among the extended key usages.
    pub fn extended_usages(&self) -> (bool, bool) {
        match self.x509().extended_key_usage() {
            Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
            _ => (false, false),
        }
    }

    /// Whether `issuer` signed this certificate.
    pub fn signed_by(&self, issuer: &ParsedCert) -> bool {
        let cert = self.x509();
        let ca = issuer.x509();
        cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether `key` is the private key of this certificate.
    pub fn matches_key(&self, key: &KeyPair) -> bool {
        self.x509().public_key().subject_public_key.data.as_ref() == key.public_key_raw()
    }
}

/// Parse a PEM private key.
pub fn parse_key(bytes: &[u8]) -> Result<KeyPair, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "private key is not PEM text".to_string())?;
    KeyPair::from_pem(text).map_err(|e| format!("unreadable private key: {e}"))
}

/// Why a leaf certificate cannot be kept, if it cannot.
pub fn leaf_problem(
    cert: &ParsedCert,
    key: &KeyPair,
    ca: &ParsedCert,
    spec: &LeafSpec,
    now: OffsetDateTime,
) -> Option<String> {
    if !cert.matches_key(key) {
        return Some("private key does not match the certificate".into());
    }
    if !cert.signed_by(ca) {
        return Some("not signed by the current certificate authority".into());
    }
    if cert.common_name().as_deref() != Some(spec.common_name.as_str()) {
        return Some(format!("subject CN is not {}", spec.common_name));
    }
    if cert.organizations() != spec.organizations {
        return Some(format!("subject O is not {:?}", spec.organizations));
    }
    let (dns, ips) = cert.sans();
    let missing: Vec<String> = spec
        .dns_names
        .iter()
        .filter(|d| !dns.contains(d))
        .cloned()
        .chain(
            spec.ip_addresses
                .iter()
                .filter(|ip| !ips.contains(ip))
                .map(|ip| ip.to_string()),
        )
        .collect();
    if !missing.is_empty() {
        return Some(format!("subject alternative names lack {}", missing.join(", ")));
    }
    if cert.extended_usages() != (spec.usage.server(), spec.usage.client()) {
        return Some("extended key usages differ".into());
    }
    let not_after = cert.not_after();
    if not_after <= now + super::RENEWAL_WINDOW {
        return Some(format!("expires {not_after}, inside the renewal window"));
    }
    None
}
