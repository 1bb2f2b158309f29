//! Talking to a hosted cluster's own API server.

pub mod access;
pub mod addons;
pub mod nodes;

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A client for the hosted cluster described by `kubeconfig` (YAML text).
pub async fn client(kubeconfig: &str) -> Result<Client, String> {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = Some(Duration::from_secs(3));
    Client::try_from(config).map_err(|e| format!("client: {e}"))
}

/// Whether the hosted API server answers `/readyz` with `ok`; the error says why not.
pub async fn readyz(client: &Client) -> Result<(), String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .expect("static request");
    match tokio::time::timeout(Duration::from_secs(4), client.request_text(request)).await {
        Ok(Ok(body)) if body.trim() == "ok" => Ok(()),
        Ok(Ok(body)) => Err(format!("/readyz answered {body}")),
        Ok(Err(e)) => Err(format!("/readyz: {e}")),
        Err(_) => Err("/readyz did not answer within 4s".into()),
    }
}
