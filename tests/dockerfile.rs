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

use std::path::{Component, Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The canonical image name: registry, repository and the crate version as tag.
fn canonical_image() -> String {
    format!("docker.io/podplane/podplane:v{}", env!("CARGO_PKG_VERSION"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// One instruction of a Dockerfile: its keyword (upper case) and its arguments.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A stage: `FROM <image> [AS <name>]` and what follows up to the next `FROM`.
#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

/// The stages of a Dockerfile (comments dropped, `\` continuations joined).
fn stages(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else if !trimmed.starts_with('#') {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    assert!(current.is_empty(), "Dockerfile ends inside a continued line");
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        };
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                _ => panic!("FROM {} not understood", instruction.args),
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .unwrap_or_else(|| panic!("{keyword} before the first FROM"))
                .instructions
                .push(instruction);
        }
    }
    stages
}

/// The stage that runs `cargo build`.
fn build_stage(stages: &[Stage]) -> &Stage {
    let mut building = stages.iter().filter(|s| {
        s.instructions
            .iter()
            .any(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
    });
    let stage = building
        .next()
        .expect("no stage of the Dockerfile runs `cargo build`");
    assert!(
        building.next().is_none(),
        "more than one stage runs `cargo build`"
    );
    stage
}

/// A `COPY`/`ADD` from the build context: sources (context-relative) and destination.
#[derive(Debug)]
struct CopyLine {
    sources: Vec<String>,
    dest: String,
}

/// The arguments of a `COPY`/`ADD` line, or `None` for `--from=` (another stage or image).
fn parse_copy(args: &str) -> Option<CopyLine> {
    let mut words: Vec<String> = Vec::new();
    let mut rest = args.trim();
    while let Some(flag) = rest.strip_prefix("--") {
        let (flag, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        if flag.starts_with("from=") {
            return None;
        }
        rest = tail.trim_start();
    }
    if rest.starts_with('[') {
        let list: Vec<String> =
            serde_json::from_str(rest).unwrap_or_else(|e| panic!("COPY {args}: bad JSON form: {e}"));
        words.extend(list);
    } else {
        words.extend(rest.split_whitespace().map(str::to_string));
    }
    assert!(words.len() >= 2, "COPY {args}: needs a source and a destination");
    let dest = words.pop().unwrap();
    for source in &words {
        assert!(
            !source.contains(['*', '?', '[']) && !source.contains("://"),
            "COPY {args}: tests/dockerfile.rs replays plain paths only, not {source}"
        );
    }
    Some(CopyLine { sources: words, dest })
}

/// `.dockerignore` patterns (no `!` exceptions), matched per path component with `*` and `?`,
/// as the engine does: a path is excluded when it or a parent directory matches.
fn dockerignore() -> Vec<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore")) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            assert!(
                !l.starts_with('!') && !l.contains("**"),
                ".dockerignore: {l} is not understood here"
            );
            l.trim_matches('/')
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn ignored(ignore: &[Vec<String>], relative: &Path) -> bool {
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    ignore.iter().any(|pattern| {
        pattern.len() <= parts.len() && pattern.iter().zip(&parts).all(|(p, c)| wildcard(p, c))
    })
}

/// Copy `from` (a context-relative file or directory) to `to`, as `COPY` does: a directory's
/// contents, not the directory itself.
fn copy_tree(ignore: &[Vec<String>], relative: &Path, to: &Path) {
    let from = Path::new(ROOT).join(relative);
    if ignored(ignore, relative) {
        return;
    }
    let meta = std::fs::metadata(&from).unwrap_or_else(|e| panic!("COPY source {}: {e}", relative.display()));
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name();
            copy_tree(ignore, &relative.join(&name), &to.join(&name));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, to).unwrap_or_else(|e| panic!("copy {}: {e}", relative.display()));
        // The original modification time: when target/ was built from these very files, cargo
        // finds every input it recorded (sources, include_str! files) and compiles nothing; a
        // file left out of the copy makes it compile, and fail.
        let copy = std::fs::File::options().write(true).open(to).unwrap();
        copy.set_modified(meta.modified().unwrap()).unwrap();
    }
}

/// A context-relative source path, refusing anything that leaves the context.
fn context_path(source: &str) -> PathBuf {
    let path = Path::new(source);
    assert!(
        path.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "COPY source {source} leaves the build context"
    );
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// A container path (absolute, or relative to `workdir`) inside the scratch root.
fn in_root(root: &Path, workdir: &str, path: &str) -> PathBuf {
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{workdir}/{path}")
    };
    let mut out = root.to_path_buf();
    for part in absolute.split('/').filter(|p| !p.is_empty() && *p != ".") {
        assert!(part != "..", "{path}: `..` is not replayed");
        out.push(part);
    }
    out
}

/// Replay the build stage's `WORKDIR` and `COPY`/`ADD` lines into `root` (the container's `/`);
/// returns the stage's final working directory and its `cargo build` command.
fn replay(stage: &Stage, root: &Path) -> (String, Vec<String>) {
    let ignore = dockerignore();
    let mut workdir = "/".to_string();
    let mut build = None;
    for instruction in &stage.instructions {
        match instruction.keyword.as_str() {
            "WORKDIR" => {
                let dir = instruction.args.trim();
                workdir = if dir.starts_with('/') {
                    dir.to_string()
                } else {
                    format!("{}/{dir}", workdir.trim_end_matches('/'))
                };
                std::fs::create_dir_all(in_root(root, &workdir, ".")).unwrap();
            }
            "COPY" | "ADD" => {
                let Some(copy) = parse_copy(&instruction.args) else {
                    continue;
                };
                let into_dir = copy.dest.ends_with('/') || copy.sources.len() > 1;
                let dest = in_root(root, &workdir, &copy.dest);
                for source in &copy.sources {
                    let relative = context_path(source);
                    let is_dir = Path::new(ROOT).join(&relative).is_dir();
                    let to = match (is_dir, into_dir, relative.file_name()) {
                        (false, true, Some(name)) => dest.join(name),
                        _ => dest.clone(),
                    };
                    copy_tree(&ignore, &relative, &to);
                }
            }
            "RUN" if instruction.args.contains("cargo build") => {
                let words: Vec<String> = instruction.args.split_whitespace().map(str::to_string).collect();
                assert!(
                    words.starts_with(&["cargo".to_string(), "build".to_string()]),
                    "RUN {}: expected a plain `cargo build ...` (no shell)",
                    instruction.args
                );
                build = Some(words);
            }
            _ => {}
        }
    }
    (workdir, build.expect("the build stage has no `RUN cargo build`"))
}

fn flag_value<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == flag)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// The `ENTRYPOINT` and `USER` of the last stage (the image that ships).
fn runtime(stages: &[Stage]) -> (Vec<String>, String) {
    let last = stages.last().expect("no FROM in the Dockerfile");
    let value = |keyword: &str| {
        last.instructions
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
            .map(|i| i.args.clone())
            .unwrap_or_else(|| panic!("the final stage has no {keyword}"))
    };
    let entrypoint: Vec<String> =
        serde_json::from_str(&value("ENTRYPOINT")).expect("ENTRYPOINT in JSON form");
    (entrypoint, value("USER"))
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
