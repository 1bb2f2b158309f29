//! `podplane kubeconfig NAME`: an admin kubeconfig for a hosted cluster.

#[derive(clap::Args)]
pub struct Args {
    /// Name of the HostedControlPlane.
    name: String,
    /// Namespace; the current context's namespace by default.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Keep the in-cluster Service URL (for use from Pods of the management cluster).
    #[arg(long)]
    internal: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (client, namespace) = super::connect(args.namespace).await?;
    let name = &args.name;
    let hcp = super::observe::get(&client, &namespace, name).await?;
    let (server, tls_name) = if args.internal {
        (hcp.in_cluster_server(), None)
    } else {
        crate::tenant::access::external_server(&client, &hcp, &namespace).await?
    };
    let config =
        crate::tenant::access::admin_kubeconfig(&client, &hcp, &namespace, &server, tls_name.as_deref())
            .await?;
    print!("{config}");
    Ok(())
}
