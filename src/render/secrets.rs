//! Secrets holding the PKI, named and typed as Cluster API expects.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::meta::{CLUSTER_NAME, Component, object_meta};
use crate::api::HostedControlPlane;
use crate::names::Names;
use crate::pki::SecretSet;

/// Type of the Secrets Cluster API reads (`<cluster>-ca`, `-kubeconfig`, …).
pub const CLUSTER_API_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// The component whose Pods mount Secret `secret`.
fn component_of(names: &Names, secret: &str) -> Component {
    if secret == names.etcd_ca_secret() || secret.starts_with(&format!("{}-etcd-", names.cluster())) {
        Component::Etcd
    } else if secret == names.controller_manager_kubeconfig_secret() {
        Component::ControllerManager
    } else if secret == names.scheduler_kubeconfig_secret() {
        Component::Scheduler
    } else {
        Component::ApiServer
    }
}

fn secret_type(names: &Names, secret: &str) -> &'static str {
    let cluster_api = [
        names.ca_secret(),
        names.etcd_ca_secret(),
        names.front_proxy_ca_secret(),
        names.service_account_secret(),
        names.admin_kubeconfig_secret(),
    ];
    if cluster_api.iter().any(|n| n == secret) {
        CLUSTER_API_SECRET_TYPE
    } else if secret.ends_with("-kubeconfig") {
        "Opaque"
    } else {
        "kubernetes.io/tls"
    }
}

pub fn all(hcp: &HostedControlPlane, secrets: &SecretSet) -> Vec<Secret> {
    let names = Names::new(&hcp.name_any_or_default());
    secrets
        .iter()
        .map(|(name, data)| {
            let mut metadata = object_meta(hcp, name.clone(), component_of(&names, name));
            metadata
                .labels
                .get_or_insert_default()
                .insert(CLUSTER_NAME.into(), names.cluster().to_string());
            Secret {
                metadata,
                type_: Some(secret_type(&names, name).into()),
                data: Some(
                    data.iter()
                        .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                        .collect(),
                ),
                ..Default::default()
            }
        })
        .collect()
}
