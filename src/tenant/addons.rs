//! What `kubeadm init` leaves in a cluster, and the network around it, applied by podplane
//! inside each hosted cluster from the handlebars templates in `addons/`:
//! - `kubeadm-bootstrap`: `cluster-info` for token discovery, the `kubeadm-config` and
//!   `kubelet-config` ConfigMaps, and the bootstrap-token RBAC with CSR auto-approval, so
//!   that a plain `kubeadm join` works;
//! - `kubernetes-endpoints`: where the `kubernetes` Service leads (the API server's
//!   published address);
//! - `kube-proxy`, `coredns`;
//! - `flannel` (unless `spec.network.cni: none`), `konnectivity-agent`, and
//!   `metrics-server` when [`HostedControlPlane::metrics_server`] says so.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Secret, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};

use super::addon_values::values;
pub use super::addon_values::{Inputs, TunnelCredentials};
use crate::api::{Cni, HostedControlPlane};

/// Every addon template, in the order they are applied.
const TEMPLATES: [(&str, &str); 7] = [
    (
        "kubeadm-bootstrap",
        include_str!("../../addons/kubeadm-bootstrap.yaml.hbs"),
    ),
    (
        "kubernetes-endpoints",
        include_str!("../../addons/kubernetes-endpoints.yaml.hbs"),
    ),
    ("kube-proxy", include_str!("../../addons/kube-proxy.yaml.hbs")),
    ("flannel", include_str!("../../addons/flannel.yaml.hbs")),
    ("coredns", include_str!("../../addons/coredns.yaml.hbs")),
    (
        "konnectivity-agent",
        include_str!("../../addons/konnectivity-agent.yaml.hbs"),
    ),
    (
        "metrics-server",
        include_str!("../../addons/metrics-server.yaml.hbs"),
    ),
];

/// Whether addon `name` belongs in the hosted cluster of `hcp`.
fn wanted(hcp: &HostedControlPlane, name: &str) -> bool {
    match name {
        "flannel" => hcp.spec.network.cni == Cni::Flannel,
        "metrics-server" => hcp.metrics_server(),
        _ => true,
    }
}

/// The objects of a hosted cluster's addons.
#[derive(Debug, Default)]
pub struct Rendered {
    /// What is to exist, in order.
    pub wanted: Vec<serde_json::Value>,
    /// What addons turned off leave behind, to remove (metrics-server switched off).
    pub unwanted: Vec<serde_json::Value>,
}

/// The addon objects for `hcp`, from what the hosted cluster's nodes and agents need.
pub fn render(hcp: &HostedControlPlane, inputs: &Inputs) -> Result<Rendered, super::Error> {
    let values = values(hcp, inputs)?;
    let mut registry = handlebars::Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    let mut rendered = Rendered::default();
    for (name, template) in TEMPLATES {
        // The CNI is not removed when unwanted: `none` is only ever chosen at creation.
        if name == "flannel" && !wanted(hcp, name) {
            continue;
        }
        let text = registry
            .render_template(template, &values)
            .map_err(|e| super::Error::Addon(format!("addon {name}: {e}")))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| super::Error::Addon(format!("addon {name} output: {e}")))?;
            if value.is_null() {
                continue;
            }
            if wanted(hcp, name) {
                rendered.wanted.push(value);
            } else {
                rendered.unwanted.push(value);
            }
        }
    }
    Ok(rendered)
}

fn api_resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Endpoints" => ApiResource::erase::<Endpoints>(&()),
        "EndpointSlice" => ApiResource::erase::<EndpointSlice>(&()),
        "APIService" => ApiResource::erase::<APIService>(&()),
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

fn api_for(
    client: &Client,
    object: &serde_json::Value,
) -> Result<(Api<DynamicObject>, String), super::Error> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let resource = api_resource(kind).ok_or_else(|| super::Error::UnsupportedAddon(kind.to_string()))?;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let api = match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    Ok((api, format!("{kind} {name}")))
}

