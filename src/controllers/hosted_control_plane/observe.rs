//! Fetch: everything a reconcile reads from the management cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::super::{APPLIED_DIGEST, Error};
use crate::api::{HostedControlPlane, PodMachine};
use crate::names::Names;
use crate::pki::{SecretData, SecretSet};
use crate::render::meta::{INSTANCE, MANAGED_BY, MANAGER};

/// A child that exists: its kind, name and the digest last applied to it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Existing {
    pub kind: &'static str,
    pub name: String,
    pub digest: Option<String>,
    pub owned: bool,
}

/// What the management cluster holds for one HostedControlPlane.
#[derive(Default)]
pub struct Observed {
    /// Children labelled as ours, by (kind, name).
    pub children: BTreeMap<(&'static str, String), Existing>,
    /// Data of the PKI Secrets that exist.
    pub pki: SecretSet,
    pub deployments: Vec<Deployment>,
    pub pods: Vec<Pod>,
    pub api_service: Option<Service>,
    /// Worker machines from `spec.workers`.
    pub machines: Vec<PodMachine>,
}

impl Observed {
    /// Addresses the API server certificate must also name: the load balancer's, once
    /// assigned. (Clients that connect by cluster IP or node address check the Service's
    /// DNS name instead, as `podplane kubeconfig` sets up.)
    pub fn extra_api_server_sans(&self) -> Vec<String> {
        let Some(service) = &self.api_service else {
            return vec![];
        };
        let ingress = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.clone());
        let mut sans = vec![];
        for point in ingress.unwrap_or_default() {
            sans.extend(point.ip);
            sans.extend(point.hostname);
        }
        sans
    }
}

fn selector(hcp: &HostedControlPlane) -> ListParams {
    ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER},{INSTANCE}={}", hcp.name_any()))
}

async fn list<K>(client: &Client, namespace: &str, params: &ListParams) -> Result<Vec<K>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    Ok(Api::<K>::namespaced(client.clone(), namespace)
        .list(params)
        .await?
        .items)
}

fn record<K: Resource<DynamicType = ()> + k8s_openapi::Resource>(
    hcp: &HostedControlPlane,
    observed: &mut Observed,
    objects: &[K],
) {
    let uid = hcp.uid();
    for object in objects {
        let meta = object.meta();
        let name = meta.name.clone().unwrap_or_default();
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
        let kind = <K as k8s_openapi::Resource>::KIND;
        observed.children.insert(
            (kind, name.clone()),
            Existing {
                kind,
                name,
                digest,
                owned,
            },
        );
    }
}

fn secret_data(secret: Secret) -> SecretData {
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// Read everything the reconcile of `hcp` needs.
pub async fn observe(client: &Client, hcp: &HostedControlPlane) -> Result<Observed, Error> {
    let namespace = hcp.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let params = selector(hcp);
    let mut observed = Observed::default();

    let secrets: Vec<Secret> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &secrets);
    for secret in secrets {
        observed.pki.insert(
            secret.metadata.name.clone().unwrap_or_default(),
            secret_data(secret),
        );
    }
    // A CA written by someone else (e.g. Cluster API) is used as it is.
    let names = Names::new(&hcp.name_any());
    for name in [
        names.ca_secret(),
        names.etcd_ca_secret(),
        names.front_proxy_ca_secret(),
        names.service_account_secret(),
    ] {
        if !observed.pki.contains_key(&name)
            && let Some(secret) = Api::<Secret>::namespaced(client.clone(), &namespace)
                .get_opt(&name)
                .await?
        {
            observed.pki.insert(name, secret_data(secret));
        }
    }

    let deployments: Vec<Deployment> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &deployments);
    observed.deployments = deployments;
    let services: Vec<Service> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &services);
    observed.api_service = services
        .into_iter()
        .find(|s| s.metadata.name.as_deref() == Some(&names.api_server()));
    let config_maps: Vec<ConfigMap> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &config_maps);
    let budgets: Vec<PodDisruptionBudget> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &budgets);
    let claims: Vec<PersistentVolumeClaim> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &claims);
    let ingresses: Vec<Ingress> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &ingresses);
    observed.pods = list(client, &namespace, &params).await?;
    let machines: Vec<PodMachine> = list(client, &namespace, &params).await?;
    record(hcp, &mut observed, &machines);
    observed.machines = machines;
    Ok(observed)
}
