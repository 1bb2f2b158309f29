//! The container image: the `Dockerfile` builds from exactly the files its build stage copies,
//! it runs the binary the way `hack/operator-image.sh` does, and the manifests run the image
//! under its canonical name with the crate's version.
//!
//! No container engine is needed: the build stage's `COPY` lines are replayed into a scratch
//! directory (honouring `.dockerignore`) and its `cargo build` runs there, offline, against the
//! repository's own target directory, so that no dependency compiles again. The copies keep their
//! modification times: after `cargo build --release` (hack/test.sh runs it before `cargo test`)
//! cargo then finds every file the crate was compiled from and compiles nothing, in seconds; a
//! file missing from the copy makes it compile the crate, which fails and names the file.

#[path = "dockerfile/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};
use std::process::Command;

use replay::{build_stage, flag_value, in_root, replay, runtime, stages};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The canonical image name: registry, repository and the crate version as tag.
fn canonical_image() -> String {
    format!("docker.io/podplane/podplane:v{}", env!("CARGO_PKG_VERSION"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Path::new(ROOT).join(dir),
        None => Path::new(ROOT).join("target"),
    }
}

/// Variables `cargo test` sets for this test process, not for a build: left in place, build
/// scripts that watch them (ring's watches `CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...) would run
/// again and every crate above them would compile again, here and in the next plain build.
fn set_by_cargo_for_this_test(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
        .iter()
        .any(|p| name.starts_with(p))
        || [
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ]
        .contains(&name)
}

/// Removes the scratch directory however the test ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_build_stage_builds_from_exactly_the_files_it_copies() {
    let stages = stages(&read("Dockerfile"));
    let stage = build_stage(&stages);

    let scratch = Scratch(std::env::temp_dir().join(format!(
        "podplane-dockerfile-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )));
    let (workdir, build) = replay(stage, &scratch.0);
    let src = in_root(&scratch.0, &workdir, ".");
    assert!(
        src.join("Cargo.toml").is_file(),
        "the build stage copies no Cargo.toml into WORKDIR {workdir}"
    );

    let profile = if build.iter().any(|w| w == "--release") {
        "release"
    } else {
        "debug"
    };
    let bin = flag_value(&build, "--bin").expect("`cargo build` names its --bin");
    let started = std::time::Instant::now();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args(&build[1..])
        .arg("--offline")
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", target_dir());
    for (name, _) in std::env::vars_os() {
        if set_by_cargo_for_this_test(&name.to_string_lossy()) {
            cargo.env_remove(&name);
        }
    }
    let output = cargo.output().expect("run cargo");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`{}` fails with only the files the Dockerfile copies (is a COPY line missing?):\n{log}",
        build.join(" ")
    );
    let compiled: Vec<&str> = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Compiling "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    eprintln!(
        "{} in the scratch copy: {:.1?}, compiled: {}",
        build.join(" "),
        started.elapsed(),
        if compiled.is_empty() {
            "nothing (target/ was built from the same files)".to_string()
        } else {
            compiled.join(" ")
        }
    );

    let binary = target_dir().join(profile).join(bin);
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run the built binary");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("podplane {}", env!("CARGO_PKG_VERSION")),
        "{} --version",
        binary.display()
    );

    // The image takes the binary from where this build put it.
    let built = format!("{}/target/{profile}/{bin}", workdir.trim_end_matches('/'));
    let name = stage
        .name
        .as_deref()
        .expect("the build stage is named (FROM ... AS build)");
    let last = stages.last().unwrap();
    assert!(
        last.instructions
            .iter()
            .any(|i| i.keyword == "COPY" && i.args.starts_with(&format!("--from={name} {built} "))),
        "the final stage does not COPY --from={name} {built}"
    );
}

#[test]
fn the_toolchain_is_the_crates_minimum_rust_version() {
    let stages = stages(&read("Dockerfile"));
    let image = &build_stage(&stages).image;
    let rust_version = read("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("rust-version = \"")?
                .strip_suffix('"')
                .map(str::to_string)
        })
        .expect("Cargo.toml has a rust-version");
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("build stage FROM {image}: expected rust:<version>"));
    assert!(
        tag == rust_version || tag.starts_with(&format!("{rust_version}-")),
        "FROM {image}: the build image must be Cargo.toml's rust-version {rust_version} (the MSRV-aware \
         resolver keeps Cargo.lock's dependencies within it)"
    );
}

#[test]
fn the_image_runs_like_the_one_operator_image_sh_builds() {
    let (entrypoint, user) = runtime(&stages(&read("Dockerfile")));
    let script = read("hack/operator-image.sh");
    let config = script
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("'{\"Entrypoint\""))
        .expect("hack/operator-image.sh passes an image config")
        .trim_matches('\'');
    let config: serde_json::Value = serde_json::from_str(config).unwrap();
    assert_eq!(
        serde_json::json!(entrypoint),
        config["Entrypoint"],
        "ENTRYPOINT differs"
    );
    assert_eq!(serde_json::json!(user), config["User"], "USER differs");
}

#[test]
fn the_operator_manifest_runs_the_canonical_image_of_this_version() {
    let text = read("manifests/operator.yaml");
    let mut images = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(document).unwrap();
        if value["kind"] != "Deployment" {
            continue;
        }
        for container in value["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            images.push(container["image"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(
        images,
        [canonical_image()],
        "manifests/operator.yaml's operator image"
    );
}

#[test]
fn the_docs_and_scripts_name_the_canonical_image() {
    let tag = format!(":v{}", env!("CARGO_PKG_VERSION"));
    for file in [
        "README.md",
        "Dockerfile",
        "hack/README.md",
        "hack/operator-image.sh",
        "hack/test.sh",
        "manifests/clusterctl/control-plane/kustomization.yaml",
    ] {
        for (n, line) in read(file).lines().enumerate() {
            for (at, _) in line.match_indices("podplane/podplane") {
                let after = &line[at + "podplane/podplane".len()..];
                assert!(
                    line[..at].ends_with("docker.io/")
                        && (!after.starts_with(':')
                            || after.starts_with(&tag)
                            || [":$", ":v$", ":v<"].iter().any(|p| after.starts_with(p))),
                    "{file}:{}: `{}` is not {}",
                    n + 1,
                    line.trim(),
                    canonical_image()
                );
            }
        }
    }
}
