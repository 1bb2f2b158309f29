//! The control-plane components, in one table: what each is called, which image it runs,
//! which ports it serves and which PKI Secrets its Pods read. The renderers, the PKI and
//! the status read it instead of spelling component names out.

use PkiSecret::*;

use crate::contract::{KUBECONFIG_KEY, TLS_CERT, TLS_KEY};

/// A part of the hosted control plane, run as its own Pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
    Scheduler,
}

/// A port a component serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: &'static str,
    pub number: i32,
}

/// etcd's clients (the API server) connect here.
pub const ETCD_CLIENT_PORT: Port = Port {
    name: "client",
    number: 2379,
};
/// etcd members replicate over this port.
pub const ETCD_PEER_PORT: Port = Port {
    name: "peer",
    number: 2380,
};
/// etcd's plain-HTTP metrics and health endpoints.
pub const ETCD_METRICS_PORT: Port = Port {
    name: "metrics",
    number: 2381,
};
pub const API_SERVER_PORT: Port = Port {
    name: "https",
    number: 6443,
};
pub const CONTROLLER_MANAGER_PORT: Port = Port {
    name: "https",
    number: 10257,
};
pub const SCHEDULER_PORT: Port = Port {
    name: "https",
    number: 10259,
};
/// The konnectivity server (a sidecar of the API server) accepts agents here.
pub const TUNNEL_AGENT_PORT: Port = Port {
    name: "konnectivity",
    number: 8132,
};
/// The konnectivity server's metrics and admin endpoints.
pub const TUNNEL_ADMIN_PORT: Port = Port {
    name: "tunnel-admin",
    number: 8133,
};
/// The konnectivity server's health endpoints.
pub const TUNNEL_HEALTH_PORT: Port = Port {
    name: "tunnel-health",
    number: 8134,
};

/// One of a control plane's PKI Secrets, by what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkiSecret {
    /// Signs the API server, clients and kubelets.
    ClusterCa,
    /// Signs etcd servers, peers and clients.
    EtcdCa,
    /// Signs the API server's client certificate for aggregated API servers.
    FrontProxyCa,
    /// Signs and verifies service-account tokens.
    ServiceAccountKey,
    /// The API server's serving certificate.
    ApiServerServing,
    /// The client certificate the API server presents to kubelets.
    ApiServerKubeletClient,
    /// The client certificate the API server presents to etcd.
    ApiServerEtcdClient,
    /// The client certificate the API server presents to aggregated API servers.
    FrontProxyClient,
    /// Signs the konnectivity server's certificate for agents and the agents' certificate.
    TunnelCa,
    /// The konnectivity server's certificate, presented to agents.
    TunnelServer,
    /// The client certificate konnectivity agents present (copied into the hosted cluster).
    TunnelAgent,
    /// Serving certificate of an etcd member.
    EtcdServer(usize),
    /// Peer certificate of an etcd member.
    EtcdPeer(usize),
    AdminKubeconfig,
    ControllerManagerKubeconfig,
    SchedulerKubeconfig,
}

/// A file a component's Pods read from key `key` of a PKI Secret, at `path` in their
/// configuration volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PkiFile {
    pub secret: PkiSecret,
    pub key: &'static str,
    pub path: &'static str,
}

const fn file(secret: PkiSecret, key: &'static str, path: &'static str) -> PkiFile {
    PkiFile { secret, key, path }
}

const ETCD_FILES: &[PkiFile] = &[file(EtcdCa, TLS_CERT, "ca.crt")];
const API_SERVER_FILES: &[PkiFile] = &[
    file(ClusterCa, TLS_CERT, "pki/ca.crt"),
    file(ApiServerServing, TLS_CERT, "pki/apiserver.crt"),
    file(ApiServerServing, TLS_KEY, "pki/apiserver.key"),
    file(
        ApiServerKubeletClient,
        TLS_CERT,
        "pki/apiserver-kubelet-client.crt",
    ),
    file(
        ApiServerKubeletClient,
        TLS_KEY,
        "pki/apiserver-kubelet-client.key",
    ),
    file(ApiServerEtcdClient, TLS_CERT, "pki/apiserver-etcd-client.crt"),
    file(ApiServerEtcdClient, TLS_KEY, "pki/apiserver-etcd-client.key"),
    file(EtcdCa, TLS_CERT, "pki/etcd/ca.crt"),
    file(FrontProxyCa, TLS_CERT, "pki/front-proxy-ca.crt"),
    file(FrontProxyClient, TLS_CERT, "pki/front-proxy-client.crt"),
    file(FrontProxyClient, TLS_KEY, "pki/front-proxy-client.key"),
    file(ServiceAccountKey, TLS_CERT, "pki/sa.pub"),
    file(ServiceAccountKey, TLS_KEY, "pki/sa.key"),
    file(TunnelCa, TLS_CERT, "konnectivity/ca.crt"),
    file(TunnelServer, TLS_CERT, "konnectivity/server.crt"),
    file(TunnelServer, TLS_KEY, "konnectivity/server.key"),
];
const CONTROLLER_MANAGER_FILES: &[PkiFile] = &[
    file(
        ControllerManagerKubeconfig,
        KUBECONFIG_KEY,
        "controller-manager.conf",
    ),
    file(ClusterCa, TLS_CERT, "pki/ca.crt"),
    file(ClusterCa, TLS_KEY, "pki/ca.key"),
    file(FrontProxyCa, TLS_CERT, "pki/front-proxy-ca.crt"),
    file(ServiceAccountKey, TLS_KEY, "pki/sa.key"),
];
const SCHEDULER_FILES: &[PkiFile] = &[file(SchedulerKubeconfig, KUBECONFIG_KEY, "scheduler.conf")];

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Etcd,
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ];

    /// The component's name: its label value, binary and container name.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    /// Its image in an image repository: upstream names each image after its binary.
    pub fn image(self) -> &'static str {
        self.as_str()
    }

    /// The ports it serves.
    pub fn ports(self) -> &'static [Port] {
        match self {
            Component::Etcd => &[ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_METRICS_PORT],
            Component::ApiServer => &[API_SERVER_PORT],
            Component::ControllerManager => &[CONTROLLER_MANAGER_PORT],
            Component::Scheduler => &[SCHEDULER_PORT],
        }
    }

    /// The files every Pod of the component reads from PKI Secrets, in mount order. An
    /// etcd member also reads its own certificates: [`etcd_member_files`].
    pub fn pki_files(self) -> &'static [PkiFile] {
        match self {
            Component::Etcd => ETCD_FILES,
            Component::ApiServer => API_SERVER_FILES,
            Component::ControllerManager => CONTROLLER_MANAGER_FILES,
            Component::Scheduler => SCHEDULER_FILES,
        }
    }

    /// The kubeconfig Secret it reaches the API server with, if it does.
    pub fn kubeconfig(self) -> Option<PkiSecret> {
        self.pki_files()
            .iter()
            .find(|file| file.key == KUBECONFIG_KEY)
            .map(|file| file.secret)
    }
}

