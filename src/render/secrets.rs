//! Secrets holding the PKI, named and typed as Cluster API expects.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use super::meta::object_meta;
use crate::api::HostedControlPlane;
use crate::contract::CLUSTER_NAME;
use crate::pki::{Asset, IssuedPki, SecretData};

/// One Secret per asset of `pki`, in the order of their names.
pub fn all(hcp: &HostedControlPlane, pki: &IssuedPki) -> Vec<Secret> {
    let mut assets: Vec<&Asset> = pki.assets.iter().collect();
    assets.sort_by(|a, b| a.secret.cmp(&b.secret));
    assets
        .into_iter()
        .filter_map(|asset| Some(secret(hcp, asset, pki.secrets.get(&asset.secret)?)))
        .collect()
}

fn secret(hcp: &HostedControlPlane, asset: &Asset, data: &SecretData) -> Secret {
    let mut metadata = object_meta(hcp, asset.secret.clone(), asset.component);
    metadata
        .labels
        .get_or_insert_default()
        .insert(CLUSTER_NAME.into(), hcp.cluster_name());
    Secret {
        metadata,
        type_: Some(asset.secret_type.as_str().into()),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                .collect(),
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::contract::COMPONENT;
    use crate::pki::{assets, issue};

    #[test]
    fn each_secret_is_typed_and_labelled_as_its_asset_says_in_name_order() {
        let spec = serde_json::from_value(serde_json::json!({"version": "v1.36.3"})).unwrap();
        let hcp = HostedControlPlane::new("demo", spec);
        let required = assets::required(&hcp, &[]);
        let pki = issue(&required, &Default::default(), OffsetDateTime::now_utc()).unwrap();
        let secrets = all(&hcp, &pki);
        let type_and_component = |name: &str| {
            let secret = secrets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{name} missing"));
            let labels = secret.metadata.labels.as_ref().unwrap();
            (secret.type_.clone().unwrap(), labels[COMPONENT].clone())
        };
        let expected = [
            ("demo-etcd", "cluster.x-k8s.io/secret", "etcd"),
            ("demo-etcd-0-peer", "kubernetes.io/tls", "etcd"),
            ("demo-apiserver", "kubernetes.io/tls", "kube-apiserver"),
            ("demo-kubeconfig", "cluster.x-k8s.io/secret", "kube-apiserver"),
            (
                "demo-controller-manager-kubeconfig",
                "Opaque",
                "kube-controller-manager",
            ),
            ("demo-scheduler-kubeconfig", "Opaque", "kube-scheduler"),
        ];
        for (name, type_, component) in expected {
            assert_eq!(
                type_and_component(name),
                (type_.into(), component.into()),
                "{name}"
            );
        }
        assert_eq!(secrets.len(), required.len());
        assert!(secrets.is_sorted_by_key(|s| s.metadata.name.clone()));
    }
}
