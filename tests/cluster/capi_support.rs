//! Helpers for the Cluster API tests: clusterctl and kubectl as a user runs them, and
//! Cluster API's objects read as dynamic objects.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

use crate::harness::{TestNamespace, eventually};

/// The clusterctl configuration `hack/capi.sh env` exports (the local repository).
fn clusterctl_config() -> String {
    std::env::var("PODPLANE_CLUSTERCTL_CONFIG").expect(
        "PODPLANE_CLUSTERCTL_CONFIG is not set: run `hack/capi.sh init` and `eval \"$(hack/capi.sh env)\"` first",
    )
}

/// Run clusterctl with the local repository's configuration; its stdout, or a panic with
/// its stderr.
pub fn clusterctl(args: &[&str]) -> String {
    let output = Command::new("clusterctl")
        .args(args)
        .args(["--config", &clusterctl_config()])
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .output()
        .expect("clusterctl in PATH (eval \"$(hack/capi.sh env)\")");
    assert!(
        output.status.success(),
        "clusterctl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `kubectl ARGS` with `stdin`; its stdout, or a panic with its stderr.
pub fn kubectl(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl in PATH (eval \"$(hack/cluster.sh env)\")");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// An API for Cluster API's (or another group's) kind in the test namespace.
pub fn dynamic(
    ns: &TestNamespace,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

pub fn capi(ns: &TestNamespace, kind: &str, plural: &str) -> Api<DynamicObject> {
    dynamic(ns, "cluster.x-k8s.io", "v1beta2", kind, plural)
}

/// `status.conditions[type]` of a dynamic object: (status, reason, message).
pub fn condition_of(object: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let conditions = object.data["status"]["conditions"].as_array()?;
    let found = conditions.iter().find(|c| c["type"] == type_)?;
    let text = |key: &str| found[key].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("reason"), text("message")))
}

pub fn is_true(object: &DynamicObject, type_: &str) -> bool {
    condition_of(object, type_).is_some_and(|(status, _, _)| status == "True")
}

/// A running Machine: (name, spec.providerID, status.nodeRef.name).
pub type RunningMachine = (String, String, String);

/// The Machines of `cluster` that run with a Node, if all `count` of them do (and no more
/// exist); else what they are doing.
pub async fn machines_running(
    ns: &TestNamespace,
    cluster: &str,
    count: usize,
) -> Result<Vec<RunningMachine>, String> {
    let selector = format!("cluster.x-k8s.io/cluster-name={cluster}");
    let list = capi(ns, "Machine", "machines")
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(|e| e.to_string())?;
    let mut running = vec![];
    let mut states = vec![];
    for machine in &list.items {
        let name = machine.metadata.name.clone().unwrap_or_default();
        let phase = machine.data["status"]["phase"].as_str().unwrap_or_default();
        let node = machine.data["status"]["nodeRef"]["name"]
            .as_str()
            .unwrap_or_default();
        let provider = machine.data["spec"]["providerID"].as_str().unwrap_or_default();
        states.push(format!("{name}: {phase} node={node:?}"));
        if phase == "Running" && !node.is_empty() && machine.metadata.deletion_timestamp.is_none() {
            running.push((name, provider.to_string(), node.to_string()));
        }
    }
    if running.len() == count && list.items.len() == count {
        Ok(running)
    } else {
        Err(states.join("; "))
    }
}

/// [`machines_running`], waited for.
pub async fn running_machines(
    ns: &TestNamespace,
    cluster: &str,
    count: usize,
    timeout: Duration,
) -> Vec<RunningMachine> {
    let what = format!("{count} Machines Running with a Node");
    eventually(&what, timeout, || machines_running(ns, cluster, count)).await
}

/// A client for the hosted cluster from the kubeconfig `clusterctl get kubeconfig` prints.
/// Its server is the API server's in-cluster name, which this host cannot resolve: the
/// client connects to the Service's ClusterIP and checks the certificate for that name.
pub async fn client_from_clusterctl(ns: &TestNamespace, cluster: &str, hcp: &str) -> Client {
    let kubeconfig = clusterctl(&["get", "kubeconfig", cluster, "-n", &ns.name]);
    let mut config: serde_yaml::Value = serde_yaml::from_str(&kubeconfig).unwrap();
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_string();
    let host = server
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let service: k8s_openapi::api::core::v1::Service =
        ns.api().get(&format!("{hcp}-kube-apiserver")).await.unwrap();
    let ip = service.spec.unwrap().cluster_ip.unwrap();
    config["clusters"][0]["cluster"]["server"] = server.replace(&host, &ip).into();
    config["clusters"][0]["cluster"]["tls-server-name"] = host.into();
    let text = serde_yaml::to_string(&config).unwrap();
    podplane::tenant::client(&text).await.unwrap()
}
