//! Tests against the real kube-apiserver of the local management cluster.
//!
//! They need `hack/cluster.sh up` and its `KUBECONFIG`, so they are `#[ignore]`d in a
//! plain `cargo test`; `hack/test.sh` runs them with `--ignored`.

mod capi_support;
mod capi_upgrade;
mod cli;
mod cluster_api;
mod core;
mod crd;
mod etcd_storage;
mod harness;
mod join;
mod network;
mod network_support;
mod operations;
mod operations_support;
mod operator;
mod routed_workers;
mod upgrade;
mod upgrade_support;
mod workers;
