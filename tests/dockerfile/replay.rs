//! Reading a Dockerfile as the engine would: its stages and instructions, the build stage's
//! `COPY` lines replayed into a directory (honouring `.dockerignore`), its runtime stage.

use std::path::{Component, Path, PathBuf};

use super::ROOT;

/// One instruction of a Dockerfile: its keyword (upper case) and its arguments.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// A stage: `FROM <image> [AS <name>]` and what follows up to the next `FROM`.
#[derive(Debug)]
pub struct Stage {
    pub image: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// The stages of a Dockerfile (comments dropped, `\` continuations joined).
pub fn stages(text: &str) -> Vec<Stage> {
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
pub fn build_stage(stages: &[Stage]) -> &Stage {
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
pub struct CopyLine {
    pub sources: Vec<String>,
    pub dest: String,
}

/// The arguments of a `COPY`/`ADD` line, or `None` for `--from=` (another stage or image).
pub fn parse_copy(args: &str) -> Option<CopyLine> {
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
pub fn dockerignore() -> Vec<Vec<String>> {
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

pub fn wildcard(pattern: &str, text: &str) -> bool {
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

pub fn ignored(ignore: &[Vec<String>], relative: &Path) -> bool {
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
pub fn copy_tree(ignore: &[Vec<String>], relative: &Path, to: &Path) {
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
pub fn context_path(source: &str) -> PathBuf {
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
pub fn in_root(root: &Path, workdir: &str, path: &str) -> PathBuf {
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
pub fn replay(stage: &Stage, root: &Path) -> (String, Vec<String>) {
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

pub fn flag_value<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == flag)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// The `ENTRYPOINT` and `USER` of the last stage (the image that ships).
pub fn runtime(stages: &[Stage]) -> (Vec<String>, String) {
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
