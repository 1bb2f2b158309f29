//! `podplane run`'s settings: every one a flag and an environment variable.

use std::time::Duration;

use clap::{ArgAction, ValueEnum};

use crate::controllers::Tuning;
use crate::controllers::tuning::duration;

/// Quiet the client's own connection errors: reconciles report what failed, and a
/// hosted API server that is still starting refuses connections by design.
pub const DEFAULT_LOG_LEVEL: &str = "info,kube=warn,kube_client::client::builder=off";

#[derive(clap::Args, Clone, Debug)]
pub struct Settings {
    /// Where Prometheus metrics are served (GET /metrics); `0` turns the endpoint off.
    #[arg(long, env = "PODPLANE_METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: String,

    /// Where the probes are served (GET /healthz, /readyz); `0` turns the endpoint off.
    #[arg(
        long,
        env = "PODPLANE_HEALTH_PROBE_BIND_ADDRESS",
        default_value = "0.0.0.0:8081"
    )]
    pub health_probe_bind_address: String,

    /// Elect one writer among the operator's replicas through a coordination.k8s.io Lease.
    #[arg(long, env = "PODPLANE_LEADER_ELECT", default_value_t = true, action = ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the leader-election Lease.
    #[arg(long, env = "PODPLANE_LEADER_ELECTION_ID", default_value = "podplane")]
    pub leader_election_id: String,

    /// Namespace of the Lease; the operator's own namespace (or the kubeconfig's) by default.
    #[arg(long, env = "PODPLANE_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long a leader that stopped renewing keeps the Lease before another replica takes it.
    #[arg(long, env = "PODPLANE_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,

    /// How long the leader keeps trying to renew before it gives up leadership (and exits).
    #[arg(long, env = "PODPLANE_RENEW_DEADLINE", default_value = "10s", value_parser = duration)]
    pub renew_deadline: Duration,

    /// How often the Lease is renewed, and how often a waiting replica tries to take it.
    #[arg(long, env = "PODPLANE_RETRY_PERIOD", default_value = "2s", value_parser = duration)]
    pub retry_period: Duration,

    /// Log format.
    #[arg(long, env = "PODPLANE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Log filter: a level (`debug`) or per-module directives (`info,podplane=debug`).
    #[arg(long, env = "PODPLANE_LOG_LEVEL", default_value = DEFAULT_LOG_LEVEL)]
    pub log_level: String,

    /// Registry prefix of the control-plane images of a HostedControlPlane that sets no
    /// `spec.imageRepository`.
    #[arg(long, env = "PODPLANE_IMAGE_REPOSITORY", default_value = "registry.k8s.io")]
    pub image_repository: String,

    /// How the controllers pace their work.
    #[command(flatten)]
    pub tuning: Tuning,
}

impl Settings {
    /// Leader-election timings that can work: the Lease counts whole seconds, and a leader
    /// must give up before another replica may take over.
    pub fn check(&self) -> Result<(), String> {
        if self.lease_duration < Duration::from_secs(1) {
            return Err("--lease-duration must be at least 1s (a Lease counts whole seconds)".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(
                "--renew-deadline must be shorter than --lease-duration, or two replicas could lead at once"
                    .into(),
            );
        }
        if self.retry_period >= self.renew_deadline {
            return Err("--retry-period must be shorter than --renew-deadline".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

impl Default for Settings {
    /// The defaults `podplane run` starts with.
    fn default() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            settings: Settings,
        }
        Defaults::parse_from(["podplane"]).settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_timings_that_cannot_work_are_refused() {
        let mut settings = Settings::default();
        assert_eq!(settings.check(), Ok(()));
        settings.renew_deadline = settings.lease_duration;
        assert!(settings.check().unwrap_err().contains("--renew-deadline"));
        settings.lease_duration = Duration::from_millis(500);
        assert!(settings.check().unwrap_err().contains("--lease-duration"));
    }

    #[test]
    fn defaults_parse() {
        let settings = Settings::default();
        assert!(settings.leader_elect);
        assert_eq!(settings.lease_duration, Duration::from_secs(15));
        assert_eq!(settings.tuning.concurrency, 16);
        assert_eq!(settings.image_repository, "registry.k8s.io");
    }
}
