#!/usr/bin/env bash
# Smoke test of the local management cluster (hack/cluster.sh). Exits non-zero
# on the first failed check.
#
#   hack/cluster-smoke.sh          check a running cluster
#   hack/cluster-smoke.sh --full   cluster.sh up, the checks, cluster.sh down,
#                                  then check that nothing `up` started remains
#
# Checks: /readyz is ok; the node is Ready and schedulable; a Pod from a locally
# built image runs to completion; a Pod reaches a Service by its cluster DNS
# name; the upstream-named images run; the host reaches a Service's ClusterIP
# and the DNS Service.
# (Debian's static busybox segfaults on `wget -T` here: use `timeout 5 wget`.)
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CLUSTER="${PODPLANE_HACK_DIR}/cluster.sh"
BUSYBOX="${BUSYBOX_IMAGE_REF:-podplane.local/test/busybox:1}"
NS="podplane-smoke-$$"

# The first failed check ends the run.
fail() {
  record_failure "$@"
  check_summary
  exit 1
}

check_cluster() {
  eval "$("${CLUSTER}" env)"
  local node ready out dns_ip svc_ip
  [[ "$(kubectl get --raw /readyz)" == ok ]] || fail "/readyz is not ok"
  pass "kubectl get --raw /readyz: ok ($(command -v kubectl))"

  node="$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')"
  ready="$(kubectl get node "${node}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
  [[ "${ready}" == True ]] || fail "node ${node} is not Ready"
  [[ -z "$(kubectl get node "${node}" -o jsonpath='{.spec.taints[?(@.effect=="NoSchedule")].key}')" ]] ||
    fail "node ${node} has NoSchedule taints"
  pass "node ${node} is Ready and schedulable ($(kubectl version -o json | jq -r .serverVersion.gitVersion))"

  kubectl create namespace "${NS}" >/dev/null
  # The namespace's default ServiceAccount appears asynchronously.
  wait_for "default ServiceAccount" 30 kubectl -n "${NS}" get serviceaccount default ||
    fail "no default ServiceAccount in ${NS}"

  # 1. A pod from a locally built image runs to completion.
  # shellcheck disable=SC2016 # $(hostname) runs in the pod
  kubectl -n "${NS}" run hello --image "${BUSYBOX}" --restart Never \
    --command -- sh -c 'echo hello from $(hostname)' >/dev/null
  kubectl -n "${NS}" wait pod/hello --for=jsonpath='{.status.phase}'=Succeeded --timeout 60s >/dev/null ||
    { kubectl -n "${NS}" describe pod hello | tail -n 20; fail "pod hello did not succeed"; }
  out="$(kubectl -n "${NS}" logs hello)"
  [[ "${out}" == "hello from hello" ]] || fail "pod hello printed '${out}'"
  pass "pod from local image ${BUSYBOX} ran to completion: ${out}"

  # 2. A web server behind a Service, reached by its DNS name from a pod.
  kubectl -n "${NS}" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: ${BUSYBOX}
        command: [sh, -c, 'mkdir -p /www && echo podplane-smoke-ok > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports:
        - containerPort: 8080
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
EOF
  kubectl -n "${NS}" rollout status deployment/web --timeout 60s >/dev/null || fail "deployment web not ready"
  kubectl -n "${NS}" run client --image "${BUSYBOX}" --restart Never --command -- \
    sh -c "nslookup web.${NS}.svc.cluster.local && timeout 5 wget -q -O- http://web.${NS}.svc.cluster.local/ && timeout 5 wget -q -O- http://web/" >/dev/null
  if ! kubectl -n "${NS}" wait pod/client --for=jsonpath='{.status.phase}'=Succeeded --timeout 60s >/dev/null; then
    kubectl -n "${NS}" logs client || true
    fail "pod client could not reach http://web.${NS}.svc.cluster.local"
  fi
  out="$(kubectl -n "${NS}" logs client | tail -n 2 | tr '\n' ' ')"
  [[ "${out}" == "podplane-smoke-ok podplane-smoke-ok " ]] || fail "client got '${out}'"
  pass "pod reached Service web.${NS}.svc.cluster.local through cluster DNS"

  # 3. The upstream-named images run their binaries as upstream manifests call
  #    them (command names on PATH, /coredns, iptables in kube-proxy's image).
  kubectl -n "${NS}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: images
spec:
  restartPolicy: Never
  initContainers:
  - {name: etcd, image: "registry.k8s.io/etcd:${ETCD_IMAGE_TAG}", command: [etcd, --version]}
  - {name: etcdctl, image: "registry.k8s.io/etcd:${ETCD_IMAGE_TAG}", command: [etcdctl, version]}
  - {name: apiserver, image: "registry.k8s.io/kube-apiserver:${KUBE_VERSION}", command: [kube-apiserver, --version]}
  - {name: cm, image: "registry.k8s.io/kube-controller-manager:${KUBE_VERSION}", command: [kube-controller-manager, --version]}
  - {name: scheduler, image: "registry.k8s.io/kube-scheduler:${KUBE_VERSION}", command: [kube-scheduler, --version]}
  - {name: proxy, image: "registry.k8s.io/kube-proxy:${KUBE_VERSION}", command: [kube-proxy, --version]}
  - {name: iptables, image: "registry.k8s.io/kube-proxy:${KUBE_VERSION}", command: [iptables-save, --version]}
  containers:
  - {name: coredns, image: "registry.k8s.io/coredns/coredns:${COREDNS_VERSION}", args: [-version]}
EOF
  if ! kubectl -n "${NS}" wait pod/images --for=jsonpath='{.status.phase}'=Succeeded --timeout 60s >/dev/null; then
    kubectl -n "${NS}" describe pod images | tail -n 20
    fail "upstream-named images did not run"
  fi
  out="$(kubectl -n "${NS}" logs images -c apiserver)"
  [[ "${out}" == "Kubernetes ${KUBE_VERSION}" ]] || fail "kube-apiserver image printed '${out}'"
  pass "upstream-named images run: etcd ${ETCD_IMAGE_TAG}, kube-* ${KUBE_VERSION}, coredns ${COREDNS_VERSION}"

  # 4. The host reaches ClusterIPs (kube-proxy) and the DNS Service.
  svc_ip="$(kubectl -n "${NS}" get service web -o jsonpath='{.spec.clusterIP}')"
  out="$(curl -fsS --max-time 5 "http://${svc_ip}/")" || fail "host could not reach ClusterIP ${svc_ip}"
  [[ "${out}" == podplane-smoke-ok ]] || fail "host got '${out}' from ${svc_ip}"
  dns_ip="$(kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}')"
  out="$(busybox nslookup "web.${NS}.svc.cluster.local" "${dns_ip}" 2>&1)" || fail "host DNS lookup failed: ${out}"
  grep -q "${svc_ip}" <<<"${out}" || fail "DNS answered without ${svc_ip}: ${out}"
  pass "host reached ClusterIP ${svc_ip} and resolved the name via ${dns_ip}"

  kubectl delete namespace "${NS}" --wait=false >/dev/null
}

# running PID: the process exists and is not a zombie (init may reap exited
# daemons a little later).
running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

check_down() {
  local pids=("$@") pid left=()
  for pid in "${pids[@]}"; do
    if running "${pid}"; then left+=("${pid} ($(tr '\0' ' ' <"/proc/${pid}/cmdline" | cut -c1-80))"); fi
  done
  ((${#left[@]} == 0)) || fail "processes left after down: ${left[*]}"
  [[ ! -e "${PODPLANE_STATE}" ]] || fail "${PODPLANE_STATE} still exists"
  ! grep -q " ${PODPLANE_STATE}" /proc/self/mountinfo || fail "mounts left under ${PODPLANE_STATE}"
  pass "down: none of the ${#pids[@]} processes (daemons, shims, containers) remain, no mounts, state removed"
}

main() {
  ensure_packages busybox-static jq curl
  if [[ "${1:-}" == --full ]]; then
    "${CLUSTER}" up
    check_cluster
    local pids
    mapfile -t pids < <("${CLUSTER}" pids)
    "${CLUSTER}" down
    check_down "${pids[@]}"
  else
    check_cluster
  fi
  check_summary
}

main "$@"
