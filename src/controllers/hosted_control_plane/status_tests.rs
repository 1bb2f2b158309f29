//! Unit tests of the status computation.

use super::*;
use k8s_openapi::api::apps::v1::DeploymentStatus;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

fn hcp() -> HostedControlPlane {
    let mut hcp = HostedControlPlane::new(
        "demo",
        serde_json::from_value(serde_json::json!({"version": "v1.36.3"})).unwrap(),
    );
    hcp.metadata.namespace = Some("t".into());
    hcp.metadata.generation = Some(3);
    hcp
}

fn deployment(name: &str, available: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        status: Some(DeploymentStatus {
            available_replicas: Some(available),
            replicas: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn all_up() -> Vec<Deployment> {
    [
        "demo-etcd-0",
        "demo-kube-apiserver",
        "demo-kube-controller-manager",
        "demo-kube-scheduler",
    ]
    .iter()
    .map(|n| deployment(n, 1))
    .collect()
}

fn observed(deployments: Vec<Deployment>, pods: Vec<Pod>) -> Observed {
    Observed {
        deployments: deployments.into_iter().map(Arc::new).collect(),
        pods: pods.into_iter().map(Arc::new).collect(),
        ..Default::default()
    }
}

fn answered() -> Report {
    Report {
        certificates_valid: true,
        hosted: Some(Ok(())),
        endpoint: Some("https://demo-kube-apiserver.t.svc:6443".into()),
        tunnel: None,
        rollout: None,
    }
}

fn not_answering(why: &str) -> Report {
    Report {
        hosted: Some(Err(tenant::Error::NotReady(why.into()))),
        ..answered()
    }
}

fn at(second: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(second).unwrap())
}

fn status(
    hcp: &HostedControlPlane,
    observed: &Observed,
    report: &Report,
    error: Option<&Error>,
) -> HostedControlPlaneStatus {
    compute(&Inputs {
        hcp,
        observed,
        report,
        error,
        now: at(1_000),
    })
}

fn find<'a>(status: &'a HostedControlPlaneStatus, type_: &str) -> &'a Condition {
    status.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

#[test]
fn everything_available_and_answering_is_ready() {
    let hcp = hcp();
    let status = status(&hcp, &observed(all_up(), vec![]), &answered(), None);
    assert!(status.ready && status.initialized);
    assert_eq!(status.version.as_deref(), Some("v1.36.3"));
    assert!(
        status
            .conditions
            .iter()
            .filter(|c| c.type_ != PAUSED)
            .all(|c| c.status == "True" && c.observed_generation == Some(3))
    );
    assert_eq!(find(&status, PAUSED).status, "False");
    assert_eq!(find(&status, AVAILABLE).reason, find(&status, READY).reason);
    assert_eq!(
        (status.available_replicas, status.external_managed_control_plane),
        (1, Some(true))
    );
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/component=kube-apiserver,app.kubernetes.io/instance=demo")
    );
}

