//! The crate's top-level modules form layers, and no use in `src/` reaches up a layer or
//! round a cycle:
//!
//! leaf modules → `api` → `pki` → `render` → `machine`, `tenant` → `controllers` → `operator`
//! → `cli` → `main`
//!
//! A module may use the leaf modules and the modules of lower layers; leaf modules use
//! only each other, without a cycle. Uses are `crate::<module>` paths, in `use` items and in
//! code (comments and string literals aside), `super::` paths that climb to the crate root,
//! and `podplane::<module>` paths in `main.rs`.

#[path = "layers/lexer.rs"]
mod lexer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lexer::{blank_comments_and_literals, tokens};

/// Every top-level module and its layer.
const LAYERS: [(&str, u8); 16] = [
    ("components", LEAF),
    ("contract", LEAF),
    ("manifest", LEAF),
    ("names", LEAF),
    ("network", LEAF),
    ("versions", LEAF),
    ("api", 1),
    ("pki", 2),
    ("validate", 2),
    // Pure builders like `pki`, whose Secrets they render.
    ("render", 3),
    ("machine", 4),
    ("tenant", 4),
    ("controllers", 5),
    // The operator process: settings, probes, leader election around the controllers.
    ("operator", 6),
    ("cli", 7),
    ("main", 8),
];
/// The layer of the small modules every other module may use.
const LEAF: u8 = 0;

/// A use of top-level module `to` on line `line` of `file`, which belongs to module `from`.
#[derive(Debug, PartialEq, Eq)]
struct Use {
    file: String,
    line: usize,
    from: String,
    to: String,
}

fn layer(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
}

/// Why each use that breaks the layering does, and every cycle of uses.
fn problems(files: &[(String, String)]) -> Vec<String> {
    let uses: Vec<Use> = files
        .iter()
        .flat_map(|(path, text)| uses_in(path, text))
        .collect();
    let unknown: BTreeSet<String> = files
        .iter()
        .map(|(path, _)| module_of(path).0)
        .filter(|module| layer(module).is_none())
        .collect();
    let mut problems: Vec<String> = unknown
        .into_iter()
        .map(|module| format!("module `{module}` has no layer: add it to LAYERS in {}", file!()))
        .collect();
    for used in &uses {
        let (Some(from), Some(to)) = (layer(&used.from), layer(&used.to)) else {
            if layer(&used.from).is_some() {
                problems.push(format!(
                    "{}:{}: `{}` is not a known module",
                    used.file, used.line, used.to
                ));
            }
            continue;
        };
        if to != LEAF && to >= from {
            problems.push(format!(
                "{}:{}: `{}` (layer {from}) uses `{}` (layer {to}): only lower layers and leaf modules may be used",
                used.file, used.line, used.from, used.to
            ));
        }
    }
    problems.extend(cycles(&uses));
    problems
}

/// Every cycle in the graph of uses, each shown with the first use along each edge.
fn cycles(uses: &[Use]) -> Vec<String> {
    let mut edges: BTreeMap<&str, BTreeMap<&str, &Use>> = BTreeMap::new();
    for used in uses {
        edges
            .entry(&used.from)
            .or_default()
            .entry(&used.to)
            .or_insert(used);
    }
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        let mut path = vec![*start];
        walk(&edges, &mut path, &mut found);
    }
    found.into_iter().collect()
}

fn walk<'a>(
    edges: &BTreeMap<&'a str, BTreeMap<&'a str, &Use>>,
    path: &mut Vec<&'a str>,
    found: &mut BTreeSet<String>,
) {
    let last = *path.last().expect("a path starts somewhere");
    for next in edges.get(last).into_iter().flat_map(|to| to.keys()).copied() {
        if next == path[0] {
            // Report each cycle once, from its smallest module.
            if path.iter().all(|m| *m >= next) {
                let mut hops: Vec<String> = path.windows(2).map(|w| hop(edges, w[0], w[1])).collect();
                hops.push(hop(edges, last, next));
                found.insert(format!(
                    "cycle {} → {next}: {}",
                    path.join(" → "),
                    hops.join("; ")
                ));
            }
        } else if !path.contains(&next) {
            path.push(next);
            walk(edges, path, found);
            path.pop();
        }
    }
}

fn hop(edges: &BTreeMap<&str, BTreeMap<&str, &Use>>, from: &str, to: &str) -> String {
    let used = edges[from][to];
    format!("{}:{} uses {to}", used.file, used.line)
}

/// The top-level module `path` (relative to the crate root, `src/…`) belongs to, and how
/// many `super::` lead from its top level to the crate root.
fn module_of(path: &str) -> (String, usize) {
    let parts: Vec<&str> = path.trim_start_matches("src/").split('/').collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    let is_mod_file = parts.len() > 1 && parts.last() == Some(&"mod.rs");
    (top, parts.len() - usize::from(is_mod_file))
}

