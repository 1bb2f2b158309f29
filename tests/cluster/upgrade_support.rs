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

/// How many polls of one path answered, the slowest answer, and the first failures.
#[derive(Debug, Default)]
pub struct Polled {
    pub ok: usize,
    pub failed: usize,
    pub slowest: Duration,
    pub errors: Vec<String>,
}

impl fmt::Display for Polled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} polls failed, slowest answer {:.2} s",
            self.failed,
            self.ok + self.failed,
            self.slowest.as_secs_f64()
        )?;
        if !self.errors.is_empty() {
            write!(f, " ({})", self.errors.join("; "))?;
        }
        Ok(())
    }
}

/// GET `path`, giving up after `patience`.
pub async fn get(client: &Client, path: &str, patience: Duration) -> Result<String, String> {
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    match tokio::time::timeout(patience, client.request_text(request)).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", patience.as_secs())),
    }
}

/// Who asks: one client whose connections are kept (an operator, a controller), or a new
/// client per request, as `kubectl get --raw` run every 0.5 s is.
pub enum Asker {
    Kept(Client),
    Fresh(String),
}

/// How long a poll waits for its answer: an API server that does not answer within this is
/// down; one that answers later than usual on a loaded machine is slow (reported as the
/// slowest answer), not down.
const PATIENCE: Duration = Duration::from_secs(5);

/// GET `path` every 0.5 s until `stop`.
pub struct Poll(JoinHandle<Polled>);

impl Poll {
    pub fn start(asker: Asker, path: &'static str, stop: Arc<AtomicBool>) -> Poll {
        Poll(tokio::spawn(async move {
            let mut polled = Polled::default();
            let started = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let client = match &asker {
                    Asker::Kept(client) => client.clone(),
                    Asker::Fresh(kubeconfig) => podplane::tenant::client(kubeconfig).await.unwrap(),
                };
                let asked = std::time::Instant::now();
                match get(&client, path, PATIENCE).await {
                    Ok(_) => {
                        polled.ok += 1;
                        polled.slowest = polled.slowest.max(asked.elapsed());
                    }
                    Err(what) => {
                        polled.failed += 1;
                        if polled.errors.len() < 5 {
                            let at = started.elapsed().as_secs_f64();
                            polled.errors.push(format!(
                                "at {at:.1} s: {}",
                                what.chars().take(200).collect::<String>()
                            ));
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
    pub last_controller_ready: Timestamp,
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
    let last_controller_ready = controllers
        .iter()
        .filter_map(ready_since)
        .max()
        .expect("Ready controllers");
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
        last_controller_ready,
        first_new_worker,
    }
}
