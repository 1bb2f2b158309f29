//! Reading a HostedControlPlane manifest the way the API server would admit it.
//!
//! Type errors and unknown fields are named by their path; the CRD's CEL rules run
//! client-side, so `podplane render` rejects what `kubectl apply` would reject.

use crate::api::HostedControlPlane;
use kube::Resource;

/// Why a manifest is not an acceptable HostedControlPlane.
#[derive(Debug, thiserror::Error)]
pub enum InvalidManifest {
    #[error("not YAML: {0}")]
    Syntax(serde_yaml::Error),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{}", .0.iter().map(|e| format!("{}: {}", display_path(&e.field_path), e.message)).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<kube::core::cel::ValidationError>),
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "(object)"
    } else {
        path.trim_start_matches('.')
    }
}

fn field(field: impl Into<String>, message: impl Into<String>) -> InvalidManifest {
    InvalidManifest::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// Parse and validate one HostedControlPlane from YAML or JSON text.
pub fn parse_hosted_control_plane(text: &str) -> Result<HostedControlPlane, InvalidManifest> {
    let value: serde_json::Value = serde_yaml::from_str(text).map_err(InvalidManifest::Syntax)?;
    check_type(&value)?;

    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let tracking = serde_ignored::Deserializer::new(&value, &mut record);
    let hcp: HostedControlPlane = serde_path_to_error::deserialize(tracking)
        .map_err(|e| type_error(e.path().to_string(), e.inner().to_string()))?;
    let checked = |path: &String| {
        let top = path.split('.').next().unwrap_or_default();
        !matches!(top, "apiVersion" | "kind" | "metadata" | "status")
    };
    if let Some(path) = unknown.into_iter().find(checked) {
        return Err(field(
            path,
            "unknown field: check its spelling against `kubectl explain hostedcontrolplane.spec`",
        ));
    }
    if hcp.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err(field(
            "metadata.name",
            "required: every child object is named after it",
        ));
    }
    HostedControlPlane::validate_cel(&hcp).map_err(|e| InvalidManifest::Rules(e.into_vec()))?;
    Ok(hcp)
}

/// serde names the object that lacks a field; users want the field itself.
fn type_error(path: String, message: String) -> InvalidManifest {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if path == "." => field(name, "required field is missing"),
        Some(name) => field(format!("{path}.{name}"), "required field is missing"),
        None => field(path, message),
    }
}

fn check_type(value: &serde_json::Value) -> Result<(), InvalidManifest> {
    let expected_version = HostedControlPlane::api_version(&());
    let expected_kind = HostedControlPlane::kind(&());
    match value.get("apiVersion").and_then(|v| v.as_str()) {
        Some(v) if v == expected_version => {}
        other => {
            return Err(field(
                "apiVersion",
                format!("must be {expected_version}, found {}", other.unwrap_or("nothing")),
            ));
        }
    }
    match value.get("kind").and_then(|v| v.as_str()) {
        Some(k) if k == expected_kind => Ok(()),
        other => Err(field(
            "kind",
            format!("must be {expected_kind}, found {}", other.unwrap_or("nothing")),
        )),
    }
}
