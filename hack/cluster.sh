#!/usr/bin/env bash
# A real single-node Kubernetes management cluster on this machine, built from
# upstream sources (hack/build.sh) with images built offline (hack/images.sh).
#
#   hack/cluster.sh up       build what is missing, start everything, wait until
#                            the node is Ready and CoreDNS serves (idempotent)
#   hack/cluster.sh down     stop everything `up` started (by pid), remove pods,
#                            unmount, delete iptables rules and the state dir
#   hack/cluster.sh status   show each component
#   hack/cluster.sh env      print `export KUBECONFIG=... PATH=...`
#   hack/cluster.sh pids     every pid the cluster runs (daemons, shims, containers)
#
# Host processes: containerd (own config, root, state and socket), etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy.
# In the cluster: CoreDNS (Deployment + Service at the kubelet's clusterDNS).
# State, config, PKI and logs live in ${PODPLANE_STATE:-/var/lib/podplane-dev};
# binaries and images are cached in ${PODPLANE_CACHE:-~/.cache/podplane}.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/proc.sh
source "${PODPLANE_HACK_DIR}/lib/proc.sh"
# shellcheck source=hack/lib/pki.sh
source "${PODPLANE_HACK_DIR}/lib/pki.sh"
# shellcheck source=hack/lib/node.sh
source "${PODPLANE_HACK_DIR}/lib/node.sh"

# --- layout and network -------------------------------------------------------
RUN_DIR="${STATE}/run"
LOG_DIR="${STATE}/logs"
CTRD_DIR="${STATE}/containerd"
CTRD_SOCK="${CTRD_DIR}/containerd.sock"
CNI_CONF_DIR="${STATE}/cni/net.d"
KUBELET_DIR="${STATE}/kubelet"
NODE_POD_CIDR="${CLUSTER_CIDR%.*.*/*}.0.0/24"
BRIDGE=podplane0
ETCD_CLIENT_URL=http://127.0.0.1:2379

# The node's address: the IPv4 address of the default route's interface.
node_ip() {
  local dev ip
  dev="$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | head -n1)"
  if [[ -n "${dev}" ]]; then
    ip="$(ip -4 -o addr show dev "${dev}" scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)"
  fi
  if [[ -z "${ip:-}" ]]; then
    ip="$(ip -4 -o addr show scope global | grep -v " ${BRIDGE} " | awk '{print $4}' | cut -d/ -f1 | head -n1)"
  fi
  [[ -n "${ip}" ]] || die "no global IPv4 address on this machine for the node"
  echo "${ip}"
}

# --- host preparation ---------------------------------------------------------
host_prepare() {
  mkdir -p "${STATE}" "${RUN_DIR}" "${LOG_DIR}"
  # Remember what we change so `down` can put it back.
  if [[ ! -f "${STATE}/host.orig" ]]; then
    echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)" >"${STATE}/host.orig"
  fi
  sysctl -qw net.ipv4.ip_forward=1
  if [[ -d /proc/sys/net/bridge ]]; then
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
  else
    log "warning: no bridge netfilter (/proc/sys/net/bridge); pod->service on the bridge may fail"
  fi
  # The pod bridge exists before any pod, and the pod and service ranges are
  # routed to it: traffic to an address that kube-proxy has not (yet)
  # translated stays on this machine instead of following the default route.
  if ! ip link show "${BRIDGE}" >/dev/null 2>&1; then
    ip link add "${BRIDGE}" type bridge
  fi
  ip link set "${BRIDGE}" up
  ip route replace "${SERVICE_CIDR}" dev "${BRIDGE}"
  ip route replace "${CLUSTER_CIDR}" dev "${BRIDGE}"
}

