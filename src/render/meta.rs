//! Labels and owner references shared by every child object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use crate::api::HostedControlPlane;
use crate::components::Component;
use crate::contract::{CLUSTER_NAME, COMPONENT, INSTANCE, MANAGED_BY, MANAGER, NAME, WORKER_COMPONENT};

/// Labels that select the Pods of `component` of this control plane.
pub fn selector(hcp: &HostedControlPlane, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTANCE.to_string(), hcp.name_any_or_default()),
        (COMPONENT.to_string(), component.as_str().to_string()),
    ])
}

/// Every label a child of `component` carries.
fn labels(hcp: &HostedControlPlane, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector(hcp, component);
    labels.insert(MANAGED_BY.into(), MANAGER.into());
    labels.insert(NAME.into(), component.as_str().into());
    labels
}

/// Labels of the worker objects (`app.kubernetes.io/name: name`) of `cluster`.
pub fn worker_labels(cluster: &str, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGER.to_string()),
        (NAME.to_string(), name.to_string()),
        (COMPONENT.to_string(), WORKER_COMPONENT.to_string()),
        (INSTANCE.to_string(), cluster.to_string()),
        (CLUSTER_NAME.to_string(), cluster.to_string()),
    ])
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
