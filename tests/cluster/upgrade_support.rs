//! What the upgrade test measures: requests polled every 0.5 s while a rollout runs, and the
//! order in which the new version's Pods and machines started.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};
use podplane::api::PodMachine;
use tokio::task::JoinHandle;

/// How many polls of one path answered, and the first failures.
#[derive(Debug, Default)]
pub struct Polled {
    pub ok: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

impl fmt::Display for Polled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} polls failed", self.failed, self.ok + self.failed)?;
        if !self.errors.is_empty() {
            write!(f, " ({})", self.errors.join("; "))?;
        }
        Ok(())
    }
}

/// GET `path` every 0.5 s (1 s timeout) until `stop`.
pub struct Poll(JoinHandle<Polled>);

impl Poll {
    pub fn start(client: Client, path: &'static str, stop: Arc<AtomicBool>) -> Poll {
        Poll(tokio::spawn(async move {
            let mut polled = Polled::default();
            while !stop.load(Ordering::Relaxed) {
                let request = http::Request::get(path).body(Vec::new()).unwrap();
                let answer = tokio::time::timeout(Duration::from_secs(1), client.request_text(request)).await;
                match answer {
                    Ok(Ok(_)) => polled.ok += 1,
                    failure => {
                        polled.failed += 1;
                        if polled.errors.len() < 5 {
                            polled.errors.push(match failure {
                                Ok(Err(e)) => e.to_string(),
                                _ => "no answer within 1 s".into(),
                            });
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            polled
        }))
    }

    pub async fn finish(self) -> Polled {
        self.0.await.unwrap()
    }
}

/// When the new version's Pods became Ready or started, and its first new worker machine.
#[derive(Debug)]
pub struct Order {
    pub last_api_server_ready: Timestamp,
    pub first_controller_start: Timestamp,
    pub first_new_worker: Timestamp,
}

fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref()?.0)
}

/// The order of the rollout of control plane `cluster`, read after it finished.
pub async fn order_of_starts(pods: &Api<Pod>, machines: &Api<PodMachine>, cluster: &str) -> Order {
    let of = |component: &str| {
        ListParams::default().labels(&format!(
            "app.kubernetes.io/instance={cluster},app.kubernetes.io/component={component}"
        ))
    };
    let api_servers = pods.list(&of("kube-apiserver")).await.unwrap().items;
    let last_api_server_ready = api_servers
        .iter()
        .filter_map(ready_since)
        .max()
        .expect("API server Pods");
    let mut controllers = pods.list(&of("kube-controller-manager")).await.unwrap().items;
    controllers.extend(pods.list(&of("kube-scheduler")).await.unwrap().items);
    let first_controller_start = controllers
        .iter()
        .filter_map(|p| Some(p.status.as_ref()?.start_time.as_ref()?.0))
        .min()
        .expect("controller-manager and scheduler Pods");
    let first_new_worker = machines
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|m| Some(m.metadata.creation_timestamp.as_ref()?.0))
        .min()
        .expect("worker machines");
    Order {
        last_api_server_ready,
        first_controller_start,
        first_new_worker,
    }
}