# --- PKI and kubeconfigs ------------------------------------------------------
make_pki() {
  local ip="$1"
  mkdir -p "${PKI}" "${KCFG}"
  chmod 0700 "${PKI}"
  if [[ -f "${PKI}/apiserver.crt" ]] && ! openssl x509 -in "${PKI}/apiserver.crt" -noout -text |
    grep -q "IP Address:${ip}\b"; then
    log "node IP changed to ${ip}: renewing the API server certificate"
    rm -f "${PKI}/apiserver.crt"
  fi
  step "PKI and kubeconfigs in ${PKI} (openssl, ECDSA P-256)"
  pki_ca "${PKI}" ca podplane-dev-ca
  pki_ca "${PKI}" front-proxy-ca podplane-dev-front-proxy-ca
  pki_cert "${PKI}" ca apiserver "/CN=kube-apiserver" server \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${CLUSTER_DOMAIN},DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${API_SERVICE_IP},IP:${ip}"
  pki_cert "${PKI}" ca apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
  pki_cert "${PKI}" front-proxy-ca front-proxy-client "/CN=front-proxy-client" client
  pki_cert "${PKI}" ca admin "/O=system:masters/CN=kubernetes-admin" client
  pki_cert "${PKI}" ca controller-manager "/CN=system:kube-controller-manager" client
  pki_cert "${PKI}" ca scheduler "/CN=system:kube-scheduler" client
  pki_cert "${PKI}" ca kubelet "/O=system:nodes/CN=system:node:${NODE_NAME}" client
  pki_cert "${PKI}" ca kubelet-serving "/CN=${NODE_NAME}" server "DNS:${NODE_NAME},DNS:localhost,IP:127.0.0.1,IP:${ip}"
  pki_cert "${PKI}" ca kube-proxy "/CN=system:kube-proxy" client
  pki_key "${PKI}/sa.key"
  [[ -f "${PKI}/sa.pub" ]] || openssl pkey -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
  local server="https://127.0.0.1:${API_PORT}" n
  for n in admin controller-manager scheduler kubelet kube-proxy; do
    kubeconfig "${KCFG}/${n}.kubeconfig" "${server}" "${PKI}/ca.crt" "${PKI}/${n}.crt" "${PKI}/${n}.key" "${n}"
  done
}

# --- configuration files ------------------------------------------------------
write_configs() {
  local ip="$1"
  mkdir -p "${CTRD_DIR}" "${CNI_CONF_DIR}" "${KUBELET_DIR}" "${STATE}/etc"
  write_containerd_config "${CNI_CONF_DIR}"
  write_cni_config "${CNI_CONF_DIR}/10-podplane.conflist" "${BRIDGE}" "${NODE_POD_CIDR}" true "${STATE}/cni/ipam"
  write_kubelet_config "${STATE}/etc/kubelet.yaml" "${ip}" kubelet-serving
  write_kube_proxy_config "${STATE}/etc/kube-proxy.yaml" "${KCFG}/kube-proxy.kubeconfig" "${NODE_NAME}"
}

# --- components ---------------------------------------------------------------
start_etcd() {
  daemon_start etcd "${ETCD_BIN_DIR}/etcd" \
    --name "${NODE_NAME}" --data-dir "${STATE}/etcd" \
    --listen-client-urls "${ETCD_CLIENT_URL}" --advertise-client-urls "${ETCD_CLIENT_URL}" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "${NODE_NAME}=http://127.0.0.1:2380" \
    --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --snapshot-count 10000 --log-level warn
}

start_apiserver() {
  local ip="$1"
  daemon_start kube-apiserver "${KUBE_BIN_DIR}/kube-apiserver" \
    --etcd-servers "${ETCD_CLIENT_URL}" \
    --bind-address 0.0.0.0 --secure-port "${API_PORT}" --advertise-address "${ip}" \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --allow-privileged=true \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --enable-bootstrap-token-auth=true \
    --client-ca-file "${PKI}/ca.crt" \
    --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
    --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${PKI}/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer "https://kubernetes.default.svc.${CLUSTER_DOMAIN}" \
    --service-account-key-file "${PKI}/sa.pub" \
    --service-account-signing-key-file "${PKI}/sa.key" \
    --requestheader-client-ca-file "${PKI}/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-username-headers X-Remote-User \
    --proxy-client-cert-file "${PKI}/front-proxy-client.crt" \
    --proxy-client-key-file "${PKI}/front-proxy-client.key" \
    --profiling=false
}

apiserver_ready() {
  [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]]
}

start_controller_manager() {
  local k="${KCFG}/controller-manager.kubeconfig"
  daemon_start kube-controller-manager "${KUBE_BIN_DIR}/kube-controller-manager" \
    --kubeconfig "${k}" --authentication-kubeconfig "${k}" --authorization-kubeconfig "${k}" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --client-ca-file "${PKI}/ca.crt" \
    --requestheader-client-ca-file "${PKI}/front-proxy-ca.crt" \
    --cluster-name podplane-dev \
    --cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
    --root-ca-file "${PKI}/ca.crt" --service-account-private-key-file "${PKI}/sa.key" \
    --use-service-account-credentials=true \
    --controllers '*,bootstrapsigner,tokencleaner' \
    --allocate-node-cidrs=true --cluster-cidr "${CLUSTER_CIDR}" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --profiling=false
}

