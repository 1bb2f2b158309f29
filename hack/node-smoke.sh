#!/usr/bin/env bash
# Smoke test of the kind-compatible node image (hack/node-image.sh): run it as
# a Pod in the management cluster the way podplane runs a worker (privileged,
# tty, hostname, /lib/modules read-only, tmpfs /run and /tmp, an emptyDir on
# /var/lib/containerd, no service account token, in a namespace that allows
# privileged Pods), then check inside it that systemd, containerd and the
# preloaded images are there and that a nested pod sandbox + container run.
#
#   hack/node-smoke.sh          build/import the image if needed, run the checks
#   hack/node-smoke.sh --keep   leave the namespace (and the node Pod) running
#   hack/node-smoke.sh --join NAMESPACE/NAME
#                               then `kubeadm join` the node to that
#                               HostedControlPlane (admin kubeconfig from the
#                               NAME-kubeconfig Secret), give it a bridge CNI
#                               config, wait for Ready, run a Pod on it
#                               (options combine: --keep --join tenant-a/demo).
#                               Where the hosted cluster lacks kubeadm's
#                               objects (kubeadm-config, kubelet-config,
#                               cluster-info + bootstrap RBAC) it creates them
#                               with `kubeadm init phase` and leaves them.
#
# Prints "N passed, N failed"; exits non-zero if a check failed. The
# namespace is deleted at the end (unless --keep), and the Pod's cgroups on
# the host are checked to be gone.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

