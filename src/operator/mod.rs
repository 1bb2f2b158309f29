//! `podplane run`: the operator process — settings, logs, probes, metrics, leader election,
//! and the controllers once this replica leads.

pub mod leader;
pub mod serve;
pub mod settings;

pub use settings::{LogFormat, Settings};

use anyhow::Context;

use crate::controllers::metrics::Metrics;
use serve::Endpoints;

/// Serve metrics and probes at once; run the controllers while this replica leads (or
/// always, without leader election). A leader that loses its Lease exits: the restarted
/// process waits its turn with a clean state.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    settings.check().map_err(anyhow::Error::msg)?;
    init_logs(&settings)?;
    crate::api::set_default_image_repository(settings.image_repository.clone());
    let client = management_client().await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "podplane operator starting");
    let metrics = Metrics::new();
    let metrics_address = &settings.metrics_bind_address;
    serve::start(
        metrics_address,
        "--metrics-bind-address",
        Endpoints::Metrics(metrics.clone()),
    )
    .await?;
    let probes_address = &settings.health_probe_bind_address;
    serve::start(
        probes_address,
        "--health-probe-bind-address",
        Endpoints::Probes(client.clone()),
    )
    .await?;

    if !settings.leader_elect {
        metrics.leader.set(1);
        return Ok(crate::controllers::run(client, settings.tuning, metrics).await?);
    }
    let election = leader::Election::new(&client, &settings, leader::identity());
    tracing::info!(lease = %election.name, namespace = %election.namespace, identity = %election.identity, "joining the leader election");
    tokio::select! {
        () = election.acquire() => {}
        () = stopped() => return Ok(()),
    }
    tracing::info!(lease = %election.name, "leading: starting the controllers");
    metrics.leader.set(1);
    tokio::select! {
        result = crate::controllers::run(client, settings.tuning, metrics) => {
            election.release().await;
            Ok(result?)
        }
        why = election.hold() => {
            anyhow::bail!("lost the leader Lease {}/{}: {why}; exiting so that a restart rejoins the election", election.namespace, election.name)
        }
    }
}

/// A client for the management cluster: in-cluster, or the current kubeconfig's.
pub async fn management_client() -> anyhow::Result<kube::Client> {
    // kube may already have installed ring as the process-wide provider; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Client::try_default()
        .await
        .context("connecting to the management cluster (is KUBECONFIG set, or the current context right?)")
}

/// Resolves on SIGTERM or Ctrl-C (the controllers stop on the same signals).
async fn stopped() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn init_logs(settings: &Settings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level).with_context(|| {
        format!(
            "--log-level {:?} is not a log filter (try info or info,podplane=debug)",
            settings.log_level
        )
    })?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match settings.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Text => logs.init(),
    }
    Ok(())
}
