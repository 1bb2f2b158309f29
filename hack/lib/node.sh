# shellcheck shell=bash disable=SC2034 # a library: defines variables for its callers
# What every node of the management cluster shares: the cluster's address ranges, the
# configuration containerd, the CNI bridge, kubelet and kube-proxy start with, and how a
# node's containers are found and removed. hack/cluster.sh runs the first node on the host,
# hack/second-node.sh a second one in its own network namespace.
# Source common.sh and proc.sh first. A node's own paths: CTRD_DIR and CTRD_SOCK (containerd's
# config, root, state and socket), RUN_DIR and LOG_DIR (proc.sh); set them before use.

STATE="${PODPLANE_STATE}"
PKI="${STATE}/pki"
KCFG="${STATE}/kubeconfig"
ADMIN_KUBECONFIG="${KCFG}/admin.kubeconfig"
CNI_BIN_DIR=/usr/lib/cni

NODE_NAME="${PODPLANE_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}"
CLUSTER_DOMAIN=cluster.local
# Pods: CLUSTER_CIDR, each node gets a /24 (the first node the first). Services: a /16 whose
# .0.1 is the kubernetes Service and .0.10 the DNS Service.
# Kept apart from the hosted clusters' defaults (10.96.0.0/12, 10.244.0.0/16): worker
# Pods of hosted clusters route both.
CLUSTER_CIDR="${PODPLANE_POD_CIDR:-10.200.0.0/16}"
SERVICE_CIDR="${PODPLANE_SERVICE_CIDR:-10.128.0.0/16}"
API_SERVICE_IP="${SERVICE_CIDR%.*.*/*}.0.1"
DNS_SERVICE_IP="${SERVICE_CIDR%.*.*/*}.0.10"
API_PORT=6443

kc() { "${KUBE_BIN_DIR}/kubectl" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }
crictl_cmd() {
  "${CRICTL_BIN_DIR}/crictl" --runtime-endpoint "unix://${CTRD_SOCK}" \
    --image-endpoint "unix://${CTRD_SOCK}" --timeout 20s "$@"
}
node_ctr() { "${CONTAINERD_BIN_DIR}/ctr" --address "${CTRD_SOCK}" --namespace k8s.io "$@"; }

# write_file PATH: stdin to PATH, atomically and only if the content differs
# (kube-proxy exits when its config file is touched).
write_file() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"${tmp}"
  if cmp -s "${tmp}" "$1"; then
    rm -f "${tmp}"
  else
    chmod 0644 "${tmp}"
    mv -f "${tmp}" "$1"
  fi
}

# write_containerd_config CNI_CONF_DIR: ${CTRD_DIR}/config.toml, offline (every registry is a
# closed local port, so a missing image fails at once).
write_containerd_config() {
  local cni_conf_dir="$1"
  mkdir -p "${CTRD_DIR}/certs.d/_default" "${cni_conf_dir}"
  write_file "${CTRD_DIR}/config.toml" <<EOF
# containerd of a podplane dev cluster node (written by hack/)
version = 3
root = "${CTRD_DIR}/root"
state = "${CTRD_DIR}/state"

[grpc]
  address = "${CTRD_SOCK}"

[ttrpc]
  address = "${CTRD_SOCK}.ttrpc"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "${CTRD_DIR}/opt"
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "registry.k8s.io/pause:${PAUSE_VERSION}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "${CTRD_DIR}/certs.d"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    netns_mounts_under_state_dir = true
    # Without CAP_SYS_RESOURCE (as in this sandbox) runc cannot lower
    # oom_score_adj (pause asks for -998): never go below containerd's own.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$(command -v runc)"
          Root = "${CTRD_DIR}/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["${CNI_BIN_DIR}"]
      conf_dir = "${cni_conf_dir}"
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
EOF
  write_file "${CTRD_DIR}/certs.d/_default/hosts.toml" <<EOF
server = "http://127.0.0.1:1"
EOF
}