KEEP=""
JOIN=""
while (($#)); do
  case "$1" in
    --keep) KEEP=1 ;;
    --join)
      JOIN="${2:-}"
      [[ "${JOIN}" == */* ]] || die "--join NAMESPACE/NAME"
      shift
      ;;
    *) die "usage: $0 [--keep] [--join NAMESPACE/NAME]" ;;
  esac
  shift
done
NODE_IMAGE="$(oci_normalize_ref "${PODPLANE_NODE_IMAGE:-kindest/node:${KUBE_VERSION}}")"
NS="podplane-node-smoke-$$"
POD=node
POD_UID=""

fail() { record_failure "$@"; }
# in_node CMD...: run CMD in the node container.
in_node() { kubectl -n "${NS}" exec "${POD}" -- "$@"; }
# write_in_node PATH: stdin to PATH in the node container.
write_in_node() { kubectl -n "${NS}" exec -i "${POD}" -- sh -c "cat >'$1'"; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

cleanup() {
  local rc=$?
  if [[ -n "${KEEP}" ]]; then
    log "kept namespace ${NS}: kubectl -n ${NS} exec -it ${POD} -- bash"
  elif kubectl get namespace "${NS}" >/dev/null 2>&1; then
    local t0
    t0="$(now)"
    kubectl delete namespace "${NS}" --wait=true --timeout=120s >/dev/null 2>&1 ||
      log "namespace ${NS} not gone after 120s"
    log "namespace ${NS} deleted in $(since "${t0}")s"
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
  check_summary
  if ((FAILED > 0)); then exit 1; fi
  exit "${rc}"
}

need_root
ensure_packages jq bc
eval "$("${PODPLANE_HACK_DIR}/cluster.sh" env)"
kubectl get --raw /readyz >/dev/null 2>&1 || die "management cluster not up (hack/cluster.sh up)"
if ! ctr_image_exists "${CONTAINERD_ADDRESS:-${PODPLANE_STATE}/containerd/containerd.sock}" "${NODE_IMAGE}"; then
  "${PODPLANE_HACK_DIR}/node-image.sh"
fi
trap cleanup EXIT

step "node Pod ${NS}/${POD} from ${NODE_IMAGE}"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: ${NS}
  labels:
    pod-security.kubernetes.io/enforce: privileged
EOF
t_create="$(now)"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: ${POD}
  namespace: ${NS}
spec:
  hostname: smoke-worker-0
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  containers:
  - name: node
    image: ${NODE_IMAGE}
    imagePullPolicy: IfNotPresent
    # systemd writes its status to the console: a tty gives it its own
    # (kind runs nodes with --tty) and makes it readable with kubectl logs.
    tty: true
    securityContext:
      privileged: true
    volumeMounts:
    - {name: modules, mountPath: /lib/modules, readOnly: true}
    - {name: run, mountPath: /run}
    - {name: tmp, mountPath: /tmp}
    - {name: containerd, mountPath: /var/lib/containerd}
  volumes:
  - name: modules
    # DirectoryOrCreate: some hosts (this VM: a kernel without modules) have none.
    hostPath: {path: /lib/modules, type: DirectoryOrCreate}
  - name: run
    emptyDir: {medium: Memory}
  - name: tmp
    emptyDir: {medium: Memory}
  - name: containerd
    emptyDir: {}
EOF

if kubectl -n "${NS}" wait "pod/${POD}" --for=condition=Ready --timeout=120s >/dev/null; then
  pass "Pod Ready after $(since "${t_create}")s"
  POD_UID="$(kubectl -n "${NS}" get pod "${POD}" -o jsonpath='{.metadata.uid}')"
else
  kubectl -n "${NS}" describe pod "${POD}" | tail -n 20 >&2
  kubectl -n "${NS}" logs "${POD}" 2>/dev/null | tail -n 30 >&2 || true
  fail "Pod not Ready after 120s"
  exit 1
fi

# containerd up with the preloaded images imported (what a kubelet needs).
t_images=""
for _ in $(seq 1 240); do
  if [[ "$(in_node systemctl is-active kind-preload-images.service 2>/dev/null)" == active ]]; then
    t_images="$(since "${t_create}")"
    break
  fi
  sleep 0.25
done
if [[ -n "${t_images}" ]]; then
  pass "containerd ready with images imported ${t_images}s after Pod creation ($(in_node journalctl -u kind-preload-images.service -o cat --no-pager 2>/dev/null | grep -m1 '^imported' || true))"
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
  pass "kubelet.service enabled (waiting for kubeadm join: $(in_node systemctl is-active kubelet.service 2>/dev/null || true))"
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

# A nested pod sandbox (with a CNI bridge, from Debian's plugins in
# /opt/cni/bin) and a container from the kube-proxy image running iptables.
if in_node grep -q 'SystemdCgroup = true' /etc/containerd/config.toml; then
  parent="kubelet-kubepods-besteffort-podsmoke.slice"
else
  parent="/kubelet/kubepods/besteffort/podsmoke"
fi
write_in_node /etc/cni/net.d/10-smoke.conflist <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "smoke",
  "plugins": [
    {"type": "bridge", "bridge": "smoke0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
write_in_node /tmp/sandbox.json <<EOF
{"metadata": {"name": "smoke", "namespace": "default", "uid": "smoke-uid", "attempt": 0},
 "hostname": "smoke", "log_directory": "/tmp/smoke-logs",
 "linux": {"cgroup_parent": "${parent}", "security_context": {"namespace_options": {"network": 0}}}}
EOF
write_in_node /tmp/container.json <<EOF
{"metadata": {"name": "iptables"},
 "image": {"image": "registry.k8s.io/kube-proxy:${KUBE_VERSION}"},
 "command": ["iptables"], "args": ["--version"], "log_path": "iptables.log"}
EOF
t0="$(now)"
if sandbox="$(in_node crictl runp /tmp/sandbox.json 2>&1 | tr -d '\r')" && [[ "${sandbox}" =~ ^[0-9a-f]{64}$ ]]; then
  ip="$(in_node crictl inspectp "${sandbox}" | jq -r .status.network.ip)"
  pass "crictl runp: nested pod sandbox ${sandbox:0:12} (cgroup parent ${parent}, CNI IP ${ip}) in $(since "${t0}")s"
  if cid="$(in_node crictl create "${sandbox}" /tmp/container.json /tmp/sandbox.json 2>&1 | tr -d '\r')" &&
    in_node crictl start "${cid}" >/dev/null 2>&1; then
    out=""
    for _ in $(seq 1 40); do
      [[ "$(in_node crictl inspect -o go-template --template '{{.status.state}}' "${cid}" 2>/dev/null)" == CONTAINER_EXITED ]] && break
      sleep 0.25
    done
    out="$(in_node crictl logs "${cid}" 2>&1 | tr -d '\r')"
    code="$(in_node crictl inspect -o go-template --template '{{.status.exitCode}}' "${cid}" 2>/dev/null | tr -d '\r')"
    if [[ "${code}" == 0 && "${out}" == iptables* ]]; then
      pass "nested container (kube-proxy image): ${out}"
    else
      fail "nested container exited ${code}: ${out}"
    fi
  else
    fail "crictl create/start: ${cid}"
  fi
  in_node crictl stopp "${sandbox}" >/dev/null 2>&1 || true
  in_node crictl rmp "${sandbox}" >/dev/null 2>&1 || true
else
  fail "crictl runp: ${sandbox}"
  in_node journalctl -u containerd --no-pager -n 20 >&2 2>/dev/null || true
fi
in_node rm -f /etc/cni/net.d/10-smoke.conflist

# The node's kubelet with the KubeletConfiguration podplane gives
# `kubeadm join` (see hack/README.md), standalone (no API server): it must
# accept this cgroup v1 node and run a static pod under its cgroup root.
write_in_node /tmp/kubelet-smoke.yaml <<'EOF'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: systemd
cgroupRoot: /kubelet
failSwapOn: false
oomScoreAdj: 0
imageGCHighThresholdPercent: 100
evictionHard: {nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
staticPodPath: /tmp/smoke-manifests
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
EOF
in_node mkdir -p /tmp/smoke-manifests
write_in_node /tmp/smoke-manifests/static.yaml <<EOF
apiVersion: v1
kind: Pod
metadata: {name: smoke-static, namespace: kube-system}
spec:
  hostNetwork: true
  containers:
  - name: iptables
    image: registry.k8s.io/kube-proxy:${KUBE_VERSION}
    command: ["sh", "-c", "iptables --version; exec sleep 3600"]
EOF
t0="$(now)"
in_node systemd-run --quiet --unit kubelet-smoke /usr/bin/kubelet --config /tmp/kubelet-smoke.yaml >/dev/null
cid=""
for _ in $(seq 1 120); do
  cid="$(in_node crictl ps -q --name iptables --state running 2>/dev/null | tr -d '\r' | head -n1)"
  [[ -n "${cid}" ]] && break
  sleep 0.5
done
if [[ -n "${cid}" ]]; then
  pid="$(in_node crictl inspect -o go-template --template '{{.info.pid}}' "${cid}" | tr -d '\r')"
  cg="$(in_node cat "/proc/${pid}/cgroup" | tr -d '\r' | awk -F: '$2 == "memory" { print $3 }')"
  driver="$(in_node journalctl -u kubelet-smoke --no-pager -o cat | grep -o 'Using cgroup driver setting received from the CRI runtime.*' | head -n1 || true)"
  cg_rel="/kubelet${cg#*/kubelet}"
  if [[ "${cg}" == */kubelet.slice/kubelet-kubepods* || "${cg}" == */kubelet/kubepods/* ]]; then
    pass "standalone kubelet ran a static pod in $(since "${t0}")s (${driver:-driver from config}; pod cgroup ${cg_rel%/*})"
  else
    fail "static pod's cgroup is outside the kubelet's cgroup root: ${cg}"
  fi
else
  fail "standalone kubelet did not run the static pod: $(in_node journalctl -u kubelet-smoke --no-pager -n 15 2>&1)"
fi
in_node systemctl stop kubelet-smoke >/dev/null 2>&1 || true
# shellcheck disable=SC2016 # expands in the node
in_node sh -c 'crictl stopp $(crictl pods -q) >/dev/null 2>&1; crictl rmp -a >/dev/null 2>&1' || true

# --join: the way podplane joins a worker, against a running HostedControlPlane.
join_hosted() {
  local hcp_ns="${JOIN%%/*}" hcp="${JOIN#*/}" admin server endpoint ca_hash token node cidr t0 cm
  admin="$(kubectl -n "${hcp_ns}" get secret "${hcp}-kubeconfig" -o jsonpath='{.data.value}' 2>/dev/null | base64 -d)" ||
    true
  if [[ -z "${admin}" ]]; then
    fail "--join: no Secret ${hcp_ns}/${hcp}-kubeconfig"
    return 0
  fi
  write_in_node /tmp/admin.conf <<<"${admin}"
  server="$(in_node kubectl --kubeconfig /tmp/admin.conf config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  endpoint="${server#https://}"
  ca_hash="$(in_node kubectl --kubeconfig /tmp/admin.conf config view --minify --raw \
    -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d |
    openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)"
  # What `kubeadm init` would have put in the cluster, where the control
  # plane does not have it yet: the kubelet's configuration (what podplane
  # must give its workers), kubeadm's, and the bootstrap token RBAC +
  # cluster-info.
  write_in_node /tmp/kubeadm-init.yaml <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${KUBE_VERSION}
clusterName: ${hcp}
controlPlaneEndpoint: ${endpoint}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
cgroupRoot: /kubelet
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
imageGCHighThresholdPercent: 100
evictionHard: {nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
EOF
  for cm in kube-system/kubeadm-config:"upload-config kubeadm" kube-system/kubelet-config:"upload-config kubelet" \
    kube-public/cluster-info:bootstrap-token; do
    if ! in_node kubectl --kubeconfig /tmp/admin.conf -n "${cm%%/*}" get configmap "$(cut -d: -f1 <<<"${cm#*/}")" >/dev/null 2>&1; then
      log "hosted cluster has no ${cm%%:*}: kubeadm init phase ${cm#*:}"
      # shellcheck disable=SC2086 # the phase is two words
      in_node kubeadm init phase ${cm#*:} --config /tmp/kubeadm-init.yaml --kubeconfig /tmp/admin.conf >/dev/null
    fi
  done
  token="$(in_node kubeadm token create --ttl 15m --kubeconfig /tmp/admin.conf | tr -d '\r')"
  t0="$(now)"
  # cgroup v1: kubeadm's SystemVerification refuses it unless ignored, even
  # with failCgroupV1: false in the kubelet's configuration.
  if out="$(in_node kubeadm join "${endpoint}" --token "${token}" \
    --discovery-token-ca-cert-hash "sha256:${ca_hash}" \
    --ignore-preflight-errors=SystemVerification 2>&1)"; then
    pass "kubeadm join ${endpoint} in $(since "${t0}")s"
  else
    fail "kubeadm join: $(tail -n 5 <<<"${out}")"
    return 0
  fi
  node="$(in_node hostname | tr -d '\r')"
  wait_for "node ${node} with a podCIDR" 30 \
    in_node kubectl --kubeconfig /tmp/admin.conf get node "${node}" -o jsonpath='{.spec.podCIDR}'
  cidr="$(in_node kubectl --kubeconfig /tmp/admin.conf get node "${node}" -o jsonpath='{.spec.podCIDR}' 2>/dev/null | tr -d '\r')"
  write_in_node /etc/cni/net.d/10-bridge.conflist <<EOF
{"cniVersion": "1.0.0", "name": "bridge", "plugins": [
 {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "${cidr:-10.244.0.0/24}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
 {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  if in_node kubectl --kubeconfig /tmp/admin.conf wait node "${node}" --for=condition=Ready --timeout=60s >/dev/null 2>&1; then
    pass "node ${node} Ready in ${JOIN} $(since "${t0}")s after kubeadm join (podCIDR ${cidr:-none})"
  else
    fail "node ${node} not Ready: $(in_node kubectl --kubeconfig /tmp/admin.conf get node "${node}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')"
  fi
  # shellcheck disable=SC2016 # expands in the Pod
  in_node kubectl --kubeconfig /tmp/admin.conf run smoke-hello --image "registry.k8s.io/kube-proxy:${KUBE_VERSION}" \
    --image-pull-policy Never --restart Never --overrides "{\"spec\":{\"nodeName\":\"${node}\"}}" \
    --command -- sh -c 'echo hello from $(hostname -i)' >/dev/null
  if in_node kubectl --kubeconfig /tmp/admin.conf wait pod smoke-hello --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null 2>&1; then
    pass "Pod on the joined node: $(in_node kubectl --kubeconfig /tmp/admin.conf logs smoke-hello | tr -d '\r')"
  else
    fail "Pod on the joined node did not succeed: $(in_node kubectl --kubeconfig /tmp/admin.conf get pod smoke-hello -o wide 2>&1 | tail -n1)"
  fi
  if [[ -z "${KEEP}" ]]; then
    in_node kubectl --kubeconfig /tmp/admin.conf delete pod smoke-hello --wait=false >/dev/null 2>&1 || true
    in_node kubectl --kubeconfig /tmp/admin.conf delete node "${node}" >/dev/null 2>&1 || true
  fi
}
if [[ -n "${JOIN}" ]]; then
  step "joining the node to HostedControlPlane ${JOIN}"
  join_hosted
fi
