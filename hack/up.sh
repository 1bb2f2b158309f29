#!/usr/bin/env bash
# One command from a fresh machine (Debian, root, no container engine) to a
# student's hosted cluster:
#
#   hack/up.sh        the local management cluster (built from source) with the default
#                     StorageClass local-path, the
#                     kindest/node and operator images, Cluster API and podplane
#                     installed by clusterctl, then namespace demo with the
#                     HostedControlPlane demo and two workers (examples/demo.yaml),
#                     its admin kubeconfig in ./demo.kubeconfig, and podplane /
#                     kubectl-podplane links in ${PODPLANE_BIN_DIR:-/usr/local/bin}.
#                     Run again, it changes nothing and takes seconds.
#   hack/up.sh down   delete namespace demo, stop the management cluster
#                     (hack/cluster.sh down), remove the links and demo.kubeconfig.
#
# Each step prints [i/N], what it does and how long it took; the output of the
# scripts it runs goes to ${PODPLANE_UP_LOG:-/tmp/podplane-up.log}, shown when a
# step fails. PODPLANE_UP_TIMEOUT (10m) bounds the wait for the workers.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"
cd "${PODPLANE_ROOT}"

LOG="${PODPLANE_UP_LOG:-${TMPDIR:-/tmp}/podplane-up.log}"
BIN_DIR="${PODPLANE_BIN_DIR:-/usr/local/bin}"
PODPLANE="${PODPLANE_ROOT}/target/release/podplane"
DEMO_MANIFEST=examples/demo.yaml
DEMO_KUBECONFIG=demo.kubeconfig
WAIT_TIMEOUT="${PODPLANE_UP_TIMEOUT:-10m}"
STEPS=12
step_no=0
# Notes a step writes for the user go to fd 3 (the terminal); the rest to the log.
exec 3>&1

seconds_since() {
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { s = b - a;
    if (s < 60) printf "%.1fs", s; else printf "%dm%02ds", s / 60, s % 60 }'
}

note() { printf '       %s\n' "$*" >&3; }

# run_step TITLE CMD...: "[i/N] TITLE", CMD with its output in the log (its last
# line repeated every 30 s while it runs, unless BEAT=0), then how long it took.
run_step() {
  local title="$1" start pid rc=0 beat=30
  shift
  step_no=$((step_no + 1))
  start=$(date +%s.%N)
  printf '[%d/%d] %s\n' "${step_no}" "${STEPS}" "${title}"
  printf '\n=== [%d/%d] %s\n' "${step_no}" "${STEPS}" "${title}" >>"${LOG}"
  "$@" >>"${LOG}" 2>&1 &
  pid=$!
  while kill -0 "${pid}" 2>/dev/null; do
    sleep 0.1
    if [[ "${BEAT:-1}" != 0 ]] && (($(date +%s) - ${start%.*} >= beat)); then
      note "... $(seconds_since "${start}"): $(tail -n 1 "${LOG}" | cut -c1-110)"
      beat=$((beat + 30))
    fi
  done
  wait "${pid}" || rc=$?
  if ((rc != 0)); then
    tail -n 40 "${LOG}" | sed 's/^/       | /' >&2
    die "step ${step_no}/${STEPS} (${title}) failed after $(seconds_since "${start}"); full log: ${LOG}"
  fi
  note "done in $(seconds_since "${start}")"
}

# rustup installs cargo here; a fresh root shell may not have it on PATH yet.
if [[ -x "${HOME}/.cargo/bin/cargo" && ":${PATH}:" != *":${HOME}/.cargo/bin:"* ]]; then
  PATH="${HOME}/.cargo/bin:${PATH}"
fi

prerequisites() {
  need_root
  ensure_packages build-essential ca-certificates curl git jq
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then run again"
  command -v go >/dev/null || die "go not found: install Go in /usr/local/go (https://go.dev/dl), then run again"
  note "$(cargo --version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3)"
}

