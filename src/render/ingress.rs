//! An Ingress that hands TLS connections for a hostname to the API server untouched.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::meta::object_meta;
use crate::api::HostedControlPlane;
use crate::components::Component;

/// Annotations that make ingress-nginx pass TLS through instead of terminating it;
/// the user's annotations are applied over them.
const PASSTHROUGH_ANNOTATIONS: [(&str, &str); 2] = [
    ("nginx.ingress.kubernetes.io/ssl-passthrough", "true"),
    ("nginx.ingress.kubernetes.io/backend-protocol", "HTTPS"),
];

pub fn api_server(hcp: &HostedControlPlane) -> Option<Ingress> {
    let spec = hcp.spec.ingress.as_ref()?;
    let names = hcp.names();
    let mut metadata = object_meta(hcp, names.api_server(), Component::ApiServer);
    let mut annotations: BTreeMap<String, String> = PASSTHROUGH_ANNOTATIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    annotations.extend(spec.annotations.clone());
    metadata.annotations = Some(annotations);
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: names.api_server(),
            port: Some(ServiceBackendPort {
                number: Some(hcp.spec.service.port),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![spec.hostname.clone()]),
                secret_name: None,
            }]),
            rules: Some(vec![IngressRule {
                host: Some(spec.hostname.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend,
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}
