#!/usr/bin/env bash
# Benchmark: upgrades. Over RUNS runs, a HostedControlPlane of KUBE_PREVIOUS_VERSION with
# WORKERS workers is made Ready, then `spec.version` moves to KUBE_VERSION; it times
#   change → control plane on the new version (status.version = KUBE_VERSION: every
#   control-plane Pod runs it), and change → every worker replaced (RollingOut UpToDate,
#   WORKERS machines on kindest/node:KUBE_VERSION and Ready),
# and prints the medians beside kubeadm's anchor (a control-plane node upgrade: 2–5 min).
# Needs the local cluster with the operator (hack/up.sh) and hack/previous-release.sh
# build + import.
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
NS=podplane-bench-upgrade
FROM="${KUBE_PREVIOUS_VERSION}"
TO="${KUBE_VERSION}"

rolling_out() {
  kubectl -n "${NS}" get hostedcontrolplane "$1" -o json |
    jq -r '[.status.version, (.status.conditions[]? | select(.type == "RollingOut") | .reason)] | join(" ")'
}

# Every machine of the control plane runs the new node image and is Ready.
workers_on() {
  kubectl -n "${NS}" get podmachines -l "app.kubernetes.io/instance=$1" -o json |
    jq -e --arg image "kindest/node:${TO}" --argjson n "${WORKERS}" \
      '[.items[] | select(.spec.image == $image and .status.ready == true)] | length == $n' >/dev/null
}

privileged_namespace "${NS}"
control_plane=() everything=()
for run in $(seq 1 "${RUNS}"); do
  name="up-${run}"
  step "run ${run}/${RUNS}: ${NS}/${name} on ${FROM} with ${WORKERS} workers"
  kubectl -n "${NS}" apply -f - >/dev/null <<YAML
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: ${name}
spec:
  version: ${FROM}
  workers:
    replicas: ${WORKERS}
YAML
  kubectl -n "${NS}" wait --for=condition=Ready "hostedcontrolplane/${name}" --timeout=300s >/dev/null
  for i in $(seq 0 $((WORKERS - 1))); do
    until kubectl -n "${NS}" get podmachine "${name}-worker-${i}" >/dev/null 2>&1; do sleep 0.2; done
  done
  kubectl -n "${NS}" wait --for=condition=Ready podmachine -l "app.kubernetes.io/instance=${name}" --timeout=300s >/dev/null
  step "run ${run}/${RUNS}: spec.version ${FROM} → ${TO}"
  t0="$(now)"
  kubectl -n "${NS}" patch hostedcontrolplane "${name}" --type merge -p "{\"spec\":{\"version\":\"${TO}\"}}" >/dev/null
  cp=""
  while true; do
    state="$(rolling_out "${name}")"
    if [[ -z "${cp}" && "${state%% *}" == "${TO}" ]]; then
      cp="$(elapsed "${t0}")"
      log "control plane on ${TO} after ${cp} s"
    fi
    if [[ "${state}" == "${TO} UpToDate" ]] && workers_on "${name}"; then break; fi
    (($(echo "$(elapsed "${t0}") < 900" | bc))) || die "run ${run}: not done after 900 s: ${state}"
    sleep 1
  done
  control_plane+=("${cp}")
  everything+=("$(elapsed "${t0}")")
  log "every worker replaced after ${everything[-1]} s"
  kubectl -n "${NS}" delete hostedcontrolplane "${name}" --wait=true --timeout=300s >/dev/null
done
kubectl delete namespace "${NS}" --wait=false >/dev/null

echo
echo "upgrade ${FROM} → ${TO}, ${WORKERS} workers, ${RUNS} runs (seconds)"
printf '  change → control plane on %s: %s   median %s\n' "${TO}" "${control_plane[*]}" "$(median "${control_plane[@]}")"
printf '  change → %s workers replaced:      %s   median %s\n' "${WORKERS}" "${everything[*]}" "$(median "${everything[@]}")"
printf '  anchor: kubeadm upgrade of one control-plane node: 120–300 s; ratio (control plane) %s\n' \
  "$(echo "scale=2; $(median "${control_plane[@]}") / 120" | bc)"
