//! Which `spec.workers` machines should exist (pure): `replicas` of them, and when their
//! image is out of date (a new `spec.version` or `spec.workers.image`), replaced one at a
//! time once the control plane finished its own rollout: a machine on the new image joins
//! and is Ready before an old one is drained and removed (surge 1, none unavailable).

use std::sync::Arc;

use crate::api::{HostedControlPlane, PodMachine};
use crate::machine::NODE_IMAGE_REPOSITORY;
use crate::names::Names;

/// One machine to keep or create: its index (`<name>-worker-<index>`) and node image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub index: usize,
    pub image: Option<String>,
}

/// The machines wanted now, and what an ongoing replacement waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerRollout {
    pub wanted: Vec<Wanted>,
    /// Some machines still run an older image: what the replacement does or waits for.
    pub progress: Option<String>,
}

struct Existing {
    index: usize,
    name: String,
    image: Option<String>,
    ready: bool,
    deleting: bool,
}

/// The image workers of `hcp` run: `spec.workers.image`, else the control plane's version.
fn desired_image(hcp: &HostedControlPlane) -> Option<String> {
    let workers = hcp.spec.workers.as_ref()?;
    Some(
        workers
            .image
            .clone()
            .unwrap_or_else(|| format!("{NODE_IMAGE_REPOSITORY}:{}", hcp.spec.version)),
    )
}

fn existing(hcp: &HostedControlPlane, machines: &[Arc<PodMachine>]) -> Vec<Existing> {
    let names = Names::new(&hcp.metadata.name.clone().unwrap_or_default());
    let mut found: Vec<Existing> = machines
        .iter()
        .filter_map(|m| {
            let name = m.metadata.name.clone()?;
            let index = names.worker_index(&name)?;
            Some(Existing {
                index,
                name,
                image: m.spec.template.image.clone(),
                ready: m.status.as_ref().is_some_and(|s| s.ready),
                deleting: m.metadata.deletion_timestamp.is_some(),
            })
        })
        .collect();
    found.sort_by_key(|m| m.index);
    found
}

/// The lowest index not in `taken` (which includes departing machines).
fn free_index(taken: &[usize]) -> usize {
    (0..).find(|i| !taken.contains(i)).unwrap_or(0)
}

/// The machines `hcp` wants now. `control_plane_finished`: every control-plane component
/// runs `spec.version`; until then no machine is created on a new image (a kubelet may not
/// be newer than its API server).
pub fn plan(
    hcp: &HostedControlPlane,
    machines: &[Arc<PodMachine>],
    control_plane_finished: bool,
) -> WorkerRollout {
    let (Some(workers), Some(desired)) = (&hcp.spec.workers, desired_image(hcp)) else {
        return WorkerRollout::default();
    };
    let replicas = usize::try_from(workers.replicas).unwrap_or(0);
    let all = existing(hcp, machines);
    let current = |m: &Existing| m.image.as_deref().is_none_or(|i| i == desired);
    let staying: Vec<&Existing> = all.iter().filter(|m| !m.deleting).collect();
    let keep = |m: &&Existing| Wanted {
        index: m.index,
        image: m.image.clone(),
    };
    let outdated: Vec<&&Existing> = staying.iter().filter(|m| !current(m)).collect();
    let mut rollout = WorkerRollout::default();
    if outdated.is_empty() || !control_plane_finished {
        // Scale: keep the lowest-numbered machines, add new ones at the lowest free indexes.
        rollout.wanted = staying.iter().take(replicas).map(keep).collect();
        let mut taken: Vec<usize> = all.iter().map(|m| m.index).collect();
        while outdated.is_empty() && rollout.wanted.len() < replicas {
            let index = free_index(&taken);
            taken.push(index);
            rollout.wanted.push(Wanted {
                index,
                image: Some(desired.clone()),
            });
        }
        if !outdated.is_empty() {
            rollout.progress = Some("waiting for the control plane to finish its rollout".into());
        }
        return rollout;
    }
    rollout.wanted = staying.iter().map(keep).collect();
    let unready_new = staying.iter().find(|m| current(m) && !m.ready);
    let departing = all.iter().find(|m| m.deleting);
    rollout.progress = Some(if let Some(m) = unready_new {
        format!("waiting for {} ({desired}) to be Ready", m.name)
    } else if let Some(m) = departing {
        format!("waiting for {} to be drained and removed", m.name)
    } else if staying.len() <= replicas {
        let index = free_index(&all.iter().map(|m| m.index).collect::<Vec<_>>());
        rollout.wanted.push(Wanted {
            index,
            image: Some(desired.clone()),
        });
        format!("adding a machine on {desired}")
    } else {
        let old = outdated[0];
        rollout.wanted.retain(|w| w.index != old.index);
        format!("draining and removing {} ({} outdated)", old.name, outdated.len())
    });
    rollout
}
