//! How the controllers pace their work: `podplane run`'s tuning flags, each also an
//! environment variable.

use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Tuning {
    /// Reconciles of one kind (control planes, machines) that may run at once; 0: no limit.
    #[arg(long, env = "PODPLANE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

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

impl Default for Tuning {
    /// The defaults `podplane run` starts with.
    fn default() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            tuning: Tuning,
        }
        Defaults::parse_from(["podplane"]).tuning
    }
}

/// A duration written with units, as Go and kubectl write them: `500ms`, `10s`, `5m`, `1h`,
/// `1h30m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let no_unit = || format!("{text:?} has no unit: write 500ms, 10s, 5m, 1h or 1h30m");
    if text.is_empty() {
        return Err(no_unit());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(no_unit)?;
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: every unit must follow a whole number"))?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis = match &rest[..unit] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(format!("{text:?}: unit must be ms, s, m or h")),
        };
        total += Duration::from_millis(number * millis);
        rest = &rest[unit..];
    }
    Ok(total)
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
}
