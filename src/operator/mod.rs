//! `podplane run`: the operator process — settings, logs, probes, metrics, leader election,
//! and the controllers once this replica leads.

pub mod settings;

pub use settings::{LogFormat, Settings};

use anyhow::Context;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    init_logs(&settings)?;
    let client = crate::cli::management_client().await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "podplane operator starting");
    crate::controllers::run(client).await?;
    Ok(())
}

fn init_logs(settings: &Settings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .with_context(|| format!("--log-level {:?} is not a log filter (try info or info,podplane=debug)", settings.log_level))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match settings.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Text => logs.init(),
    }
    Ok(())
}
