//! Plan (pure): from the HostedControlPlane and what exists, the certificates to issue, the
//! children to write (and why) and the children to remove.

use std::collections::BTreeSet;

use k8s_openapi::Resource as OpenApiResource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::observe::Observed;
use super::rollout::{AGENT_WAIT_SECONDS, Rollout};
use crate::api::HostedControlPlane;
use crate::api::conditions::SYNCED;
use crate::components::PkiSecret;
use crate::controllers::{APPLIED_DIGEST, drift};
use crate::names::Names;
use crate::pki::{self, Asset, IssuedPki, KUBECONFIG_KEY, PkiError};
use crate::render;
use crate::tenant::addons::TunnelCredentials;

/// Why a child is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// It does not exist.
    Missing,
    /// The spec (or a certificate) changed what it must be.
    Changed,
    /// Someone else changed it since podplane applied it: the field first found different.
    Drifted(String),
}

/// One child to server-side apply.
#[derive(Clone, Debug)]
pub struct Write {
    pub kind: &'static str,
    pub name: String,
    /// The object, with the digest annotation.
    pub object: Value,
    pub why: Why,
}

/// What the apply stage is to do.
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// Owned children no longer wanted, as (kind, name).
    pub removals: Vec<(&'static str, String)>,
    /// What to say about certificates issued in this pass, if any were.
    pub issued_note: Option<String>,
    pub admin_kubeconfig: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    /// What the konnectivity agents in the hosted cluster present and trust.
    pub tunnel: Option<TunnelCredentials>,
    /// The Kubernetes version the hosted cluster's addons (kube-proxy, kubeadm's
    /// configuration) are applied for.
    pub addon_version: String,
}

/// SHA-256 of the object as it would be applied (without the digest annotation).
pub fn digest<T: serde::Serialize>(object: &T) -> String {
    let bytes = serde_json::to_vec(object).expect("typed objects serialize");
    format!("{:x}", Sha256::digest(bytes))
}

/// The certificates `hcp` needs, given what was observed.
pub fn required_pki(hcp: &HostedControlPlane, observed: &Observed) -> Vec<Asset> {
    pki::assets::required(hcp, &observed.extra_api_server_sans())
}

/// Whether the last pass applied this very spec: a child missing now was then removed by
/// someone else, not added by a change of the spec.
fn settled(hcp: &HostedControlPlane) -> bool {
    let synced = hcp
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == SYNCED));
    synced.is_some_and(|c| c.status == "True" && c.observed_generation == hcp.metadata.generation)
}

/// Plan the pass for `hcp`: keep valid certificates, issue the rest, and compare every
/// rendered child with the live one.
pub fn plan(
    hcp: &HostedControlPlane,
    required: &[Asset],
    observed: &Observed,
    rollout: &Rollout,
    now: OffsetDateTime,
) -> Result<Plan, PkiError> {
    let issued = pki::issue(required, &observed.pki, now)?;
    let names = hcp.names();
    let mut plan = Plan {
        issued_note: issuance_note(&issued, required.len()),
        admin_kubeconfig: issued
            .secrets
            .get(&names.admin_kubeconfig_secret())
            .and_then(|d| d.get(KUBECONFIG_KEY))
            .map(|v| String::from_utf8_lossy(v).into_owned()),
        ca_pem: issued
            .secrets
            .get(&names.ca_secret())
            .and_then(|d| d.get(pki::TLS_CERT))
            .cloned(),
        tunnel: tunnel_credentials(&issued, &names),
        addon_version: rollout.addon_version(hcp),
        ..Plan::default()
    };
    let mut wanted = BTreeSet::new();
    let workers = rollout.worker_machines();
    for mut child in render::with_workers(hcp, &issued, observed.published_address(), &workers) {
        if let render::Child::Deployment(deployment) = &mut child
            && rollout.control_plane.wait_for_agents
            && deployment.metadata.name.as_deref() == Some(names.api_server().as_str())
        {
            let spec = deployment
                .spec
                .as_mut()
                .expect("rendered Deployments have a spec");
            spec.min_ready_seconds = Some(AGENT_WAIT_SECONDS);
        }
        let (kind, metadata) = child.kind_and_metadata();
        let name = metadata.name.clone().unwrap_or_default();
        wanted.insert((kind, name.clone()));
        if kind == <Deployment as OpenApiResource>::KIND && rollout.control_plane.held.contains(&name) {
            continue;
        }
        let digest = digest(&child);
        let object = serde_json::to_value(&child).expect("typed objects serialize");
        if let Some(mut write) = compare(kind, name, object, digest, observed) {
            if write.why == Why::Missing && settled(hcp) {
                write.why = Why::Drifted("deleted".into());
            }
            plan.writes.push(write);
        }
    }
    plan.removals = observed
        .children
        .iter()
        .filter(|((kind, name), live)| {
            live.owned && !wanted.contains(&(*kind, name.clone())) && removable(kind)
        })
        .map(|(key, _)| key.clone())
        .collect();
    Ok(plan)
}

/// Volume claims hold data and Secrets hold certificates others may still trust: never removed.
fn removable(kind: &str) -> bool {
    kind != <PersistentVolumeClaim as OpenApiResource>::KIND && kind != <Secret as OpenApiResource>::KIND
}

/// The write `desired` needs, if any.
fn compare(
    kind: &'static str,
    name: String,
    mut desired: Value,
    digest: String,
    observed: &Observed,
) -> Option<Write> {
    desired["metadata"]["annotations"][APPLIED_DIGEST] = Value::String(digest.clone());
    let why = match observed.children.get(&(kind, name.clone())) {
        // A PKI Secret that exists without our labels (a CA from Cluster API) is used as it is.
        None if kind == <Secret as OpenApiResource>::KIND && observed.pki.contains_key(&name) => return None,
        None => Why::Missing,
        Some(live) if !live.owned => return None,
        Some(live) => {
            let path = drift::first_difference(&desired, &live.object)?;
            if live.digest.as_deref() == Some(digest.as_str()) {
                Why::Drifted(path)
            } else {
                Why::Changed
            }
        }
    };
    Some(Write {
        kind,
        name,
        object: desired,
        why,
    })
}

/// The agents' certificate and the tunnel CA, from the issued PKI.
fn tunnel_credentials(issued: &IssuedPki, names: &Names) -> Option<TunnelCredentials> {
    let file =
        |secret: PkiSecret, key: &str| issued.secrets.get(&names.pki_secret(secret))?.get(key).cloned();
    Some(TunnelCredentials {
        ca: file(PkiSecret::TunnelCa, pki::TLS_CERT)?,
        cert: file(PkiSecret::TunnelAgent, pki::TLS_CERT)?,
        key: file(PkiSecret::TunnelAgent, pki::TLS_KEY)?,
    })
}

/// What to announce about certificates issued in this pass, if any were.
fn issuance_note(issued: &IssuedPki, required: usize) -> Option<String> {
    let reissued = issued.issued();
    if reissued.is_empty() {
        return None;
    }
    if reissued.len() == required {
        return Some(format!(
            "issued {} certificates, keys and kubeconfigs",
            reissued.len()
        ));
    }
    let reasons: Vec<String> = issued
        .verdicts
        .iter()
        .filter_map(|v| match &v.action {
            pki::Action::Issue(why) => Some(format!("{}: {why}", v.secret)),
            _ => None,
        })
        .collect();
    Some(format!("reissued {}", reasons.join("; ")))
}
