use serde_json::json;

use super::*;
use crate::cli::progress::{self, Target};

fn condition(type_: &str, ok: bool, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": type_, "status": if ok { "True" } else { "False" }, "reason": reason,
           "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

fn control_plane(status: Option<serde_json::Value>, workers: i32) -> HostedControlPlane {
    let mut object = json!({
        "apiVersion": "controlplane.podplane.dev/v1alpha1",
        "kind": "HostedControlPlane",
        "metadata": {"name": "demo", "namespace": "t", "generation": 2},
        "spec": {"version": "v1.36.3", "workers": {"replicas": workers}},
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).unwrap()
}

fn ready_status(observed: i64, ready_workers: i32) -> serde_json::Value {
    json!({
        "ready": true, "observedGeneration": observed,
        "workers": {"replicas": 2, "readyReplicas": ready_workers},
        "conditions": [
            condition("Ready", true, "Ready", "the control plane serves requests"),
            condition("Paused", false, "NotPaused", ""),
            condition("EtcdAvailable", true, "Available", "1/1 available"),
        ],
    })
}

fn machine(name: &str, conditions: &[(&str, bool, &str)], ready: bool) -> PodMachine {
    let conditions: Vec<_> = conditions
        .iter()
        .map(|(t, ok, reason)| condition(t, *ok, reason, "because"))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.podplane.dev/v1alpha1",
        "kind": "PodMachine",
        "metadata": {"name": name, "namespace": "t"},
        "spec": {"hostedControlPlaneRef": {"name": "demo"}},
        "status": {"ready": ready, "conditions": conditions, "nodeRef": {"name": name}},
    }))
    .unwrap()
}

fn ready_machine(name: &str) -> PodMachine {
    let all = [
        ("Ready", true, "Ready"),
        ("PodRunning", true, "Running"),
        ("NodeJoined", true, "Joined"),
        ("NodeReady", true, "KubeletReady"),
    ];
    machine(name, &all, true)
}

fn snapshot(hcp: HostedControlPlane, machines: Vec<PodMachine>) -> Snapshot {
    Snapshot {
        hcp,
        deployments: vec![],
        pods: vec![],
        machines,
    }
}

#[test]
fn paused_false_is_healthy_and_a_ready_control_plane_has_no_problems() {
    let hcp = control_plane(Some(ready_status(2, 0)), 0);
    assert!(problems(&hcp).is_empty());
    assert!(control_plane_ready(&hcp));
}

#[test]
fn no_status_and_an_outdated_status_are_problems() {
    let none = control_plane(None, 0);
    assert_eq!(problems(&none)[0].reason, "NoStatus");
    assert!(!control_plane_ready(&none));
    let old = control_plane(Some(ready_status(1, 0)), 0);
    assert_eq!(problems(&old)[0].reason, "Outdated");
    assert!(
        !control_plane_ready(&old),
        "Ready of an older generation does not count"
    );
}

#[test]
fn phases_follow_the_first_condition_not_true() {
    let joining = machine(
        "w",
        &[("PodRunning", true, "Running"), ("NodeJoined", false, "Joining")],
        false,
    );
    assert_eq!(joining.phase(), "Joining");
    assert_eq!(
        machine("w", &[("PodRunning", false, "PodScheduling")], false).phase(),
        "Provisioning"
    );
    assert_eq!(ready_machine("w").phase(), "Ready");
    let row = worker_row(&joining);
    assert!(!row.ready);
    assert_eq!(row.why, "no status yet", "a machine without a Ready condition");
}

#[test]
fn a_ready_machine_needs_its_node_ready() {
    let stale = machine(
        "w",
        &[("Ready", true, "Ready"), ("NodeReady", false, "KubeletNotReady")],
        true,
    );
    assert!(!worker_ready(&stale));
    assert!(worker_ready(&ready_machine("w")));
}