#[test]
fn a_pull_failure_is_named_in_the_condition() {
    let hcp = hcp();
    let mut deployments = all_up();
    deployments[1] = deployment("demo-kube-apiserver", 0);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("demo-kube-apiserver-abc".into()),
            labels: Some(BTreeMap::from([(
                COMPONENT.to_string(),
                "kube-apiserver".to_string(),
            )])),
            ..Default::default()
        },
        status: Some(PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ErrImageNeverPull".into()),
                        message: Some("image \"x/none:v0\" is not present".into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = status(
        &hcp,
        &observed(deployments, vec![pod]),
        &not_answering("no"),
        None,
    );
    let api = find(&status, API_SERVER_AVAILABLE);
    assert_eq!(
        (api.status.as_str(), api.reason.as_str()),
        ("False", "ErrImageNeverPull")
    );
    assert!(api.message.contains("demo-kube-apiserver-abc") && api.message.contains("not present"));
    let ready = find(&status, READY);
    assert_eq!(ready.reason, "ComponentsNotReady");
    assert!(!status.ready && !status.initialized);
}

#[test]
fn unchanged_conditions_keep_their_transition_time_and_initialized_sticks() {
    let mut hcp = hcp();
    let all = observed(all_up(), vec![]);
    let first = status(&hcp, &all, &answered(), None);
    hcp.status = Some(first.clone());
    let second = compute(&Inputs {
        hcp: &hcp,
        observed: &all,
        report: &not_answering("timeout"),
        error: None,
        now: at(2_000),
    });
    assert_eq!(
        find(&second, ETCD_AVAILABLE).last_transition_time,
        find(&first, ETCD_AVAILABLE).last_transition_time
    );
    assert_ne!(
        find(&second, READY).last_transition_time,
        find(&first, READY).last_transition_time
    );
    assert!(second.initialized && !second.ready);
}

#[test]
fn etcd_keeps_quorum_with_one_of_three_members_down() {
    let mut hcp = hcp();
    hcp.spec.etcd.replicas = 3;
    let mut deployments = all_up();
    deployments.push(deployment("demo-etcd-1", 1));
    deployments.push(deployment("demo-etcd-2", 0));
    let one_down = status(&hcp, &observed(deployments.clone(), vec![]), &answered(), None);
    assert_eq!(find(&one_down, ETCD_AVAILABLE).status, "True");
    deployments.retain(|d| d.metadata.name.as_deref() != Some("demo-etcd-1"));
    let two_down = status(&hcp, &observed(deployments, vec![]), &answered(), None);
    assert_eq!(find(&two_down, ETCD_AVAILABLE).status, "False");
}

#[test]
fn a_failed_pass_says_why_in_synced_and_keeps_what_it_knew() {
    let mut hcp = hcp();
    let all = observed(all_up(), vec![]);
    hcp.status = Some(status(&hcp, &all, &answered(), None));
    let refused = Error::kube("applying Deployment/demo-kube-apiserver")(kube::Error::Api(
        kube::core::Status::failure("admission webhook denied the request", "Forbidden")
            .with_code(403)
            .boxed(),
    ));
    let failed = status(&hcp, &all, &Report::default(), Some(&refused));
    let synced = find(&failed, SYNCED);
    assert_eq!(
        (synced.status.as_str(), synced.reason.as_str()),
        ("False", "ApplyFailed")
    );
    assert!(
        synced.message.contains("Deployment/demo-kube-apiserver"),
        "{}",
        synced.message
    );
    assert_eq!(
        find(&failed, CERTIFICATES_READY).status,
        "True",
        "not checked: the last verdict stays"
    );
    assert!(failed.initialized);
}

#[test]
fn a_conflict_changes_no_condition_and_a_broken_ca_is_reported() {
    let mut hcp = hcp();
    let all = observed(all_up(), vec![]);
    let good = status(&hcp, &all, &answered(), None);
    hcp.status = Some(good.clone());
    let conflict = Error::kube("writing status")(kube::Error::Api(
        kube::core::Status::failure("the object has been modified", "Conflict")
            .with_code(409)
            .boxed(),
    ));
    let retried = status(&hcp, &all, &answered(), Some(&conflict));
    assert_eq!(retried.conditions, good.conditions);
    let broken = Error::Pki(crate::pki::PkiError::BrokenAuthority {
        secret: "demo-ca".into(),
        reason: "expired".into(),
    });
    let status = status(&hcp, &all, &Report::default(), Some(&broken));
    let certificates = find(&status, CERTIFICATES_READY);
    assert_eq!(certificates.reason, "BrokenCertificateAuthority");
    assert!(certificates.message.contains("demo-ca: expired"));
    assert_eq!(find(&status, READY).status, "False");
}

#[test]
fn a_new_control_plane_reports_its_version_once_its_deployments_exist() {
    let hcp = hcp();
    let nothing = status(&hcp, &observed(vec![], vec![]), &not_answering("starting"), None);
    assert_eq!(nothing.version, None, "nothing runs yet");
    let starting: Vec<Deployment> = all_up()
        .into_iter()
        .map(|d| deployment(d.metadata.name.as_deref().unwrap(), 0))
        .collect();
    let created = status(
        &hcp,
        &observed(starting, vec![]),
        &not_answering("starting"),
        None,
    );
    assert!(!created.ready);
    assert_eq!(created.version.as_deref(), Some("v1.36.3"));
    let initialization = created.initialization.unwrap();
    assert!(
        !initialization.provisioned,
        "not provisioned before the endpoint answers"
    );
    let up = status(&hcp, &observed(all_up(), vec![]), &answered(), None);
    assert!(up.initialization.unwrap().provisioned);
}
