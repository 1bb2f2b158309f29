//! Apply: server-side apply of the planned writes, removal of children no longer wanted.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::Resource as OpenApiResource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::plan::{Plan, Why};
use crate::api::PodMachine;
use crate::controllers::{Error, FIELD_MANAGER};

/// What an apply pass changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// `Kind/name` of every child written.
    pub written: Vec<String>,
    /// Every child put back after someone else changed (or deleted) it, and the field.
    pub reverted: Vec<(ObjectReference, String)>,
    pub removed: Vec<String>,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }
}

fn api<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), namespace)
}

async fn apply_as<K>(client: &Client, namespace: &str, name: &str, object: &Value) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api::<K>(client, namespace)
        .patch(name, &params, &Patch::Apply(object))
        .await
        .map(|_| ())
}

async fn delete_as<K>(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match api::<K>(client, namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Server-side apply (or, with `remove`, delete) one child of `kind`.
async fn one(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
    object: Option<&Value>,
) -> Result<(), kube::Error> {
    macro_rules! by_kind {
        ($($t:ty),*) => {
            $(if kind == <$t as OpenApiResource>::KIND {
                return match object {
                    Some(object) => apply_as::<$t>(client, namespace, name, object).await,
                    None => delete_as::<$t>(client, namespace, name).await,
                };
            })*
        };
    }
    by_kind!(
        Secret,
        ConfigMap,
        Service,
        PersistentVolumeClaim,
        Deployment,
        PodDisruptionBudget,
        Ingress,
        PodMachine
    );
    unreachable!("render produces no {kind}")
}

/// Carry out `plan` in `namespace`.
pub async fn apply(client: &Client, namespace: &str, plan: &Plan) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    for write in &plan.writes {
        let child = format!("{}/{}", write.kind, write.name);
        one(client, namespace, write.kind, &write.name, Some(&write.object))
            .await
            .map_err(Error::kube(format!("applying {child}")))?;
        if let Why::Drifted(path) = &write.why {
            let child = ObjectReference {
                api_version: write.object["apiVersion"].as_str().map(str::to_string),
                kind: Some(write.kind.to_string()),
                name: Some(write.name.clone()),
                namespace: Some(namespace.to_string()),
                ..Default::default()
            };
            applied.reverted.push((child, path.clone()));
        }
        applied.written.push(child);
    }
    // Scaling workers down: a removed machine drains and removes its Node before it goes.
    for (kind, name) in &plan.removals {
        one(client, namespace, kind, name, None)
            .await
            .map_err(Error::kube(format!("removing {kind}/{name}")))?;
        applied.removed.push(format!("{kind}/{name}"));
    }
    Ok(applied)
}
