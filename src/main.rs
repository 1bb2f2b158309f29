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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => print_crds(),
        Command::Render { file } => render(&file),
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
