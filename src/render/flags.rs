//! Command-line flags: component defaults merged with the user's `extraArgs`.

use std::collections::BTreeMap;

/// `--name=value` for each flag, `extra` overriding `base`, sorted by name.
pub fn render(base: Vec<(&str, String)>, extra: &BTreeMap<String, String>) -> Vec<String> {
    let mut flags: BTreeMap<String, String> = base.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    flags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    flags.into_iter().map(|(k, v)| format!("--{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_args_override_defaults() {
        let extra = BTreeMap::from([
            ("v".to_string(), "4".to_string()),
            ("b".to_string(), "x".to_string()),
        ]);
        let flags = render(vec![("v", "2".into()), ("a", "1".into())], &extra);
        assert_eq!(flags, vec!["--a=1", "--b=x", "--v=4"]);
    }
}