start_scheduler() {
  local k="${KCFG}/scheduler.kubeconfig"
  daemon_start kube-scheduler "${KUBE_BIN_DIR}/kube-scheduler" \
    --kubeconfig "${k}" --authentication-kubeconfig "${k}" --authorization-kubeconfig "${k}" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

start_kube_proxy() {
  daemon_start kube-proxy "${KUBE_BIN_DIR}/kube-proxy" --config "${STATE}/etc/kube-proxy.yaml"
}

start_kubelet() {
  local ip="$1"
  daemon_start kubelet "${KUBE_BIN_DIR}/kubelet" \
    --config "${STATE}/etc/kubelet.yaml" \
    --kubeconfig "${KCFG}/kubelet.kubeconfig" \
    --root-dir "${KUBELET_DIR}" --cert-dir "${KUBELET_DIR}/pki" \
    --hostname-override "${NODE_NAME}" --node-ip "${ip}"
}

# The node must accept ordinary pods: drop NoSchedule/NoExecute taints (other
# than the transient not-ready ones the node lifecycle controller manages).
untaint_node() {
  local taint
  for taint in $(kc get node "${NODE_NAME}" -o jsonpath='{range .spec.taints[*]}{.key}{":"}{.effect}{"\n"}{end}'); do
    case "${taint}" in
      node.kubernetes.io/not-ready:* | node.kubernetes.io/unreachable:*) ;;
      *) kc taint node "${NODE_NAME}" "${taint}-" >/dev/null && log "removed taint ${taint}" ;;
    esac
  done
}

deploy_coredns() {
  sed -e "s|__COREDNS_IMAGE__|registry.k8s.io/coredns/coredns:${COREDNS_VERSION}|" \
    -e "s|__DNS_IP__|${DNS_SERVICE_IP}|" -e "s|__CLUSTER_DOMAIN__|${CLUSTER_DOMAIN}|" \
    "${PODPLANE_HACK_DIR}/manifests/coredns.yaml" |
    kc apply --server-side --field-manager podplane-hack -f - >/dev/null
}

coredns_ready() {
  [[ "$(kc -n kube-system get deploy coredns -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" -ge 1 ]]
}

# --- commands -----------------------------------------------------------------
cmd_up() {
  need_root
  local start ip
  start=$(date +%s)
  ensure_packages runc containernetworking-plugins iptables conntrack socat openssl jq curl \
    busybox-static ca-certificates iproute2 procps util-linux kmod
  "${PODPLANE_HACK_DIR}/build.sh" all
  "${PODPLANE_HACK_DIR}/images.sh" build
  ip="$(node_ip)"
  step "cluster up: node ${NODE_NAME} (${ip}), state ${STATE}"
  host_prepare
  make_pki "${ip}"
  write_configs "${ip}"

  step "starting containerd, etcd, kube-apiserver"
  start_containerd
  start_etcd
  start_apiserver "${ip}"
  # Import the images while etcd and the API server come up.
  "${PODPLANE_HACK_DIR}/images.sh" import "${CTRD_SOCK}"
  wait_component etcd 30 curl -fsS "${ETCD_CLIENT_URL}/health"
  wait_component kube-apiserver 90 apiserver_ready

  step "starting kube-controller-manager, kube-scheduler, kube-proxy, kubelet"
  start_controller_manager
  start_scheduler
  start_kube_proxy
  start_kubelet "${ip}"
  wait_component kube-controller-manager 30 curl -fsSk https://127.0.0.1:10257/healthz
  wait_component kube-scheduler 30 curl -fsSk https://127.0.0.1:10259/healthz
  wait_component kube-proxy 30 curl -fsS http://127.0.0.1:10256/healthz
  wait_component kubelet 60 curl -fsS http://127.0.0.1:10248/healthz
  step "waiting for node ${NODE_NAME} to be Ready"
  wait_component "kubelet:node ${NODE_NAME} Ready" 90 node_ready "${NODE_NAME}"
  untaint_node

  step "deploying CoreDNS (${DNS_SERVICE_IP})"
  deploy_coredns
  if ! wait_for "CoreDNS" 120 coredns_ready; then
    kc -n kube-system get pods -o wide >&2 || true
    kc -n kube-system describe pods -l k8s-app=kube-dns 2>&1 | tail -n 30 >&2 || true
    daemon_fail kubelet "CoreDNS did not become ready"
  fi
  step "cluster is up in $(($(date +%s) - start))s"
  cmd_env
}

