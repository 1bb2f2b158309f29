//! Observe: what the management cluster holds for one HostedControlPlane, read from the
//! watch caches.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::ListParams;
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;

use crate::api::{HostedControlPlane, PodMachine};
use crate::contract::{CLUSTER_NAME, INSTANCE, MANAGED_BY, MANAGER};
use crate::controllers::cache::{Caches, of_instance};
use crate::controllers::{APPLIED_DIGEST, Error};
use crate::pki::{Asset, AssetKind, SecretData, SecretSet};

/// A child that exists, as the API server holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    /// Whether this control plane is its controller (else someone else's: left alone).
    pub owned: bool,
    /// The digest of what podplane last applied to it.
    pub digest: Option<String>,
    pub object: serde_json::Value,
}

/// What the management cluster holds for one HostedControlPlane.
#[derive(Default)]
pub struct Observed {
    /// Children labelled as ours, by (kind, name).
    pub children: BTreeMap<(&'static str, String), Live>,
    /// Data of the PKI Secrets that exist (ours, and CAs someone else provided).
    pub pki: SecretSet,
    pub deployments: Vec<Arc<Deployment>>,
    pub pods: Vec<Arc<Pod>>,
    pub api_service: Option<Arc<Service>>,
    /// Worker machines from `spec.workers`.
    pub machines: Vec<Arc<PodMachine>>,
}

impl Observed {
    /// The API server Service's cluster IP: the address the API server publishes.
    pub fn published_address(&self) -> Option<IpAddr> {
        self.api_service
            .as_ref()?
            .spec
            .as_ref()?
            .cluster_ip
            .as_deref()?
            .parse()
            .ok()
    }

    /// Addresses the API server certificate must also name: the Service's cluster IP
    /// (the published address) and the load balancer's, once assigned. (Clients that
    /// connect by node address check the Service's DNS name instead, as `podplane
    /// kubeconfig` sets up.)
    pub fn extra_api_server_sans(&self) -> Vec<String> {
        let mut sans: Vec<String> = self
            .published_address()
            .map(|a| a.to_string())
            .into_iter()
            .collect();
        let ingress = self
            .api_service
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.clone());
        for point in ingress.unwrap_or_default() {
            sans.extend(point.ip);
            sans.extend(point.hostname);
        }
        sans
    }

    fn record<K>(&mut self, hcp: &HostedControlPlane, objects: &[Arc<K>])
    where
        K: Resource<DynamicType = ()> + k8s_openapi::Resource + Serialize,
    {
        let uid = hcp.uid();
        for object in objects {
            let meta = object.meta();
            let owned = meta
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref());
            let digest = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(APPLIED_DIGEST))
                .cloned();
            let live = Live {
                owned,
                digest,
                object: serde_json::to_value(object.as_ref()).unwrap_or_default(),
            };
            let name = meta.name.clone().unwrap_or_default();
            self.children
                .insert((<K as k8s_openapi::Resource>::KIND, name), live);
        }
    }
}

fn secret_data(secret: &Secret) -> SecretData {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

fn ours<K: Resource + Clone>(store: &Store<K>, hcp: &HostedControlPlane) -> Vec<Arc<K>>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let namespace = hcp.namespace().unwrap_or_default();
    of_instance(store, &namespace, &hcp.name_any())
        .into_iter()
        .filter(|o| {
            o.meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY))
                .map(String::as_str)
                == Some(MANAGER)
        })
        .collect()
}