# The node image is 700 MB: import it only when containerd lacks this very build.
node_image() {
  local tar ref want have
  tar="$(hack/node-image.sh build)"
  ref="$(tar -xOf "${tar}" index.json | jq -r '.manifests[0].annotations["io.containerd.image.name"]')"
  want="$(tar -xOf "${tar}" index.json | jq -r '.manifests[0].digest')"
  have="$(ctr_cmd "${CONTAINERD_ADDRESS}" images ls "name==${ref}" 2>/dev/null | awk 'NR > 1 { print $3 }')"
  if [[ "${have}" == "${want}" ]]; then
    note "${ref}: already in containerd"
  else
    hack/node-image.sh import
    note "${ref}: imported"
  fi
}

image_id() { crictl inspecti -o json "$1" 2>/dev/null | jq -r '.status.id // empty'; }

# Which build of the operator binary containerd holds, as "<binary sha256> <image id>": the
# image is imported again only when the binary changed or containerd holds another image
# under its name (an image built from the same binary gets a new id every time).
OPERATOR_STAMP="${PODPLANE_STATE}/up/operator-image"

operator_image() {
  local image sum
  cargo build --release --quiet --bin podplane
  sum="$(sha256sum "${PODPLANE}" | cut -d' ' -f1)"
  image="$(operator_image_ref)"
  if [[ -n "${image}" && -f "${OPERATOR_STAMP}" && "$(cat "${OPERATOR_STAMP}")" == "${sum} $(image_id "${image}")" ]]; then
    note "${image}: this build is in containerd already"
    return 0
  fi
  hack/operator-image.sh
}

# The operator's Deployment is restarted only when its Pods run another build of its image.
install_podplane() {
  local image want selector running
  hack/capi.sh init
  image="$(operator_image_ref)"
  want="$(image_id "${image}")"
  selector="$(kubectl -n podplane-system get deployment podplane -o json |
    jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")')"
  # Pods on their way out (someone else's rollout) do not count.
  running="$(kubectl -n podplane-system get pods -l "${selector}" -o json |
    jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .status.containerStatuses[0].imageID // empty' | sort -u)"
  if [[ -z "${want}" ]]; then
    note "${image} is not in containerd: the operator cannot start (see ${LOG})"
  elif [[ -n "${running}" && "${running}" != "${want}" ]]; then
    note "operator Pods run an older ${image}: restarting them"
    kubectl -n podplane-system rollout restart deployment/podplane
  fi
  kubectl -n podplane-system rollout status deployment/podplane --timeout=180s
  mkdir -p "$(dirname "${OPERATOR_STAMP}")"
  echo "$(sha256sum "${PODPLANE}" | cut -d' ' -f1) ${want}" >"${OPERATOR_STAMP}"
  note "$(kubectl get providers.clusterctl.cluster.x-k8s.io -A --no-headers | awk '{ printf "%s%s %s", sep, $2, $6; sep = ", " }')"
}

# link NAME TARGET: BIN_DIR/NAME -> TARGET, unless it already is.
link() {
  if [[ "$(readlink "${BIN_DIR}/$1" 2>/dev/null)" != "$2" ]]; then
    ln -sfn "$2" "${BIN_DIR}/$1"
    note "${BIN_DIR}/$1 -> $2"
  fi
}

links() {
  link podplane "${PODPLANE}"
  link kubectl-podplane "${PODPLANE}"
  command -v kubectl >/dev/null 2>&1 || link kubectl "${KUBE_BIN_DIR}/kubectl"
  # As kind does: the management cluster becomes kubectl's default, unless there is one.
  if [[ ! -e "${HOME}/.kube/config" && ! -L "${HOME}/.kube/config" ]]; then
    mkdir -p "${HOME}/.kube"
    ln -s "${KUBECONFIG}" "${HOME}/.kube/config"
    note "${HOME}/.kube/config -> ${KUBECONFIG}"
  fi
  note "kubectl podplane --version: $(PATH="${BIN_DIR}:${PATH}" kubectl podplane --version)"
}

storage_class() {
  hack/local-path.sh build
  hack/local-path.sh import
  hack/local-path.sh install
}

demo() {
  kubectl apply -f "${DEMO_MANIFEST}" | sed 's/^/       /' >&3
}

wait_workers() {
  "${PODPLANE}" wait demo -n demo --for workers --timeout "${WAIT_TIMEOUT}" | tee -a "${LOG}" | sed 's/^/       /' >&3
}

