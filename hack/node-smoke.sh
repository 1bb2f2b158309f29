#!/usr/bin/env bash
# Smoke test of the kind-compatible node image (hack/node-image.sh), run the
# way podplane runs it: a HostedControlPlane with spec.workers.replicas 1 in a
# throwaway namespace that allows privileged Pods. The operator creates the
# node Pod and joins it; this script only looks:
#   - inside the node container (kubectl exec -c node): systemd running, no
#     failed units, containerd + CRI, the preloaded images, kubelet/kubeadm
#     versions, /dev/kmsg and machine-id;
#   - the PodMachine Ready, its Node Ready in the hosted cluster;
#   - a Pod of the hosted cluster on that node: a nested pod sandbox (CNI IP
#     from flannel's bridge configuration) and container, in the kubelet's cgroup root.
#
#   hack/node-smoke.sh          build/import the image if needed, run the checks
#   hack/node-smoke.sh --keep   leave the namespace (control plane, node) running
#
# Needs the local cluster with the operator installed (hack/test.sh with
# PODPLANE_KEEP_CLUSTER=1). Prints "N passed, N failed"; exits non-zero if a
# check failed. The namespace is deleted at the end (unless --keep), and the
# node Pod's cgroups on the host are checked to be gone.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

KEEP=""
while (($#)); do
  case "$1" in
    --keep) KEEP=1 ;;
    *) die "usage: $0 [--keep]" ;;
  esac
  shift
done
NODE_IMAGE="$(oci_normalize_ref "${PODPLANE_NODE_IMAGE:-kindest/node:${KUBE_VERSION}}")"
NS="podplane-node-smoke-$$"
HCP=smoke
POD="${HCP}-worker-0" # the PodMachine, its Pod and its Node share the name
POD_UID=""
WORK="$(mktemp -d)"
HOSTED_KUBECONFIG="${WORK}/hosted.kubeconfig"
HOSTED_ARGS=()

