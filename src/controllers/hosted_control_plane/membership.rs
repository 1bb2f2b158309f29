//! A control plane as part of a Cluster API cluster: which Cluster uses it, whether that
//! Cluster paused it or is going away, the cluster-name label that names its Secrets, and
//! `spec.controlPlaneEndpoint`, which Cluster API copies into the Cluster.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use tracing::info;

use super::observe::Observed;
use crate::api::HostedControlPlane;
use crate::api::cluster_api::{Cluster, cluster_api_owner, is_paused};
use crate::contract::CLUSTER_NAME;
use crate::controllers::{Context, Error};

/// Field manager of the fields of a HostedControlPlane that the operator writes itself.
const MEMBERSHIP_MANAGER: &str = "podplane-cluster-api";

/// What a pass may do, given the Cluster the control plane belongs to.
pub enum Standing {
    /// Reconcile as usual.
    Active,
    /// Cluster API paused it: change nothing (the reason goes into the Paused condition).
    Paused(String),
    /// Its Cluster is being deleted: only garbage collection acts on it now.
    ClusterDeleting(String),
}

/// The Cluster that uses `hcp`: its owner, the one its label names, or one whose
/// `spec.controlPlaneRef` names it.
pub fn cluster(context: &Context, hcp: &HostedControlPlane) -> Option<Arc<Cluster>> {
    let caches = &context.caches.cluster_api;
    let namespace = hcp.namespace().unwrap_or_default();
    let named = cluster_api_owner(&hcp.metadata, "Cluster")
        .or_else(|| hcp.labels().get(CLUSTER_NAME).cloned())
        .and_then(|name| caches.cluster(&namespace, &name));
    named.or_else(|| caches.cluster_using(&namespace, &hcp.name_any()))
}

pub fn standing(hcp: &HostedControlPlane, cluster: Option<&Cluster>) -> Standing {
    if let Some(cluster) = cluster.filter(|c| c.is_deleting()) {
        return Standing::ClusterDeleting(format!("Cluster {} is being deleted", cluster.name_any()));
    }
    if is_paused(&hcp.metadata) {
        return Standing::Paused("the HostedControlPlane has the annotation cluster.x-k8s.io/paused".into());
    }
    match cluster.filter(|c| c.is_paused()) {
        Some(cluster) => Standing::Paused(format!("Cluster {} is paused", cluster.name_any())),
        None => Standing::Active,
    }
}

/// Label `hcp` with the name of the Cluster that uses it, so that its Secrets carry the
/// names Cluster API looks for. Only a control plane that has no CA yet is labelled: one
/// with a CA keeps the names it has, since renaming would mean a new CA. For a fresh control
/// plane the CA and the Clusters are read from the API server, not the caches: a CA written
/// a moment ago, or a Cluster created just before the control plane, may not be cached yet.
/// Returns whether it patched (the next pass sees the label).
pub async fn adopt_cluster_name(
    context: &Context,
    hcp: &HostedControlPlane,
    cluster: Option<&Cluster>,
    observed: &Observed,
) -> Result<bool, Error> {
    let ca = hcp.names().ca_secret();
    if hcp.serves_a_cluster() || !context.caches.cluster_api.installed || observed.pki.contains_key(&ca) {
        return Ok(false);
    }
    let namespace = hcp.namespace_or_default();
    let secrets = Api::<Secret>::namespaced(context.client.clone(), &namespace);
    if secrets
        .get_opt(&ca)
        .await
        .map_err(Error::kube(format!("reading Secret {ca}")))?
        .is_some()
    {
        return Ok(false);
    }
    let name = match cluster {
        Some(cluster) => cluster.name_any(),
        None => {
            let clusters = Api::<Cluster>::namespaced(context.client.clone(), &namespace)
                .list(&ListParams::default())
                .await
                .map_err(Error::kube("listing Clusters"))?;
            match clusters
                .items
                .iter()
                .find(|c| c.uses_control_plane(&hcp.name_any()))
            {
                Some(cluster) => cluster.name_any(),
                None => return Ok(false),
            }
        }
    };
    let patch = serde_json::json!({"metadata": {"labels": {CLUSTER_NAME: name}}});
    api(context, hcp)
        .patch(&hcp.name_any(), &params(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("labelling the control plane with its Cluster"))?;
    info!(cluster = name, "labelled with the Cluster that uses it");
    Ok(true)
}

/// Write `spec.controlPlaneEndpoint` (the Service's in-cluster address, which worker Pods
/// join through) once the Service exists, for a control plane that serves a Cluster and has
/// none. Cluster API copies it into the Cluster; the kubeadm bootstrap provider waits for it.
pub async fn publish_endpoint(
    context: &Context,
    hcp: &HostedControlPlane,
    observed: &Observed,
) -> Result<(), Error> {
    if !hcp.serves_a_cluster() || hcp.spec.control_plane_endpoint.is_some() || observed.api_service.is_none()
    {
        return Ok(());
    }
    let host = hcp.names().api_server_service_host(&hcp.namespace_or_default());
    let patch = serde_json::json!({"spec": {"controlPlaneEndpoint": {
        "host": host,
        "port": hcp.spec.service.port,
    }}});
    api(context, hcp)
        .patch(&hcp.name_any(), &params(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube("writing spec.controlPlaneEndpoint"))?;
    Ok(())
}

fn api(context: &Context, hcp: &HostedControlPlane) -> Api<HostedControlPlane> {
    Api::namespaced(context.client.clone(), &hcp.namespace_or_default())
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MEMBERSHIP_MANAGER.into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcp(annotations: serde_json::Value) -> HostedControlPlane {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "controlplane.podplane.dev/v1alpha1",
            "kind": "HostedControlPlane",
            "metadata": {"name": "cp", "namespace": "t", "annotations": annotations},
            "spec": {"version": "v1.36.3"},
        }))
        .unwrap()
    }

    fn cluster(spec: serde_json::Value, deleting: bool) -> Cluster {
        let mut metadata = serde_json::json!({"name": "demo", "namespace": "t"});
        if deleting {
            metadata["deletionTimestamp"] = "2026-11-21T00:00:00Z".into();
        }
        serde_json::from_value(serde_json::json!({"metadata": metadata, "spec": spec})).unwrap()
    }

    #[test]
    fn paused_by_its_own_annotation_or_by_its_cluster_and_idle_while_the_cluster_goes() {
        let plain = hcp(serde_json::json!({}));
        assert!(matches!(standing(&plain, None), Standing::Active));
        let annotated = hcp(serde_json::json!({"cluster.x-k8s.io/paused": ""}));
        assert!(matches!(standing(&annotated, None), Standing::Paused(why) if why.contains("annotation")));
        let paused = cluster(serde_json::json!({"paused": true}), false);
        assert!(
            matches!(standing(&plain, Some(&paused)), Standing::Paused(why) if why == "Cluster demo is paused")
        );
        let going = cluster(serde_json::json!({"paused": true}), true);
        assert!(matches!(
            standing(&annotated, Some(&going)),
            Standing::ClusterDeleting(_)
        ));
        let running = cluster(serde_json::json!({"paused": false}), false);
        assert!(matches!(standing(&plain, Some(&running)), Standing::Active));
    }
}
