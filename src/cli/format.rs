//! Text helpers of the CLI: aligned tables, kubectl-style ages, `10m`-style durations.

use std::time::Duration;

/// Rows printed as columns separated by three spaces, like `kubectl get`.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// A table without a header line.
    pub fn headless() -> Self {
        Self { rows: vec![] }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 3;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// An age as kubectl prints it: `45s`, `12m`, `5h`, `3d`.
pub fn age(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The age of an object created at `created`.
pub fn age_since(created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    match created {
        Some(t) => {
            let seconds = k8s_openapi::jiff::Timestamp::now()
                .duration_since(t.0)
                .as_secs()
                .max(0);
            age(Duration::from_secs(seconds as u64))
        }
        None => "-".into(),
    }
}

/// `90s`, `10m`, `1h30m`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => crate::controllers::tuning::duration(text),
    }
}

/// The tag (or digest) of an image reference: `registry.k8s.io/etcd:3.6.8-0` → `3.6.8-0`.
pub fn image_tag(image: &str) -> &str {
    if let Some((_, digest)) = image.split_once('@') {
        return digest;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag).unwrap_or("latest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_have_no_trailing_spaces() {
        let mut table = Table::new(&["NAME", "READY"]);
        table.row(vec!["demo-worker-10".into(), "true".into()]);
        table.row(vec!["a".into(), String::new()]);
        assert_eq!(
            table.render(),
            "NAME             READY\ndemo-worker-10   true\na\n"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(Duration::from_secs(45)), "45s");
        assert_eq!(age(Duration::from_secs(600)), "10m");
        assert_eq!(age(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(age(Duration::from_secs(5 * 86_400)), "5d");
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5m3").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("registry.k8s.io/etcd:3.6.8-0"), "3.6.8-0");
        assert_eq!(image_tag("localhost:5000/kube-apiserver"), "latest");
        assert_eq!(image_tag("kindest/node@sha256:abc"), "sha256:abc");
    }
}
