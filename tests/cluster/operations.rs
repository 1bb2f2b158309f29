//! The operator as a platform team runs it: two replicas with one leader, failover,
//! Prometheus metrics, and probes that tell the truth.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::harness::{TestNamespace, eventually};
use crate::operations_support::{CuttableProxy, OPERATOR_NAMESPACE, free_port, get, leader, sample, scrape};
use crate::operator::{apply, hcp};

#[tokio::test]
#[ignore = "needs hack/cluster.sh up and the operator installed"]
async fn operator_metrics_count_reconciles_and_report_certificate_expiry() {
    let ns = TestNamespace::new("metrics").await;
    let client = ns.client.clone();
    let reconciles = r#"podplane_reconciles_total{controller="hostedcontrolplane",result="success"}"#;
    let first = leader(&client).await.expect("the operator holds its Lease");
    let before = sample(&scrape(&client, &first).await.unwrap(), reconciles).unwrap_or(0.0);

    apply(&ns, &hcp("m1", json!({}))).await;
    let expiry = format!(
        r#"podplane_certificate_expiry_seconds{{namespace="{}",name="m1"}}"#,
        ns.name
    );
    // A counter moves when a reconcile ends, which may be after the Secrets it wrote are seen.
    let (pod, text) = eventually(
        "the tenant's certificate expiry and a reconcile counted",
        Duration::from_secs(90),
        || async {
            let pod = leader(&client).await.ok_or("no leader")?;
            let text = scrape(&client, &pod).await?;
            sample(&text, &expiry).ok_or(format!("no {expiry} in:\n{text}"))?;
            let after = sample(&text, reconciles).unwrap_or(0.0);
            if after <= before && pod == first {
                return Err(format!("{reconciles} still {after}"));
            }
            Ok((pod, text))
        },
    )
    .await;

    let seconds = sample(&text, &expiry).unwrap();
    let days = seconds / 86_400.0;
    assert!(
        (300.0..=3660.0).contains(&days),
        "soonest certificate expires in {days:.0} days"
    );
    let after = sample(&text, reconciles).expect("reconciles counted");
    if pod == first {
        assert!(after > before, "reconciles did not move: {before} → {after}");
    } else {
        assert!(after > 0.0, "a new leader counted no reconciles");
    }
    let count = r#"podplane_reconcile_duration_seconds_count{controller="hostedcontrolplane"}"#;
    assert!(
        sample(&text, count).unwrap_or(0.0) >= after,
        "durations observed:\n{text}"
    );
    assert_eq!(sample(&text, "podplane_leader"), Some(1.0));
    let planes: f64 = ["True", "False", "Unknown"]
        .iter()
        .filter_map(|s| {
            sample(
                &text,
                &format!(r#"podplane_hosted_control_planes{{ready="{s}"}}"#),
            )
        })
        .sum();
    assert!(planes >= 1.0, "control planes by Ready:\n{text}");
    println!("metrics: {reconciles} {before} → {after}; {expiry} = {days:.1} days");
}

#[tokio::test]
#[ignore = "needs hack/cluster.sh up"]
async fn operator_readyz_fails_while_the_api_server_is_unreachable() {
    let ns = TestNamespace::new("readyz").await;
    // A Lease someone else holds for an hour: this operator stays a follower and writes nothing.
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "held"},
        "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 3600,
                 "renewTime": k8s_openapi::jiff::Timestamp::now().to_string()}
    }))
    .unwrap();
    ns.api::<Lease>()
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();

    let kubeconfig_path = std::env::var("KUBECONFIG").unwrap();
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&kubeconfig_path).unwrap()).unwrap();
    let cluster = &mut kubeconfig["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().unwrap().to_string();
    let proxy = CuttableProxy::start(server.trim_start_matches("https://").to_string()).await;
    cluster["server"] = format!("https://{}", proxy.address).into();
    let proxied = std::env::temp_dir().join(format!("{}.kubeconfig", ns.name));
    std::fs::write(&proxied, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();

    let probes: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _operator = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_podplane"))
            .args(["run", "--log-format", "text", "--leader-election-id", "held"])
            .args(["--leader-election-namespace", &ns.name])
            .args([
                "--health-probe-bind-address",
                &probes.to_string(),
                "--metrics-bind-address",
                "0",
            ])
            .env("KUBECONFIG", &proxied)
            .spawn()
            .expect("podplane run starts"),
    );

    let status = |want: u16| async move {
        let (code, body) = get(probes, "/readyz").await?;
        (code == want)
            .then_some(body.clone())
            .ok_or(format!("/readyz {code}: {body}"))
    };
    eventually(
        "/readyz 200 while the API server answers",
        Duration::from_secs(30),
        || status(200),
    )
    .await;
    proxy.cut();
    let cut = Instant::now();
    let body = eventually(
        "/readyz 503 once the API server is cut off",
        Duration::from_secs(15),
        || status(503),
    )
    .await;
    let noticed = cut.elapsed();
    assert!(body.contains("management API server"), "{body}");
    let (live, _) = get(probes, "/healthz").await.unwrap();
    assert_eq!(
        live, 200,
        "/healthz stays 200: the process is alive, only unready"
    );
    proxy.restore();
    let restored = Instant::now();
    eventually(
        "/readyz 200 once the API server is back",
        Duration::from_secs(30),
        || status(200),
    )
    .await;
    println!(
        "readyz: 503 {:.1}s after the cut, 200 {:.1}s after the restore",
        noticed.as_secs_f64(),
        restored.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(proxied);
}

#[tokio::test]
#[ignore = "needs hack/cluster.sh up and the operator installed"]
async fn operator_failover_reconciles_a_change_made_meanwhile() {
    let ns = TestNamespace::new("failover").await;
    let client = ns.client.clone();
    let pods = Api::<Pod>::namespaced(client.clone(), OPERATOR_NAMESPACE);
    apply(&ns, &hcp("fo", json!({}))).await;
    let deployments = ns.api::<Deployment>();
    let api_server_command = || async {
        let deployment = deployments
            .get("fo-kube-apiserver")
            .await
            .map_err(|e| e.to_string())?;
        let spec = deployment
            .spec
            .and_then(|s| s.template.spec)
            .ok_or("no Pod template")?;
        Ok::<_, String>(spec.containers[0].command.clone().unwrap_or_default().join(" "))
    };
    eventually(
        "the control plane's Deployments",
        Duration::from_secs(60),
        api_server_command,
    )
    .await;
    let leading = eventually(
        "two operator replicas, one leading",
        Duration::from_secs(120),
        || async {
            let ready = pods
                .list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=podplane"))
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
                .count();
            let holder = leader(&client).await.ok_or("no leader")?;
            (ready >= 2)
                .then_some(holder)
                .ok_or(format!("{ready} ready replicas"))
        },
    )
    .await;

    // Only the leader writes: the other replica runs no controller.
    let follower = pods
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=podplane"))
        .await
        .unwrap()
        .iter()
        .map(|p| p.name_any())
        .find(|p| *p != leading)
        .expect("a second replica");
    let text = scrape(&client, &follower).await.unwrap();
    assert_eq!(sample(&text, "podplane_leader"), Some(0.0), "{follower}:\n{text}");
    assert!(
        !text.contains("podplane_reconciles_total{"),
        "{follower} reconciled:\n{text}"
    );

    let killed = Instant::now();
    pods.delete(&leading, &DeleteParams::default()).await.unwrap();
    apply(&ns, &hcp("fo", json!({"apiServer": {"extraArgs": {"v": "4"}}}))).await;
    let successor = eventually(
        "another replica takes the Lease",
        Duration::from_secs(60),
        || async {
            match leader(&client).await {
                Some(holder) if holder != leading => Ok(holder),
                other => Err(format!("holder {other:?}")),
            }
        },
    )
    .await;
    let takeover = killed.elapsed();
    eventually(
        "the change made during the failover applied",
        Duration::from_secs(60),
        || async {
            let command = api_server_command().await?;
            command.contains("--v=4").then_some(()).ok_or(command)
        },
    )
    .await;
    let reconciled = killed.elapsed();
    println!(
        "failover: {leading} deleted; {successor} leads after {:.1}s; change applied after {:.1}s",
        takeover.as_secs_f64(),
        reconciled.as_secs_f64()
    );
    assert!(takeover < Duration::from_secs(15), "takeover took {takeover:?}");
    assert!(
        !successor.is_empty()
            && pods
                .get_opt(&successor)
                .await
                .unwrap()
                .is_some_and(|p| p.name_any() == successor)
    );
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
