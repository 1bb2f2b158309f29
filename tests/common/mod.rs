//! Fixtures shared by the pure tests.
#![allow(dead_code)]

use podplane::api::HostedControlPlane;

/// The example manifest shipped in `examples/`, as a user would apply it.
pub fn example() -> HostedControlPlane {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/hostedcontrolplane.yaml"
    ))
    .expect("example manifest");
    podplane::validate::parse_hosted_control_plane(&text).expect("example is valid")
}

/// A HostedControlPlane parsed from a YAML `spec` body, named `name` in `tenant-a`.
pub fn with_spec(name: &str, spec_yaml: &str) -> HostedControlPlane {
    let text = format!(
        "apiVersion: controlplane.podplane.dev/v1alpha1\nkind: HostedControlPlane\nmetadata:\n  name: {name}\n  namespace: tenant-a\n  uid: 6f1c1f0e-0000-4000-8000-000000000001\nspec:\n{}",
        indent(spec_yaml)
    );
    podplane::validate::parse_hosted_control_plane(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn indent(body: &str) -> String {
    body.lines().map(|l| format!("  {l}\n")).collect()
}
