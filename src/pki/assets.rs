//! What certificates, keys and kubeconfigs a HostedControlPlane needs.

use std::net::IpAddr;

use crate::api::HostedControlPlane;
use crate::components::{Component, PkiSecret};
use crate::contract::CLUSTER_API_SECRET_TYPE;
use crate::names::Names;
use crate::network::first_service_ip;

/// One of the four certificate authorities of a control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaKind {
    /// Signs the API server, clients and kubelets.
    Cluster,
    /// Signs etcd servers, peers and clients.
    Etcd,
    /// Signs the API server's client certificate for aggregated APIs.
    FrontProxy,
    /// Signs the konnectivity server's certificate for agents and the agents' client
    /// certificate: its own authority, so no other certificate of the cluster (a kubelet's,
    /// say) can register as an agent and receive the API server's traffic.
    Tunnel,
}

impl CaKind {
    pub fn common_name(self) -> &'static str {
        match self {
            CaKind::Cluster => "kubernetes",
            CaKind::Etcd => "etcd-ca",
            CaKind::FrontProxy => "front-proxy-ca",
            CaKind::Tunnel => "konnectivity-ca",
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

/// How a PKI Secret is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretType {
    /// What Cluster API reads: the authorities, the service-account key, the admin kubeconfig.
    ClusterApi,
    /// A certificate and its key.
    Tls,
    /// A component's kubeconfig.
    Opaque,
}

impl SecretType {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::ClusterApi => CLUSTER_API_SECRET_TYPE,
            SecretType::Tls => "kubernetes.io/tls",
            SecretType::Opaque => "Opaque",
        }
    }
}

/// One PKI Secret and what it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub secret: String,
    pub kind: AssetKind,
    pub secret_type: SecretType,
    /// The component whose Pods mount the Secret; the Secret carries its labels.
    pub component: Component,
}

impl Asset {
    fn new(names: &Names, secret: PkiSecret, secret_type: SecretType, kind: AssetKind) -> Self {
        Self {
            secret: names.pki_secret(secret),
            kind,
            secret_type,
            component: secret.component(),
        }
    }

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
    let names = hcp.names();
    let namespace = hcp.namespace_or_default();
    let authority = |secret, ca| Asset::new(&names, secret, SecretType::ClusterApi, AssetKind::Authority(ca));
    let certificate =
        |secret, leaf| Asset::new(&names, secret, SecretType::Tls, AssetKind::Certificate(leaf));
    let api_server = Component::ApiServer.as_str();

    let mut assets = vec![
        authority(PkiSecret::ClusterCa, CaKind::Cluster),
        authority(PkiSecret::EtcdCa, CaKind::Etcd),
        authority(PkiSecret::FrontProxyCa, CaKind::FrontProxy),
        authority(PkiSecret::TunnelCa, CaKind::Tunnel),
        Asset::new(
            &names,
            PkiSecret::ServiceAccountKey,
            SecretType::ClusterApi,
            AssetKind::ServiceAccountKey,
        ),
        certificate(
            PkiSecret::ApiServerServing,
            api_server_serving(hcp, &names, &namespace, extra_api_server_sans),
        ),
        certificate(PkiSecret::TunnelServer, {
            let mut leaf = api_server_serving(hcp, &names, &namespace, extra_api_server_sans);
            leaf.common_name = "konnectivity-server".into();
            leaf.issuer = CaKind::Tunnel;
            leaf
        }),
        certificate(
            PkiSecret::TunnelAgent,
            LeafSpec::client("konnectivity-agent", None, CaKind::Tunnel),
        ),
        certificate(
            PkiSecret::ApiServerKubeletClient,
            LeafSpec::client(
                &format!("{api_server}-kubelet-client"),
                Some("system:masters"),
                CaKind::Cluster,
            ),
        ),
        certificate(
            PkiSecret::ApiServerEtcdClient,
            LeafSpec::client(&format!("{api_server}-etcd-client"), None, CaKind::Etcd),
        ),
        certificate(
            PkiSecret::FrontProxyClient,
            LeafSpec::client("front-proxy-client", None, CaKind::FrontProxy),
        ),
    ];
    for index in 0..hcp.spec.etcd.replicas.max(0) as usize {
        let member = etcd_member(&names, index, &namespace);
        assets.push(certificate(PkiSecret::EtcdServer(index), member.clone()));
        assets.push(certificate(PkiSecret::EtcdPeer(index), member));
    }
    assets.extend(kubeconfigs(hcp, &names));
    assets
}

/// The admin's kubeconfig, then one per component that reaches the API server with one,
/// as the Kubernetes user named after the component.
fn kubeconfigs(hcp: &HostedControlPlane, names: &Names) -> Vec<Asset> {
    let kubeconfig = |secret, secret_type, user: &str, group: Option<&str>| {
        let kind = AssetKind::Kubeconfig {
            leaf: LeafSpec::client(user, group, CaKind::Cluster),
            server: hcp.in_cluster_server(),
            cluster_name: names.cluster().to_string(),
        };
        Asset::new(names, secret, secret_type, kind)
    };
    let admin = kubeconfig(
        PkiSecret::AdminKubeconfig,
        SecretType::ClusterApi,
        "kubernetes-admin",
        Some("system:masters"),
    );
    let components = Component::ALL.into_iter().filter_map(|component| {
        let secret = component.kubeconfig()?;
        let user = format!("system:{}", component.as_str());
        Some(kubeconfig(secret, SecretType::Opaque, &user, None))
    });
    std::iter::once(admin).chain(components).collect()
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
        common_name: Component::ApiServer.as_str().into(),
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
