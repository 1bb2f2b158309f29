#!/usr/bin/env bash
# A second node for hack/cluster.sh's management cluster, reached only by routing: it runs in
# its own network namespace, tied to the host by one veth pair with a /30 on each end, and
# its Pods get their own /24 (from the controller-manager) routed to it. No bridge or L2
# segment is shared with the first node's Pods, as between the nodes of most real management
# clusters; hosted-cluster workers placed on both nodes prove their networking over it.
#
#   hack/second-node.sh up       start it (the cluster must be up), wait until it is Ready
#   hack/second-node.sh down     stop it, remove its Pods, namespace, routes and state
#   hack/second-node.sh status   its processes and its Node
#   hack/second-node.sh pids     every pid it runs (daemons, shims, containers)
#
# Processes (host binaries, in the namespace): containerd (own config, root, state, socket;
# the pause and kindest/node images imported), kubelet (own root dir, cgroup root, Pod log
# directory) and kube-proxy. The Node is tainted and labelled
# podplane.dev/second-node=true: only Pods that tolerate the taint run there.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/proc.sh
source "${PODPLANE_HACK_DIR}/lib/proc.sh"
# shellcheck source=hack/lib/pki.sh
source "${PODPLANE_HACK_DIR}/lib/pki.sh"
# shellcheck source=hack/lib/node.sh
source "${PODPLANE_HACK_DIR}/lib/node.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

NODE2="${PODPLANE_SECOND_NODE_NAME:-${NODE_NAME}-2}"
DIR="${STATE}/second-node"
RUN_DIR="${DIR}/run"
LOG_DIR="${DIR}/logs"
CTRD_DIR="${DIR}/containerd"
CTRD_SOCK="${CTRD_DIR}/containerd.sock"
CNI_CONF_DIR="${DIR}/cni/net.d"
KUBELET_DIR="${DIR}/kubelet"
NETNS=podplane-node2
DAEMON_NETNS="/run/netns/${NETNS}"
HOST_LINK=pp-node2
# The routed link: the host's end and the node's address (also its InternalIP).
LINK_HOST_IP=10.199.255.1
NODE2_IP=10.199.255.2
CGROUP_ROOT=/podplane-node2
TAINT=podplane.dev/second-node
# Traffic between Pods of the two nodes keeps its addresses (as on a routed CNI); only what
# kube-proxy marked for masquerading (hairpin Service traffic) is still masqueraded.
POD_TO_POD=(-s "${CLUSTER_CIDR}" -d "${CLUSTER_CIDR}" -m mark ! --mark 0x4000/0x4000
  -m comment --comment "podplane second node: Pod to Pod keeps its source" -j RETURN)
IMAGES_DIR="${PODPLANE_CACHE}/images"

in_ns() { ip netns exec "${NETNS}" "$@"; }

host_ip() {
  kc get node "${NODE_NAME}" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'
}

network_up() {
  [[ -e "${DAEMON_NETNS}" ]] || ip netns add "${NETNS}"
  if ! ip link show "${HOST_LINK}" >/dev/null 2>&1; then
    ip link add "${HOST_LINK}" type veth peer name eth0 netns "${NETNS}"
  fi
  ip addr replace "${LINK_HOST_IP}/30" dev "${HOST_LINK}"
  ip link set "${HOST_LINK}" up
  in_ns ip link set lo up
  in_ns ip addr replace "${NODE2_IP}/30" dev eth0
  in_ns ip link set eth0 up
  in_ns ip route replace default via "${LINK_HOST_IP}"
  in_ns sysctl -qw net.ipv4.ip_forward=1
  if [[ -d /proc/sys/net/bridge ]]; then
    in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1
  fi
  # Off the cluster's ranges, the node's Pods leave as the node (like the first node's).
  in_ns iptables -t nat -C POSTROUTING -s "${CLUSTER_CIDR}" ! -d "${CLUSTER_CIDR}" -o eth0 -j MASQUERADE 2>/dev/null ||
    in_ns iptables -t nat -A POSTROUTING -s "${CLUSTER_CIDR}" ! -d "${CLUSTER_CIDR}" -o eth0 -j MASQUERADE
  iptables -t nat -C POSTROUTING "${POD_TO_POD[@]}" 2>/dev/null ||
    iptables -t nat -I POSTROUTING 1 "${POD_TO_POD[@]}"
}