# write_cni_config FILE BRIDGE SUBNET IP_MASQ IPAM_DIR: the node's Pods on a bridge, addresses
# from SUBNET; IP_MASQ (true|false) hides them behind the node's address off the subnet.
write_cni_config() {
  write_file "$1" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "podplane",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$2",
      "isGateway": true,
      "ipMasq": $4,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$3"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$5"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# write_kubelet_config FILE IP SERVING_CERT [EXTRA_YAML]: kubelet on ${CTRD_SOCK}, serving on
# IP with ${PKI}/SERVING_CERT.{crt,key}.
write_kubelet_config() {
  write_file "$1" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine is cgroup v1; kubelet >= 1.35 refuses that unless told not to.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://${CTRD_SOCK}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${PKI}/ca.crt
authorization:
  mode: Webhook
tlsCertFile: ${PKI}/$3.crt
tlsPrivateKeyFile: ${PKI}/$3.key
clusterDomain: ${CLUSTER_DOMAIN}
clusterDNS: [${DNS_SERVICE_IP}]
resolvConf: /etc/resolv.conf
address: $2
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
rotateCertificates: false
serverTLSBootstrap: false
registerNode: true
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
# Images are imported offline and cannot be pulled again: never collect them,
# and do not evict for a nearly full disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
maxPods: 250
# Lowering oom_score_adj needs CAP_SYS_RESOURCE, which a sandboxed root may lack.
oomScoreAdj: 0
${4:-}
EOF
}

# write_kube_proxy_config FILE KUBECONFIG NODE
write_kube_proxy_config() {
  write_file "$1" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $2
hostnameOverride: $3
clusterCIDR: ${CLUSTER_CIDR}
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# wait_component NAME[:WHAT] TIMEOUT CMD...: wait for CMD, failing fast (with
# the component's log) if its process died.
wait_component() {
  local name="${1%%:*}" what="${1#*:}" timeout="$2" start
  [[ "${what}" != "$1" ]] || what=healthy
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    daemon_running "${name}" || daemon_fail "${name}" "process exited"
    (($(date +%s) - start < timeout)) || daemon_fail "${name}" "not ${what} after ${timeout}s"
    sleep 0.3
  done
  log "${name}: ${what} after $(($(date +%s) - start))s"
}

start_containerd() {
  # containerd finds containerd-shim-runc-v2 on PATH.
  PATH="${CONTAINERD_BIN_DIR}:${PATH}" daemon_start containerd "${CONTAINERD_BIN_DIR}/containerd" \
    --config "${CTRD_DIR}/config.toml"
  wait_component containerd 30 node_ctr version
}

# node_ready NODE
node_ready() {
  [[ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# Remove every pod sandbox through the CRI (so CNI tears down its network),
# then whatever containerd still has.
remove_pods() {
  daemon_running containerd || return 0
  local ids id
  if [[ -x "${CRICTL_BIN_DIR}/crictl" ]]; then
    ids="$(crictl_cmd pods -q 2>/dev/null || true)"
    if [[ -n "${ids}" ]]; then
      log "removing $(wc -w <<<"${ids}") pod sandbox(es)"
      for id in ${ids}; do
        crictl_cmd stopp "${id}" >/dev/null 2>&1 || true
        crictl_cmd rmp -f "${id}" >/dev/null 2>&1 || true
      done
    fi
  fi
  for id in $(node_ctr tasks ls -q 2>/dev/null || true); do
    node_ctr tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
  done
  sleep 0.3
  for id in $(node_ctr tasks ls -q 2>/dev/null || true); do
    node_ctr tasks delete -f "${id}" >/dev/null 2>&1 || true
  done
  for id in $(node_ctr containers ls -q 2>/dev/null || true); do
    node_ctr containers delete "${id}" >/dev/null 2>&1 || true
  done
}

# shim_pids: the runc shims of our containerd: our shim binary, started with
# our containerd's socket as -address (shims outlive containerd).
shim_pids() {
  local shim d exe
  shim="$(readlink -f "${CONTAINERD_BIN_DIR}/containerd-shim-runc-v2")"
  for d in /proc/[0-9]*; do
    exe="$(readlink "${d}/exe" 2>/dev/null)" || continue
    [[ "${exe}" == "${shim}" || "${exe}" == "${shim} (deleted)" ]] || continue
    tr '\0' '\n' <"${d}/cmdline" 2>/dev/null | grep -qxF "${CTRD_SOCK}" || continue
    echo "${d#/proc/}"
  done
}

# container_pids: the init process of every container containerd started.
container_pids() {
  local f pid
  [[ -d "${CTRD_DIR}/state" ]] || return 0
  while IFS= read -r f; do
    # init.pid has no trailing newline.
    read -r pid <"${f}" || true
    [[ "${pid}" =~ ^[0-9]+$ ]] && echo "${pid}"
  done < <(find "${CTRD_DIR}/state" -path '*io.containerd.runtime.v2.task*' -name init.pid 2>/dev/null)
  return 0
}

# Fallback when the CRI could not remove everything: kill what is left of
# our containers and shims, by pid.
stop_shims() {
  local pid
  for pid in $(container_pids) $(shim_pids); do
    [[ -d "/proc/${pid}" ]] || continue
    log "killing leftover container/shim pid ${pid}"
    kill -KILL "${pid}" 2>/dev/null || true
  done
}

# unmount_under DIR: every mount below DIR, deepest first; lazily if something still holds one.
unmount_under() {
  local m
  while IFS= read -r m; do
    umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || log "warning: could not unmount ${m}"
  done < <(awk -v s="$1" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}
