//! The operator's HTTP endpoints: `/metrics` on one address, `/healthz` and `/readyz` on
//! another (either may be turned off with `0`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::controllers::metrics::Metrics;

/// What an address answers.
#[derive(Clone)]
pub enum Endpoints {
    Metrics(Arc<Metrics>),
    Probes(kube::Client),
}

/// How long `/readyz` waits for the management API server.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bind `address` (unless it is `0`) and answer there in the background.
pub async fn start(address: &str, flag: &str, endpoints: Endpoints) -> anyhow::Result<()> {
    if address == "0" {
        return Ok(());
    }
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("{flag} {address}: cannot listen there"))?;
    tracing::info!(address, flag, "serving");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(endpoints.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

async fn answer(
    endpoints: Endpoints,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (&endpoints, request.uri().path()) {
        (Endpoints::Metrics(metrics), "/metrics") => (StatusCode::OK, OPENMETRICS, metrics.encode()),
        (Endpoints::Probes(_), "/healthz") => (StatusCode::OK, "text/plain", "ok\n".into()),
        (Endpoints::Probes(client), "/readyz") => match management_reachable(client).await {
            Ok(()) => (StatusCode::OK, "text/plain", "ok\n".into()),
            Err(problem) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{problem}\n"),
            ),
        },
        (_, path) => (
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("{path}: not served here\n"),
        ),
    };
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response built from valid parts");
    Ok(response)
}

/// Ready means the management API server answers now.
async fn management_reachable(client: &kube::Client) -> Result<(), String> {
    match tokio::time::timeout(READY_CHECK_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("the management API server does not answer: {error}")),
        Err(_) => Err(format!(
            "the management API server did not answer within {}s",
            READY_CHECK_TIMEOUT.as_secs()
        )),
    }
}
