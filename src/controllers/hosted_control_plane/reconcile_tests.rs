//! Reconcile tests against the in-process fake API: every exit writes status, a failed or
//! conflicting write, an object that cannot be decoded, drift, and zero writes when
//! nothing changed.

use crate::controllers::cluster_api_cache::ClusterApiCaches;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::api::PodMachine;
use crate::controllers::cache::{Caches, Routes};
use crate::controllers::fake_api::FakeApi;
use crate::controllers::retry_after;

const HCP_PATH: &str = "/apis/controlplane.podplane.dev/v1alpha1/namespaces/t/hostedcontrolplanes/demo";

/// A change made to fixture objects before they reach the caches.
type Edit<'a> = Option<&'a dyn Fn(&mut Value)>;
type Refill = Box<dyn FnMut(&FakeApi, Edit)>;

/// The fake API with the controller's caches, refilled from what the fake holds.
struct Harness {
    fake: FakeApi,
    context: Arc<Context>,
    refill: Refill,
}

fn fill<K>(writer: &mut Writer<K>, objects: Vec<Value>, edit: Edit)
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned + Clone + 'static,
{
    writer.apply_watcher_event(&Event::Init);
    for mut object in objects {
        if let Some(edit) = edit {
            edit(&mut object);
        }
        writer.apply_watcher_event(&Event::InitApply(serde_json::from_value(object).unwrap()));
    }
    writer.apply_watcher_event(&Event::InitDone);
}

fn harness() -> Harness {
    let fake = FakeApi::default();
    let (control_planes, mut w_hcp) = reflector::store::<DeserializeGuard<HostedControlPlane>>();
    let (machines, mut w_machines) = reflector::store();
    let (deployments, mut w_deployments) = reflector::store::<Deployment>();
    let (services, mut w_services) = reflector::store::<Service>();
    let (secrets, mut w_secrets) = reflector::store::<Secret>();
    let (config_maps, mut w_config_maps) = reflector::store::<ConfigMap>();
    let (budgets, mut w_budgets) = reflector::store::<PodDisruptionBudget>();
    let (ingresses, mut w_ingresses) = reflector::store::<Ingress>();
    let (claims, mut w_claims) = reflector::store::<PersistentVolumeClaim>();
    let (pods, mut w_pods) = reflector::store::<Pod>();
    let caches = Caches {
        control_planes,
        machines,
        deployments,
        services,
        secrets,
        config_maps,
        budgets,
        ingresses,
        claims,
        pods,
        cluster_api: ClusterApiCaches {
            installed: false,
            clusters: reflector::store().0,
            machines: reflector::store().0,
        },
    };
    let refill = Box::new(move |fake: &FakeApi, edit: Edit| {
        fill(&mut w_hcp, fake.objects("/hostedcontrolplanes/"), None);
        fill::<DeserializeGuard<PodMachine>>(&mut w_machines, fake.objects("/podmachines/"), None);
        fill(&mut w_deployments, fake.objects("/deployments/"), edit);
        fill(&mut w_services, fake.objects("/services/"), None);
        fill(&mut w_secrets, fake.objects("/secrets/"), None);
        fill(&mut w_config_maps, fake.objects("/configmaps/"), None);
        fill(&mut w_budgets, fake.objects("/poddisruptionbudgets/"), None);
        fill(&mut w_ingresses, fake.objects("/ingresses/"), None);
        fill(&mut w_claims, fake.objects("/persistentvolumeclaims/"), None);
        fill(&mut w_pods, fake.objects("/pods/"), None);
    });
    let (control_planes_tx, _) = tokio::sync::mpsc::unbounded_channel();
    let (machines_tx, _) = tokio::sync::mpsc::unbounded_channel();
    let (gone, _) = tokio::sync::mpsc::unbounded_channel();
    let routes = Routes {
        control_planes: control_planes_tx,
        machines: machines_tx,
        gone,
    };
    let context = Arc::new(Context::new(
        fake.client(),
        caches,
        routes,
        Default::default(),
        crate::controllers::metrics::Metrics::new(),
    ));
    let mut harness = Harness {
        fake,
        context,
        refill,
    };
    harness.put(
        HCP_PATH,
        json!({
            "apiVersion": "controlplane.podplane.dev/v1alpha1",
            "kind": "HostedControlPlane",
            "metadata": {"name": "demo", "namespace": "t", "uid": "hcp-uid", "generation": 1},
            "spec": {"version": "v1.36.3"},
        }),
    );
    harness
}

impl Harness {
    fn put(&mut self, path: &str, object: Value) {
        self.fake.insert(path, object);
        self.sync(None);
    }

    fn sync(&mut self, edit: Edit) {
        (self.refill)(&self.fake, edit);
        self.fake.forget_requests();
    }

