//! Kubeconfig files with embedded certificates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The parts of a single-context kubeconfig podplane writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeconfigParts {
    pub server: String,
    pub certificate_authority: Vec<u8>,
    pub client_certificate: Vec<u8>,
    pub client_key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
    contexts: Vec<Named<Context>>,
    current_context: String,
}

#[derive(Serialize, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct Cluster {
    cluster: ClusterInfo,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterInfo {
    server: String,
    certificate_authority_data: String,
}

#[derive(Serialize, Deserialize)]
struct User {
    user: UserInfo,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserInfo {
    client_certificate_data: String,
    client_key_data: String,
}

#[derive(Serialize, Deserialize)]
struct Context {
    context: ContextInfo,
}

#[derive(Serialize, Deserialize)]
struct ContextInfo {
    cluster: String,
    user: String,
}

/// Write a kubeconfig for `user` of `cluster_name`.
pub fn build(cluster_name: &str, user: &str, parts: &KubeconfigParts) -> String {
    let context = format!("{user}@{cluster_name}");
    let config = Kubeconfig {
        api_version: "v1".into(),
        kind: "Config".into(),
        clusters: vec![Named {
            name: cluster_name.into(),
            value: Cluster {
                cluster: ClusterInfo {
                    server: parts.server.clone(),
                    certificate_authority_data: STANDARD.encode(&parts.certificate_authority),
                },
            },
        }],
        users: vec![Named {
            name: user.into(),
            value: User {
                user: UserInfo {
                    client_certificate_data: STANDARD.encode(&parts.client_certificate),
                    client_key_data: STANDARD.encode(&parts.client_key),
                },
            },
        }],
        contexts: vec![Named {
            name: context.clone(),
            value: Context {
                context: ContextInfo {
                    cluster: cluster_name.into(),
                    user: user.into(),
                },
            },
        }],
        current_context: context,
    };
    serde_yaml::to_string(&config).expect("kubeconfig serializes")
}

/// Read back a kubeconfig written by [`build`] (its current context).
pub fn parse(bytes: &[u8]) -> Result<KubeconfigParts, String> {
    let config: Kubeconfig =
        serde_yaml::from_slice(bytes).map_err(|e| format!("unreadable kubeconfig: {e}"))?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context)
        .ok_or("kubeconfig has no current context")?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.value.context.cluster)
        .ok_or("kubeconfig context names no known cluster")?;
    let user = config
        .users
        .iter()
        .find(|u| u.name == context.value.context.user)
        .ok_or("kubeconfig context names no known user")?;
    let decode = |field: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|e| format!("kubeconfig {field} is not base64: {e}"))
    };
    Ok(KubeconfigParts {
        server: cluster.value.cluster.server.clone(),
        certificate_authority: decode(
            "certificate-authority-data",
            &cluster.value.cluster.certificate_authority_data,
        )?,
        client_certificate: decode(
            "client-certificate-data",
            &user.value.user.client_certificate_data,
        )?,
        client_key: decode("client-key-data", &user.value.user.client_key_data)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let parts = KubeconfigParts {
            server: "https://x.ns.svc:6443".into(),
            certificate_authority: b"ca".to_vec(),
            client_certificate: b"cert".to_vec(),
            client_key: b"key".to_vec(),
        };
        let text = build("demo", "kubernetes-admin", &parts);
        assert!(text.contains("current-context: kubernetes-admin@demo"), "{text}");
        assert_eq!(parse(text.as_bytes()).unwrap(), parts);
    }
}
