//! What `podplane wait` waits for: the lines it prints as things change, and what is still
//! missing.

use super::observe::Snapshot;
use super::report::{self, Problem};
use crate::api::PodMachine;
use crate::api::conditions::{self, reasons};
use crate::components::Component;

/// What to wait for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The HostedControlPlane's Ready condition is True.
    Ready,
    /// Ready, every worker of spec.workers.replicas Ready with a Ready Node, and the tunnel
    /// to them available (exec, logs, webhooks work).
    Workers,
}

/// Keyed progress lines: a line is printed when the text under its key changes.
pub fn lines(snapshot: &Snapshot, target: Target) -> Vec<(String, String)> {
    let hcp = &snapshot.hcp;
    let mut lines = vec![];
    if hcp.status.is_none() {
        let text = "waiting for the operator to report status".to_string();
        lines.push(("status".to_string(), text));
    }
    let rows = report::components(snapshot);
    for component in Component::ALL {
        let of: Vec<_> = rows.iter().filter(|r| r.component == component).collect();
        let (ready, desired) = if component == Component::Etcd {
            let up = of
                .iter()
                .filter(|r| r.ready >= r.desired && r.desired > 0)
                .count();
            (up as i32, of.len() as i32)
        } else {
            of.first().map_or((0, 0), |r| (r.ready, r.desired))
        };
        let mut text = format!("{} {ready}/{desired} ready", component.as_str());
        if let Some(c) = report::condition(hcp, report::condition_of(component))
            && c.status != "True"
            && c.reason != reasons::UNAVAILABLE
        {
            text.push_str(&format!(" ({}: {})", c.reason, shorten(&c.message, 100)));
        }
        lines.push((component.as_str().to_string(), text));
    }
    let ready = match report::condition(hcp, conditions::READY) {
        _ if report::control_plane_ready(hcp) => "control plane Ready".to_string(),
        Some(c) if c.reason == reasons::COMPONENTS_NOT_READY || c.message.is_empty() => {
            format!("control plane not Ready ({})", c.reason)
        }
        Some(c) => format!(
            "control plane not Ready ({}: {})",
            c.reason,
            shorten(&c.message, 100)
        ),
        None => "control plane not Ready".to_string(),
    };
    lines.push(("ready".to_string(), ready));
    if target == Target::Workers {
        let requested = report::requested_workers(hcp);
        let ready = requested_machines(snapshot)
            .filter(|(_, m)| m.is_some_and(report::worker_ready))
            .count();
        lines.push(("workers".into(), format!("workers {ready}/{requested} Ready")));
        if requested > 0 {
            let tunnel = report::condition(hcp, conditions::TUNNEL_AVAILABLE);
            let text = if tunnel.is_some_and(|c| c.status == "True") {
                "tunnel: agents connected"
            } else {
                "tunnel: waiting for konnectivity agents"
            };
            lines.push(("tunnel".into(), text.into()));
        }
        for (name, machine) in requested_machines(snapshot) {
            let phase = machine.map_or("not created yet", PodMachine::phase);
            lines.push((name.clone(), format!("{name} {phase}")));
        }
    }
    lines
}

/// `text` cut to `max` characters (the full text is in `podplane status` and the timeout error).
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// `(name, machine)` of every worker `spec.workers.replicas` asks for.
fn requested_machines(
    snapshot: &Snapshot,
) -> impl Iterator<Item = (String, Option<&crate::api::PodMachine>)> {
    let names = snapshot.hcp.names();
    (0..report::requested_workers(&snapshot.hcp).max(0) as usize).map(move |i| {
        let name = names.worker(i);
        let machine = snapshot
            .machines
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(name.as_str()));
        (name, machine)
    })
}

/// What is not done yet, one human sentence each; empty when `target` is reached.
pub fn unmet(snapshot: &Snapshot, target: Target) -> Vec<String> {
    let hcp = &snapshot.hcp;
    let mut unmet = vec![];
    if !report::control_plane_ready(hcp) {
        let problems = report::problems(hcp);
        unmet.extend(problems.iter().map(
            |Problem {
                 type_,
                 reason,
                 message,
             }| { format!("{type_} ({reason}): {message}") },
        ));
        if problems.is_empty() {
            unmet.push("Ready is not True yet".into());
        }
    }
    if target == Target::Workers {
        let requested = report::requested_workers(hcp);
        for (name, machine) in requested_machines(snapshot) {
            match machine {
                None => unmet.push(format!("PodMachine {name} does not exist yet")),
                Some(m) if !report::worker_ready(m) => {
                    let why = report::worker_row(m).why;
                    unmet.push(format!("PodMachine {name} is not Ready ({}): {why}", m.phase()));
                }
                Some(_) => {}
            }
        }
        let reported = hcp
            .status
            .as_ref()
            .and_then(|s| s.workers.as_ref())
            .map_or(0, |w| w.ready_replicas);
        if unmet.is_empty() && reported < requested {
            unmet.push(format!(
                "the HostedControlPlane's status reports {reported}/{requested} workers Ready"
            ));
        }
        // Nodes without the tunnel cannot be exec'd into or show logs yet.
        match report::condition(hcp, conditions::TUNNEL_AVAILABLE) {
            _ if requested <= 0 || !unmet.is_empty() => {}
            Some(c) if c.status == "True" => {}
            Some(c) => unmet.push(format!("TunnelAvailable ({}): {}", c.reason, c.message)),
            None => unmet.push("TunnelAvailable is not reported yet".into()),
        }
    }
    unmet
}
