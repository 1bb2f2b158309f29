//! Watches of Cluster API's `Cluster`s and `Machine`s, when Cluster API is installed: a
//! Cluster concerns the control plane it uses and the machines labelled with its name; a
//! Machine concerns the PodMachine it points at.

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use super::cache::{Routes, reflect};
use crate::api::PodMachine;
use crate::api::cluster_api::{CLUSTER_API_GROUP, CLUSTER_API_VERSION, Cluster, Machine};
use crate::contract::CLUSTER_NAME;

/// The Cluster API objects podplane reads; empty stores when Cluster API is not installed.
#[derive(Clone)]
pub struct ClusterApiCaches {
    /// Whether Cluster API's v1beta2 API was served when the operator started.
    pub installed: bool,
    pub clusters: Store<Cluster>,
    pub machines: Store<Machine>,
}

/// Whether the management cluster serves Cluster API's `Cluster` and `Machine` (v1beta2).
pub async fn installed(client: &Client) -> bool {
    let group_version = format!("{CLUSTER_API_GROUP}/{CLUSTER_API_VERSION}");
    match client.list_api_group_resources(&group_version).await {
        Ok(list) => ["clusters", "machines"]
            .iter()
            .all(|plural| list.resources.iter().any(|r| r.name == *plural)),
        Err(_) => false,
    }
}

fn route_cluster(routes: &Routes, machines: &Store<DeserializeGuard<PodMachine>>, cluster: &Cluster) {
    let namespace = cluster.namespace().unwrap_or_default();
    if let Some(name) = cluster.control_plane_name() {
        routes.control_plane(name, &namespace);
    }
    let name = cluster.name_any();
    for machine in machines.state() {
        if machine.namespace().as_deref() == Some(namespace.as_str())
            && machine.labels().get(CLUSTER_NAME) == Some(&name)
        {
            routes.machine(&machine.name_any(), &namespace);
        }
    }
}

fn route_machine(routes: &Routes, machine: &Machine) {
    let namespace = machine.namespace().unwrap_or_default();
    if let Some(reference) = &machine.spec.infrastructure_ref
        && reference.kind == PodMachine::kind(&())
    {
        routes.machine(&reference.name, &namespace);
    }
}

/// The stores, and the watch streams that fill them (none when Cluster API is absent).
pub fn start(
    client: &Client,
    routes: &Routes,
    machines: &Store<DeserializeGuard<PodMachine>>,
    installed: bool,
) -> (ClusterApiCaches, Vec<BoxStream<'static, ()>>) {
    let (clusters, cluster_writer) = reflector::store();
    let (capi_machines, machine_writer) = reflector::store();
    let caches = ClusterApiCaches {
        installed,
        clusters,
        machines: capi_machines,
    };
    if !installed {
        return (caches, vec![]);
    }
    let cluster_routes = routes.clone();
    let machine_routes = routes.clone();
    let machines = machines.clone();
    let streams = vec![
        reflect(
            Api::<Cluster>::all(client.clone()),
            watcher::Config::default(),
            cluster_writer,
            move |o| route_cluster(&cluster_routes, &machines, o),
        )
        .boxed(),
        reflect(
            Api::<Machine>::all(client.clone()),
            watcher::Config::default(),
            machine_writer,
            move |o| route_machine(&machine_routes, o),
        )
        .boxed(),
    ];
    (caches, streams)
}

impl ClusterApiCaches {
    /// Wait for the first full lists (at once when Cluster API is not installed).
    pub async fn synced(&self) -> Result<(), reflector::store::WriterDropped> {
        if self.installed {
            self.clusters.wait_until_ready().await?;
            self.machines.wait_until_ready().await?;
        }
        Ok(())
    }

    /// The Cluster named `name` in `namespace`.
    pub fn cluster(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<Cluster>> {
        self.clusters
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }

    /// The Machine named `name` in `namespace`.
    pub fn machine(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<Machine>> {
        self.machines
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }

    /// The Cluster whose `spec.controlPlaneRef` is the HostedControlPlane `name`.
    pub fn cluster_using(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<Cluster>> {
        self.clusters
            .state()
            .into_iter()
            .find(|c| c.namespace().as_deref() == Some(namespace) && c.uses_control_plane(name))
    }
}
