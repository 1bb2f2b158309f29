//! podplane: Kubernetes control planes hosted as Pods.

pub mod api;
pub mod cli;
pub mod components;
pub mod contract;
pub mod controllers;
pub mod machine;
pub mod manifest;
pub mod names;
pub mod network;
pub mod operator;
pub mod pki;
pub mod render;
pub mod tenant;
pub mod validate;
pub mod versions;
