//! `podplane status` and `podplane wait` (also as `kubectl podplane`), run as a user runs
//! them: the built binary against the local cluster, judged by what it prints and exits with.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::harness::TestNamespace;
use crate::operator::{apply, hcp};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `program args...` with the test's environment plus `env`, off the async runtime.
async fn run(program: &Path, args: &[&str], env: &[(&str, OsString)]) -> Run {
    let mut command = Command::new(program);
    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    let shown = format!("{} {}", program.display(), args.join(" "));
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("running {shown}: {e}"));
    let run = Run {
        ok: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!(
        "$ {} {}\n{}{}",
        program.display(),
        args.join(" "),
        run.stdout,
        run.stderr
    );
    run
}

async fn podplane(args: &[&str]) -> Run {
    run(Path::new(env!("CARGO_BIN_EXE_podplane")), args, &[]).await
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn wait_then_status_show_a_ready_control_plane_and_its_worker() {
    let ns = TestNamespace::with_pod_security("podplane-cli", Some("privileged")).await;
    let version = podplane::versions::DEFAULT_KUBERNETES_VERSION;
    apply(&ns, &hcp("cli", json!({"workers": {"replicas": 1}}))).await;

    let wait = podplane(&[
        "wait",
        "cli",
        "-n",
        &ns.name,
        "--for",
        "workers",
        "--timeout",
        "5m",
    ])
    .await;
    assert!(wait.ok, "wait --for workers failed: {}", wait.stderr);
    for line in [
        "kube-apiserver 1/1 ready",
        "workers 1/1 Ready",
        "cli-worker-0 Ready",
    ] {
        assert!(wait.stdout.contains(line), "wait printed no {line:?}");
    }
    let last = wait.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with('[') && last.ends_with(&format!("{}/cli is Ready, workers 1/1 Ready", ns.name)),
        "last line: {last}"
    );

    let status = podplane(&["status", "cli", "-n", &ns.name]).await;
    assert!(status.ok, "{}", status.stderr);
    let out = &status.stdout;
    assert!(
        out.starts_with(&format!("HostedControlPlane {}/cli: Ready", ns.name)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{version} (spec), {version} (status)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("https://cli-kube-apiserver.{}.svc:6443", ns.name)),
        "{out}"
    );
    for component in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let row = line_starting(out, component);
        assert!(row.contains("1/1") && row.ends_with(version), "{row}");
    }
    assert!(line_starting(out, "etcd-0").contains("1/1"), "{out}");
    let worker = line_starting(out, "cli-worker-0");
    let cells: Vec<&str> = worker.split_whitespace().collect();
    assert_eq!(
        cells,
        ["cli-worker-0", "Ready", "cli-worker-0", "true"],
        "{worker}"
    );
    assert!(out.contains("Conditions: all True"), "{out}");

    let table = podplane(&["status", "-n", &ns.name]).await;
    let row = line_starting(&table.stdout, "cli");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..6], ["cli", "True", "-", version, "1/1", "1/1"], "{row}");

    // Asked in the wrong namespace, it names the one where it is.
    let wrong = podplane(&["status", "cli", "-n", "default"]).await;
    assert!(!wrong.ok);
    assert!(
        wrong
            .stderr
            .starts_with("error: HostedControlPlane default/cli not found (there ")
            && wrong.stderr.contains(&ns.name),
        "{}",
        wrong.stderr
    );

    // As a kubectl plugin: a kubectl-podplane link to the same binary, found on PATH.
    let bin = tempdir();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_podplane"), bin.join("kubectl-podplane")).unwrap();
    let mut path = vec![bin.clone()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(path).unwrap();
    let plugin = run(
        Path::new("kubectl"),
        &["podplane", "status", "-A"],
        &[("PATH", path)],
    )
    .await;
    assert!(plugin.ok, "kubectl podplane: {}", plugin.stderr);
    assert!(
        line_starting(&plugin.stdout, &ns.name).contains(" cli "),
        "{}",
        plugin.stdout
    );

    // Pointed at a cluster without podplane (the hosted one), it says so and how to install it.
    let admin = podplane(&["kubeconfig", "cli", "-n", &ns.name]).await;
    assert!(admin.ok, "{}", admin.stderr);
    let kubeconfig = bin.join("hosted.kubeconfig");
    std::fs::write(&kubeconfig, admin.stdout).unwrap();
    let env = [("KUBECONFIG", kubeconfig.into_os_string())];
    let elsewhere = run(Path::new(env!("CARGO_BIN_EXE_podplane")), &["status", "-A"], &env).await;
    std::fs::remove_dir_all(&bin).ok();
    assert!(!elsewhere.ok);
    assert!(
        elsewhere
            .stderr
            .starts_with("error: podplane is not installed in this cluster")
            && elsewhere
                .stderr
                .trim_end()
                .ends_with("run hack/up.sh or kubectl apply -k manifests/"),
        "{}",
        elsewhere.stderr
    );
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn a_missing_control_plane_is_named_with_the_way_to_find_it() {
    let ns = TestNamespace::new("podplane-cli-missing").await;
    for args in [vec!["status", "nope"], vec!["wait", "nope", "--timeout", "5s"]] {
        let mut args = args;
        args.extend(["-n", &ns.name]);
        let run = podplane(&args).await;
        assert!(!run.ok, "{args:?} succeeded");
        let want = format!(
            "error: HostedControlPlane {}/nope not found; list them with `kubectl get hcp -A`",
            ns.name
        );
        assert_eq!(run.stderr.trim(), want);
    }
    let empty = podplane(&["status", "-n", &ns.name]).await;
    assert!(empty.ok);
    assert!(
        empty
            .stdout
            .starts_with("No HostedControlPlanes found in namespace")
    );
}

#[tokio::test]
#[ignore = "needs the local cluster with the operator: hack/test.sh"]
async fn wait_gives_up_naming_what_is_not_ready() {
    let ns = TestNamespace::new("podplane-cli-timeout").await;
    // An API server image nobody has: the control plane cannot become Ready.
    let image = "registry.k8s.io/kube-apiserver:v0.0.0-missing";
    apply(&ns, &hcp("stuck", json!({"apiServer": {"image": image}}))).await;

    let started = std::time::Instant::now();
    let wait = podplane(&["wait", "stuck", "-n", &ns.name, "--timeout", "45s"]).await;
    assert!(!wait.ok, "wait succeeded on a control plane that cannot be Ready");
    assert!(started.elapsed().as_secs() < 60, "took {:?}", started.elapsed());
    let first = wait.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "error: timed out after 45s waiting for HostedControlPlane {}/stuck (--for ready); not met:",
            ns.name
        )
    );
    assert!(
        wait.stderr.contains("\n  Ready (") && wait.stderr.contains("\n  APIServerAvailable ("),
        "{}",
        wait.stderr
    );
    assert!(
        !wait.stderr.contains("\n  Available ("),
        "Available repeats Ready: {}",
        wait.stderr
    );
    assert!(
        wait.stdout.contains("kube-apiserver 0/1 ready"),
        "{}",
        wait.stdout
    );

    let status = podplane(&["status", "stuck", "-n", &ns.name]).await;
    assert!(status.stdout.contains(": NotReady"), "{}", status.stdout);
    let problem = line_starting(&status.stdout, "APIServerAvailable");
    assert!(
        !problem.is_empty(),
        "status lists no APIServerAvailable problem: {}",
        status.stdout
    );
}

/// The first line of `text` that starts with `prefix` (after indentation), or "".
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .unwrap_or("")
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("podplane-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
