//! What certificates, keys and kubeconfigs a HostedControlPlane needs.

use std::net::IpAddr;

use crate::api::HostedControlPlane;
use crate::names::Names;
use crate::render::network::first_service_ip;

/// One of the three certificate authorities of a control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaKind {
    /// Signs the API server, clients and kubelets.
    Cluster,
    /// Signs etcd servers, peers and clients.
    Etcd,
    /// Signs the API server's client certificate for aggregated APIs.
    FrontProxy,
}

impl CaKind {
    pub fn common_name(self) -> &'static str {
        match self {
            CaKind::Cluster => "kubernetes",
            CaKind::Etcd => "etcd-ca",
            CaKind::FrontProxy => "front-proxy-ca",
        }
    }

    pub fn secret_name(self, names: &Names) -> String {
        match self {
            CaKind::Cluster => names.ca_secret(),
            CaKind::Etcd => names.etcd_ca_secret(),
            CaKind::FrontProxy => names.front_proxy_ca_secret(),
        }
    }
}

/// Extended key usage of a leaf certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
    ServerAndClient,
}

impl Usage {
    pub fn server(self) -> bool {
        matches!(self, Usage::Server | Usage::ServerAndClient)
    }
    pub fn client(self) -> bool {
        matches!(self, Usage::Client | Usage::ServerAndClient)
    }
}

/// What a leaf certificate must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub usage: Usage,
    pub issuer: CaKind,
}

impl LeafSpec {
    fn client(common_name: &str, organization: Option<&str>, issuer: CaKind) -> Self {
        Self {
            common_name: common_name.to_string(),
            organizations: organization.map(str::to_string).into_iter().collect(),
            dns_names: vec![],
            ip_addresses: vec![],
            usage: Usage::Client,
            issuer,
        }
    }
}

/// The content of one PKI Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetKind {
    Authority(CaKind),
    ServiceAccountKey,
    Certificate(LeafSpec),
    Kubeconfig {
        leaf: LeafSpec,
        server: String,
        cluster_name: String,
    },
}

/// One PKI Secret and what it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub secret: String,
    pub kind: AssetKind,
}

impl Asset {
    /// The authority that signs this asset, if any.
    pub fn issuer(&self) -> Option<CaKind> {
        match &self.kind {
            AssetKind::Certificate(leaf) | AssetKind::Kubeconfig { leaf, .. } => Some(leaf.issuer),
            AssetKind::Authority(_) | AssetKind::ServiceAccountKey => None,
        }
    }
}

/// Everything `hcp` needs. `extra_api_server_sans` are names and addresses learned
/// from the cluster (e.g. the Service's cluster IP or a load balancer address).
pub fn required(hcp: &HostedControlPlane, extra_api_server_sans: &[String]) -> Vec<Asset> {
    let names = Names::new(&hcp.name_any_or_default());
    let namespace = hcp.namespace_or_default();
    let server = hcp.in_cluster_server();
    let cluster_name = names.cluster().to_string();
    let kubeconfig = |secret: String, user: &str, group: Option<&str>| Asset {
        secret,
        kind: AssetKind::Kubeconfig {
            leaf: LeafSpec::client(user, group, CaKind::Cluster),
            server: server.clone(),
            cluster_name: cluster_name.clone(),
        },
    };
    let certificate = |secret: String, leaf: LeafSpec| Asset {
        secret,
        kind: AssetKind::Certificate(leaf),
    };

    let mut assets = vec![
        Asset {
            secret: names.ca_secret(),
            kind: AssetKind::Authority(CaKind::Cluster),
        },
        Asset {
            secret: names.etcd_ca_secret(),
            kind: AssetKind::Authority(CaKind::Etcd),
        },
        Asset {
            secret: names.front_proxy_ca_secret(),
            kind: AssetKind::Authority(CaKind::FrontProxy),
        },
        Asset {
            secret: names.service_account_secret(),
            kind: AssetKind::ServiceAccountKey,
        },
        certificate(
            names.api_server_cert_secret(),
            api_server_serving(hcp, &names, &namespace, extra_api_server_sans),
        ),
        certificate(
            names.api_server_kubelet_client_secret(),
            LeafSpec::client(
                "kube-apiserver-kubelet-client",
                Some("system:masters"),
                CaKind::Cluster,
            ),
        ),
        certificate(
            names.api_server_etcd_client_secret(),
            LeafSpec::client("kube-apiserver-etcd-client", None, CaKind::Etcd),
        ),
        certificate(
            names.front_proxy_client_secret(),
            LeafSpec::client("front-proxy-client", None, CaKind::FrontProxy),
        ),
    ];
    for index in 0..hcp.spec.etcd.replicas.max(0) as usize {
        let member = etcd_member(&names, index, &namespace);
        assets.push(certificate(names.etcd_server_cert(index), member.clone()));
        assets.push(certificate(names.etcd_peer_cert(index), member));
    }
    assets.push(kubeconfig(
        names.admin_kubeconfig_secret(),
        "kubernetes-admin",
        Some("system:masters"),
    ));
    assets.push(kubeconfig(
        names.controller_manager_kubeconfig_secret(),
        "system:kube-controller-manager",
        None,
    ));
    assets.push(kubeconfig(
        names.scheduler_kubeconfig_secret(),
        "system:kube-scheduler",
        None,
    ));
    assets
}

fn api_server_serving(
    hcp: &HostedControlPlane,
    names: &Names,
    namespace: &str,
    extra: &[String],
) -> LeafSpec {
    let service = names.api_server();
    let domain = &hcp.spec.network.dns_domain;
    let mut requested: Vec<String> = vec![
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{domain}"),
        service.clone(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    if let Ok(ip) = first_service_ip(&hcp.spec.network.service_cidr) {
        requested.push(ip.to_string());
    }
    if let Some(endpoint) = &hcp.spec.control_plane_endpoint {
        requested.push(endpoint.host.clone());
    }
    if let Some(ingress) = &hcp.spec.ingress {
        requested.push(ingress.hostname.clone());
    }
    requested.extend(hcp.spec.cert_sans.iter().cloned());
    requested.extend(extra.iter().cloned());

    let mut leaf = LeafSpec {
        common_name: "kube-apiserver".into(),
        organizations: vec![],
        dns_names: vec![],
        ip_addresses: vec![],
        usage: Usage::Server,
        issuer: CaKind::Cluster,
    };
    for entry in requested {
        match entry.parse::<IpAddr>() {
            Ok(ip) if !leaf.ip_addresses.contains(&ip) => leaf.ip_addresses.push(ip),
            Ok(_) => {}
            Err(_) if !leaf.dns_names.contains(&entry) => leaf.dns_names.push(entry),
            Err(_) => {}
        }
    }
    leaf
}

fn etcd_member(names: &Names, index: usize, namespace: &str) -> LeafSpec {
    let member = names.etcd_member(index);
    LeafSpec {
        common_name: member.clone(),
        organizations: vec![],
        dns_names: vec![
            member.clone(),
            format!("{member}.{namespace}"),
            format!("{member}.{namespace}.svc"),
            format!("{member}.{namespace}.svc.cluster.local"),
            "localhost".into(),
        ],
        ip_addresses: vec![IpAddr::from([127, 0, 0, 1])],
        usage: Usage::ServerAndClient,
        issuer: CaKind::Etcd,
    }
}
