//! Unit tests of the upgrade order.

use super::*;
use crate::api::PodMachine;
use crate::render::{api_server, controller_manager, etcd, scheduler};
use k8s_openapi::api::apps::v1::DeploymentStatus;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

fn hcp(version: &str, spec: serde_json::Value) -> HostedControlPlane {
    let mut spec = spec;
    spec["version"] = json!(version);
    let mut hcp = HostedControlPlane::new("demo", serde_json::from_value(spec).unwrap());
    hcp.metadata.namespace = Some("t".into());
    hcp
}

/// The control plane's Deployments as rendered for `at`, fully rolled out when `done`.
fn running(at: &HostedControlPlane, done: bool) -> Vec<Arc<Deployment>> {
    let mut all = vec![
        api_server::deployment(at, None),
        controller_manager::deployment(at),
        scheduler::deployment(at),
    ];
    all.extend((0..etcd::member_count(at)).map(|m| etcd::deployment(at, m)));
    all.into_iter()
        .map(|mut d| {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = if done { replicas } else { 0 };
            d.status = Some(DeploymentStatus {
                replicas: Some(replicas),
                updated_replicas: Some(ready),
                available_replicas: Some(ready),
                ..Default::default()
            });
            Arc::new(d)
        })
        .collect()
}

fn replace(deployments: &mut [Arc<Deployment>], with: Vec<Arc<Deployment>>, name: &str) {
    let new = with
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))
        .unwrap();
    for d in deployments
        .iter_mut()
        .filter(|d| d.metadata.name.as_deref() == Some(name))
    {
        *d = new.clone();
    }
}

