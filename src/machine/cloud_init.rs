//! Cluster API bootstrap data (`format: cloud-config`, as the kubeadm bootstrap provider
//! writes it) turned into one shell script for the node container: the subset a container
//! node can honour, which is what Cluster API's Docker provider runs too — `write_files`
//! and `runcmd`. Every other directive is listed so it can be reported, never dropped
//! silently.

use base64::Engine;
use serde::Deserialize;
use serde_yaml::Value;

/// Written last by the bootstrap data of the kubeadm bootstrap provider once it succeeded;
/// a node container that has it was bootstrapped.
pub const SENTINEL: &str = "/run/cluster-api/bootstrap-success.complete";

/// kubeadm checks a Pod node cannot pass (the host's cgroup v1 fails SystemVerification),
/// added to every `kubeadm init|join` the bootstrap data runs.
const IGNORED_PREFLIGHT_ERRORS: &str = "SystemVerification";

/// Directives cloud-init would act on that have no meaning in a node container, or that
/// the kubeadm bootstrap provider emits with empty values: not reported.
const QUIETLY_SKIPPED: [&str; 1] = ["output"];

/// Why bootstrap data cannot be run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudConfigError {
    #[error("the bootstrap data is not YAML: {0}")]
    Yaml(String),
    #[error("write_files[{index}] ({path}): {why}")]
    File { index: usize, path: String, why: String },
    #[error("runcmd[{0}] is neither a string nor a list of strings")]
    Command(usize),
}

/// The bootstrap data as a script, and the directives it ignores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapScript {
    pub script: String,
    pub ignored: Vec<String>,
}

#[derive(Deserialize)]
struct WriteFile {
    path: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    append: bool,
}

/// Turn `data` into the script that bootstraps the node `node` (its hostname).
pub fn script(data: &str, node: &str) -> Result<BootstrapScript, CloudConfigError> {
    let data = render_instance_data(data, node);
    let config: Value = serde_yaml::from_str(&data).map_err(|e| CloudConfigError::Yaml(e.to_string()))?;
    let mut ignored = Vec::new();
    let mut script = String::from("set -e\n");
    let Value::Mapping(config) = config else {
        return Ok(BootstrapScript { script, ignored });
    };
    for (key, _) in &config {
        let key = key.as_str().unwrap_or_default();
        if !matches!(key, "write_files" | "runcmd") && !QUIETLY_SKIPPED.contains(&key) {
            ignored.push(key.to_string());
        }
    }
    if let Some(files) = config.get("write_files") {
        let files: Vec<WriteFile> = serde_yaml::from_value(files.clone())
            .map_err(|e| CloudConfigError::Yaml(format!("write_files: {e}")))?;
        for (index, file) in files.iter().enumerate() {
            script += &write_file(index, file)?;
        }
    }
    if let Some(Value::Sequence(commands)) = config.get("runcmd") {
        for (index, command) in commands.iter().enumerate() {
            script += &run_command(index, command)?;
            script.push('\n');
        }
    }
    Ok(BootstrapScript { script, ignored })
}

/// cloud-init's instance data that bootstrap data may use through jinja templates.
fn render_instance_data(data: &str, node: &str) -> String {
    let mut out = data.to_string();
    for key in [
        "ds.meta_data.local_hostname",
        "ds.meta_data.hostname",
        "v1.local_hostname",
        "local_hostname",
    ] {
        for form in [format!("{{{{ {key} }}}}"), format!("{{{{{key}}}}}")] {
            out = out.replace(&form, node);
        }
    }
    out
}

fn write_file(index: usize, file: &WriteFile) -> Result<String, CloudConfigError> {
    let fail = |why: String| CloudConfigError::File {
        index,
        path: file.path.clone(),
        why,
    };
    let bytes = decode(&file.content, file.encoding.as_deref()).map_err(fail)?;
    let path = quote(&file.path);
    let redirect = if file.append { ">>" } else { ">" };
    let mut out = format!(
        "mkdir -p \"$(dirname {path})\"\nprintf '%s' {} | base64 -d {redirect}{path}\n",
        quote(&base64::engine::general_purpose::STANDARD.encode(&bytes))
    );
    if let Some(permissions) = &file.permissions {
        if !permissions.chars().all(|c| c.is_ascii_digit()) {
            return Err(fail(format!("permissions {permissions:?} is not an octal mode")));
        }
        out += &format!("chmod {permissions} {path}\n");
    }
    if let Some(owner) = &file.owner {
        out += &format!("chown {} {path}\n", quote(owner));
    }
    Ok(out)
}

/// The content of a `write_files` entry, decoded as its `encoding` says.
fn decode(content: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    let base64 = |text: &str| {
        let compact: String = text.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("content is not base64: {e}"))
    };
    let gunzip = |bytes: Vec<u8>| {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("content is not gzip: {e}"))?;
        Ok::<_, String>(out)
    };
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "text/plain") => Ok(content.as_bytes().to_vec()),
        Some("b64" | "base64") => base64(content),
        Some("gz" | "gzip") => gunzip(content.as_bytes().to_vec()),
        Some("gz+b64" | "gz+base64" | "gzip+b64" | "gzip+base64") => gunzip(base64(content)?),
        Some(other) => Err(format!(
            "encoding {other:?} is not supported (use b64, gzip or gzip+b64)"
        )),
    }
}

fn run_command(index: usize, command: &Value) -> Result<String, CloudConfigError> {
    match command {
        Value::String(line) => Ok(with_preflight_errors(line)),
        Value::Sequence(argv) => {
            let words: Option<Vec<&str>> = argv.iter().map(Value::as_str).collect();
            let words = words.ok_or(CloudConfigError::Command(index))?;
            let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
            Ok(with_preflight_errors(&quoted.join(" ")))
        }
        _ => Err(CloudConfigError::Command(index)),
    }
}

/// `line` with the preflight errors a Pod node cannot pass ignored by its kubeadm commands.
fn with_preflight_errors(line: &str) -> String {
    let flag = format!("--ignore-preflight-errors={IGNORED_PREFLIGHT_ERRORS}");
    let mut out = line.to_string();
    for command in [
        "kubeadm join",
        "kubeadm init",
        "'kubeadm' 'join'",
        "'kubeadm' 'init'",
    ] {
        out = out.replace(command, &format!("{command} {flag}"));
    }
    out
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
#[path = "cloud_init_tests.rs"]
mod tests;
