use std::io::Write;
use std::process::Command;

use super::*;

/// A scratch directory for one test, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("podplane-cloud-init-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(script: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(script).output().unwrap()
}

fn gzip_base64(text: &str) -> String {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap())
}

#[test]
fn write_files_are_decoded_appended_and_given_their_mode() {
    let dir = Scratch::new("files");
    let data = format!(
        r#"## template: jinja
#cloud-config
write_files:
- path: {plain}
  content: |
    name: {{{{ ds.meta_data.local_hostname }}}}
  permissions: "0640"
- path: {plain}
  content: "second line\n"
  append: true
- path: {b64}
  encoding: b64
  content: aGVsbG8gd29ybGQ=
- path: {gz}
  encoding: gzip+base64
  content: {zipped}
"#,
        plain = dir.path("sub/plain.yaml"),
        b64 = dir.path("b64.txt"),
        gz = dir.path("gz.txt"),
        zipped = gzip_base64("it's compressed"),
    );
    let bootstrap = script(&data, "node-a").unwrap();
    assert!(bootstrap.ignored.is_empty(), "{:?}", bootstrap.ignored);
    let output = run(&bootstrap.script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(dir.read("sub/plain.yaml"), "name: node-a\nsecond line\n");
    assert_eq!(dir.read("b64.txt"), "hello world");
    assert_eq!(dir.read("gz.txt"), "it's compressed");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.0.join("sub/plain.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn runcmd_runs_strings_and_argv_lists_in_order_and_stops_at_the_first_failure() {
    let dir = Scratch::new("runcmd");
    let log = dir.path("log");
    let data = format!(
        "runcmd:\n- echo one >> {log}\n- [sh, -c, \"echo 'two words' >> {log}\"]\n- \"false\"\n- echo never >> {log}\n"
    );
    let output = run(&script(&data, "n").unwrap().script);
    assert!(!output.status.success());
    assert_eq!(dir.read("log"), "one\ntwo words\n");
}

#[test]
fn kubeadm_commands_skip_the_checks_a_pod_node_cannot_pass() {
    let data = "runcmd:\n- kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml && echo success > /run/cluster-api/bootstrap-success.complete\n- [kubeadm, init]\n";
    let bootstrap = script(data, "n").unwrap();
    assert!(bootstrap.script.contains(
        "kubeadm join --ignore-preflight-errors=SystemVerification --config /run/kubeadm/kubeadm-join-config.yaml"
    ));
    assert!(
        bootstrap
            .script
            .contains("'kubeadm' 'init' --ignore-preflight-errors=SystemVerification")
    );
}

#[test]
fn directives_a_container_cannot_honour_are_listed_not_dropped_silently() {
    let data = "#cloud-config\nusers:\n- name: capi\nntp:\n  enabled: true\nruncmd: []\n";
    assert_eq!(script(data, "n").unwrap().ignored, vec!["users", "ntp"]);
}

#[test]
fn bad_data_names_the_entry_and_the_fix() {
    let bad_encoding = "write_files:\n- path: /x\n  encoding: zstd\n  content: abc\n";
    let error = script(bad_encoding, "n").unwrap_err().to_string();
    assert!(
        error.contains("write_files[0] (/x)") && error.contains("use b64, gzip or gzip+b64"),
        "{error}"
    );
    let bad_command = "runcmd:\n- {a: b}\n";
    assert_eq!(
        script(bad_command, "n").unwrap_err(),
        CloudConfigError::Command(0)
    );
    assert!(matches!(script("{", "n"), Err(CloudConfigError::Yaml(_))));
}
