//! Pure builders: from a HostedControlPlane and its PKI to typed Kubernetes objects.
//!
//! Nothing here talks to the API server; the controller applies what these return.

pub mod api_server;
pub mod controller_manager;
pub mod disruption;
pub mod etcd;
pub mod flags;
pub mod images;
pub mod ingress;
pub mod meta;
pub mod pod;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod tunnel;
pub mod workers;
pub mod workload;

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::api::{HostedControlPlane, PodMachine};
use crate::pki::IssuedPki;

/// One object the operator creates for a HostedControlPlane.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Child {
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    Deployment(Box<Deployment>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    Ingress(Box<Ingress>),
    PodMachine(Box<PodMachine>),
}

impl Child {
    /// The object's kind and metadata.
    pub fn kind_and_metadata(&self) -> (&'static str, &ObjectMeta) {
        fn of<K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>>(
            k: &K,
        ) -> (&'static str, &ObjectMeta) {
            (K::KIND, k.metadata())
        }
        match self {
            Child::Secret(o) => of(o.as_ref()),
            Child::ConfigMap(o) => of(o.as_ref()),
            Child::Service(o) => of(o.as_ref()),
            Child::PersistentVolumeClaim(o) => of(o.as_ref()),
            Child::Deployment(o) => of(o.as_ref()),
            Child::PodDisruptionBudget(o) => of(o.as_ref()),
            Child::Ingress(o) => of(o.as_ref()),
            Child::PodMachine(o) => (<PodMachine as k8s_openapi::Resource>::KIND, &o.metadata),
        }
    }
}

/// Every object for `hcp`: Secrets first, then what mounts them. `address` is the API
/// server Service's cluster IP once it has one (see [`api_server::command`]).
pub fn all(hcp: &HostedControlPlane, pki: &IssuedPki, address: Option<IpAddr>) -> Vec<Child> {
    with_workers(hcp, pki, address, &workers::initial(hcp))
}

/// [`all`], with the worker machines `workers` (index, node image) of an ongoing rollout.
pub fn with_workers(
    hcp: &HostedControlPlane,
    pki: &IssuedPki,
    address: Option<IpAddr>,
    workers: &[(usize, Option<String>)],
) -> Vec<Child> {
    let mut children: Vec<Child> = secrets::all(hcp, pki)
        .into_iter()
        .map(|s| Child::Secret(Box::new(s)))
        .collect();
    children.push(Child::ConfigMap(Box::new(scheduler::config_map(hcp))));
    children.push(Child::ConfigMap(Box::new(tunnel::egress_config_map(hcp))));
    for member in 0..etcd::member_count(hcp) {
        children.push(Child::Service(Box::new(etcd::service(hcp, member))));
        if let Some(claim) = etcd::claim(hcp, member) {
            children.push(Child::PersistentVolumeClaim(Box::new(claim)));
        }
        children.push(Child::Deployment(Box::new(etcd::deployment(hcp, member))));
    }
    children.push(Child::Service(Box::new(service::api_server(hcp))));
    children.push(Child::Deployment(Box::new(api_server::deployment(hcp, address))));
    children.push(Child::Deployment(Box::new(controller_manager::deployment(hcp))));
    children.push(Child::Deployment(Box::new(scheduler::deployment(hcp))));
    children.extend(
        disruption::all(hcp)
            .into_iter()
            .map(|p| Child::PodDisruptionBudget(Box::new(p))),
    );
    if let Some(ingress) = ingress::api_server(hcp) {
        children.push(Child::Ingress(Box::new(ingress)));
    }
    children.extend(
        workers::machines(hcp, workers)
            .into_iter()
            .map(|m| Child::PodMachine(Box::new(m))),
    );
    children
}
