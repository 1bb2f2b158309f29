//! PodMachines for `spec.workers`: `<name>-worker-<index>`.

use kube::Resource;

use super::meta::worker_labels;
use crate::api::{
    HostedControlPlane, LocalObjectReference, PodMachine, PodMachineSpec, PodMachineTemplateSpecFields,
};
use crate::names::Names;

/// `<name>-worker-0` … `<name>-worker-<replicas-1>` on `spec.workers.image` (the machines of
/// a control plane nothing runs for yet).
pub fn initial(hcp: &HostedControlPlane) -> Vec<(usize, Option<String>)> {
    let Some(workers) = &hcp.spec.workers else {
        return vec![];
    };
    (0..usize::try_from(workers.replicas).unwrap_or(0))
        .map(|index| (index, workers.image.clone()))
        .collect()
}

/// The worker machines `hcp` owns: one per (index, node image) in `wanted`.
pub fn machines(hcp: &HostedControlPlane, wanted: &[(usize, Option<String>)]) -> Vec<PodMachine> {
    let Some(workers) = &hcp.spec.workers else {
        return vec![];
    };
    let cluster = hcp.name_any_or_default();
    let names = Names::new(&cluster);
    wanted
        .iter()
        .map(|(index, image)| {
            let mut machine = PodMachine::new(
                &names.worker(*index),
                PodMachineSpec {
                    template: PodMachineTemplateSpecFields {
                        hosted_control_plane_ref: Some(LocalObjectReference {
                            name: cluster.clone(),
                        }),
                        image: image.clone(),
                        resources: workers.resources.clone(),
                        ..Default::default()
                    },
                    provider_id: None,
                },
            );
            machine.metadata.namespace = Some(hcp.namespace_or_default());
            machine.metadata.labels = Some(worker_labels(&cluster, "podmachine"));
            machine.metadata.owner_references = hcp.controller_owner_ref(&()).map(|o| vec![o]);
            machine
        })
        .collect()
}
