//! The `podplane` command line (also usable as `kubectl podplane …` through a
//! `kubectl-podplane` link to the same binary).

pub mod format;
pub mod kubeconfig;
pub mod observe;
pub mod offline;
pub mod progress;
pub mod report;
pub mod status;
pub mod wait;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Kubernetes control planes hosted as Pods.
#[derive(Parser)]
#[command(name = "podplane", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition as multi-document YAML.
    Crd,
    /// Print every object the operator would create for a HostedControlPlane, without a cluster.
    Render(offline::RenderArgs),
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster).
    Run(Box<crate::operator::Settings>),
    /// Print an admin kubeconfig for a hosted cluster that works from where you are.
    Kubeconfig(kubeconfig::Args),
    /// One screen about a hosted control plane: components, endpoint, workers, problems.
    Status(status::Args),
    /// Wait until a hosted control plane is ready (or its workers are), showing progress.
    Wait(wait::Args),
}

/// Parse the arguments, run the command, print an error naming what failed.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => offline::print_crds(),
        Command::Render(args) => offline::render(&args),
        Command::Run(settings) => runtime().and_then(|rt| rt.block_on(crate::operator::run(*settings))),
        Command::Kubeconfig(args) => runtime().and_then(|rt| rt.block_on(kubeconfig::run(args))),
        Command::Status(args) => runtime().and_then(|rt| rt.block_on(status::run(args))),
        Command::Wait(args) => runtime().and_then(|rt| rt.block_on(wait::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A client for the management cluster, and the namespace to work in: `namespace` when
/// given, else the current context's.
pub async fn connect(namespace: Option<String>) -> anyhow::Result<(kube::Client, String)> {
    let client = crate::operator::management_client().await?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    Ok((client, namespace))
}
