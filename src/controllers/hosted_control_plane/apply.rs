//! Apply: server-side apply of each child whose desired state changed, and removal of
//! children no longer wanted.

use std::collections::BTreeSet;

use k8s_openapi::Resource as OpenApiResource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::observe::Observed;
use crate::api::PodMachine;
use crate::controllers::{APPLIED_DIGEST, Error, FIELD_MANAGER};
use crate::render::Child;

/// What an apply pass changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub written: Vec<String>,
    pub deleted: Vec<String>,
}

/// SHA-256 of the object as it would be applied (without the digest annotation).
pub fn digest<T: Serialize>(object: &T) -> Result<String, Error> {
    let bytes = serde_json::to_vec(object).map_err(|source| Error::Encode {
        what: "child".into(),
        source,
    })?;
    Ok(format!("{:x}", Sha256::digest(bytes)))
}

async fn apply_one<K>(client: &Client, namespace: &str, mut object: K, digest: String) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    object
        .meta_mut()
        .annotations
        .get_or_insert_default()
        .insert(APPLIED_DIGEST.into(), digest);
    let name = object.meta().name.clone().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await?;
    Ok(())
}

/// Apply every child whose digest differs from what was last applied; children that
/// exist but belong to someone else (e.g. a CA Secret the user provided) are left alone.
pub async fn children(
    client: &Client,
    namespace: &str,
    desired: Vec<Child>,
    observed: &Observed,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    let mut wanted = BTreeSet::new();
    for child in desired {
        let (kind, metadata) = child.kind_and_metadata();
        let name = metadata.name.clone().unwrap_or_default();
        wanted.insert((kind, name.clone()));
        let digest = digest(&child)?;
        match observed.children.get(&(kind, name.clone())) {
            Some(existing) if existing.digest.as_deref() == Some(digest.as_str()) => continue,
            Some(existing) if !existing.owned => continue,
            None if kind == <Secret as OpenApiResource>::KIND && observed.pki.contains_key(&name) => continue,
            _ => {}
        }
        match child {
            Child::Secret(o) => apply_one(client, namespace, *o, digest).await?,
            Child::ConfigMap(o) => apply_one(client, namespace, *o, digest).await?,
            Child::Service(o) => apply_one(client, namespace, *o, digest).await?,
            Child::PersistentVolumeClaim(o) => apply_one(client, namespace, *o, digest).await?,
            Child::Deployment(o) => apply_one(client, namespace, *o, digest).await?,
            Child::PodDisruptionBudget(o) => apply_one(client, namespace, *o, digest).await?,
            Child::Ingress(o) => apply_one(client, namespace, *o, digest).await?,
            Child::PodMachine(o) => apply_one(client, namespace, *o, digest).await?,
        }
        applied.written.push(format!("{kind}/{name}"));
    }
    prune(client, namespace, observed, &wanted, &mut applied).await?;
    Ok(applied)
}

/// Delete children this control plane owns that are no longer wanted (an Ingress after
/// `spec.ingress` is removed, say). Volume claims are never deleted here: they hold data.
async fn prune(
    client: &Client,
    namespace: &str,
    observed: &Observed,
    wanted: &BTreeSet<(&'static str, String)>,
    applied: &mut Applied,
) -> Result<(), Error> {
    for ((kind, name), existing) in &observed.children {
        if !existing.owned
            || wanted.contains(&(*kind, name.clone()))
            || *kind == <PersistentVolumeClaim as OpenApiResource>::KIND
        {
            continue;
        }
        let result = match *kind {
            k if k == <Deployment as OpenApiResource>::KIND => {
                delete::<Deployment>(client, namespace, name).await
            }
            k if k == <Service as OpenApiResource>::KIND => delete::<Service>(client, namespace, name).await,
            k if k == <Ingress as OpenApiResource>::KIND => delete::<Ingress>(client, namespace, name).await,
            k if k == <ConfigMap as OpenApiResource>::KIND => {
                delete::<ConfigMap>(client, namespace, name).await
            }
            k if k == <PodDisruptionBudget as OpenApiResource>::KIND => {
                delete::<PodDisruptionBudget>(client, namespace, name).await
            }
            // Scaling workers down: the machine drains and removes its Node before it goes.
            k if k == <PodMachine as OpenApiResource>::KIND => {
                delete::<PodMachine>(client, namespace, name).await
            }
            // Secrets hold certificates others may still trust: keep them.
            _ => continue,
        };
        match result {
            Ok(()) => applied.deleted.push(format!("{kind}/{name}")),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
        .map(|_| ())
}
