//! Prometheus metrics of the operator, served on `/metrics` (OpenMetrics text).
//!
//! Counters and histograms are updated where things happen (reconciles, joins); the
//! state gauges (control planes by Ready, machines by phase, certificate expiry) are
//! computed from the watch caches on each scrape, so a deleted object never lingers.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::controllers::cache::Caches;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: &'static str,
    /// `success` or `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub reason: String,
}

pub struct Metrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// How long a successful join attempt took.
    pub join_duration: Histogram,
    /// 1 while this replica leads (and writes), else 0.
    pub leader: Gauge,
    /// Set once this replica leads and its caches are synced.
    caches: Arc<OnceLock<Caches>>,
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration =
            Family::<ControllerLabels, Histogram>::new_with_constructor(duration_histogram);
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let join_duration = Histogram::new(exponential_buckets(5.0, 1.5, 10));
        let leader = Gauge::default();
        let caches = Arc::new(OnceLock::new());
        let mut registry = Registry::with_prefix("podplane");
        registry.register(
            "reconciles",
            "Reconciles by controller and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and the error's reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "machine_join_duration_seconds",
            "How long a successful join took (kubeadm join, with its waits for the node container and the hosted cluster)",
            join_duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the controllers",
            leader.clone(),
        );
        registry.register_collector(Box::new(super::state_metrics::StateCollector::new(
            caches.clone(),
        )));
        Arc::new(Self {
            reconciles,
            reconcile_duration,
            reconcile_errors,
            join_duration,
            leader,
            caches,
            registry,
        })
    }

    /// Start reporting the state of the objects in `caches`.
    pub fn watch(&self, caches: Caches) {
        let _ = self.caches.set(caches);
    }

    /// Count one reconcile of `controller` that took `seconds`; `error_reason` when it failed.
    pub fn reconciled(&self, controller: &'static str, seconds: f64, error_reason: Option<&str>) {
        let result = if error_reason.is_some() {
            "error"
        } else {
            "success"
        };
        self.reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .inc();
        self.reconcile_duration
            .get_or_create(&ControllerLabels { controller })
            .observe(seconds);
        if let Some(reason) = error_reason {
            self.reconcile_errors
                .get_or_create(&ErrorLabels {
                    controller,
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_controller_result_and_reason() {
        let metrics = Metrics::new();
        metrics.reconciled("hostedcontrolplane", 0.02, None);
        metrics.reconciled("hostedcontrolplane", 0.5, Some("ApplyFailed"));
        let text = metrics.encode();
        assert!(
            text.contains(
                "podplane_reconciles_total{controller=\"hostedcontrolplane\",result=\"success\"} 1"
            )
        );
        assert!(text.contains(
            "podplane_reconcile_errors_total{controller=\"hostedcontrolplane\",reason=\"ApplyFailed\"} 1"
        ));
        assert!(
            text.contains("podplane_reconcile_duration_seconds_count{controller=\"hostedcontrolplane\"} 2")
        );
        assert!(text.contains("podplane_leader 0"));
    }
}
