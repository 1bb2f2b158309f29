//! Running a command in a machine's node container (the `pods/exec` subresource).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::machine::NODE_CONTAINER;

/// Why a command could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec in Pod {pod}: {source}")]
    Start {
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("exec stdin: {0}")]
    Stdin(#[from] std::io::Error),
    #[error("exec in Pod {pod} did not finish within {seconds}s")]
    Timeout { pod: String, seconds: u64 },
}

/// What a command printed, and whether it exited 0.
pub struct Output {
    pub success: bool,
    /// stdout and stderr, interleaved per stream.
    pub text: String,
}

impl Output {
    /// The last `lines` lines, for conditions and Events.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.text.trim_end().lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Run `command` in `pod`'s node container with `stdin`, allowing `patience` to finish.
pub async fn run(
    pods: &Api<Pod>,
    pod: &str,
    command: Vec<String>,
    stdin: Option<&str>,
    patience: Duration,
) -> Result<Output, ExecError> {
    let params = AttachParams::default()
        .container(NODE_CONTAINER)
        .stdin(stdin.is_some())
        .stdout(true)
        .stderr(true);
    let run = async {
        let mut process = pods
            .exec(pod, command, &params)
            .await
            .map_err(|source| ExecError::Start {
                pod: pod.to_string(),
                source,
            })?;
        if let (Some(input), Some(mut writer)) = (stdin, process.stdin()) {
            writer.write_all(input.as_bytes()).await?;
            // Shutdown, not drop, is what ends the stream: the command then reads EOF.
            writer.shutdown().await?;
        }
        let mut stdout = process.stdout();
        let mut stderr = process.stderr();
        let status = process.take_status();
        let (mut out, mut err) = (String::new(), String::new());
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_string(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut err).await;
            }
        };
        futures::join!(read_out, read_err);
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        let success = status.is_some_and(|s| s.status.as_deref() == Some("Success"));
        Ok(Output {
            success,
            text: format!("{out}{err}"),
        })
    };
    tokio::time::timeout(patience, run)
        .await
        .map_err(|_| ExecError::Timeout {
            pod: pod.to_string(),
            seconds: patience.as_secs(),
        })?
}
