//! Commands that need no cluster: `crd` and `render`.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// HostedControlPlane manifest (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
}

pub fn print_crds() -> anyhow::Result<()> {
    print!("{}", crate::manifest::to_yaml_documents(&crate::api::crds())?);
    Ok(())
}

pub fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let file = &args.file;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let hcp = crate::validate::parse_hosted_control_plane(&text)
        .with_context(|| format!("{} is not a valid HostedControlPlane", file.display()))?;
    let required = crate::pki::assets::required(&hcp, &[]);
    let pki = crate::pki::issue(&required, &Default::default(), time::OffsetDateTime::now_utc())
        .context("issuing certificates")?;
    let objects = crate::render::all(&hcp, &pki, None);
    print!("{}", crate::manifest::to_yaml_documents(&objects)?);
    Ok(())
}