#[test]
fn waiting_for_workers_names_each_missing_one_until_all_are_ready() {
    let hcp = control_plane(Some(ready_status(2, 1)), 2);
    let one = snapshot(hcp.clone(), vec![ready_machine("demo-worker-0")]);
    assert!(progress::unmet(&one, Target::Ready).is_empty());
    assert_eq!(
        progress::unmet(&one, Target::Workers),
        ["PodMachine demo-worker-1 does not exist yet"]
    );
    let lines = progress::lines(&one, Target::Workers);
    assert!(lines.contains(&("workers".into(), "workers 1/2 Ready".into())));
    assert!(lines.contains(&("demo-worker-1".into(), "demo-worker-1 not created yet".into())));

    let both = snapshot(
        hcp,
        vec![ready_machine("demo-worker-0"), ready_machine("demo-worker-1")],
    );
    assert_eq!(
        progress::unmet(&both, Target::Workers),
        ["the HostedControlPlane's status reports 1/2 workers Ready"]
    );
    let reported = control_plane(Some(ready_status(2, 2)), 2);
    let no_tunnel = snapshot(reported, both.machines.clone());
    assert_eq!(
        progress::unmet(&no_tunnel, Target::Workers),
        ["TunnelAvailable is not reported yet"]
    );
    let mut status = ready_status(2, 2);
    let tunnel = condition("TunnelAvailable", true, "AgentsConnected", "agents connected");
    status["conditions"].as_array_mut().unwrap().push(tunnel);
    let done = snapshot(control_plane(Some(status), 2), both.machines);
    assert!(progress::unmet(&done, Target::Workers).is_empty());
    let lines = progress::lines(&done, Target::Workers);
    assert!(lines.contains(&("tunnel".into(), "tunnel: agents connected".into())));
}

#[test]
fn a_control_plane_not_ready_is_reported_with_its_conditions() {
    let status = json!({"observedGeneration": 2, "conditions": [
        condition("Ready", false, "ComponentsNotReady", "APIServerAvailable is False: Pod x: no image"),
        condition("APIServerAvailable", false, "ErrImageNeverPull", "Pod x: no image"),
    ]});
    let s = snapshot(control_plane(Some(status), 0), vec![]);
    let unmet = progress::unmet(&s, Target::Ready);
    assert_eq!(unmet.len(), 2);
    assert!(unmet[1].starts_with("APIServerAvailable (ErrImageNeverPull)"));
    let lines = progress::lines(&s, Target::Ready);
    assert!(lines.contains(&(
        "kube-apiserver".into(),
        "kube-apiserver 0/1 ready (ErrImageNeverPull: Pod x: no image)".into()
    )));
    assert!(lines.contains(&("etcd".into(), "etcd 0/1 ready".into())));
}

#[test]
fn available_is_not_repeated_when_it_says_what_ready_says() {
    let status = json!({"observedGeneration": 2, "conditions": [
        condition("Ready", false, "ComponentsNotReady", "EtcdAvailable is False: 0/1 available"),
        condition("Available", false, "ComponentsNotReady", "EtcdAvailable is False: 0/1 available"),
        condition("EtcdAvailable", false, "Unavailable", "0/1 available"),
    ]});
    let types: Vec<String> = problems(&control_plane(Some(status), 0))
        .into_iter()
        .map(|p| p.type_)
        .collect();
    assert_eq!(types, ["Ready", "EtcdAvailable"]);
}

#[test]
fn an_upgrade_under_way_is_no_problem_but_a_stalled_one_is() {
    let with = |status: bool, reason: &str| {
        let conditions = json!({"observedGeneration": 2, "conditions": [condition("RollingOut", status, reason, "v1.35.4 to v1.36.3")]});
        problems(&control_plane(Some(conditions), 0))
    };
    assert!(with(false, "UpToDate").is_empty());
    assert!(with(true, "RollingOutAPIServer").is_empty());
    assert_eq!(with(true, "Stalled")[0].reason, "Stalled");
    assert_eq!(with(false, "DowngradeRefused")[0].reason, "DowngradeRefused");
}
