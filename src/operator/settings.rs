//! `podplane run`'s settings: every one a flag and an environment variable.

use std::time::Duration;

use clap::{ArgAction, ValueEnum};

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

    /// Reconciles of one kind (control planes, machines) that may run at once; 0: no limit.
    #[arg(long, env = "PODPLANE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// Registry prefix of the control-plane images of a HostedControlPlane that sets no
    /// `spec.imageRepository`.
    #[arg(long, env = "PODPLANE_IMAGE_REPOSITORY", default_value = "registry.k8s.io")]
    pub image_repository: String,

    /// How often an unchanged control plane is looked at again (certificate renewal, health).
    #[arg(long, env = "PODPLANE_RESYNC_INTERVAL", default_value = "5m", value_parser = duration)]
    pub resync_interval: Duration,

    /// How soon a failed reconcile is retried.
    #[arg(long, env = "PODPLANE_ERROR_REQUEUE", default_value = "10s", value_parser = duration)]
    pub error_requeue: Duration,

    /// How long a worker's `kubeadm join` may take before the machine is marked failed.
    #[arg(long, env = "PODPLANE_JOIN_TIMEOUT", default_value = "3m", value_parser = duration)]
    pub join_timeout: Duration,

    /// How long a Node is drained before its machine is removed anyway.
    #[arg(long, env = "PODPLANE_DRAIN_TIMEOUT", default_value = "1m", value_parser = duration)]
    pub drain_timeout: Duration,
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

/// A duration written as `500ms`, `10s`, `5m` or `1h`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write 500ms, 10s, 5m or 1h"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{text:?}: unit must be ms, s, m or h")),
    };
    Ok(Duration::from_millis(number * millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert!(duration("15").unwrap_err().contains("no unit"));
        assert!(duration("3d").unwrap_err().contains("unit must be"));
    }

    #[test]
    fn defaults_parse() {
        let settings = Settings::default();
        assert!(settings.leader_elect);
        assert_eq!(settings.lease_duration, Duration::from_secs(15));
        assert_eq!(settings.image_repository, "registry.k8s.io");
    }
}
