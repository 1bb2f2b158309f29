//! The operator's view of the management cluster: one watch per kind, kept in reflector
//! stores that reconciles read instead of listing, and routed to the objects whose
//! reconcile an event concerns (an owner, the control plane a Pod belongs to, ...).

use std::fmt::Debug;
use std::hash::Hash;

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use super::cluster_api_cache::{self, ClusterApiCaches};
use crate::api::{HostedControlPlane, PodMachine};
use crate::contract::{CLUSTER_NAME, COMPONENT, INSTANCE, MANAGED_BY, MANAGER};

/// A reconcile request for an object of kind `K`.
pub type ObjectRefOf<K> = ObjectRef<DeserializeGuard<K>>;
pub type ControlPlaneRef = ObjectRefOf<HostedControlPlane>;
pub type MachineRef = ObjectRefOf<PodMachine>;

/// The stores every reconcile reads.
#[derive(Clone)]
pub struct Caches {
    pub control_planes: Store<DeserializeGuard<HostedControlPlane>>,
    pub machines: Store<DeserializeGuard<PodMachine>>,
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    /// Ours, and the Cluster API ones (labelled with the cluster name).
    pub secrets: Store<Secret>,
    pub config_maps: Store<ConfigMap>,
    pub budgets: Store<PodDisruptionBudget>,
    pub ingresses: Store<Ingress>,
    pub claims: Store<PersistentVolumeClaim>,
    /// Control-plane and worker Pods.
    pub pods: Store<Pod>,
    /// Cluster API's Clusters and Machines, when it is installed.
    pub cluster_api: ClusterApiCaches,
}

/// Where a watch event sends reconcile requests.
#[derive(Clone)]
pub struct Routes {
    pub control_planes: UnboundedSender<ControlPlaneRef>,
    pub machines: UnboundedSender<MachineRef>,
    /// The uid of a control plane that is gone (what is kept about its cluster can go).
    pub gone: UnboundedSender<String>,
}

impl Routes {
    pub(super) fn control_plane(&self, name: &str, namespace: &str) {
        let _ = self.control_planes.send(ObjectRef::new(name).within(namespace));
    }

    pub(super) fn machine(&self, name: &str, namespace: &str) {
        let _ = self.machines.send(ObjectRef::new(name).within(namespace));
    }
}

/// The name of `object`'s controller owner when it is of `kind`.
fn controller_of<K: Resource>(object: &K, kind: &str) -> Option<String> {
    object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == kind)
        .map(|o| o.name.clone())
}

fn route_owned<K: Resource>(routes: &Routes, object: &K) {
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    if let Some(owner) = controller_of(object, &HostedControlPlane::kind(&())) {
        routes.control_plane(&owner, &namespace);
    }
}

/// A control plane concerns itself and the machines that join it; one no longer in the
/// store (the reflector applies an event before it is routed) is gone.
fn route_control_plane(
    routes: &Routes,
    stores: &(
        Store<DeserializeGuard<HostedControlPlane>>,
        Store<DeserializeGuard<PodMachine>>,
    ),
    hcp: &DeserializeGuard<HostedControlPlane>,
) {
    let (control_planes, machines) = stores;
    let name = hcp.name_any();
    let namespace = hcp.namespace().unwrap_or_default();
    routes.control_plane(&name, &namespace);
    if control_planes
        .get(&ObjectRef::new(&name).within(&namespace))
        .is_none()
    {
        let _ = routes.gone.send(hcp.uid().unwrap_or_default());
    }
    for machine in machines.state() {
        if let Ok(m) = &machine.0
            && m.namespace().as_deref() == Some(namespace.as_str())
            && m.control_plane_name() == Some(name.as_str())
        {
            routes.machine(&m.name_any(), &namespace);
        }
    }
}

/// A machine concerns itself and the control plane that owns it (`status.workers`).
fn route_machine(routes: &Routes, machine: &DeserializeGuard<PodMachine>) {
    let namespace = machine.namespace().unwrap_or_default();
    routes.machine(&machine.name_any(), &namespace);
    route_owned(routes, machine);
}

/// A worker Pod concerns its machine; a control-plane Pod its control plane.
fn route_pod(routes: &Routes, pod: &Pod) {
    let namespace = pod.namespace().unwrap_or_default();
    if let Some(machine) = controller_of(pod, &PodMachine::kind(&())) {
        routes.machine(&machine, &namespace);
    } else if let Some(instance) = pod.labels().get(INSTANCE) {
        routes.control_plane(instance, &namespace);
    }
}

