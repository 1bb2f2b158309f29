//! `kubeadm join` inside a machine's node container: the JoinConfiguration and the command.

use super::CredentialsError;
use sha2::{Digest, Sha256};

use super::token::BootstrapToken;

const JOIN_SCRIPT: &str = include_str!("join.sh");

/// kubeadm's check that cannot pass on a cgroup v1 host, even with the kubelet's
/// `failCgroupV1: false` (which the cluster's kubelet-config sets).
const IGNORED_PREFLIGHT_ERRORS: [&str; 1] = ["SystemVerification"];

/// What a node needs to join.
pub struct Join<'a> {
    /// Node name (the Pod's hostname).
    pub node: &'a str,
    /// `host:port` of the API server, reachable from the node Pod.
    pub api_server: &'a str,
    pub token: &'a BootstrapToken,
    /// `sha256:<hex>` of the cluster CA's public key.
    pub ca_cert_hash: &'a str,
    pub provider_id: &'a str,
}

impl Join<'_> {
    /// The kubeadm JoinConfiguration, fed to the join command on stdin.
    pub fn configuration(&self) -> String {
        let ignored: Vec<serde_json::Value> = IGNORED_PREFLIGHT_ERRORS.iter().map(|e| (*e).into()).collect();
        let config = serde_json::json!({
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "JoinConfiguration",
            "discovery": {
                "bootstrapToken": {
                    "apiServerEndpoint": self.api_server,
                    "token": self.token.to_string(),
                    "caCertHashes": [self.ca_cert_hash],
                },
                "tlsBootstrapToken": self.token.to_string(),
            },
            "nodeRegistration": {
                "name": self.node,
                "criSocket": "unix:///run/containerd/containerd.sock",
                "kubeletExtraArgs": [{"name": "provider-id", "value": self.provider_id}],
                "ignorePreflightErrors": ignored,
                "taints": [],
            },
        });
        serde_yaml::to_string(&config).expect("JSON values serialize as YAML")
    }

    /// The command run in the node container (the configuration goes to its stdin).
    pub fn command(&self) -> Vec<String> {
        script_command("join", self.node, &[])
    }
}

/// The command that runs Cluster API bootstrap data in the node container of `node` (the
/// script from [`super::cloud_init::script`] goes to its stdin), once: a node that has the
/// bootstrap sentinel is left alone.
pub fn bootstrap_command(node: &str, provider_id: &str) -> Vec<String> {
    script_command("bootstrap", node, &[provider_id])
}

fn script_command(mode: &str, node: &str, extra: &[&str]) -> Vec<String> {
    let mut command: Vec<String> = ["sh", "-c", JOIN_SCRIPT, mode, node].map(String::from).to_vec();
    command.extend(extra.iter().map(|s| s.to_string()));
    command
}

/// `sha256:<hex>` of the SubjectPublicKeyInfo of the CA certificate in `ca_pem`: what
/// `kubeadm join --discovery-token-ca-cert-hash` pins.
pub fn ca_cert_hash(ca_pem: &[u8]) -> Result<String, CredentialsError> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(ca_pem).map_err(|e| CredentialsError::Ca(e.to_string()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| CredentialsError::Ca(e.to_string()))?;
    Ok(format!(
        "sha256:{:x}",
        Sha256::digest(cert.tbs_certificate.subject_pki.raw)
    ))
}
