#!/usr/bin/env bash
# The project's test command (README "Testing"; .ci/run calls it):
#   1. cargo fmt --check, cargo clippy -D warnings
#   2. release build; `podplane crd` must equal crds/crds.yaml
#   3. unit and pure tests (cargo test)
#   4. hack/up.sh, the one command a user runs (cluster up, the kindest/node
#      and operator images, Cluster API and podplane by clusterctl init from
#      the local repository, the demo cluster with 2 workers), cluster smoke
#      checks, hack/up.sh again (under 60 s, nothing changed), namespace demo
#      deleted, Cluster API smoke checks, a second management node reached by
#      routing only (hack/second-node.sh up), the previous Kubernetes release
#      built and imported (hack/previous-release.sh), integration tests against the real
#      kube-apiserver (cargo test --test cluster -- --ignored, with clusterctl
#      in PATH and PODPLANE_CLUSTERCTL_CONFIG set), and hack/cluster.sh down
#      even when something failed.
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

step "hack/up.sh: the one command (cluster, images, clusterctl init, demo cluster with 2 workers)"
hack/up.sh
eval "$(hack/cluster.sh env)"
eval "$(hack/capi.sh env)"

step "cluster smoke checks"
hack/cluster-smoke.sh

# What a second hack/up.sh must leave alone: what kubectl and the operator's install own of
# the demo objects (the operator's own status writes are not up.sh's), the workers, the
# operator's Deployment and Pods, and demo.kubeconfig.
up_fingerprint() {
  kubectl get namespace demo -o jsonpath='{.metadata.resourceVersion}{"\n"}'
  kubectl -n demo get hostedcontrolplane demo -o json --show-managed-fields |
    jq -c '[.metadata.generation, [.metadata.managedFields // [] | .[] | select(.subresource != "status")]]'
  kubectl -n demo get podmachines -o json | jq -c '[.items[] | [.metadata.name, .metadata.generation]]'
  kubectl -n podplane-system get deployment podplane -o json |
    jq -c '[.metadata.generation, .spec.template.metadata.annotations]'
  kubectl -n podplane-system get pods -l app.kubernetes.io/name=podplane,app.kubernetes.io/component=operator -o jsonpath='{.items[*].metadata.uid}{"\n"}'
  sha256sum demo.kubeconfig
}

step "hack/up.sh again: done in under 60 s, nothing changed"
before="$(up_fingerprint)"
start=$(date +%s)
hack/up.sh
took=$(($(date +%s) - start))
after="$(up_fingerprint)"
if [[ "${before}" != "${after}" ]]; then
  diff <(echo "${before}") <(echo "${after}") >&2 || true
  die "a second hack/up.sh changed something (above)"
fi
((took < 60)) || die "a second hack/up.sh took ${took}s (limit 60s)"
log "second hack/up.sh: ${took}s, nothing changed"

step "deleting namespace demo (frees the machine for the integration tests)"
kubectl delete namespace demo --timeout=300s

step "Cluster API smoke checks"
hack/capi-smoke.sh

step "a second management node, routed (hack/second-node.sh): the network test puts a worker there"
hack/second-node.sh up

step "the previous Kubernetes release (hack/previous-release.sh): the upgrade test starts there"
hack/previous-release.sh build
hack/previous-release.sh import

step "integration tests against the local cluster"
cargo test --quiet --test cluster -- --ignored --test-threads=2
