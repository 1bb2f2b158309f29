//! Talking to a hosted cluster's own API server.

pub mod access;
pub mod addon_values;
pub mod addons;
pub mod error;
pub mod nodes;

pub use error::Error;

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A client for the hosted cluster described by `kubeconfig` (YAML text), for requests
/// that answer at once: a hosted API server that does not answer within 3 s is reported.
pub async fn client(kubeconfig: &str) -> Result<Client, Error> {
    build(kubeconfig, Some(Duration::from_secs(3))).await
}

/// A client for watches of the hosted cluster, whose responses stay open while idle.
pub async fn watch_client(kubeconfig: &str) -> Result<Client, Error> {
    build(kubeconfig, None).await
}

async fn build(kubeconfig: &str, read_timeout: Option<Duration>) -> Result<Client, Error> {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = read_timeout;
    Client::try_from(config).map_err(|e| Error::Kubeconfig(format!("client: {e}")))
}

const READYZ_PATIENCE: Duration = Duration::from_secs(4);

/// Whether the hosted API server answers `/readyz` with `ok`; the error says why not.
pub async fn readyz(client: &Client) -> Result<(), Error> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .expect("static request");
    match tokio::time::timeout(READYZ_PATIENCE, client.request_text(request)).await {
        Ok(Ok(body)) if body.trim() == "ok" => Ok(()),
        Ok(Ok(body)) => Err(Error::NotReady(body)),
        Ok(Err(e)) => Err(Error::api("/readyz")(e)),
        Err(_) => Err(Error::Timeout(READYZ_PATIENCE.as_secs())),
    }
}