/// Server-side apply what is wanted into the hosted cluster behind `client`, and remove
/// what addons turned off left there.
pub async fn apply(client: &Client, rendered: &Rendered, manager: &str) -> Result<(), super::Error> {
    for object in &rendered.wanted {
        let (api, what) = api_for(client, object)?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(object))
            .await
            .map_err(super::Error::api(what))?;
    }
    for object in &rendered.unwanted {
        let (api, what) = api_for(client, object)?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(super::Error::api(format!("removing {what}"))(e)),
        }
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

    fn inputs(tunnel: &TunnelCredentials) -> Inputs<'_> {
        Inputs {
            endpoint: "demo-kube-apiserver.tenant-a.svc:6443",
            ca_pem: b"CA",
            address: "10.128.4.7".parse().unwrap(),
            tunnel,
            version: "v1.36.3",
        }
    }

    fn find<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} missing"))
    }

    #[test]
    fn renders_what_kubeadm_join_reads() {
        let tunnel = TunnelCredentials::default();
        let objects = render(&hcp(), &inputs(&tunnel)).unwrap().wanted;
        let find = |kind: &str, name: &str| find(&objects, kind, name);
        let info = find("ConfigMap", "cluster-info")["data"]["kubeconfig"]
            .as_str()
            .unwrap();
        assert!(
            info.contains("server: https://demo-kube-apiserver.tenant-a.svc:6443"),
            "{info}"
        );
        assert!(info.contains("certificate-authority-data: Q0E="));
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
        assert_eq!(binding["subjects"][0]["name"], crate::contract::TOKEN_GROUP);
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
            format!(
                "registry.k8s.io/coredns/coredns:{}",
                crate::versions::COREDNS_VERSION
            )
        );
        assert!(
            objects
                .iter()
                .all(|o| api_resource(o["kind"].as_str().unwrap()).is_some())
        );
    }

    #[test]
    fn the_kubernetes_service_leads_to_the_published_address() {
        let tunnel = TunnelCredentials::default();
        let objects = render(&hcp(), &inputs(&tunnel)).unwrap().wanted;
        let slice = find(&objects, "EndpointSlice", "kubernetes");
        assert_eq!(slice["endpoints"][0]["addresses"][0], "10.128.4.7");
        assert_eq!(slice["ports"][0]["port"], 6443);
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "kubernetes"
        );
        let endpoints = find(&objects, "Endpoints", "kubernetes");
        assert_eq!(endpoints["subsets"][0]["addresses"][0]["ip"], "10.128.4.7");
    }

    #[test]
    fn agents_dial_the_address_nodes_join_with_their_own_certificate() {
        let tunnel = TunnelCredentials {
            ca: b"TUNNEL CA".to_vec(),
            cert: b"AGENT".to_vec(),
            key: b"KEY".to_vec(),
        };
        let objects = render(&hcp(), &inputs(&tunnel)).unwrap().wanted;
        let secret = find(&objects, "Secret", "konnectivity-agent");
        assert_eq!(secret["data"]["tls.crt"], "QUdFTlQ=");
        let agent = find(&objects, "DaemonSet", "konnectivity-agent");
        let command = agent["spec"]["template"]["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap();
        assert!(command.contains(&"--proxy-server-host=demo-kube-apiserver.tenant-a.svc".into()));
        assert!(command.contains(&"--proxy-server-port=8132".into()));
    }

    #[test]
    fn flannel_by_default_and_metrics_server_with_workers() {
        let tunnel = TunnelCredentials::default();
        let rendered = render(&hcp(), &inputs(&tunnel)).unwrap();
        let config = find(&rendered.wanted, "ConfigMap", "kube-flannel-cfg");
        assert!(
            config["data"]["net-conf.json"]
                .as_str()
                .unwrap()
                .contains("10.244.0.0/16")
        );
        assert!(rendered.unwanted.iter().any(|o| o["kind"] == "APIService"));
        let agents = |rendered: &Rendered| {
            let agents = find(&rendered.wanted, "DaemonSet", "konnectivity-agent");
            agents["spec"]["template"]["spec"]["initContainers"][0]["name"].clone()
        };
        assert_eq!(agents(&rendered), "wait-for-pod-network");

        let mut workers = hcp();
        workers.spec.workers = Some(crate::api::WorkersSpec {
            replicas: 2,
            ..Default::default()
        });
        workers.spec.network.cni = Cni::None;
        let rendered = render(&workers, &inputs(&tunnel)).unwrap();
        assert!(
            find(&rendered.wanted, "APIService", "v1beta1.metrics.k8s.io")["spec"]["service"]["name"]
                == "metrics-server"
        );
        assert!(rendered.wanted.iter().all(|o| o["metadata"]["name"] != "flannel"));
        assert!(rendered.unwanted.is_empty());
        assert!(agents(&rendered).is_null(), "no flannel to wait for");
    }
}
