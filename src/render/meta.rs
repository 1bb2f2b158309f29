//! Names, labels and owner references shared by every child object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use crate::api::HostedControlPlane;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const NAME: &str = "app.kubernetes.io/name";
/// Selects the Pod of one etcd member.
pub const ETCD_MEMBER: &str = "controlplane.podplane.dev/etcd-member";
/// Cluster API's label naming the cluster an object belongs to.
pub const CLUSTER_NAME: &str = "cluster.x-k8s.io/cluster-name";
pub const MANAGER: &str = "podplane";

/// The part of the hosted control plane a child belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
    Scheduler,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }
}

/// Labels that select the Pods of `component` of this control plane.
pub fn selector(hcp: &HostedControlPlane, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTANCE.to_string(), hcp.name_any_or_default()),
        (COMPONENT.to_string(), component.as_str().to_string()),
    ])
}

/// Every label a child of `component` carries.
pub fn labels(hcp: &HostedControlPlane, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector(hcp, component);
    labels.insert(MANAGED_BY.into(), MANAGER.into());
    labels.insert(NAME.into(), component.as_str().into());
    labels
}

/// Metadata of a child named `name`: namespace, labels and a controller owner reference.
pub fn object_meta(hcp: &HostedControlPlane, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(hcp.namespace_or_default()),
        labels: Some(labels(hcp, component)),
        owner_references: hcp.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}