    fn hcp(&self) -> HostedControlPlane {
        serde_json::from_value(self.fake.objects(HCP_PATH).remove(0)).unwrap()
    }

    async fn reconcile(&self) -> Result<Action, Error> {
        reconcile_one(&self.hcp(), &self.context).await
    }

    fn status_writes(&self) -> Vec<Value> {
        let writes = self.fake.writes();
        writes
            .into_iter()
            .filter(|r| r.path.ends_with("/status"))
            .map(|r| r.body)
            .collect()
    }
}

fn condition(status: &Value, type_: &str) -> (String, String, String) {
    let c = status["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {status}"));
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    (text("status"), text("reason"), text("message"))
}

fn events(fake: &FakeApi, reason: &str) -> Vec<Value> {
    fake.objects("/events/")
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

#[tokio::test]
async fn a_new_control_plane_gets_its_children_and_a_status() {
    let h = harness();
    h.reconcile().await.unwrap();
    let applied: Vec<String> = h
        .fake
        .writes()
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.path.clone())
        .collect();
    assert!(
        applied
            .iter()
            .any(|p| p.ends_with("/deployments/demo-kube-apiserver")),
        "{applied:?}"
    );
    assert!(
        applied.iter().any(|p| p.ends_with("/secrets/demo-ca")),
        "{applied:?}"
    );
    let status = h.status_writes().pop().expect("status written");
    assert_eq!(condition(&status, "Synced").0, "True");
    assert_eq!(condition(&status, "CertificatesReady").0, "True");
    assert_eq!(condition(&status, "Ready").0, "False");
    assert_eq!(events(&h.fake, "CertificatesIssued").len(), 1);
}

#[tokio::test]
async fn a_refused_write_is_reported_in_the_status() {
    let h = harness();
    h.fake
        .fail(Method::PATCH, "/deployments/demo-kube-apiserver", 403);
    let error = h.reconcile().await.expect_err("the refused write ends the pass");
    assert_eq!(error.reason(), "ApplyFailed");
    let status = h.status_writes().pop().expect("status written on the error exit");
    let (ok, reason, message) = condition(&status, "Synced");
    assert_eq!((ok.as_str(), reason.as_str()), ("False", "ApplyFailed"));
    assert!(
        message.contains("Deployment/demo-kube-apiserver") && message.contains("403"),
        "{message}"
    );
}

#[tokio::test]
async fn a_conflict_is_retried_at_once() {
    let h = harness();
    h.fake.fail(Method::PATCH, "/services/demo-kube-apiserver", 409);
    let error = h.reconcile().await.expect_err("conflict");
    let guard = DeserializeGuard(Ok(h.hcp()));
    assert_eq!(
        retry_after(&guard, &error, Duration::from_secs(10)),
        Action::requeue(Duration::from_millis(500))
    );
    let status = h.status_writes().pop().expect("status written");
    assert_eq!(
        condition(&status, "Synced").0,
        "True",
        "a conflict is not a failure to report"
    );
}

#[tokio::test]
async fn an_object_that_cannot_be_decoded_is_skipped_without_a_request() {
    let h = harness();
    let invalid = DeserializeGuard::<HostedControlPlane>(Err(InvalidObject {
        error: "spec.version: invalid type".into(),
        metadata: Default::default(),
    }));
    let action = reconcile(Arc::new(invalid), h.context.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(h.fake.requests().is_empty());
}

#[tokio::test]
async fn nothing_changed_means_no_write_and_drift_is_put_back_with_an_event() {
    let mut h = harness();
    // The first pass creates the children; the second reports what it then sees (their
    // version, say); the third finds nothing to do.
    for _ in 0..2 {
        h.reconcile().await.unwrap();
        h.sync(None);
    }
    h.reconcile().await.unwrap();
    assert!(h.fake.writes().is_empty(), "writes: {:?}", h.fake.writes());

    let edit = |d: &mut Value| {
        if d["metadata"]["name"] == "demo-kube-apiserver" {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example.com/other:v0");
        }
    };
    h.sync(Some(&edit));
    h.reconcile().await.unwrap();
    let writes = h.fake.writes();
    let applies: Vec<&str> = writes
        .iter()
        .filter(|r| r.method == Method::PATCH)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        applies,
        ["/apis/apps/v1/namespaces/t/deployments/demo-kube-apiserver"]
    );
    let reverted = events(&h.fake, "DriftReverted");
    assert_eq!(reverted.len(), 1);
    let note = reverted[0]["note"].as_str().unwrap();
    assert!(
        note.contains("Deployment/demo-kube-apiserver") && note.contains("image"),
        "{note}"
    );
}
