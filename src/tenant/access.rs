//! A kubeconfig for the hosted cluster that works from where the user is.

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use kube::{Api, Client};

use super::Error;
use crate::api::{HostedControlPlane, ServiceType};
use crate::pki::KUBECONFIG_KEY;

/// Where a user outside the management cluster's Pods reaches the API server, and the
/// name to check its certificate against when that address is not in it.
pub async fn external_server(
    client: &Client,
    hcp: &HostedControlPlane,
    namespace: &str,
) -> Result<(String, Option<String>), Error> {
    let names = hcp.names();
    let service_host = names.api_server_service_host(namespace);
    // The in-cluster address podplane writes for Cluster API is no use outside the cluster.
    if let Some(endpoint) = &hcp.spec.control_plane_endpoint
        && endpoint.host != service_host
    {
        return Ok((format!("https://{}:{}", endpoint.host, endpoint.port), None));
    }
    if let Some(ingress) = &hcp.spec.ingress {
        return Ok((format!("https://{}:443", ingress.hostname), None));
    }
    let service = Api::<Service>::namespaced(client.clone(), namespace)
        .get(&names.api_server())
        .await
        .map_err(Error::api(format!("Service {}", names.api_server())))?;
    let spec = service.spec.clone().unwrap_or_default();
    let port = hcp.spec.service.port;
    match hcp.spec.service.type_ {
        ServiceType::LoadBalancer => {
            let ingress = service
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|l| l.ingress)
                .unwrap_or_default();
            let address = ingress.into_iter().find_map(|i| i.ip.or(i.hostname));
            let address = address.ok_or(Error::Missing(
                "the LoadBalancer Service has no address yet".into(),
            ))?;
            Ok((format!("https://{address}:{port}"), Some(service_host)))
        }
        ServiceType::NodePort => {
            let node_port = spec
                .ports
                .unwrap_or_default()
                .first()
                .and_then(|p| p.node_port)
                .ok_or(Error::Missing("the Service has no node port yet".into()))?;
            let nodes = Api::<Node>::all(client.clone())
                .list(&Default::default())
                .await
                .map_err(Error::api("listing nodes"))?;
            let address = nodes
                .items
                .iter()
                .flat_map(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.addresses.clone())
                        .unwrap_or_default()
                })
                .find(|a| a.type_ == "InternalIP")
                .map(|a| a.address)
                .ok_or(Error::Missing("no node has an InternalIP".into()))?;
            Ok((format!("https://{address}:{node_port}"), Some(service_host)))
        }
        ServiceType::ClusterIP => {
            let ip = spec
                .cluster_ip
                .ok_or(Error::Missing("the Service has no cluster IP yet".into()))?;
            Ok((format!("https://{ip}:{port}"), Some(service_host)))
        }
    }
}

/// The admin kubeconfig of `hcp`, pointed at `server` (checking the certificate against
/// `tls_server_name` when given).
pub async fn admin_kubeconfig(
    client: &Client,
    hcp: &HostedControlPlane,
    namespace: &str,
    server: &str,
    tls_server_name: Option<&str>,
) -> Result<String, Error> {
    let names = hcp.names();
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(&names.admin_kubeconfig_secret())
        .await
        .map_err(Error::api(format!("Secret {}", names.admin_kubeconfig_secret())))?;
    let value = secret
        .data
        .and_then(|d| d.get(KUBECONFIG_KEY).cloned())
        .ok_or_else(|| {
            let secret = names.admin_kubeconfig_secret();
            Error::Missing(format!("Secret {secret} has no key {KUBECONFIG_KEY}"))
        })?;
    let mut config: serde_yaml::Value =
        serde_yaml::from_slice(&value.0).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    for cluster in config["clusters"].as_sequence_mut().into_iter().flatten() {
        let cluster = &mut cluster["cluster"];
        cluster["server"] = server.into();
        if let Some(name) = tls_server_name {
            cluster["tls-server-name"] = name.into();
        }
    }
    serde_yaml::to_string(&config).map_err(|e| Error::Kubeconfig(e.to_string()))
}
