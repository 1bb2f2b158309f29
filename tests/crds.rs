//! `crds/` holds exactly what `podplane crd` prints.

#[test]
fn committed_crds_match_the_types() {
    let generated = podplane::manifest::to_yaml_documents(&podplane::api::crds()).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crds.yaml")).unwrap();
    assert!(
        generated == committed,
        "crds/crds.yaml is stale: run `cargo run -- crd > crds/crds.yaml` and commit it"
    );
}
