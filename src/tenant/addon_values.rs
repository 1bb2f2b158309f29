//! The values the addon templates are rendered with.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::HostedControlPlane;
use crate::components::TUNNEL_AGENT_PORT;
use crate::contract::TOKEN_GROUP;
use crate::network::dns_service_ip;
use crate::versions::{COREDNS_VERSION, FLANNEL_VERSION, KONNECTIVITY_VERSION, METRICS_SERVER_VERSION};

/// The konnectivity agents' credentials: the tunnel CA and their client certificate (PEM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelCredentials {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// What the addons need from the management side.
pub struct Inputs<'a> {
    /// `host:port` where nodes reach the API server.
    pub endpoint: &'a str,
    /// The cluster CA (PEM).
    pub ca_pem: &'a [u8],
    /// The API server's published address (its Service's cluster IP).
    pub address: IpAddr,
    pub tunnel: &'a TunnelCredentials,
    /// The version the hosted cluster's kube-proxy and kubeadm configuration follow: the
    /// control plane's, once every component runs it.
    pub version: &'a str,
}

#[derive(Serialize)]
struct Tunnel {
    host: String,
    port: i32,
    ca: String,
    cert: String,
    key: String,
    /// Changes when the certificate is renewed, which restarts the agents.
    digest: String,
    image: String,
}

#[derive(Serialize)]
pub struct Values {
    server: String,
    endpoint: String,
    endpoint_host: String,
    endpoint_port: String,
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
    address: String,
    address_type: &'static str,
    service_port: i32,
    tunnel: Tunnel,
    flannel_image: String,
    /// flannel is the Pod network (not a CNI the user installs).
    flannel: bool,
    metrics_server_image: String,
}

/// Split `host:port` (an IPv6 host in brackets) into its parts.
fn host_and_port(endpoint: &str) -> (String, String) {
    match endpoint.rsplit_once(':') {
        Some((host, port)) => (host.trim_matches(['[', ']']).to_string(), port.to_string()),
        None => (endpoint.to_string(), "443".to_string()),
    }
}

pub fn values(hcp: &HostedControlPlane, inputs: &Inputs) -> Result<Values, super::Error> {
    let network = &hcp.spec.network;
    let repository = hcp.image_repository();
    let (endpoint_host, endpoint_port) = host_and_port(inputs.endpoint);
    let tunnel = inputs.tunnel;
    Ok(Values {
        server: format!("https://{}", inputs.endpoint),
        endpoint: inputs.endpoint.to_string(),
        endpoint_host: endpoint_host.clone(),
        endpoint_port,
        ca_data: STANDARD.encode(inputs.ca_pem),
        cluster_name: hcp.name_any_or_default(),
        version: inputs.version.to_string(),
        image_repository: repository.to_string(),
        dns_domain: network.dns_domain.clone(),
        dns_ip: dns_service_ip(&network.service_cidr)
            .map_err(|e| super::Error::Addon(e.to_string()))?
            .to_string(),
        pod_cidr: network.pod_cidr.clone(),
        service_cidr: network.service_cidr.clone(),
        token_group: TOKEN_GROUP,
        coredns_version: COREDNS_VERSION,
        address: inputs.address.to_string(),
        address_type: if inputs.address.is_ipv4() { "IPv4" } else { "IPv6" },
        service_port: hcp.spec.service.port,
        tunnel: Tunnel {
            host: endpoint_host,
            port: TUNNEL_AGENT_PORT.number,
            ca: STANDARD.encode(&tunnel.ca),
            cert: STANDARD.encode(&tunnel.cert),
            key: STANDARD.encode(&tunnel.key),
            digest: format!("{:x}", Sha256::digest(&tunnel.cert))[..16].to_string(),
            image: format!("{repository}/kas-network-proxy/proxy-agent:{KONNECTIVITY_VERSION}"),
        },
        flannel_image: format!("ghcr.io/flannel-io/flannel:{FLANNEL_VERSION}"),
        flannel: network.cni == crate::api::addons::Cni::Flannel,
        metrics_server_image: format!("{repository}/metrics-server/metrics-server:{METRICS_SERVER_VERSION}"),
    })
}
