#!/usr/bin/env bash
# Benchmark: time from `kubectl apply` of a HostedControlPlane to its API server
# answering /readyz (and to the object reporting Ready), images already present,
# over RUNS runs; prints each run, the median, and the ratio to Kamaji's published
# 16 s. Also prints the operator's CPU time per control plane, read from its
# cgroup. Needs a running local cluster with the operator installed (hack/test.sh
# with PODPLANE_KEEP_CLUSTER=1, or hack/cluster.sh up + hack/operator-image.sh +
# kubectl apply -k manifests/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/common.sh
source hack/lib/common.sh
# shellcheck source=hack/lib/bench.sh
source hack/lib/bench.sh
eval "$(hack/cluster.sh env)"
ensure_packages bc curl

RUNS="${RUNS:-5}"
NS=podplane-bench
KAMAJI_SECONDS=16


operator_cpu_ns() {
  local uid dir
  uid="$(kubectl -n podplane-system get pod -l app.kubernetes.io/name=podplane -o jsonpath='{.items[0].metadata.uid}')"
  dir="$(find /sys/fs/cgroup/cpuacct -maxdepth 4 -type d -name "pod${uid}" 2>/dev/null | head -1)"
  [[ -n "${dir}" ]] && cat "${dir}/cpuacct.usage" || echo 0
}

kubectl create namespace "${NS}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
readyz_times=()
ready_times=()
cpu_before="$(operator_cpu_ns)"
for run in $(seq 1 "${RUNS}"); do
  name="bench-${run}"
  step "run ${run}/${RUNS}: ${NS}/${name}"
  t0="$(now)"
  kubectl -n "${NS}" apply -f - >/dev/null <<YAML
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: ${name}
spec:
  version: ${KUBE_VERSION}
YAML
  ip=""
  until [[ -n "${ip}" ]]; do
    ip="$(kubectl -n "${NS}" get service "${name}-kube-apiserver" -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)"
    sleep 0.1
  done
  until [[ "$(curl -sk --max-time 1 "https://${ip}:6443/readyz" || true)" == ok ]]; do
    sleep 0.1
    (($(date +%s) - ${t0%.*} < 300)) || die "${name}: /readyz not ok after 300 s"
  done
  t1="$(now)"
  kubectl -n "${NS}" wait --for=condition=Ready "hostedcontrolplane/${name}" --timeout=300s >/dev/null
  t2="$(now)"
  readyz_times+=("$(echo "${t1} - ${t0}" | bc)")
  ready_times+=("$(echo "${t2} - ${t0}" | bc)")
  log "apply → /readyz ok: ${readyz_times[-1]} s; apply → Ready condition: ${ready_times[-1]} s"
  kubectl -n "${NS}" delete hostedcontrolplane "${name}" --wait=true >/dev/null
done
cpu_after="$(operator_cpu_ns)"

# Writes to an unchanged control plane: resourceVersions of the object and every child,
# before and after an operator restart (the new operator reconciles everything once).
step "writes to an unchanged control plane across an operator restart"
kubectl -n "${NS}" apply -f - >/dev/null <<YAML
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: steady
spec:
  version: ${KUBE_VERSION}
YAML
kubectl -n "${NS}" wait --for=condition=Ready hostedcontrolplane/steady --timeout=300s >/dev/null
sleep 10
versions() {
  kubectl -n "${NS}" get hostedcontrolplane/steady -o jsonpath='{.metadata.resourceVersion}{"\n"}'
  kubectl -n "${NS}" get deployments,services,secrets,configmaps,poddisruptionbudgets \
    -l app.kubernetes.io/instance=steady \
    -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}'
}
before_versions="$(versions)"
kubectl -n podplane-system rollout restart deployment/podplane >/dev/null
kubectl -n podplane-system rollout status deployment/podplane --timeout=120s >/dev/null
sleep 20
after_versions="$(versions)"
writes="$(diff <(echo "${before_versions}") <(echo "${after_versions}") | grep -c '^>' || true)"
children="$(echo "${before_versions}" | wc -l)"

readyz_median="$(median "${readyz_times[@]}")"
ready_median="$(median "${ready_times[@]}")"
echo "runs: ${RUNS} (machine: $(nproc) cores)"
echo "apply → hosted /readyz ok: median ${readyz_median} s (runs: ${readyz_times[*]})"
echo "apply → HostedControlPlane Ready: median ${ready_median} s (runs: ${ready_times[*]})"
echo "ratio to Kamaji's published 16 s: $(echo "scale=2; ${readyz_median} / ${KAMAJI_SECONDS}" | bc)"
if [[ "${cpu_before}" != 0 ]]; then
  echo "operator CPU per control plane (create, watch, status, delete): $(echo "scale=1; (${cpu_after} - ${cpu_before}) / ${RUNS} / 1000000" | bc) ms"
fi
echo "objects written by the restarted operator (control plane + ${children} children, unchanged): ${writes}"
kubectl delete namespace "${NS}" --wait=false >/dev/null
