#!/usr/bin/env bash
# Benchmark: what Cluster API adds. Over RUNS runs, alternately
#   - `kubectl apply` of `clusterctl generate cluster` (HostedControlPlane as control
#     plane, a MachineDeployment of WORKERS PodMachines with the kubeadm bootstrap
#     provider), timed until every Machine is Running with a nodeRef and the hosted
#     cluster has WORKERS Ready Nodes;
#   - `kubectl apply` of a HostedControlPlane with spec.workers.replicas WORKERS (no
#     Cluster API), timed until every PodMachine is Ready (its Node Ready);
# then prints both medians and the difference (goal: Cluster API adds at most 10 s).
# Needs the local cluster with Cluster API installed by clusterctl (hack/capi.sh init)
# and the node image (hack/test.sh with PODPLANE_KEEP_CLUSTER=1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/common.sh
source hack/lib/common.sh
# shellcheck source=hack/lib/bench.sh
source hack/lib/bench.sh
eval "$(hack/cluster.sh env)"
eval "$(hack/capi.sh env)"
ensure_packages bc jq

RUNS="${RUNS:-3}"
WORKERS="${WORKERS:-2}"
NS=podplane-bench-capi


# ready_nodes NAME: Ready Nodes in the hosted cluster of the HostedControlPlane NAME.
ready_nodes() {
  local kubeconfig
  kubeconfig="$(mktemp)"
  target/release/podplane kubeconfig "$1" -n "${NS}" >"${kubeconfig}" 2>/dev/null || { rm -f "${kubeconfig}"; echo 0; return; }
  kubectl --kubeconfig "${kubeconfig}" get nodes -o json 2>/dev/null |
    jq '[.items[] | select(any(.status.conditions[]; .type == "Ready" and .status == "True"))] | length' || echo 0
  rm -f "${kubeconfig}"
}

# wait_until WHAT TIMEOUT COMMAND...: poll every 0.5 s until COMMAND succeeds.
wait_until() {
  local what="$1" timeout="$2" start
  shift 2
  start="$(date +%s)"
  until "$@"; do
    (($(date +%s) - start < timeout)) || die "${what}: not within ${timeout}s"
    sleep 0.5
  done
}

machines_running() {
  local running
  running="$(kubectl -n "${NS}" get machines -l "cluster.x-k8s.io/cluster-name=$1" -o json |
    jq '[.items[] | select(.status.phase == "Running" and .status.nodeRef.name != null)] | length')"
  [[ "${running}" == "${WORKERS}" ]]
}

nodes_ready() { [[ "$(ready_nodes "$1")" == "${WORKERS}" ]]; }

machine_exists() { kubectl -n "${NS}" get podmachine "$1" >/dev/null 2>&1; }

[[ -x target/release/podplane ]] || cargo build --release --quiet --bin podplane
privileged_namespace "${NS}"
with_capi=() without=()
for run in $(seq 1 "${RUNS}"); do
  name="capi-${run}"
  step "run ${run}/${RUNS}: Cluster API cluster ${NS}/${name} with ${WORKERS} workers"
  manifest="$(clusterctl generate cluster "${name}" --config "${PODPLANE_CLUSTERCTL_CONFIG}" \
    --infrastructure podplane --kubernetes-version "${KUBE_VERSION}" \
    --worker-machine-count "${WORKERS}" --target-namespace "${NS}")"
  t0="$(now)"
  kubectl apply -f - >/dev/null <<<"${manifest}"
  wait_until "${name}: ${WORKERS} Machines Running" 300 machines_running "${name}"
  wait_until "${name}: ${WORKERS} Nodes Ready" 300 nodes_ready "${name}"
  with_capi+=("$(elapsed "${t0}")")
  log "Cluster API: apply → ${WORKERS} Machines Running, Nodes Ready: ${with_capi[-1]} s"
  kubectl -n "${NS}" delete cluster "${name}" --wait=true --timeout=300s >/dev/null

  name="workers-${run}"
  step "run ${run}/${RUNS}: HostedControlPlane ${NS}/${name} with spec.workers ${WORKERS}"
  t0="$(now)"
  kubectl -n "${NS}" apply -f - >/dev/null <<YAML
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: ${name}
spec:
  version: ${KUBE_VERSION}
  workers:
    replicas: ${WORKERS}
YAML
  for i in $(seq 0 $((WORKERS - 1))); do
    wait_until "${name}-worker-${i} exists" 60 machine_exists "${name}-worker-${i}"
  done
  kubectl -n "${NS}" wait --for=condition=Ready podmachine -l "app.kubernetes.io/instance=${name}" --timeout=300s >/dev/null
  wait_until "${name}: ${WORKERS} Nodes Ready" 300 nodes_ready "${name}"
  without+=("$(elapsed "${t0}")")
  log "spec.workers: apply → ${WORKERS} Nodes Ready: ${without[-1]} s"
  kubectl -n "${NS}" delete hostedcontrolplane "${name}" --wait=true >/dev/null
done

echo "runs: ${RUNS}, ${WORKERS} workers each (machine: $(nproc) cores)"
echo "Cluster API (clusterctl generate cluster | kubectl apply) → ${WORKERS} Machines Running, Nodes Ready: median $(median "${with_capi[@]}") s (runs: ${with_capi[*]})"
echo "spec.workers (no Cluster API) → ${WORKERS} Nodes Ready: median $(median "${without[@]}") s (runs: ${without[*]})"
echo "Cluster API adds: $(echo "$(median "${with_capi[@]}") - $(median "${without[@]}")" | bc) s (goal: at most 10 s)"
kubectl delete namespace "${NS}" --wait=false >/dev/null