/// Keep `writer` in step with the watch of `api`, calling `route` on every object that
/// appears, changes or goes. Watch errors are retried with backoff and logged, never fatal.
pub(super) fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    route: impl Fn(&K) + Send + 'static,
) -> impl Stream<Item = ()> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let kind = K::kind(&Default::default()).to_string();
    reflector::reflector(writer, watcher(api, config).default_backoff()).map(move |event| match event {
        Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o)) => route(&o),
        Ok(_) => {}
        Err(error) => warn!(%error, kind, "watch failed; retrying"),
    })
}

/// Routes a child to the control plane that owns it.
fn owned<K: Resource>(routes: &Routes) -> impl Fn(&K) + Send + 'static {
    let routes = routes.clone();
    move |object| route_owned(&routes, object)
}

fn ours() -> watcher::Config {
    watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER}"))
}

fn all<K>(client: &Client) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    Api::all(client.clone())
}

/// Start every watch (Cluster API's only when `cluster_api` says it is installed); the
/// returned future drives them (it never ends).
pub fn start(
    client: &Client,
    routes: Routes,
    cluster_api: bool,
) -> (Caches, impl std::future::Future<Output = ()> + Send + use<>) {
    let (control_planes, hcp_writer) = reflector::store();
    let (machines, machine_writer) = reflector::store();
    let (deployments, deployment_writer) = reflector::store();
    let (services, service_writer) = reflector::store();
    let (secrets, secret_writer) = reflector::store();
    let (config_maps, config_map_writer) = reflector::store();
    let (budgets, budget_writer) = reflector::store();
    let (ingresses, ingress_writer) = reflector::store();
    let (claims, claim_writer) = reflector::store();
    let (pods, pod_writer) = reflector::store();
    let (cluster_api, cluster_api_watches) =
        cluster_api_cache::start(client, &routes, &machines, cluster_api);
    let caches = Caches {
        cluster_api,
        control_planes,
        machines: machines.clone(),
        deployments,
        services,
        secrets,
        config_maps,
        budgets,
        ingresses,
        claims,
        pods,
    };
    let r = routes;
    let watches = futures::stream::select_all(
        cluster_api_watches.into_iter().chain([
            {
                let r = r.clone();
                let stores = (caches.control_planes.clone(), machines.clone());
                reflect(all(client), watcher::Config::default(), hcp_writer, move |o| {
                    route_control_plane(&r, &stores, o)
                })
                .boxed()
            },
            {
                let r = r.clone();
                reflect(
                    all(client),
                    watcher::Config::default(),
                    machine_writer,
                    move |o| route_machine(&r, o),
                )
                .boxed()
            },
            reflect(all::<Deployment>(client), ours(), deployment_writer, owned(&r)).boxed(),
            reflect(all::<Service>(client), ours(), service_writer, owned(&r)).boxed(),
            reflect(
                all::<Secret>(client),
                watcher::Config::default().labels(CLUSTER_NAME),
                secret_writer,
                owned(&r),
            )
            .boxed(),
            reflect(all::<ConfigMap>(client), ours(), config_map_writer, owned(&r)).boxed(),
            reflect(
                all::<PodDisruptionBudget>(client),
                ours(),
                budget_writer,
                owned(&r),
            )
            .boxed(),
            reflect(all::<Ingress>(client), ours(), ingress_writer, owned(&r)).boxed(),
            reflect(
                all::<PersistentVolumeClaim>(client),
                ours(),
                claim_writer,
                owned(&r),
            )
            .boxed(),
            {
                let r = r.clone();
                let config =
                    watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER},{COMPONENT}"));
                reflect(all::<Pod>(client), config, pod_writer, move |o| route_pod(&r, o)).boxed()
            },
        ]),
    );
    (caches, watches.for_each(|()| async {}))
}

impl Caches {
    /// Wait until every store holds its first full list: before that, a missing object
    /// may only be not listed yet (and a missing CA must never be taken for an absent one).
    pub async fn synced(&self) -> Result<(), reflector::store::WriterDropped> {
        self.control_planes.wait_until_ready().await?;
        self.machines.wait_until_ready().await?;
        self.deployments.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.secrets.wait_until_ready().await?;
        self.config_maps.wait_until_ready().await?;
        self.budgets.wait_until_ready().await?;
        self.ingresses.wait_until_ready().await?;
        self.claims.wait_until_ready().await?;
        self.pods.wait_until_ready().await?;
        self.cluster_api.synced().await
    }
}

/// The objects of `store` in `namespace` whose labels include `instance=<name>`.
pub fn of_instance<K: Resource + Clone>(
    store: &Store<K>,
    namespace: &str,
    name: &str,
) -> Vec<std::sync::Arc<K>>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store.state_filter(|o| {
        o.meta().namespace.as_deref() == Some(namespace)
            && o.meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(INSTANCE))
                .map(String::as_str)
                == Some(name)
    })
}

/// The reconcile requests sent to `receiver`, as the stream a controller reads.
pub fn requests<T>(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static
where
    T: Send + 'static,
{
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