/// Everything the reconcile of `hcp` needs, from the caches.
pub fn observe(caches: &Caches, hcp: &HostedControlPlane) -> Observed {
    let mut observed = Observed::default();
    let namespace = hcp.namespace().unwrap_or_default();
    let (name, cluster) = (hcp.name_any(), hcp.cluster_name());
    let secrets = caches.secrets.state_filter(|s| {
        s.namespace().as_deref() == Some(namespace.as_str())
            && s.labels().get(CLUSTER_NAME) == Some(&cluster)
            && s.labels().get(INSTANCE).is_none_or(|i| *i == name)
    });
    let labelled_ours: Vec<Arc<Secret>> = secrets
        .iter()
        .filter(|s| s.labels().get(MANAGED_BY).map(String::as_str) == Some(MANAGER))
        .cloned()
        .collect();
    observed.record(hcp, &labelled_ours);
    for secret in &secrets {
        observed.pki.insert(secret.name_any(), secret_data(secret));
    }
    let deployments = ours(&caches.deployments, hcp);
    observed.record(hcp, &deployments);
    observed.deployments = deployments;
    let services = ours(&caches.services, hcp);
    observed.record(hcp, &services);
    let api_server = hcp.names().api_server();
    observed.api_service = services.into_iter().find(|s| s.name_any() == api_server);
    observed.record(hcp, &ours(&caches.config_maps, hcp));
    observed.record(hcp, &ours(&caches.budgets, hcp));
    observed.record(hcp, &ours(&caches.ingresses, hcp));
    observed.record(hcp, &ours(&caches.claims, hcp));
    observed.pods = ours(&caches.pods, hcp);
    let machines: Vec<Arc<PodMachine>> = ours(&caches.machines, hcp)
        .into_iter()
        .filter_map(|m| m.0.as_ref().ok().map(|m| Arc::new(m.clone())))
        .collect();
    observed.record(hcp, &machines);
    observed.machines = machines;
    observed
}

/// Make sure the API server Service exists before anything else: its cluster IP goes into
/// the serving certificate and the API server's flags, so the first certificate issued is
/// already the right one. Applied (as the plan would) when the cache has not seen it.
pub async fn ensure_api_service(
    client: &Client,
    hcp: &HostedControlPlane,
    observed: &mut Observed,
) -> Result<(), Error> {
    if observed.published_address().is_some() {
        return Ok(());
    }
    let desired = crate::render::service::api_server(hcp);
    let name = desired.metadata.name.clone().unwrap_or_default();
    let mut object = serde_json::to_value(&desired).expect("typed objects serialize");
    object["metadata"]["annotations"][APPLIED_DIGEST] = super::plan::digest(&desired).into();
    let namespace = hcp.namespace().unwrap_or_default();
    let params = kube::api::PatchParams::apply(crate::controllers::FIELD_MANAGER).force();
    let service = Api::<Service>::namespaced(client.clone(), &namespace)
        .patch(&name, &params, &kube::api::Patch::Apply(&object))
        .await
        .map_err(Error::kube(format!("applying Service/{name}")))?;
    // Not recorded among the children: the plan still sees it missing, writes it again (the
    // same object) and, for a control plane that had it, announces it as put back.
    observed.api_service = Some(Arc::new(service));
    Ok(())
}

/// Complete the PKI view from the API server when the caches lack a Secret the control plane
/// needs. A Secret written a moment ago may not have reached the cache yet, and a CA someone
/// else provided may carry none of our labels; taking either for absent would issue a new
/// CA over it. Only a fresh control plane (or a deleted Secret) pays for these reads.
pub async fn complete_pki(
    client: &Client,
    hcp: &HostedControlPlane,
    required: &[Asset],
    pki: &mut SecretSet,
) -> Result<(), Error> {
    if required.iter().all(|a| pki.contains_key(&a.secret)) {
        return Ok(());
    }
    let namespace = hcp.namespace().unwrap_or_default();
    let api = Api::<Secret>::namespaced(client.clone(), &namespace);
    let selector = ListParams::default().labels(&format!("{CLUSTER_NAME}={}", hcp.cluster_name()));
    for secret in api
        .list(&selector)
        .await
        .map_err(Error::kube("listing Secrets"))?
    {
        pki.entry(secret.name_any())
            .or_insert_with(|| secret_data(&secret));
    }
    let authorities: Vec<&String> = required
        .iter()
        .filter(|a| matches!(a.kind, AssetKind::Authority(_) | AssetKind::ServiceAccountKey))
        .map(|a| &a.secret)
        .filter(|name| !pki.contains_key(*name))
        .collect();
    for name in authorities {
        if let Some(secret) = api
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading Secret {name}")))?
        {
            pki.insert(name.clone(), secret_data(&secret));
        }
    }
    Ok(())
}
