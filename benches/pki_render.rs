//! CPU cost per HostedControlPlane of what the operator computes: issuing its PKI,
//! rendering its objects, and the steady-state check of existing PKI.
//!
//! `cargo bench --bench pki_render` prints per-control-plane figures and the ratio of a
//! fresh issue to a steady-state reconcile, both measured in this process.

use std::time::{Duration, Instant};

use podplane::pki::{self, SecretSet};
use time::OffsetDateTime;

const RUNS: usize = 50;

fn example(name: &str, etcd: i32) -> podplane::api::HostedControlPlane {
    let text = format!(
        "apiVersion: controlplane.podplane.dev/v1alpha1\nkind: HostedControlPlane\nmetadata:\n  name: {name}\n  namespace: bench\nspec:\n  version: v1.36.3\n  etcd:\n    replicas: {etcd}\n"
    );
    podplane::validate::parse_hosted_control_plane(&text).unwrap()
}

fn per_run(total: Duration) -> f64 {
    total.as_secs_f64() * 1000.0 / RUNS as f64
}

fn main() {
    for etcd in [1, 3] {
        let hcp = example("bench", etcd);
        let required = pki::assets::required(&hcp, &[]);
        let now = OffsetDateTime::now_utc();

        let start = Instant::now();
        let mut last = None;
        for _ in 0..RUNS {
            last = Some(pki::issue(&required, &SecretSet::new(), now).unwrap());
        }
        let issue = per_run(start.elapsed());
        let issued = last.unwrap();

        let start = Instant::now();
        for _ in 0..RUNS {
            let kept = pki::issue(&required, &issued.secrets, now).unwrap();
            assert!(kept.issued().is_empty());
        }
        let check = per_run(start.elapsed());

        let start = Instant::now();
        for _ in 0..RUNS {
            std::hint::black_box(podplane::render::all(&hcp, &issued, None));
        }
        let render = per_run(start.elapsed());

        println!(
            "etcd members {etcd}: {} assets | fresh PKI {issue:.2} ms | steady-state PKI check {check:.2} ms | render {render:.3} ms | fresh/steady ratio {:.1}x",
            required.len(),
            issue / check
        );
    }
}
