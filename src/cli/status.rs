//! `podplane status [NAME]`: one screen about a hosted control plane, or a table of them.

use std::fmt::Write;

use super::format::{Table, age_since};
use super::observe::{self, Scope, Snapshot};
use super::report;
use crate::api::HostedControlPlane;
use crate::api::conditions::{PAUSED, READY};

#[derive(clap::Args)]
pub struct Args {
    /// Name of the HostedControlPlane; without it, a table of every one in the namespace.
    name: Option<String>,
    /// Namespace; the current context's namespace by default.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// List the HostedControlPlanes of every namespace.
    #[arg(short = 'A', long, conflicts_with_all = ["name", "namespace"])]
    all_namespaces: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (client, namespace) = super::connect(args.namespace).await?;
    let text = match args.name {
        Some(name) => one_screen(&observe::snapshot(&client, &namespace, &name, true).await?),
        None => {
            let scope = if args.all_namespaces {
                Scope::All
            } else {
                Scope::Namespace(namespace.clone())
            };
            let items = observe::list(&client, &scope).await?;
            if items.is_empty() {
                match scope {
                    Scope::All => "No HostedControlPlanes found.\n".to_string(),
                    Scope::Namespace(ns) => format!(
                        "No HostedControlPlanes found in namespace {ns} (try -A for every namespace).\n"
                    ),
                }
            } else {
                table(&items, args.all_namespaces)
            }
        }
    };
    print!("{text}");
    Ok(())
}

/// `Ready`, `Deleting`, `Paused` or `NotReady`.
fn state(hcp: &HostedControlPlane) -> &'static str {
    if hcp.metadata.deletion_timestamp.is_some() {
        "Deleting"
    } else if report::control_plane_ready(hcp) {
        "Ready"
    } else if report::condition(hcp, PAUSED).is_some_and(|c| c.status == "True") {
        "Paused"
    } else {
        "NotReady"
    }
}

fn version(hcp: &HostedControlPlane) -> String {
    let running = hcp.status.as_ref().and_then(|s| s.version.as_deref());
    match running {
        Some(v) if v == hcp.spec.version => v.to_string(),
        Some(v) => format!("{v} -> {}", hcp.spec.version),
        None => hcp.spec.version.clone(),
    }
}

fn workers_cell(hcp: &HostedControlPlane) -> String {
    match (
        &hcp.spec.workers,
        hcp.status.as_ref().and_then(|s| s.workers.as_ref()),
    ) {
        (None, _) => "-".into(),
        (Some(spec), status) => format!("{}/{}", status.map_or(0, |s| s.ready_replicas), spec.replicas),
    }
}

fn table(items: &[HostedControlPlane], with_namespace: bool) -> String {
    let mut header = vec![
        "NAME",
        "READY",
        "REASON",
        "VERSION",
        "API SERVERS",
        "WORKERS",
        "ENDPOINT",
        "AGE",
    ];
    if with_namespace {
        header.insert(0, "NAMESPACE");
    }
    let mut table = Table::new(&header);
    for hcp in items {
        let status = hcp.status.clone().unwrap_or_default();
        let ready = report::control_plane_ready(hcp);
        let reason = match report::condition(hcp, READY) {
            _ if ready => "-".to_string(),
            Some(c) => c.reason.clone(),
            None => "NoStatus".into(),
        };
        let mut row = vec![
            hcp.metadata.name.clone().unwrap_or_default(),
            if ready { "True" } else { "False" }.into(),
            reason,
            version(hcp),
            format!("{}/{}", status.ready_replicas, hcp.spec.replicas),
            workers_cell(hcp),
            status.endpoint.unwrap_or_else(|| "-".into()),
            age_since(hcp.metadata.creation_timestamp.as_ref()),
        ];
        if with_namespace {
            row.insert(0, hcp.metadata.namespace.clone().unwrap_or_default());
        }
        table.row(row);
    }
    table.render()
}

fn one_screen(snapshot: &Snapshot) -> String {
    let hcp = &snapshot.hcp;
    let status = hcp.status.clone().unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "HostedControlPlane {}/{}: {}   (age {})",
        hcp.namespace_or_default(),
        hcp.name_any_or_default(),
        state(hcp),
        age_since(hcp.metadata.creation_timestamp.as_ref())
    );
    let running = status.version.as_deref().unwrap_or("-");
    let mut facts = Table::headless();
    facts.row(vec![
        "  version".into(),
        format!("{} (spec), {running} (status)", hcp.spec.version),
    ]);
    facts.row(vec![
        "  endpoint".into(),
        status.endpoint.clone().unwrap_or_else(|| "-".into()),
    ]);
    facts.row(vec![
        "  replicas".into(),
        format!(
            "{}/{} kube-apiserver ready (spec.replicas {}), etcd members {}",
            status.ready_replicas, status.replicas, hcp.spec.replicas, hcp.spec.etcd.replicas
        ),
    ]);
    out.push_str(&facts.render());

    let mut components = Table::new(&["COMPONENT", "READY", "IMAGE"]);
    for row in report::components(snapshot) {
        let image = if row.exists {
            row.tags.join(",")
        } else {
            "(not created)".into()
        };
        components.row(vec![row.name, format!("{}/{}", row.ready, row.desired), image]);
    }
    let _ = write!(out, "\n{}", components.render());

    let requested = report::requested_workers(hcp);
    let rows: Vec<_> = snapshot.machines.iter().map(report::worker_row).collect();
    let ready = rows.iter().filter(|r| r.ready).count();
    if hcp.spec.workers.is_none() && rows.is_empty() {
        out.push_str("\nWORKERS: none (spec.workers.replicas adds some)\n");
    } else {
        let _ = writeln!(
            out,
            "\nWORKERS: {ready}/{} Ready, spec.workers.replicas {requested}",
            rows.len()
        );
    }
    if !rows.is_empty() {
        let any_why = rows.iter().any(|r| !r.why.is_empty());
        let mut header = vec!["NAME", "PHASE", "NODE", "READY"];
        if any_why {
            header.push("WHY");
        }
        let mut workers = Table::new(&header);
        for row in rows {
            let mut cells = vec![
                row.name,
                row.phase,
                row.node.unwrap_or_else(|| "-".into()),
                row.ready.to_string(),
            ];
            if any_why {
                cells.push(row.why);
            }
            workers.row(cells);
        }
        out.push_str(&workers.render());
    }

    let problems = report::problems(hcp);
    if problems.is_empty() {
        out.push_str("\nConditions: all True\n");
    } else {
        out.push_str("\nConditions not True:\n");
        let mut table = Table::headless();
        for p in problems {
            table.row(vec![format!("  {}", p.type_), p.reason, p.message]);
        }
        out.push_str(&table.render());
    }
    out
}
