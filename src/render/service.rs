//! The Service in front of the API server.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{object_meta, selector};
use crate::api::{HostedControlPlane, ServiceType};
use crate::components::{API_SERVER_PORT, Component, TUNNEL_AGENT_PORT};

pub fn api_server(hcp: &HostedControlPlane) -> Service {
    let names = hcp.names();
    let spec = &hcp.spec.service;
    let mut metadata = object_meta(hcp, names.api_server(), Component::ApiServer);
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    let type_ = match spec.type_ {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(selector(hcp, Component::ApiServer)),
            ports: Some(vec![
                ServicePort {
                    name: Some("https".into()),
                    port: spec.port,
                    target_port: Some(IntOrString::Int(API_SERVER_PORT.number)),
                    node_port: spec.node_port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                },
                // Konnectivity agents in the hosted cluster dial in here.
                ServicePort {
                    name: Some(TUNNEL_AGENT_PORT.name.into()),
                    port: TUNNEL_AGENT_PORT.number,
                    target_port: Some(IntOrString::Int(TUNNEL_AGENT_PORT.number)),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
