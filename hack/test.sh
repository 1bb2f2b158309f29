#!/usr/bin/env bash
# The project's test command (README "Testing"; .ci/run calls it):
#   1. cargo fmt --check, cargo clippy -D warnings
#   2. release build; `podplane crd` must equal crds/crds.yaml
#   3. unit and pure tests (cargo test)
#   4. hack/cluster.sh up, smoke checks, the kindest/node image for workers,
#      the operator image, Cluster API (hack/capi.sh build, repo, init:
#      clusterctl installs cert-manager, the core and kubeadm bootstrap
#      providers and podplane's control-plane and infrastructure providers
#      from the local repository) and its smoke checks, integration tests
#      against the real kube-apiserver (cargo test --test cluster --
#      --ignored, with clusterctl in PATH and PODPLANE_CLUSTERCTL_CONFIG set),
#      and hack/cluster.sh down even when something failed.
# PODPLANE_KEEP_CLUSTER=1 leaves the cluster running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/common.sh
source hack/lib/common.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo build --release"
cargo build --release --quiet

step "CRD drift: target/release/podplane crd vs crds/crds.yaml"
if ! target/release/podplane crd | diff -u crds/crds.yaml -; then
  die "crds/crds.yaml is stale: run 'cargo run -- crd > crds/crds.yaml' and commit it"
fi

step "unit and pure tests"
cargo test --quiet

cleanup() {
  local rc=$?
  if [[ "${PODPLANE_KEEP_CLUSTER:-0}" != 1 ]]; then
    step "hack/cluster.sh down"
    hack/cluster.sh down || rc=1
  fi
  exit "${rc}"
}
trap cleanup EXIT

step "hack/cluster.sh up"
hack/cluster.sh up
eval "$(hack/cluster.sh env)"

step "cluster smoke checks"
hack/cluster-smoke.sh

step "worker node image kindest/node (built once, cached; imported)"
hack/node-image.sh

step "installing Cluster API and the operator with clusterctl init (local repository)"
hack/operator-image.sh
hack/capi.sh build
hack/capi.sh repo
hack/capi.sh init
eval "$(hack/capi.sh env)"
# The image tag stays podplane/podplane:dev: a kept cluster needs a restart.
kubectl -n podplane-system rollout restart deployment/podplane >/dev/null
kubectl -n podplane-system rollout status deployment/podplane --timeout=120s

step "Cluster API smoke checks"
hack/capi-smoke.sh

step "integration tests against the local cluster"
cargo test --quiet --test cluster -- --ignored --test-threads=2