# Delete the KUBE-* chains (kube-proxy, kubelet) and CNI-* chains (bridge
# masquerade, portmap) and every rule jumping to them; nothing else.
clean_iptables() {
  local cmd table
  for cmd in iptables ip6tables; do
    command -v "${cmd}-save" >/dev/null || continue
    for table in nat filter mangle; do
      "${cmd}-save" -t "${table}" 2>/dev/null | grep -qE '(KUBE|CNI)-' || continue
      # Restoring a table replaces it whole: the chains left out are deleted.
      "${cmd}-save" -t "${table}" | grep -vE '^(:|-A )(KUBE|CNI)-|-[jg] (KUBE|CNI)-' |
        "${cmd}-restore" 2>/dev/null || log "warning: could not clean ${cmd} table ${table}"
    done
  done
}

cmd_down() {
  need_root
  step "cluster down (state ${STATE})"
  "${PODPLANE_HACK_DIR}/second-node.sh" down
  daemon_stop kubelet 20
  remove_pods
  daemon_stop kube-proxy
  if [[ -x "${KUBE_BIN_DIR}/kube-proxy" ]]; then
    "${KUBE_BIN_DIR}/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  # kube-apiserver can linger for many seconds after it stopped serving; the
  # state is thrown away anyway, so it gets a short grace period.
  daemons_stop 3 kube-scheduler kube-controller-manager kube-apiserver
  stop_shims
  daemons_stop 10 etcd containerd
  unmount_under "${STATE}"
  clean_iptables
  if ip link show "${BRIDGE}" >/dev/null 2>&1; then
    ip link delete "${BRIDGE}"
  fi
  # Routes the guard added go away with the bridge; veths with their netns.
  local fwd
  fwd="$(sed -n 's/^ip_forward=\([01]\)$/\1/p' "${STATE}/host.orig" 2>/dev/null || true)"
  if [[ -n "${fwd}" ]]; then sysctl -qw "net.ipv4.ip_forward=${fwd}"; fi
  if [[ -d "${STATE}" ]]; then
    rm -rf "${STATE}" 2>/dev/null || { sleep 1 && unmount_under "${STATE}" && rm -rf "${STATE}"; }
  fi
  log "cluster is down"
}

cmd_status() {
  local name pid health rc=0
  printf '%-24s %-8s %s\n' COMPONENT PID HEALTH
  for name in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet; do
    pid="$(daemon_pid "${name}" 2>/dev/null)" || pid=-
    health=down
    if [[ "${pid}" != - ]]; then
      case "${name}" in
        containerd) node_ctr version >/dev/null 2>&1 && health=ok || health=unhealthy ;;
        etcd) health="$(curl -fsS "${ETCD_CLIENT_URL}/health" 2>/dev/null | jq -r 'if .health == "true" then "ok" else "unhealthy" end' 2>/dev/null || echo unhealthy)" ;;
        kube-apiserver) apiserver_ready && health=ok || health=unhealthy ;;
        kube-controller-manager) health="$(curl -fsSk https://127.0.0.1:10257/healthz 2>/dev/null || echo unhealthy)" ;;
        kube-scheduler) health="$(curl -fsSk https://127.0.0.1:10259/healthz 2>/dev/null || echo unhealthy)" ;;
        kube-proxy) curl -fsS http://127.0.0.1:10256/healthz >/dev/null 2>&1 && health=ok || health=unhealthy ;;
        kubelet) health="$(curl -fsS http://127.0.0.1:10248/healthz 2>/dev/null || echo unhealthy)" ;;
      esac
    fi
    [[ "${health}" == ok ]] || rc=1
    printf '%-24s %-8s %s\n' "${name}" "${pid}" "${health}"
  done
  if apiserver_ready; then
    printf '%-24s %-8s %s\n' "node/${NODE_NAME}" - "$(node_ready "${NODE_NAME}" && echo Ready || echo NotReady)"
    printf '%-24s %-8s %s\n' coredns - "$(coredns_ready && echo ok || echo 'not ready')"
    node_ready "${NODE_NAME}" && coredns_ready || rc=1
  fi
  return "${rc}"
}

# Every pid the cluster runs now: daemons, shims, container processes.
cmd_pids() {
  local name
  for name in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet; do
    daemon_pid "${name}" 2>/dev/null || true
  done
  shim_pids
  container_pids
  "${PODPLANE_HACK_DIR}/second-node.sh" pids
}

cmd_env() {
  cat <<EOF
export KUBECONFIG=${ADMIN_KUBECONFIG}
export PATH=${KUBE_BIN_DIR}:${CRICTL_BIN_DIR}:\$PATH
export CONTAINERD_ADDRESS=${CTRD_SOCK}
export CONTAINER_RUNTIME_ENDPOINT=unix://${CTRD_SOCK}
# kubectl: ${KUBE_BIN_DIR}/kubectl
EOF
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    pids) cmd_pids ;;
    *) die "usage: $0 up|down|status|env|pids" ;;
  esac
}

main "$@"
