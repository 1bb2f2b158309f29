//! Deployments of control-plane components.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{object_meta, selector};
use super::pod;
use crate::api::HostedControlPlane;
use crate::components::Component;
use crate::contract::VERSION_ANNOTATION;

/// How a Deployment replaces its Pods.
pub enum Rollout {
    /// Stop the old Pod before starting the new one (etcd members own their data).
    Recreate,
    /// Start a new Pod before stopping an old one, so the component stays available.
    Surge,
}

/// A Deployment of `component` named `name` running `spec` with Pods labelled `selector`.
pub fn deployment(
    hcp: &HostedControlPlane,
    name: String,
    component: Component,
    replicas: i32,
    rollout: Rollout,
    selector: BTreeMap<String, String>,
    spec: PodSpec,
) -> Deployment {
    let meta = object_meta(hcp, name, component);
    let mut pod_labels = meta.labels.clone().unwrap_or_default();
    pod_labels.extend(selector.clone());
    let strategy = match rollout {
        Rollout::Recreate => DeploymentStrategy {
            type_: Some("Recreate".into()),
            ..Default::default()
        },
        Rollout::Surge => DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(1)),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        },
    };
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            revision_history_limit: Some(3),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            strategy: Some(strategy),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    // etcd's image follows its own release, not the Kubernetes version.
                    annotations: (component != Component::Etcd).then(|| {
                        BTreeMap::from([(VERSION_ANNOTATION.to_string(), hcp.spec.version.clone())])
                    }),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(pod::pod_security_context()),
                    ..spec
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Deployment of `spec.replicas` Pods of `component`, each running `container` with
/// `volumes`: surged rollouts, spread over nodes.
pub fn replicated(
    hcp: &HostedControlPlane,
    name: String,
    component: Component,
    container: Container,
    volumes: Vec<Volume>,
) -> Deployment {
    let spec = PodSpec {
        containers: vec![container],
        volumes: Some(volumes),
        affinity: Some(pod::spread(selector(hcp, component))),
        ..Default::default()
    };
    deployment(
        hcp,
        name,
        component,
        hcp.spec.replicas,
        Rollout::Surge,
        selector(hcp, component),
        spec,
    )
}