/// The files etcd member `member` reads from its own certificate Secrets.
pub fn etcd_member_files(member: usize) -> [PkiFile; 4] {
    [
        file(EtcdServer(member), TLS_CERT, "server.crt"),
        file(EtcdServer(member), TLS_KEY, "server.key"),
        file(EtcdPeer(member), TLS_CERT, "peer.crt"),
        file(EtcdPeer(member), TLS_KEY, "peer.key"),
    ]
}

impl PkiSecret {
    /// Every PKI Secret but the etcd members' own.
    pub const SHARED: [PkiSecret; 14] = [
        ClusterCa,
        EtcdCa,
        FrontProxyCa,
        TunnelCa,
        TunnelServer,
        TunnelAgent,
        ServiceAccountKey,
        ApiServerServing,
        ApiServerKubeletClient,
        ApiServerEtcdClient,
        FrontProxyClient,
        AdminKubeconfig,
        ControllerManagerKubeconfig,
        SchedulerKubeconfig,
    ];

    /// The component whose Pods mount the Secret: the first in [`Component::ALL`] that does.
    /// No Pod mounts the admin kubeconfig or the agents' certificate; they belong to the
    /// API server they reach.
    pub fn component(self) -> Component {
        match self {
            EtcdServer(_) | EtcdPeer(_) => Component::Etcd,
            AdminKubeconfig | TunnelAgent => Component::ApiServer,
            shared => Component::ALL
                .into_iter()
                .find(|c| c.pki_files().iter().any(|f| f.secret == shared))
                .expect("every shared PKI Secret is mounted by some component"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pki_secret_but_the_admin_kubeconfig_is_mounted() {
        let mounted = |secret| {
            Component::ALL
                .iter()
                .any(|c| c.pki_files().iter().any(|f| f.secret == secret))
        };
        for secret in PkiSecret::SHARED
            .into_iter()
            .filter(|s| ![AdminKubeconfig, TunnelAgent].contains(s))
        {
            assert!(mounted(secret), "no component mounts {secret:?}");
        }
    }

    #[test]
    fn secrets_belong_to_the_first_component_that_mounts_them() {
        assert_eq!(EtcdCa.component(), Component::Etcd);
        assert_eq!(EtcdPeer(2).component(), Component::Etcd);
        assert_eq!(ClusterCa.component(), Component::ApiServer);
        assert_eq!(ServiceAccountKey.component(), Component::ApiServer);
        assert_eq!(AdminKubeconfig.component(), Component::ApiServer);
        assert_eq!(
            ControllerManagerKubeconfig.component(),
            Component::ControllerManager
        );
        assert_eq!(SchedulerKubeconfig.component(), Component::Scheduler);
    }

    #[test]
    fn a_component_mounts_each_file_path_once() {
        for component in Component::ALL {
            let files = component.pki_files();
            for (i, file) in files.iter().enumerate() {
                assert!(
                    files[i + 1..].iter().all(|other| other.path != file.path),
                    "{component:?} mounts {} twice",
                    file.path
                );
            }
        }
    }

    #[test]
    fn only_the_controller_manager_and_scheduler_use_kubeconfigs() {
        let with_kubeconfig: Vec<_> = Component::ALL
            .into_iter()
            .filter_map(|c| c.kubeconfig().map(|k| (c, k)))
            .collect();
        assert_eq!(
            with_kubeconfig,
            [
                (Component::ControllerManager, ControllerManagerKubeconfig),
                (Component::Scheduler, SchedulerKubeconfig)
            ]
        );
    }
}
