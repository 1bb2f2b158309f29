//! Gauges computed from the watch caches at scrape time: control planes by their Ready
//! condition, machines by phase, and the soonest certificate expiry of each control plane.
//! (The registry adds the `podplane_` prefix to their names.)

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use time::OffsetDateTime;

use crate::api::HostedControlPlane;
use crate::api::conditions::READY;
use crate::contract::{INSTANCE, MANAGED_BY, MANAGER, TLS_CERT};
use crate::controllers::cache::Caches;
use crate::pki::inspect::ParsedCert;

pub struct StateCollector {
    caches: Arc<OnceLock<Caches>>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

impl StateCollector {
    pub fn new(caches: Arc<OnceLock<Caches>>) -> Self {
        Self { caches }
    }
}

type Labels = Vec<(&'static str, String)>;

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(caches) = self.caches.get() else {
            return Ok(());
        };
        let control_planes = caches.control_planes.state();
        let control_planes: Vec<&HostedControlPlane> =
            control_planes.iter().filter_map(|g| g.0.as_ref().ok()).collect();
        let machines = caches.machines.state();

        let by_ready = Family::<Labels, Gauge>::default();
        for status in ["True", "False", "Unknown"] {
            let _ = by_ready.get_or_create(&vec![("ready", status.to_string())]);
        }
        for hcp in &control_planes {
            by_ready
                .get_or_create(&vec![("ready", ready_status(hcp).to_string())])
                .inc();
        }
        emit(
            &mut encoder,
            "hosted_control_planes",
            "HostedControlPlanes by the status of their Ready condition",
            &by_ready,
        )?;

        let by_phase = Family::<Labels, Gauge>::default();
        for machine in machines.iter().filter_map(|g| g.0.as_ref().ok()) {
            by_phase
                .get_or_create(&vec![("phase", machine.phase().to_string())])
                .inc();
        }
        emit(
            &mut encoder,
            "pod_machines",
            "PodMachines by phase (Pending, Provisioning, Joining, NodeNotReady, Ready, Failed, Deleting)",
            &by_phase,
        )?;

        let expiry = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let soonest = soonest_expiry(&caches.secrets.state());
        let now = OffsetDateTime::now_utc();
        for hcp in &control_planes {
            let key = (hcp.namespace().unwrap_or_default(), hcp.name_any());
            if let Some(not_after) = soonest.get(&key) {
                let labels = vec![("namespace", key.0.clone()), ("name", key.1.clone())];
                expiry
                    .get_or_create(&labels)
                    .set((*not_after - now).as_seconds_f64());
            }
        }
        emit(
            &mut encoder,
            "certificate_expiry_seconds",
            "Seconds until the soonest certificate of a control plane expires",
            &expiry,
        )
    }
}

/// One metric family, described and encoded.
fn emit<M: EncodeMetric + TypedMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &M,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, M::TYPE)?)
}

fn ready_status(hcp: &HostedControlPlane) -> &str {
    hcp.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
        .map_or("Unknown", |c| c.status.as_str())
}

/// The soonest `notAfter` among the certificates podplane keeps for each control plane,
/// keyed by (namespace, control plane name).
fn soonest_expiry(secrets: &[Arc<Secret>]) -> BTreeMap<(String, String), OffsetDateTime> {
    let mut soonest: BTreeMap<(String, String), OffsetDateTime> = BTreeMap::new();
    for secret in secrets {
        let labels = secret.labels();
        if labels.get(MANAGED_BY).map(String::as_str) != Some(MANAGER) {
            continue;
        }
        let Some(instance) = labels.get(INSTANCE) else {
            continue;
        };
        let Some(pem) = secret.data.as_ref().and_then(|d| d.get(TLS_CERT)) else {
            continue;
        };
        let Ok(cert) = ParsedCert::from_pem(&pem.0) else {
            continue;
        };
        let key = (secret.namespace().unwrap_or_default(), instance.clone());
        let not_after = cert.not_after();
        soonest
            .entry(key)
            .and_modify(|t| *t = (*t).min(not_after))
            .or_insert(not_after);
    }
    soonest
}
