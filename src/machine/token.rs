//! Bootstrap tokens: one per join, short-lived, removed once the node has joined.

use super::CredentialsError;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::contract::{MACHINE_LABEL, TOKEN_GROUP};

/// How long a token authenticates; a join takes seconds.
pub const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `<id>.<secret>`: 6 and 16 characters of `[a-z0-9]`, as kubeadm makes them.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    pub id: String,
    pub secret: String,
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

fn random_chars(count: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(count);
    let mut bytes = [0u8; 32];
    while out.len() < count {
        getrandom::fill(&mut bytes)?;
        // 252 = 7 * 36: dropping larger bytes keeps every character equally likely.
        for byte in bytes.iter().filter(|b| **b < 252).take(count - out.len()) {
            out.push(ALPHABET[usize::from(*byte) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

impl BootstrapToken {
    pub fn generate() -> Result<Self, CredentialsError> {
        let random = |count| random_chars(count).map_err(|e| CredentialsError::Random(e.to_string()));
        let (id, secret) = (random(6)?, random(16)?);
        Ok(Self { id, secret })
    }

    /// Name of the token's Secret in `kube-system`.
    pub fn secret_name(&self) -> String {
        format!("bootstrap-token-{}", self.id)
    }

    /// The `bootstrap.kubernetes.io/token` Secret for a join of `machine`, expiring at
    /// `expiration` (RFC 3339).
    pub fn secret(&self, machine: &str, expiration: &str) -> Secret {
        let data = BTreeMap::from([
            ("token-id".to_string(), self.id.clone()),
            ("token-secret".to_string(), self.secret.clone()),
            ("expiration".to_string(), expiration.to_string()),
            ("usage-bootstrap-authentication".to_string(), "true".to_string()),
            ("usage-bootstrap-signing".to_string(), "true".to_string()),
            ("auth-extra-groups".to_string(), TOKEN_GROUP.to_string()),
            (
                "description".to_string(),
                format!("podplane: join of machine {machine}"),
            ),
        ]);
        Secret {
            metadata: ObjectMeta {
                name: Some(self.secret_name()),
                namespace: Some("kube-system".into()),
                labels: Some(BTreeMap::from([(MACHINE_LABEL.to_string(), machine.to_string())])),
                ..Default::default()
            },
            type_: Some("bootstrap.kubernetes.io/token".into()),
            string_data: Some(data),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_kubeadms_shape_and_differ() {
        let a = BootstrapToken::generate().unwrap();
        let b = BootstrapToken::generate().unwrap();
        let shape = |t: &BootstrapToken| {
            t.id.len() == 6
                && t.secret.len() == 16
                && t.to_string().bytes().all(|c| c == b'.' || ALPHABET.contains(&c))
        };
        assert!(shape(&a) && shape(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