/// The uses of other top-level modules in the file at `path` holding `text`.
fn uses_in(path: &str, text: &str) -> Vec<Use> {
    let (from, depth) = module_of(path);
    let root = if from == "main" { "podplane" } else { "crate" };
    let tokens = tokens(&blank_comments_and_literals(text));
    let mut uses = vec![];
    let mut braces = 0usize;
    // The brace depth at which each enclosing inline `mod name { … }` opened.
    let mut inline_modules: Vec<usize> = vec![];
    for (i, (token, line)) in tokens.iter().enumerate() {
        match token.as_str() {
            "{" => braces += 1,
            "}" => {
                braces = braces.saturating_sub(1);
                if inline_modules.last() == Some(&braces) {
                    inline_modules.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.0 == "{") => inline_modules.push(braces),
            _ if i > 0 && matches!(tokens[i - 1].0.as_str(), "::" | "$") => {}
            _ => {
                let Some(start) = past_root(&tokens, i, root, depth + inline_modules.len()) else {
                    continue;
                };
                let used = modules_at(&tokens, start).into_iter().filter(|to| *to != from);
                uses.extend(used.map(|to| Use {
                    file: path.to_string(),
                    line: *line,
                    from: from.clone(),
                    to,
                }));
            }
        }
    }
    uses
}

/// Where the path starting at token `i` goes on past the crate root, if it gets there:
/// `crate::…`, or as many `super::` as lead to the root from `depth` modules down.
fn past_root(tokens: &[(String, usize)], i: usize, root: &str, depth: usize) -> Option<usize> {
    let is = |at: usize, text: &str| tokens.get(at).is_some_and(|t| t.0 == text);
    if is(i, root) {
        return is(i + 1, "::").then_some(i + 2);
    }
    let mut next = i;
    while is(next, "super") && is(next + 1, "::") {
        next += 2;
    }
    let climbs = (next - i) / 2;
    (climbs > 0 && climbs >= depth).then_some(next)
}

/// The top-level modules a path names from `start`, just after `crate::`: one, or each of
/// a `{…}` group's.
fn modules_at(tokens: &[(String, usize)], start: usize) -> Vec<String> {
    let is_module = |t: &str| t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && t != "self";
    match tokens.get(start).map(|t| t.0.as_str()) {
        Some("{") => {
            let mut modules = vec![];
            let mut depth = 0;
            let mut item_start = true;
            for (token, _) in &tokens[start..] {
                match token.as_str() {
                    "{" => depth += 1,
                    "}" if depth == 1 => break,
                    "}" => depth -= 1,
                    "," if depth == 1 => item_start = true,
                    t if item_start && depth == 1 => {
                        if is_module(t) {
                            modules.push(t.to_string());
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
            modules
        }
        Some(t) if is_module(t) => vec![t.to_string()],
        _ => vec![],
    }
}

fn source_files(dir: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            let relative = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .expect("under the crate");
            files.push((relative.to_string_lossy().into_owned(), text));
        }
    }
}

#[test]
fn modules_use_only_leaf_modules_and_lower_layers() {
    let mut files = vec![];
    source_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.retain(|(path, _)| path != "src/lib.rs");
    assert!(files.len() > 20, "found only {} source files", files.len());
    let problems = problems(&files);
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

fn file(path: &str, text: &str) -> (String, String) {
    (path.to_string(), text.to_string())
}

#[test]
fn a_use_of_a_higher_layer_or_a_cycle_is_reported_with_its_line() {
    let files = [
        file(
            "src/pki/assets.rs",
            "use crate::api::HostedControlPlane;\n\nuse crate::render::network;\n",
        ),
        file("src/names.rs", "fn f() { crate::components::ALL; }\n"),
        file("src/components.rs", "use crate::{contract::X, names::Names};\n"),
    ];
    let problems = problems(&files);
    assert!(
        problems[0].starts_with("src/pki/assets.rs:3: `pki` (layer 2) uses `render` (layer 3)"),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[1].starts_with("cycle components → names → components"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("src/names.rs:1 uses components"),
        "{problems:?}"
    );
}

#[test]
fn finds_uses_in_groups_code_and_super_paths_only() {
    let text = r##"
use crate::{api::{A, B}, self, names};
// crate::tenant in a comment
const S: &str = "crate::tenant in a string";
const R: &str = r#"crate::tenant "raw""#;
fn f<'a>(c: char) -> bool { c == '"' || crate::contract::X == 1 }
pub(crate) fn g() { super::super::versions::V; }
fn h() -> [char; 2] { ['\'', '"'] } fn k() { crate::network::N; }
mod tests {
    use super::*;
    use super::super::pki;
}
"##;
    let used: Vec<(usize, String)> = uses_in("src/render/pod.rs", text)
        .into_iter()
        .map(|u| (u.line, u.to))
        .collect();
    let expected = [
        (2, "api"),
        (2, "names"),
        (6, "contract"),
        (7, "versions"),
        (8, "network"),
    ];
    assert_eq!(used, expected.map(|(line, to)| (line, to.to_string())));
}

#[test]
fn unknown_modules_are_reported() {
    let problems = problems(&[file("src/metrics.rs", "use crate::names::Names;\n")]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("module `metrics` has no layer"),
        "{problems:?}"
    );
}
