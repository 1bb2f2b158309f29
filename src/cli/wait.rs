//! `podplane wait NAME --for ready|workers`: poll (every second) until the control plane is
//! Ready, or its workers are too, printing a line whenever something it waits for changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::format::parse_duration;
use super::observe;
use super::progress::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    /// Name of the HostedControlPlane.
    name: String,
    /// Namespace; the current context's namespace by default.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// What to wait for: `ready` (the Ready condition) or `workers` (also every worker of
    /// spec.workers.replicas Ready, with its Node Ready).
    #[arg(long = "for", value_enum, default_value = "ready")]
    target: Target,
    /// Give up after this long (e.g. 90s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
}

const POLL: Duration = Duration::from_secs(1);

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (client, namespace) = super::connect(args.namespace).await?;
    let name = &args.name;
    let start = Instant::now();
    let say = |text: &str| println!("[{:>3}s] {text}", start.elapsed().as_secs());
    let mut shown: HashMap<String, String> = HashMap::new();
    let mut last_unmet = vec![];
    // A missing control plane (or podplane) at the start is an error, not something to wait for.
    let mut snapshot = Some(observe::snapshot(&client, &namespace, name, false).await?);
    loop {
        if let Some(snapshot) = snapshot.take() {
            for (key, text) in progress::lines(&snapshot, args.target) {
                if shown.get(&key) != Some(&text) {
                    say(&text);
                    shown.insert(key, text);
                }
            }
            last_unmet = progress::unmet(&snapshot, args.target);
            if last_unmet.is_empty() {
                say(&match args.target {
                    Target::Ready => format!("{namespace}/{name} is Ready"),
                    Target::Workers => {
                        let n = super::report::requested_workers(&snapshot.hcp);
                        format!("{namespace}/{name} is Ready, workers {n}/{n} Ready")
                    }
                });
                return Ok(());
            }
        }
        if start.elapsed() >= args.timeout {
            anyhow::bail!(
                "timed out after {}s waiting for HostedControlPlane {namespace}/{name} ({}); not met:\n  {}",
                args.timeout.as_secs(),
                match args.target {
                    Target::Ready => "--for ready",
                    Target::Workers => "--for workers",
                },
                last_unmet.join("\n  ")
            );
        }
        tokio::time::sleep(POLL.min(args.timeout.saturating_sub(start.elapsed()))).await;
        // The management API may blip (or the control plane be deleted under us): say so and
        // keep trying until the timeout.
        match observe::snapshot(&client, &namespace, name, false).await {
            Ok(next) => {
                shown.remove("error");
                snapshot = Some(next);
            }
            Err(e) => {
                let text = format!("cannot read it: {e:#}");
                if shown.get("error") != Some(&text) {
                    say(&text);
                    shown.insert("error".into(), text);
                }
            }
        }
    }
}
