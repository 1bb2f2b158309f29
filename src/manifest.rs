//! Printing Kubernetes objects as multi-document YAML.

use serde::Serialize;

/// Serialize each object as one YAML document, each starting with `---`.
pub fn to_yaml_documents<T: Serialize>(objects: &[T]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(object)?);
    }
    Ok(out)
}
