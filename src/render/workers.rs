//! PodMachines for `spec.workers`: `<name>-worker-0` … `<name>-worker-<replicas-1>`.

use kube::Resource;

use super::meta::worker_labels;
use crate::api::{
    HostedControlPlane, LocalObjectReference, PodMachine, PodMachineSpec, PodMachineTemplateSpecFields,
};
use crate::names::Names;

/// The worker machines `hcp` owns.
pub fn machines(hcp: &HostedControlPlane) -> Vec<PodMachine> {
    let Some(workers) = &hcp.spec.workers else {
        return vec![];
    };
    let cluster = hcp.name_any_or_default();
    let names = Names::new(&cluster);
    (0..usize::try_from(workers.replicas).unwrap_or(0))
        .map(|index| {
            let mut machine = PodMachine::new(
                &names.worker(index),
                PodMachineSpec {
                    template: PodMachineTemplateSpecFields {
                        hosted_control_plane_ref: Some(LocalObjectReference {
                            name: cluster.clone(),
                        }),
                        image: workers.image.clone(),
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
