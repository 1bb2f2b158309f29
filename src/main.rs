use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Kubernetes control planes hosted as Pods.
#[derive(Parser)]
#[command(name = "podplane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition as multi-document YAML.
    Crd,
    /// Print every object the operator would create for a HostedControlPlane, without a cluster.
    Render {
        /// HostedControlPlane manifest (YAML or JSON); `-` reads standard input.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster).
    Run,
    /// Print an admin kubeconfig for a hosted cluster that works from where you are.
    Kubeconfig {
        /// Name of the HostedControlPlane.
        name: String,
        /// Namespace; the current context's namespace by default.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Keep the in-cluster Service URL (for use from Pods of the management cluster).
        #[arg(long)]
        internal: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => print_crds(),
        Command::Render { file } => render(&file),
        Command::Run => runtime().and_then(|rt| rt.block_on(run())),
        Command::Kubeconfig {
            name,
            namespace,
            internal,
        } => runtime().and_then(|rt| rt.block_on(kubeconfig(&name, namespace, internal))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_crds() -> anyhow::Result<()> {
    print!(
        "{}",
        podplane::manifest::to_yaml_documents(&podplane::api::crds())?
    );
    Ok(())
}

fn render(file: &PathBuf) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let hcp = podplane::validate::parse_hosted_control_plane(&text)
        .with_context(|| format!("{} is not a valid HostedControlPlane", file.display()))?;
    let required = podplane::pki::assets::required(&hcp, &[]);
    let pki = podplane::pki::issue(&required, &Default::default(), time::OffsetDateTime::now_utc())
        .context("issuing certificates")?;
    let objects = podplane::render::all(&hcp, &pki);
    print!("{}", podplane::manifest::to_yaml_documents(&objects)?);
    Ok(())
}

/// Quiet the client's own connection errors: reconciles report what failed, and a
/// hosted API server that is still starting refuses connections by design.
const DEFAULT_LOG_FILTER: &str = "info,kube=warn,kube_client::client::builder=off";

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
    // kube may already have installed ring as the process-wide provider; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .context("connecting to the management cluster")?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "podplane operator starting");
    podplane::controllers::run(client).await?;
    Ok(())
}

async fn kubeconfig(name: &str, namespace: Option<String>, internal: bool) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the management cluster")?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let hcp = kube::Api::<podplane::api::HostedControlPlane>::namespaced(client.clone(), &namespace)
        .get(name)
        .await
        .with_context(|| format!("HostedControlPlane {namespace}/{name}"))?;
    let (server, tls_name) = if internal {
        (hcp.in_cluster_server(), None)
    } else {
        podplane::tenant::access::external_server(&client, &hcp, &namespace).await?
    };
    let config =
        podplane::tenant::access::admin_kubeconfig(&client, &hcp, &namespace, &server, tls_name.as_deref())
            .await?;
    print!("{config}");
    Ok(())
}
