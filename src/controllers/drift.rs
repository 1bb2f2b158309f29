//! Does a live object already hold everything we would apply? A server-side apply only
//! sets the fields it names, so the live object matches when every field of the desired
//! object is there with the same value; fields the API server or others added do not count.

use serde_json::Value;

/// The path of the first field of `desired` that `live` does not hold, or `None` when
/// `live` already says everything `desired` says.
///
/// Lists of objects are matched element by element in any order (list entries keyed by
/// name, port or path may be reordered or joined by others' entries); lists of scalars
/// (command lines, arguments) must be equal. A zero value (`false`, `0`, `""`, `[]`, `{}`)
/// matches an absent field, since the API server omits those.
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    difference(desired, live).map(|path| if path.is_empty() { ".".into() } else { path })
}

fn difference(desired: &Value, live: &Value) -> Option<String> {
    match (desired, live) {
        // A null in an applied object sets nothing (a field another manager owns, say).
        (Value::Null, _) => None,
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let found = have.get(key).unwrap_or(&Value::Null);
            difference(value, found).map(|rest| format!(".{key}{rest}"))
        }),
        (Value::Array(want), Value::Array(have)) if want.iter().any(Value::is_object) => {
            want.iter().find_map(|element| {
                if have.iter().any(|h| difference(element, h).is_none()) {
                    return None;
                }
                Some(format!("[{}]{}", label(element), closest(element, have)))
            })
        }
        (want, Value::Null) if is_zero(want) => None,
        (want, have) if want == have => None,
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        _ => Some(String::new()),
    }
}

/// Where an element that no live element matches differs from its namesake, when it has one.
fn closest(element: &Value, have: &[Value]) -> String {
    let name = element.get("name");
    have.iter()
        .find(|h| name.is_some() && h.get("name") == name)
        .and_then(|h| difference(element, h))
        .unwrap_or_default()
}

fn label(element: &Value) -> String {
    ["name", "mountPath", "containerPort", "port", "key"]
        .iter()
        .find_map(|k| element.get(*k))
        .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        .unwrap_or_default()
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str, args: &[&str]) -> Value {
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "kube-apiserver", "image": image, "args": args, "ports": [{"containerPort": 6443}]}
        ]}}}})
    }

    #[test]
    fn what_the_server_adds_is_not_drift() {
        let desired = deployment("k:1", &["--a"]);
        let mut live = deployment("k:1", &["--a"]);
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
            json!("/dev/termination-log");
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        live["spec"]["progressDeadlineSeconds"] = json!(600);
        live["metadata"] = json!({"annotations": {"deployment.kubernetes.io/revision": "1"}});
        assert_eq!(first_difference(&desired, &live), None);
    }

    #[test]
    fn a_changed_image_or_argument_is_named() {
        let desired = deployment("k:1", &["--a"]);
        assert_eq!(
            first_difference(&desired, &deployment("k:2", &["--a"])).as_deref(),
            Some(".spec.template.spec.containers[kube-apiserver].image")
        );
        assert_eq!(
            first_difference(&desired, &deployment("k:1", &["--a", "--b"])).as_deref(),
            Some(".spec.template.spec.containers[kube-apiserver].args")
        );
    }

    #[test]
    fn zero_values_match_absent_fields_but_not_other_values() {
        let desired = json!({"spec": {"readOnly": false, "items": [], "n": 0}});
        assert_eq!(first_difference(&desired, &json!({"spec": {}})), None);
        let unset = json!({"spec": {"providerID": null}});
        assert_eq!(
            first_difference(&unset, &json!({"spec": {"providerID": "x"}})),
            None
        );
        assert_eq!(
            first_difference(&desired, &json!({"spec": {"readOnly": true}})).as_deref(),
            Some(".spec.readOnly")
        );
        assert_eq!(
            first_difference(&json!({"data": {"k": "v"}}), &json!({})).as_deref(),
            Some(".data")
        );
    }

    #[test]
    fn list_entries_match_in_any_order() {
        let desired = json!({"ports": [{"port": 1}, {"port": 2}]});
        let live = json!({"ports": [{"port": 2, "protocol": "TCP"}, {"port": 1}, {"port": 3}]});
        assert_eq!(first_difference(&desired, &live), None);
        assert_eq!(
            first_difference(&desired, &json!({"ports": [{"port": 2}]})).as_deref(),
            Some(".ports[1]")
        );
    }
}
