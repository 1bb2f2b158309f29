//! Reach the hosted cluster: does its API server answer, and does it hold what
//! `kubeadm join` and the addons need.

use std::net::IpAddr;
use std::time::Duration;

use kube::{Client, ResourceExt};
use tracing::info;

use super::plan::{self, Plan};
use crate::api::HostedControlPlane;
use crate::controllers::{Context, FIELD_MANAGER};
use crate::tenant;
use crate::tenant::addons::Inputs;

/// What reaching the hosted cluster found.
pub struct Reached {
    /// Whether its API server answered `/readyz`.
    pub answered: Result<(), tenant::Error>,
    /// Whether the addons are in place (Ok when there was nothing to do yet).
    pub addons: Result<(), tenant::Error>,
}

/// `https://host:port` where clients reach the API server (its Service exists once a pass
/// applied the children).
pub fn endpoint(hcp: &HostedControlPlane) -> String {
    match &hcp.spec.control_plane_endpoint {
        Some(endpoint) => format!("https://{}:{}", endpoint.host, endpoint.port),
        None => hcp.in_cluster_server(),
    }
}

pub async fn reach(
    context: &Context,
    hcp: &HostedControlPlane,
    plan: &Plan,
    endpoint: Option<&str>,
    address: Option<IpAddr>,
) -> Reached {
    let Some(kubeconfig) = &plan.admin_kubeconfig else {
        let missing = tenant::Error::Missing("no admin kubeconfig yet".into());
        return Reached {
            answered: Err(missing),
            addons: Ok(()),
        };
    };
    let client = match context
        .hosted_client(
            &hcp.uid().unwrap_or_default(),
            &hcp.namespace_or_default(),
            kubeconfig,
        )
        .await
    {
        Ok(client) => client,
        Err(error) => {
            return Reached {
                answered: Err(error),
                addons: Ok(()),
            };
        }
    };
    let was_ready = hcp.status.as_ref().is_some_and(|s| s.ready);
    if let Err(error) = answers(&client, was_ready).await {
        return Reached {
            answered: Err(error),
            addons: Ok(()),
        };
    }
    let addons = match (endpoint, &plan.ca_pem, address, &plan.tunnel) {
        (Some(endpoint), Some(ca_pem), Some(address), Some(tunnel)) => {
            let inputs = Inputs {
                endpoint: endpoint.trim_start_matches("https://"),
                ca_pem,
                address,
                tunnel,
                version: &plan.addon_version,
            };
            prepare_for_join(context, hcp, &client, &inputs).await
        }
        _ => Ok(()),
    };
    Reached {
        answered: Ok(()),
        addons,
    }
}

/// Whether the hosted API server answers `/readyz`. A control plane that was Ready gets a
/// second chance a second later: one slow answer on a busy machine (a fresh connection
/// after an operator restart, say) is not an outage worth flipping Ready for.
async fn answers(hosted: &Client, was_ready: bool) -> Result<(), tenant::Error> {
    match tenant::readyz(hosted).await {
        Err(_) if was_ready => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tenant::readyz(hosted).await
        }
        result => result,
    }
}

/// Leave in the hosted cluster what `kubeadm join` needs; written only when it changed.
async fn prepare_for_join(
    context: &Context,
    hcp: &HostedControlPlane,
    hosted: &Client,
    inputs: &Inputs<'_>,
) -> Result<(), tenant::Error> {
    let rendered = tenant::addons::render(hcp, inputs)?;
    let digest = plan::digest(&(&rendered.wanted, &rendered.unwanted));
    let uid = hcp.uid().unwrap_or_default();
    if context.hosted.addons_applied(&uid, &digest) {
        return Ok(());
    }
    tenant::addons::apply(hosted, &rendered, FIELD_MANAGER).await?;
    info!("hosted cluster addons applied");
    context.hosted.record_addons(&uid, digest);
    Ok(())
}