# The kubelet's cgroup root, apart from the first node's (/kubepods).
cgroup_root_up() {
  local c
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    mkdir -p "/sys/fs/cgroup${CGROUP_ROOT}"
    return
  fi
  for c in /sys/fs/cgroup/*/; do
    [[ -L "${c%/}" ]] && continue
    mkdir -p "${c}${CGROUP_ROOT#/}"
    if [[ -f "${c}cpuset.cpus" ]]; then
      cat "${c}cpuset.cpus" >"${c}${CGROUP_ROOT#/}/cpuset.cpus"
      cat "${c}cpuset.mems" >"${c}${CGROUP_ROOT#/}/cpuset.mems"
    fi
  done
}

write_node_configs() {
  local server="https://$1:${API_PORT}"
  mkdir -p "${DIR}/etc" "${KUBELET_DIR}" "${DIR}/pod-logs"
  pki_cert "${PKI}" ca second-node-kubelet "/O=system:nodes/CN=system:node:${NODE2}" client
  pki_cert "${PKI}" ca second-node-kubelet-serving "/CN=${NODE2}" server "DNS:${NODE2},IP:${NODE2_IP}"
  kubeconfig "${DIR}/etc/kubelet.kubeconfig" "${server}" "${PKI}/ca.crt" \
    "${PKI}/second-node-kubelet.crt" "${PKI}/second-node-kubelet.key" kubelet
  kubeconfig "${DIR}/etc/kube-proxy.kubeconfig" "${server}" "${PKI}/ca.crt" \
    "${PKI}/kube-proxy.crt" "${PKI}/kube-proxy.key" kube-proxy
  write_containerd_config "${CNI_CONF_DIR}"
  write_kubelet_config "${DIR}/etc/kubelet.yaml" "${NODE2_IP}" second-node-kubelet-serving "cgroupRoot: ${CGROUP_ROOT}
podLogsDir: ${DIR}/pod-logs
registerWithTaints:
- {key: ${TAINT}, value: \"true\", effect: NoSchedule}"
  write_kube_proxy_config "${DIR}/etc/kube-proxy.yaml" "${DIR}/etc/kube-proxy.kubeconfig" "${NODE2}"
}

import_images() {
  local ref tar tars=()
  for ref in "registry.k8s.io/pause:${PAUSE_VERSION}" "kindest/node:${KUBE_VERSION}"; do
    ctr_image_exists "${CTRD_SOCK}" "${ref}" && continue
    tar="${IMAGES_DIR}/$(oci_normalize_ref "${ref}" | tr '/:' '__').tar"
    [[ -f "${tar}" ]] || die "image archive ${tar} missing (hack/images.sh build, hack/node-image.sh)"
    tars+=("${tar}")
  done
  if ((${#tars[@]})); then
    step "importing ${#tars[@]} image(s) into the second node's containerd"
    ctr_import "${CTRD_SOCK}" "${tars[@]}"
  fi
}

pod_cidr() { kc get node "${NODE2}" -o jsonpath='{.spec.podCIDR}' 2>/dev/null | grep -q .; }

cmd_up() {
  need_root
  local start ip cidr
  start=$(date +%s)
  [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]] || die "the management cluster is not up: hack/cluster.sh up"
  ip="$(host_ip)"
  step "second node ${NODE2} (${NODE2_IP}, routed through ${LINK_HOST_IP}), state ${DIR}"
  network_up
  cgroup_root_up
  write_node_configs "${ip}"
  start_containerd
  import_images
  daemon_start kube-proxy "${KUBE_BIN_DIR}/kube-proxy" --config "${DIR}/etc/kube-proxy.yaml"
  daemon_start kubelet "${KUBE_BIN_DIR}/kubelet" \
    --config "${DIR}/etc/kubelet.yaml" --kubeconfig "${DIR}/etc/kubelet.kubeconfig" \
    --root-dir "${KUBELET_DIR}" --cert-dir "${KUBELET_DIR}/pki" \
    --hostname-override "${NODE2}" --node-ip "${NODE2_IP}" --node-labels "${TAINT}=true"
  wait_component "kubelet:registered with a Pod range" 60 pod_cidr
  cidr="$(kc get node "${NODE2}" -o jsonpath='{.spec.podCIDR}')"
  write_cni_config "${CNI_CONF_DIR}/10-podplane.conflist" podplane0 "${cidr}" false "${DIR}/cni/ipam"
  ip route replace "${cidr}" via "${NODE2_IP}" dev "${HOST_LINK}"
  wait_component "kubelet:node ${NODE2} Ready" 90 node_ready "${NODE2}"
  step "second node ${NODE2} Ready in $(($(date +%s) - start))s: Pods ${cidr} via ${NODE2_IP}"
}

cmd_down() {
  need_root
  [[ -d "${DIR}" || -e "${DAEMON_NETNS}" ]] || return 0
  step "second node ${NODE2} down"
  daemon_stop kubelet 20
  remove_pods
  daemon_stop kube-proxy
  stop_shims
  daemon_stop containerd 10
  unmount_under "${DIR}"
  iptables -t nat -D POSTROUTING "${POD_TO_POD[@]}" 2>/dev/null || true
  ip link delete "${HOST_LINK}" 2>/dev/null || true
  [[ ! -e "${DAEMON_NETNS}" ]] || ip netns delete "${NETNS}"
  find /sys/fs/cgroup/ -depth -type d -path "*${CGROUP_ROOT}*" -exec rmdir {} + 2>/dev/null || true
  if [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]]; then
    kc delete node "${NODE2}" --ignore-not-found --wait=false >/dev/null || true
  fi
  rm -rf "${DIR}" 2>/dev/null || { sleep 1 && unmount_under "${DIR}" && rm -rf "${DIR}"; }
  log "second node is down"
}

cmd_status() {
  local name pid rc=0
  for name in containerd kube-proxy kubelet; do
    pid="$(daemon_pid "${name}" 2>/dev/null)" || { pid=-; rc=1; }
    printf '%-24s %s\n' "${name}" "${pid}"
  done
  if node_ready "${NODE2}"; then
    printf '%-24s %s\n' "node/${NODE2}" Ready
  else
    printf '%-24s %s\n' "node/${NODE2}" NotReady
    rc=1
  fi
  return "${rc}"
}

cmd_pids() {
  local name
  for name in containerd kube-proxy kubelet; do
    daemon_pid "${name}" 2>/dev/null || true
  done
  shim_pids
  container_pids
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  pids) cmd_pids ;;
  *) die "usage: $0 up|down|status|pids" ;;
esac
