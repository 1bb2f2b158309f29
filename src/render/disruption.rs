//! PodDisruptionBudgets: voluntary evictions never take etcd below quorum nor a
//! replicated component below one available Pod.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::etcd;
use super::meta::{object_meta, selector};
use crate::api::HostedControlPlane;
use crate::components::Component;

pub fn all(hcp: &HostedControlPlane) -> Vec<PodDisruptionBudget> {
    let names = hcp.names();
    let members = etcd::member_count(hcp) as i32;
    vec![
        // A single member may be evicted (nothing else could ever drain its node).
        budget(hcp, names.etcd_pdb(), Component::Etcd, ((members - 1) / 2).max(1)),
        budget(hcp, names.api_server(), Component::ApiServer, 1),
        budget(hcp, names.controller_manager(), Component::ControllerManager, 1),
        budget(hcp, names.scheduler(), Component::Scheduler, 1),
    ]
}

fn budget(
    hcp: &HostedControlPlane,
    name: String,
    component: Component,
    max_unavailable: i32,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: object_meta(hcp, name, component),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(hcp, component)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
