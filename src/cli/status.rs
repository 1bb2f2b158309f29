//! `podplane status` (being written).

#[derive(clap::Args)]
pub struct Args {
    /// Name of the HostedControlPlane.
    name: Option<String>,
}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("podplane status is not written yet")
}
