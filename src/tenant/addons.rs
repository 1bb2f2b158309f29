//! What `kubeadm init` leaves in a cluster, applied by podplane inside each hosted cluster
//! from the handlebars templates in `addons/`:
//! - `kubeadm-bootstrap`: `cluster-info` for token discovery, the `kubeadm-config` and
//!   `kubelet-config` ConfigMaps, and the bootstrap-token RBAC with CSR auto-approval, so
//!   that a plain `kubeadm join` works;
//! - `kube-proxy`: its DaemonSet, configuration and RBAC;
//! - `coredns`: cluster DNS behind the `kube-dns` Service;
//! - `node-network`: the identity worker nodes' network loop reads the Node list with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde::Serialize;

use crate::api::HostedControlPlane;
use crate::contract::TOKEN_GROUP;
use crate::network::dns_service_ip;
use crate::versions::COREDNS_VERSION;
// tests/cluster import this from here; its home is `crate::contract`.

/// Every addon template, in the order they are applied.
const TEMPLATES: [(&str, &str); 4] = [
    (
        "kubeadm-bootstrap",
        include_str!("../../addons/kubeadm-bootstrap.yaml.hbs"),
    ),
    ("kube-proxy", include_str!("../../addons/kube-proxy.yaml.hbs")),
    ("coredns", include_str!("../../addons/coredns.yaml.hbs")),
    ("node-network", include_str!("../../addons/node-network.yaml.hbs")),
];

/// The Secret holding the token of worker nodes' network loop (`kube-system`).
pub const NODE_NETWORK_TOKEN: &str = "podplane-node-network-token";

#[derive(Serialize)]
struct Values {
    server: String,
    endpoint: String,
    ca_data: String,
    cluster_name: String,
    version: String,
    image_repository: String,
    dns_domain: String,
    dns_ip: String,
    pod_cidr: String,
    service_cidr: String,
    token_group: &'static str,
    coredns_version: &'static str,
}

/// The objects for `hcp`, whose API server is reached at `endpoint` (`host:port`) and
/// whose cluster CA is `ca_pem`.
pub fn render(
    hcp: &HostedControlPlane,
    endpoint: &str,
    ca_pem: &[u8],
) -> Result<Vec<serde_json::Value>, super::Error> {
    let network = &hcp.spec.network;
    let values = Values {
        server: format!("https://{endpoint}"),
        endpoint: endpoint.to_string(),
        ca_data: STANDARD.encode(ca_pem),
        cluster_name: hcp.name_any_or_default(),
        version: hcp.spec.version.clone(),
        image_repository: hcp.image_repository().to_string(),
        dns_domain: network.dns_domain.clone(),
        dns_ip: dns_service_ip(&network.service_cidr)
            .map_err(|e| super::Error::Addon(e.to_string()))?
            .to_string(),
        pod_cidr: network.pod_cidr.clone(),
        service_cidr: network.service_cidr.clone(),
        token_group: TOKEN_GROUP,
        coredns_version: COREDNS_VERSION,
    };
    let mut registry = handlebars::Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    let mut objects = vec![];
    for (name, template) in TEMPLATES {
        let text = registry
            .render_template(template, &values)
            .map_err(|e| super::Error::Addon(format!("addon {name}: {e}")))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| super::Error::Addon(format!("addon {name} output: {e}")))?;
            if !value.is_null() {
                objects.push(value);
            }
        }
    }
    Ok(objects)
}

fn api_resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Secret" => ApiResource::erase::<Secret>(&()),
        "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
        "Service" => ApiResource::erase::<Service>(&()),
        "Deployment" => ApiResource::erase::<Deployment>(&()),
        "DaemonSet" => ApiResource::erase::<DaemonSet>(&()),
        "Role" => ApiResource::erase::<Role>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        "ClusterRole" => ApiResource::erase::<ClusterRole>(&()),
        "ClusterRoleBinding" => ApiResource::erase::<ClusterRoleBinding>(&()),
        _ => return None,
    })
}

/// Server-side apply every object into the hosted cluster behind `client`.
pub async fn apply(
    client: &Client,
    objects: &[serde_json::Value],
    manager: &str,
) -> Result<(), super::Error> {
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let resource = api_resource(kind).ok_or_else(|| super::Error::UnsupportedAddon(kind.to_string()))?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(object))
            .await
            .map_err(super::Error::api(format!("{kind} {name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcp() -> HostedControlPlane {
        let mut hcp = HostedControlPlane::new(
            "demo",
            serde_json::from_value(serde_json::json!({"version": "v1.36.3"})).unwrap(),
        );
        hcp.metadata.namespace = Some("tenant-a".into());
        hcp
    }

    #[test]
    fn renders_what_kubeadm_join_reads() {
        let objects = render(&hcp(), "demo-kube-apiserver.tenant-a.svc:6443", b"CA").unwrap();
        let find = |kind: &str, name: &str| {
            objects
                .iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name} missing"))
        };
        let info = find("ConfigMap", "cluster-info")["data"]["kubeconfig"]
            .as_str()
            .unwrap();
        assert!(
            info.contains("server: https://demo-kube-apiserver.tenant-a.svc:6443"),
            "{info}"
        );
        assert!(info.contains(&format!("certificate-authority-data: {}", STANDARD.encode("CA"))));
        let kubeadm = find("ConfigMap", "kubeadm-config")["data"]["ClusterConfiguration"]
            .as_str()
            .unwrap();
        assert!(
            kubeadm.contains("kubernetesVersion: v1.36.3") && kubeadm.contains("podSubnet: 10.244.0.0/16")
        );
        let kubelet = find("ConfigMap", "kubelet-config")["data"]["kubelet"]
            .as_str()
            .unwrap();
        let kubelet: serde_json::Value = serde_yaml::from_str(kubelet).unwrap();
        assert_eq!(kubelet["clusterDNS"][0], "10.96.0.10");
        assert_eq!(kubelet["cgroupDriver"], "systemd");
        assert_eq!(kubelet["failCgroupV1"], false);
        let binding = find("ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap");
        assert_eq!(binding["subjects"][0]["name"], TOKEN_GROUP);
        let proxy = find("DaemonSet", "kube-proxy");
        assert_eq!(
            proxy["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.k8s.io/kube-proxy:v1.36.3"
        );
        let proxy_config = find("ConfigMap", "kube-proxy")["data"]["kubeconfig.conf"]
            .as_str()
            .unwrap();
        assert!(
            proxy_config.contains("server: https://demo-kube-apiserver.tenant-a.svc:6443"),
            "{proxy_config}"
        );
        assert_eq!(find("Service", "kube-dns")["spec"]["clusterIP"], "10.96.0.10");
        let dns = find("Deployment", "coredns");
        assert_eq!(
            dns["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("registry.k8s.io/coredns/coredns:{COREDNS_VERSION}")
        );
        assert!(
            objects
                .iter()
                .all(|o| api_resource(o["kind"].as_str().unwrap()).is_some())
        );
    }
}