write_kubeconfig() {
  local new
  new="$(mktemp)"
  "${PODPLANE}" kubeconfig demo -n demo >"${new}"
  if cmp -s "${new}" "${DEMO_KUBECONFIG}"; then
    rm -f "${new}"
    note "${DEMO_KUBECONFIG}: unchanged"
  else
    install -m 0600 "${new}" "${DEMO_KUBECONFIG}"
    rm -f "${new}"
    note "wrote ${DEMO_KUBECONFIG}"
  fi
}

up() {
  local t0
  t0=$(date +%s.%N)
  printf 'podplane: from this machine to a hosted cluster (log: %s)\n' "${LOG}"
  : >"${LOG}"
  run_step "prerequisites: root, Debian packages, cargo, go" prerequisites
  run_step "management cluster from upstream sources (hack/cluster.sh up)" hack/cluster.sh up
  eval "$(hack/cluster.sh env)"
  run_step "default StorageClass local-path (hack/local-path.sh build, import, install)" storage_class
  run_step "worker node image kindest/node:${KUBE_VERSION} (hack/node-image.sh)" node_image
  run_step "operator image (hack/operator-image.sh)" operator_image
  run_step "Cluster API and cert-manager images (hack/capi.sh build)" hack/capi.sh build
  run_step "local clusterctl repository (hack/capi.sh repo)" hack/capi.sh repo
  run_step "clusterctl init: cert-manager, Cluster API, podplane (hack/capi.sh init)" install_podplane
  run_step "podplane and kubectl-podplane in ${BIN_DIR}" links
  run_step "namespace demo and HostedControlPlane demo with 2 workers (${DEMO_MANIFEST})" demo
  BEAT=0 run_step "podplane wait demo -n demo --for workers" wait_workers
  run_step "podplane kubeconfig demo -n demo > ${DEMO_KUBECONFIG}" write_kubeconfig

  printf '\n$ kubectl --kubeconfig %s get nodes -o wide\n' "${DEMO_KUBECONFIG}"
  kubectl --kubeconfig "${DEMO_KUBECONFIG}" get nodes -o wide
  cat <<EOF

Up in $(seconds_since "${t0}"). Next:
  1. Use the hosted cluster:  export KUBECONFIG=\$PWD/${DEMO_KUBECONFIG}; kubectl get pods -A
     (the management cluster: eval "\$(hack/cluster.sh env)"; kubectl podplane status -A)
  2. Add a tenant: a namespace and a HostedControlPlane, e.g. kubectl apply -f examples/workers.yaml,
     then podplane wait class -n student-1 --for workers and podplane kubeconfig class -n student-1
  3. Tear it all down: hack/up.sh down
EOF
}

down() {
  local t0
  t0=$(date +%s.%N)
  STEPS=3
  : >"${LOG}"
  if [[ -f "${PODPLANE_STATE}/kubeconfig/admin.kubeconfig" ]]; then
    eval "$(hack/cluster.sh env)"
  fi
  run_step "delete namespace demo" bash -c \
    'kubectl get --raw /readyz >/dev/null 2>&1 || exit 0; kubectl delete namespace demo --ignore-not-found --timeout=180s'
  run_step "stop the management cluster (hack/cluster.sh down)" hack/cluster.sh down
  run_step "links and ${DEMO_KUBECONFIG}" remove_links
  printf 'Down in %s.\n' "$(seconds_since "${t0}")"
}

# unlink PATH TARGET: remove the link PATH if it points at TARGET (ours).
unlink_ours() {
  if [[ "$(readlink "$1" 2>/dev/null)" == "$2" ]]; then rm -f "$1"; fi
}

remove_links() {
  unlink_ours "${BIN_DIR}/podplane" "${PODPLANE}"
  unlink_ours "${BIN_DIR}/kubectl-podplane" "${PODPLANE}"
  unlink_ours "${BIN_DIR}/kubectl" "${KUBE_BIN_DIR}/kubectl"
  unlink_ours "${HOME}/.kube/config" "${PODPLANE_STATE}/kubeconfig/admin.kubeconfig"
  rm -f "${DEMO_KUBECONFIG}"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 [up|down]" ;;
esac
