//! Machines that Cluster API made: the bootstrap data of their `Machine` (the kubeadm
//! bootstrap provider's cloud-config) joins them, instead of podplane's own `kubeadm join`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::runtime::events::EventType;

use super::join::JoinError;
use super::status::JoinState;
use super::{Machine, exec};
use crate::api::cluster_api::cluster_api_owner;
use crate::api::conditions::reasons;
use crate::api::provider_id;
use crate::machine::cloud_init::{self, BootstrapScript};
use crate::machine::join::bootstrap_command;

/// How a machine joins its cluster.
#[derive(Clone, Debug)]
pub enum JoinSource {
    /// podplane's own `kubeadm join` with a fresh bootstrap token.
    Own,
    /// The bootstrap data of the Cluster API Machine that owns the PodMachine.
    ClusterApi {
        secret: String,
        bootstrap: BootstrapScript,
    },
}

/// Running the bootstrap data: `kubeadm join` and the kubelet's first start, and whatever
/// the user's pre- and post-commands do.
const BOOTSTRAP_PATIENCE: Duration = Duration::from_secs(300);

fn waiting(reason: &'static str, message: String) -> JoinState {
    JoinState::Waiting { reason, message }
}

/// The Cluster API Machine that owns this PodMachine, if one does.
pub fn owner(machine: &Machine) -> Option<String> {
    cluster_api_owner(&machine.object.metadata, "Machine")
}

/// How `machine` joins: its own way, or with its Machine's bootstrap data once the bootstrap
/// provider wrote it (until then, or when it cannot be run, the state says why).
pub async fn source(machine: &Machine) -> Result<JoinSource, JoinState> {
    let Some(owner) = owner(machine) else {
        return Ok(JoinSource::Own);
    };
    let caches = &machine.context.caches.cluster_api;
    let Some(capi_machine) = caches.machine(&machine.namespace, &owner) else {
        let message = format!("waiting for Machine {owner}, which owns this PodMachine, to be listed");
        return Err(waiting(reasons::WAITING_FOR_BOOTSTRAP_DATA, message));
    };
    let Some(secret) = capi_machine.spec.bootstrap.data_secret_name.clone() else {
        let message = format!(
            "Machine {owner} has no bootstrap data yet (spec.bootstrap.dataSecretName): its bootstrap provider writes it once the control plane is initialized"
        );
        return Err(waiting(reasons::WAITING_FOR_BOOTSTRAP_DATA, message));
    };
    let data = Api::<Secret>::namespaced(machine.client().clone(), &machine.namespace)
        .get_opt(&secret)
        .await
        .map_err(|e| {
            waiting(
                reasons::WAITING_FOR_BOOTSTRAP_DATA,
                format!("reading Secret {secret}: {e}"),
            )
        })?
        .and_then(|s| s.data)
        .unwrap_or_default();
    let text = |key: &str| data.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let format = text("format").unwrap_or_else(|| "cloud-config".into());
    if format != "cloud-config" {
        let message = format!(
            "Secret {secret} holds bootstrap data in format {format:?}; PodMachines run cloud-config only: set the bootstrap config's format to cloud-config"
        );
        return Err(waiting(reasons::BOOTSTRAP_FORMAT_UNSUPPORTED, message));
    }
    let Some(value) = text("value") else {
        let message = format!("Secret {secret} has no key value yet");
        return Err(waiting(reasons::WAITING_FOR_BOOTSTRAP_DATA, message));
    };
    let bootstrap = cloud_init::script(&value, &machine.name).map_err(|e| JoinState::Failed {
        reason: reasons::BOOTSTRAP_FAILED,
        message: format!("the bootstrap data in Secret {secret} cannot be run: {e}; fix the bootstrap config (KubeadmConfig) of Machine {owner}"),
    })?;
    Ok(JoinSource::ClusterApi { secret, bootstrap })
}

/// Run the bootstrap script in the node container, once.
pub async fn run(machine: &Machine, secret: &str, bootstrap: &BootstrapScript) -> Result<(), JoinError> {
    if !bootstrap.ignored.is_empty() {
        let note = format!(
            "the bootstrap data in Secret {secret} has directives a node container does not run, ignored: {}",
            bootstrap.ignored.join(", ")
        );
        machine
            .publish(EventType::Warning, reasons::BOOTSTRAP_DIRECTIVES_IGNORED, note)
            .await;
    }
    let provider = provider_id(&machine.namespace, &machine.name);
    let command = bootstrap_command(&machine.name, &provider);
    let output = exec::run(
        &machine.pods,
        &machine.name,
        command,
        Some(&bootstrap.script),
        BOOTSTRAP_PATIENCE,
    )
    .await?;
    if output.success {
        Ok(())
    } else {
        Err(JoinError::Bootstrap {
            secret: secret.into(),
            output: output.tail(8),
        })
    }
}