fn pod(component: &str, version: &str, waiting: Option<&str>) -> Arc<Pod> {
    Arc::new(Pod {
        metadata: ObjectMeta {
            name: Some(format!("demo-{component}-x")),
            labels: Some([(COMPONENT.to_string(), component.to_string())].into()),
            annotations: Some([(VERSION_ANNOTATION.to_string(), version.to_string())].into()),
            ..Default::default()
        },
        status: Some(PodStatus {
            phase: Some(if waiting.is_some() { "Pending" } else { "Running" }.into()),
            container_statuses: waiting.map(|reason| {
                vec![ContainerStatus {
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(reason.into()),
                            message: Some("image not present with pull policy of Never".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[test]
fn nothing_rolls_when_everything_runs_the_spec() {
    let now = hcp("v1.36.3", json!({}));
    let rollout = control_plane(&now, &running(&now, true), &[]);
    assert_eq!(rollout, ControlPlaneRollout::default());
    let creating = control_plane(&now, &running(&now, false), &[]);
    assert_eq!(creating.step, None, "a new control plane is no upgrade");
}

#[test]
fn the_api_server_goes_first_then_controller_manager_and_scheduler() {
    let old = hcp("v1.35.4", json!({}));
    let new = hcp("v1.36.3", json!({}));
    let mut live = running(&old, true);
    let first = control_plane(&new, &live, &[]);
    assert_eq!(first.step, Some(Step::ApiServer));
    let held: Vec<&str> = first.held.iter().map(String::as_str).collect();
    assert_eq!(held, ["demo-kube-controller-manager", "demo-kube-scheduler"]);

    replace(&mut live, running(&new, false), "demo-kube-apiserver");
    let rolling = control_plane(&new, &live, &[]);
    assert_eq!(
        rolling.step,
        Some(Step::ApiServer),
        "until every replica is updated"
    );
    assert_eq!(rolling.held.len(), 2);

    replace(&mut live, running(&new, true), "demo-kube-apiserver");
    let next = control_plane(&new, &live, &[]);
    assert_eq!(next.step, Some(Step::ControllerManagerAndScheduler));
    assert!(next.held.is_empty(), "both roll together: {:?}", next.held);

    // Every template is new, but old controller-manager Pods still run: not finished.
    let live = running(&new, true);
    let old_pod = [pod("kube-controller-manager", "v1.35.4", None)];
    assert_eq!(
        control_plane(&new, &live, &old_pod).step,
        Some(Step::ControllerManagerAndScheduler)
    );
    let new_pod = [pod("kube-controller-manager", "v1.36.3", None)];
    assert!(control_plane(&new, &live, &new_pod).finished());
}

#[test]
fn a_new_pod_that_cannot_start_stalls_the_step_naming_the_component() {
    let old = hcp("v1.35.4", json!({}));
    let new = hcp("v1.36.3", json!({}));
    let mut live = running(&old, true);
    replace(&mut live, running(&new, false), "demo-kube-apiserver");
    let pods = [
        pod("kube-apiserver", "v1.35.4", None),
        pod("kube-apiserver", "v1.36.3", Some("ErrImageNeverPull")),
    ];
    let rollout = control_plane(&new, &live, &pods);
    let stalled = rollout.stalled.unwrap();
    assert!(
        stalled.starts_with("kube-apiserver cannot start: ErrImageNeverPull"),
        "{stalled}"
    );
    assert_eq!(
        rollout.held.len(),
        2,
        "controller-manager and scheduler stay on v1.35.4"
    );
    assert_eq!(oldest_running(&pods).as_deref(), Some("v1.35.4"));
}

#[test]
fn etcd_members_change_image_one_at_a_time_before_the_api_server() {
    let old = hcp("v1.36.3", json!({"etcd": {"replicas": 3}}));
    let new = hcp(
        "v1.36.3",
        json!({"etcd": {"replicas": 3, "image": "registry.k8s.io/etcd:3.6.9-0"}}),
    );
    let mut live = running(&old, true);
    let rollout = control_plane(&new, &live, &[]);
    assert_eq!(rollout.step, Some(Step::Etcd));
    let held: Vec<&str> = rollout.held.iter().map(String::as_str).collect();
    assert_eq!(held, ["demo-etcd-1", "demo-etcd-2"]);

    replace(&mut live, running(&new, true), "demo-etcd-0");
    let held = control_plane(&new, &live, &[]).held;
    assert_eq!(
        held.iter().map(String::as_str).collect::<Vec<_>>(),
        ["demo-etcd-2"]
    );
}

#[test]
fn a_patch_downgrade_waits_for_the_annotation() {
    let running_pods = [pod("kube-apiserver", "v1.36.3", None)];
    let mut older = hcp("v1.36.1", json!({}));
    let live = running(&hcp("v1.36.3", json!({})), true);
    let refused = control_plane(&older, &live, &running_pods);
    assert!(
        refused
            .refused
            .as_deref()
            .unwrap()
            .contains(ALLOW_PATCH_DOWNGRADE)
    );
    assert_eq!(refused.held.len(), 3, "nothing moves");
    older.metadata.annotations = Some([(ALLOW_PATCH_DOWNGRADE.to_string(), "true".to_string())].into());
    let allowed = control_plane(&older, &live, &running_pods);
    assert_eq!((allowed.refused, allowed.step), (None, Some(Step::ApiServer)));
}

fn machine(name: &str, image: &str, ready: bool, deleting: bool) -> Arc<PodMachine> {
    let mut m: PodMachine = serde_json::from_value(json!({
        "apiVersion": "infrastructure.podplane.dev/v1alpha1", "kind": "PodMachine",
        "metadata": {"name": name},
        "spec": {"image": image},
        "status": {"ready": ready},
    }))
    .unwrap();
    if deleting {
        m.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    }
    Arc::new(m)
}

fn indexes(rollout: &WorkerRollout) -> Vec<(usize, &str)> {
    rollout
        .wanted
        .iter()
        .map(|w| (w.index, w.image.as_deref().unwrap_or("-")))
        .collect()
}

#[test]
fn workers_are_replaced_one_at_a_time_after_the_control_plane() {
    let new = hcp("v1.36.3", json!({"workers": {"replicas": 2}}));
    let (old_image, new_image) = ("kindest/node:v1.35.4", "kindest/node:v1.36.3");
    let old = [
        machine("demo-worker-0", old_image, true, false),
        machine("demo-worker-1", old_image, true, false),
    ];
    let waiting = worker_rollout::plan(&new, &old, false);
    assert_eq!(
        indexes(&waiting),
        [(0, old_image), (1, old_image)],
        "none before the control plane"
    );

    let surge = worker_rollout::plan(&new, &old, true);
    assert_eq!(indexes(&surge), [(0, old_image), (1, old_image), (2, new_image)]);

    let mut three = old.to_vec();
    three.push(machine("demo-worker-2", new_image, false, false));
    let joining = worker_rollout::plan(&new, &three, true);
    assert_eq!(
        joining.wanted.len(),
        3,
        "nothing removed before the new machine is Ready"
    );

    three[2] = machine("demo-worker-2", new_image, true, false);
    let removal = worker_rollout::plan(&new, &three, true);
    assert_eq!(
        indexes(&removal),
        [(1, old_image), (2, new_image)],
        "the first old one goes"
    );

    three[0] = machine("demo-worker-0", old_image, true, true);
    let draining = worker_rollout::plan(&new, &three, true);
    assert_eq!(indexes(&draining), [(1, old_image), (2, new_image)]);
    assert!(draining.progress.unwrap().contains("demo-worker-0"));

    let done = [
        machine("demo-worker-0", new_image, true, false),
        machine("demo-worker-2", new_image, true, false),
    ];
    let settled = worker_rollout::plan(&new, &done, true);
    assert_eq!(indexes(&settled), [(0, new_image), (2, new_image)]);
    assert_eq!(settled.progress, None);
}

#[test]
fn a_new_api_server_waiting_for_agents_is_not_available_at_once() {
    use super::super::plan;
    let hcp = hcp("v1.36.3", json!({}));
    let observed = Observed::default();
    let required = plan::required_pki(&hcp, &observed);
    let api_server_write = |wait_for_agents: bool| {
        let mut rollout = Rollout::default();
        rollout.control_plane.wait_for_agents = wait_for_agents;
        let now = time::OffsetDateTime::now_utc();
        let planned = plan::plan(&hcp, &required, &observed, &rollout, now).unwrap();
        let name = hcp.names().api_server();
        let write = planned
            .writes
            .into_iter()
            .find(|w| w.kind == "Deployment" && w.name == name);
        write.unwrap().object
    };
    assert_eq!(
        api_server_write(true)["spec"]["minReadySeconds"],
        json!(AGENT_WAIT_SECONDS)
    );
    assert!(api_server_write(false)["spec"].get("minReadySeconds").is_none());
}