fail() { record_failure "$@"; }
# in_node CMD...: run CMD in the node container of the operator's Pod.
in_node() { kubectl -n "${NS}" exec "${POD}" -c node -- "$@"; }
# hosted KUBECTL-ARGS...: kubectl against the hosted cluster.
hosted() { kubectl --kubeconfig "${HOSTED_KUBECONFIG}" "${HOSTED_ARGS[@]}" "$@"; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
# hello_done: the hosted Pod smoke-hello printed all it prints.
hello_done() { hosted logs smoke-hello 2>/dev/null | grep -qx "done"; }
# machine_status: the PodMachine's conditions, one per line.
machine_status() {
  kubectl -n "${NS}" get podmachine "${POD}" -o json 2>/dev/null |
    jq -r '.status.conditions[]? | "  \(.type)=\(.status) \(.reason): \(.message)"' >&2 || true
}

cleanup() {
  local rc=$?
  if [[ -n "${KEEP}" ]]; then
    log "kept namespace ${NS}: kubectl -n ${NS} exec -it ${POD} -c node -- bash"
    log "hosted cluster: kubectl --kubeconfig ${HOSTED_KUBECONFIG} ${HOSTED_ARGS[*]} get nodes"
  else
    rm -rf "${WORK}"
    if kubectl get namespace "${NS}" >/dev/null 2>&1; then
      local t0
      t0="$(now)"
      step "deleting namespace ${NS}"
      if kubectl delete namespace "${NS}" --wait=true --timeout=180s >/dev/null 2>&1; then
        pass "namespace ${NS} deleted in $(since "${t0}")s"
      else
        fail "namespace ${NS} not gone after 180s"
      fi
      if [[ -n "${POD_UID}" ]]; then
        local left
        left="$(find /sys/fs/cgroup/*/kubepods -maxdepth 3 -type d -name "pod${POD_UID}" 2>/dev/null || true)"
        if [[ -z "${left}" ]]; then
          pass "the node Pod's cgroups are gone from the host"
        else
          fail "cgroups left on the host: ${left//$'\n'/ }"
        fi
      fi
    fi
  fi
  check_summary
  if ((FAILED > 0)); then exit 1; fi
  exit "${rc}"
}

need_root
ensure_packages jq bc
eval "$("${PODPLANE_HACK_DIR}/cluster.sh" env)"
kubectl get --raw /readyz >/dev/null 2>&1 || die "management cluster not up (hack/cluster.sh up)"
kubectl get crd hostedcontrolplanes.controlplane.podplane.dev podmachines.infrastructure.podplane.dev >/dev/null 2>&1 ||
  die "podplane's CRDs are not installed (hack/test.sh with PODPLANE_KEEP_CLUSTER=1 installs the operator)"
if ! ctr_image_exists "${CONTAINERD_ADDRESS:-${PODPLANE_STATE}/containerd/containerd.sock}" "${NODE_IMAGE}"; then
  "${PODPLANE_HACK_DIR}/node-image.sh"
fi
trap cleanup EXIT

step "HostedControlPlane ${NS}/${HCP} with 1 worker (${NODE_IMAGE})"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: ${NS}
  labels:
    pod-security.kubernetes.io/enforce: privileged
EOF
t_apply="$(now)"
kubectl -n "${NS}" apply -f - >/dev/null <<EOF
apiVersion: controlplane.podplane.dev/v1alpha1
kind: HostedControlPlane
metadata:
  name: ${HCP}
spec:
  version: ${KUBE_VERSION}
  workers:
    replicas: 1
    image: ${NODE_IMAGE}
EOF

# The operator's node Pod, Ready (its init container copied the image's
# containerd state; systemd is PID 1).
if wait_for "Pod ${POD}" 120 kubectl -n "${NS}" get pod "${POD}" &&
  kubectl -n "${NS}" wait "pod/${POD}" --for=condition=Ready --timeout=120s >/dev/null; then
  POD_UID="$(kubectl -n "${NS}" get pod "${POD}" -o jsonpath='{.metadata.uid}')"
  pass "operator's node Pod ${POD} Ready $(since "${t_apply}")s after apply"
else
  kubectl -n "${NS}" describe pod "${POD}" 2>&1 | tail -n 20 >&2 || true
  machine_status
  fail "node Pod ${POD} not Ready"
  exit 1
fi

step "the node image, inside ${POD} (read-only: the operator may join meanwhile)"
t_images=""
for _ in $(seq 1 240); do
  if [[ "$(in_node systemctl is-active kind-preload-images.service 2>/dev/null)" == active ]]; then
    t_images="$(since "${t_apply}")"
    break
  fi
  sleep 0.25
done
if [[ -n "${t_images}" ]]; then
  pass "containerd ready with images imported ${t_images}s after apply ($(in_node journalctl -u kind-preload-images.service -o cat --no-pager 2>/dev/null | grep -m1 '^imported' || true))"
else
  fail "kind-preload-images.service not active after 60s: $(in_node systemctl status kind-preload-images.service --no-pager 2>&1 | tail -n 5)"
fi

state="$(in_node timeout 60 systemctl is-system-running --wait 2>/dev/null || true)"
state="${state//$'\r'/}"
if [[ "${state}" == running || "${state}" == degraded ]]; then
  pass "systemctl is-system-running: ${state}"
else
  fail "systemctl is-system-running: '${state}'"
fi
failed_units="$(in_node systemctl list-units --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
if [[ -z "${failed_units// /}" ]]; then
  pass "no failed systemd units"
else
  fail "failed units: ${failed_units}"
  for u in ${failed_units}; do
    in_node journalctl -u "${u}" --no-pager -n 5 >&2 2>/dev/null || true
  done
fi

if [[ "$(in_node systemctl is-active containerd.service 2>/dev/null)" == active ]] &&
  in_node crictl info >/dev/null 2>&1; then
  pass "containerd active, CRI answering"
else
  fail "containerd not active: $(in_node systemctl status containerd.service --no-pager 2>&1 | tail -n 5)"
fi

if [[ "$(in_node systemctl is-enabled kubelet.service 2>/dev/null)" == enabled ]]; then
  pass "kubelet.service enabled (now $(in_node systemctl is-active kubelet.service 2>/dev/null || true): it starts with the join)"
else
  fail "kubelet.service not enabled"
fi

images="$(in_node crictl images -o json 2>/dev/null | jq -r '.images[].repoTags[]' || true)"
for ref in "registry.k8s.io/pause:${PAUSE_VERSION}" "registry.k8s.io/kube-proxy:${KUBE_VERSION}" \
  "registry.k8s.io/coredns/coredns:${COREDNS_VERSION}"; do
  if grep -qxF "${ref}" <<<"${images}"; then
    pass "crictl images: ${ref}"
  else
    fail "crictl images lacks ${ref} (has: ${images//$'\n'/ })"
  fi
done

out="$(in_node kubelet --version 2>&1 | tr -d '\r')"
if [[ "${out}" == "Kubernetes ${KUBE_VERSION}" ]]; then pass "kubelet --version: ${out}"; else fail "kubelet --version: ${out}"; fi
out="$(in_node kubeadm version -o short 2>&1 | tr -d '\r')"
if [[ "${out}" == "${KUBE_VERSION}" ]]; then pass "kubeadm version: ${out}"; else fail "kubeadm version: ${out}"; fi

if in_node test -c /dev/kmsg -o -L /dev/kmsg && in_node test -s /etc/machine-id; then
  pass "/dev/kmsg present, machine-id $(in_node cat /etc/machine-id | tr -d '\r')"
else
  fail "/dev/kmsg or /etc/machine-id missing"
fi

step "the operator joins ${POD} to ${HCP}"
if kubectl -n "${NS}" wait "podmachine/${POD}" --for=condition=Ready --timeout=300s >/dev/null 2>&1; then
  joined="$(kubectl -n "${NS}" get events.events.k8s.io -o json | jq -r --arg m "${POD}" \
    '[.items[] | select(.regarding.kind == "PodMachine" and .regarding.name == $m and .reason == "Joined") | .note][0] // "no Joined event"')"
  pass "PodMachine ${POD} Ready $(since "${t_apply}")s after apply (${joined})"
else
  machine_status
  fail "PodMachine ${POD} not Ready after 300s"
  exit 1
fi

# The hosted cluster from this machine: the admin kubeconfig of the Secret
# names the Service's DNS name; connect to its cluster IP under that name.
kubectl -n "${NS}" get secret "${HCP}-kubeconfig" -o jsonpath='{.data.value}' | base64 -d >"${HOSTED_KUBECONFIG}"
server="$(kubectl --kubeconfig "${HOSTED_KUBECONFIG}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
host="${server#https://}" && host="${host%%:*}"
port="${server##*:}"
ip="$(kubectl -n "${NS}" get service "${host%%.*}" -o jsonpath='{.spec.clusterIP}')"
HOSTED_ARGS=(--server "https://${ip}:${port}" --tls-server-name "${host}")

if hosted wait node "${POD}" --for=condition=Ready --timeout=60s >/dev/null 2>&1; then
  pass "Node ${POD} Ready in the hosted cluster ($(hosted get node "${POD}" -o jsonpath='{.status.nodeInfo.kubeletVersion}, podCIDR {.spec.podCIDR}, providerID {.spec.providerID}'))"
else
  fail "Node ${POD} not Ready: $(hosted get node "${POD}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' 2>&1)"
fi

step "a Pod of the hosted cluster on ${POD}: nested sandbox + container"
t0="$(now)"
wait_for "ServiceAccount default/default in the hosted cluster" 60 hosted -n default get serviceaccount default || true
# It stops on SIGTERM (a PID 1 sleep would not, and would hold the node's
# halt for its Pod's whole grace period).
# shellcheck disable=SC2016 # expands in the Pod
hosted run smoke-hello --image "registry.k8s.io/kube-proxy:${KUBE_VERSION}" --image-pull-policy Never \
  --restart Never --overrides "{\"spec\":{\"nodeName\":\"${POD}\"}}" \
  --command -- sh -c 'iptables --version; grep memory /proc/self/cgroup; echo done; trap "exit 0" TERM; sleep 600 & wait' >/dev/null
if hosted wait pod smoke-hello --for=condition=Ready --timeout=90s >/dev/null 2>&1; then
  pod_ip="$(hosted get pod smoke-hello -o jsonpath='{.status.podIP}')"
  pass "Pod on the node Running in $(since "${t0}")s, IP ${pod_ip}"
  wait_for "smoke-hello's output" 10 hello_done || true
  out="$(hosted logs smoke-hello)"
  cg="$(sed -n 's/^[0-9]*:memory://p' <<<"${out}")"
  # The node's kubelet keeps its Pods under its cgroup root (/kubelet), not the
  # management kubelet's /kubepods that holds the node Pod itself.
  if [[ "${out}" == iptables* && ("${cg}" == */kubelet.slice/kubelet-kubepods* || "${cg}" == */kubelet/kubepods/*) ]]; then
    pass "its container ran $(head -n1 <<<"${out}") under the node kubelet's cgroup root (/kubelet${cg#*/kubelet})"
  else
    fail "its container's output or cgroup (outside the node kubelet's cgroup root?): ${out}"
  fi
  sandbox="$(in_node crictl pods --name smoke-hello --state ready -q 2>/dev/null | tr -d '\r' | head -n1)"
  sandbox_ip="$(in_node crictl inspectp "${sandbox:-none}" 2>/dev/null | jq -r .status.network.ip || true)"
  if [[ -n "${sandbox}" && "${sandbox_ip}" == "${pod_ip}" ]]; then
    pass "crictl pods in the node: sandbox ${sandbox:0:12}, CNI IP ${sandbox_ip}"
  else
    fail "the node's containerd has no ready sandbox for smoke-hello with IP ${pod_ip} ('${sandbox}' '${sandbox_ip}')"
  fi
else
  fail "Pod on the node not Running: $(hosted get pod smoke-hello -o wide 2>&1 | tail -n1)"
  hosted get events --field-selector involvedObject.name=smoke-hello 2>&1 | tail -n 5 >&2 || true
fi
