#!/usr/bin/env bash
# Benchmark: workers. Over RUNS runs, `kubectl apply` a HostedControlPlane with
# spec.workers.replicas WORKERS in a privileged namespace and time
#   apply → HostedControlPlane Ready, apply → every PodMachine Ready (its Node
#   Ready in the hosted cluster), and per machine Pod created → joined (Events);
# then the idle working set of a worker Pod (its cgroup, after SETTLE seconds),
# scale-down to WORKERS-1 (drain + Node gone), and deletion of everything.
# Needs the local cluster with the operator and the node image (hack/test.sh with
# PODPLANE_KEEP_CLUSTER=1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/common.sh
source hack/lib/common.sh
# shellcheck source=hack/lib/bench.sh
source hack/lib/bench.sh
eval "$(hack/cluster.sh env)"
ensure_packages bc jq

RUNS="${RUNS:-3}"
WORKERS="${WORKERS:-2}"
SETTLE="${SETTLE:-20}"
NS=podplane-bench-workers


# Working set (usage minus inactive file cache) of a Pod's memory cgroup, in MiB.
pod_working_set_mib() {
  local uid dir usage inactive
  uid="$(kubectl -n "${NS}" get pod "$1" -o jsonpath='{.metadata.uid}')"
  dir="$(find /sys/fs/cgroup/memory -maxdepth 4 -type d -name "pod${uid}" 2>/dev/null | head -1)"
  [[ -n "${dir}" ]] || { echo 0; return; }
  usage="$(cat "${dir}/memory.usage_in_bytes")"
  inactive="$(awk '$1 == "total_inactive_file" {print $2}' "${dir}/memory.stat")"
  echo "(${usage} - ${inactive}) / 1048576" | bc
}

privileged_namespace "${NS}"
hcp_ready=() workers_ready=() joins=() memory=() scale_down=() deletion=()
for run in $(seq 1 "${RUNS}"); do
  name="workers-${run}"
  step "run ${run}/${RUNS}: ${NS}/${name} with ${WORKERS} workers"
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
  kubectl -n "${NS}" wait --for=condition=Ready "hostedcontrolplane/${name}" --timeout=300s >/dev/null
  hcp_ready+=("$(elapsed "${t0}")")
  for i in $(seq 0 $((WORKERS - 1))); do
    until kubectl -n "${NS}" get podmachine "${name}-worker-${i}" >/dev/null 2>&1; do sleep 0.2; done
  done
  kubectl -n "${NS}" wait --for=condition=Ready podmachine -l "app.kubernetes.io/instance=${name}" --timeout=300s >/dev/null
  workers_ready+=("$(elapsed "${t0}")")
  log "apply → HostedControlPlane Ready ${hcp_ready[-1]} s; apply → ${WORKERS} Nodes Ready ${workers_ready[-1]} s"
  # Pod created → joined, per machine, from the machine's Events.
  while read -r created joined; do
    joins+=("$(echo "$(date -d "${joined}" +%s.%N) - $(date -d "${created}" +%s.%N)" | bc)")
  done < <(kubectl -n "${NS}" get events.events.k8s.io -o json | jq -r --arg p "${name}-worker-" '
    [.items[] | select(.regarding.kind == "PodMachine" and (.regarding.name | startswith($p)))]
    | group_by(.regarding.name)[]
    | [(map(select(.reason == "PodCreated")) | .[0].eventTime), (map(select(.reason == "Joined")) | .[0].eventTime)]
    | select(.[0] != null and .[1] != null) | "\(.[0]) \(.[1])"')
  sleep "${SETTLE}"
  memory+=("$(pod_working_set_mib "${name}-worker-0")")
  log "idle worker Pod working set: ${memory[-1]} MiB"
  t1="$(now)"
  kubectl -n "${NS}" patch hostedcontrolplane "${name}" --type merge \
    -p "{\"spec\":{\"workers\":{\"replicas\":$((WORKERS - 1))}}}" >/dev/null
  kubectl -n "${NS}" wait --for=delete "podmachine/${name}-worker-$((WORKERS - 1))" --timeout=300s >/dev/null
  scale_down+=("$(elapsed "${t1}")")
  t2="$(now)"
  kubectl -n "${NS}" delete hostedcontrolplane "${name}" --wait=true >/dev/null
  kubectl -n "${NS}" wait --for=delete pod -l app.kubernetes.io/component=worker --timeout=300s >/dev/null 2>&1 || true
  deletion+=("$(elapsed "${t2}")")
  log "scale down by one (drain, Pod, Node) ${scale_down[-1]} s; delete everything ${deletion[-1]} s"
done

echo "runs: ${RUNS}, ${WORKERS} workers each (machine: $(nproc) cores)"
echo "apply → HostedControlPlane Ready: median $(median "${hcp_ready[@]}") s (runs: ${hcp_ready[*]})"
echo "apply → ${WORKERS} Nodes Ready: median $(median "${workers_ready[@]}") s (runs: ${workers_ready[*]})"
if ((${#joins[@]})); then
  echo "machine Pod created → joined: median $(median "${joins[@]}") s (machines: ${joins[*]})"
fi
echo "idle worker working set: median $(median "${memory[@]}") MiB (runs: ${memory[*]})"
echo "scale down by one worker: median $(median "${scale_down[@]}") s; delete with workers: median $(median "${deletion[@]}") s"
echo "workers' share of time to a usable cluster: $(echo "scale=2; $(median "${workers_ready[@]}") / $(median "${hcp_ready[@]}")" | bc)× the control plane alone"
kubectl delete namespace "${NS}" --wait=false >/dev/null
