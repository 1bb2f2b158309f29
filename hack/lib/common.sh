# shellcheck shell=bash disable=SC2034 # a library: defines variables for its callers
# Shared helpers for the hack/ scripts. Source it; it defines functions and
# variables only (no side effects besides reading hack/versions.env).

PODPLANE_HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PODPLANE_ROOT="$(cd "${PODPLANE_HACK_DIR}/.." && pwd)"
export PODPLANE_HACK_DIR PODPLANE_ROOT

# shellcheck source=hack/versions.env
source "${PODPLANE_HACK_DIR}/versions.env"

PODPLANE_CACHE="${PODPLANE_CACHE:-${HOME}/.cache/podplane}"
PODPLANE_STATE="${PODPLANE_STATE:-/var/lib/podplane-dev}"
export PODPLANE_CACHE PODPLANE_STATE

# Per-version output directories for binaries built from source. Not exported:
# etcd reads every ETCD_* environment variable as a flag.
KUBE_BIN_DIR="${PODPLANE_CACHE}/bin/kubernetes-${KUBE_VERSION}"
ETCD_BIN_DIR="${PODPLANE_CACHE}/bin/etcd-${ETCD_VERSION}"
COREDNS_BIN_DIR="${PODPLANE_CACHE}/bin/coredns-${COREDNS_VERSION}"
CONTAINERD_BIN_DIR="${PODPLANE_CACHE}/bin/containerd-${CONTAINERD_VERSION}"
CRICTL_BIN_DIR="${PODPLANE_CACHE}/bin/cri-tools-${CRI_TOOLS_VERSION}"
PAUSE_BIN_DIR="${PODPLANE_CACHE}/bin/pause-${PAUSE_VERSION}"
CAPI_BIN_DIR="${PODPLANE_CACHE}/bin/cluster-api-${CAPI_VERSION}"
CERT_MANAGER_BIN_DIR="${PODPLANE_CACHE}/bin/cert-manager-${CERT_MANAGER_VERSION}"
KONNECTIVITY_BIN_DIR="${PODPLANE_CACHE}/bin/konnectivity-${KONNECTIVITY_VERSION}"
FLANNEL_BIN_DIR="${PODPLANE_CACHE}/bin/flannel-${FLANNEL_VERSION}"
METRICS_SERVER_BIN_DIR="${PODPLANE_CACHE}/bin/metrics-server-${METRICS_SERVER_VERSION}"
LOCAL_PATH_BIN_DIR="${PODPLANE_CACHE}/bin/local-path-provisioner-${LOCAL_PATH_PROVISIONER_VERSION}"
# The previous release's (upgrade tests; hack/previous-release.sh builds them).
KUBE_PREVIOUS_BIN_DIR="${PODPLANE_CACHE}/bin/kubernetes-${KUBE_PREVIOUS_VERSION}"

# Go toolchain: the machine's Go, never a downloaded one.
if [[ -d /usr/local/go/bin && ":${PATH}:" != *":/usr/local/go/bin:"* ]]; then
  PATH="/usr/local/go/bin:${PATH}"
fi
export PATH
export GOTOOLCHAIN=local

# Start time shared with child scripts, so their progress lines line up.
_podplane_t0="${_podplane_t0:-$(date +%s)}"
export _podplane_t0

# log MSG...: timestamped progress line on stderr.
log() {
  printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - _podplane_t0))" "$*" >&2
}

# step MSG...: a visible headline for a long step.
step() {
  printf '[%s +%4ss] ==> %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - _podplane_t0))" "$*" >&2
}

die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

need_root() {
  [[ "$(id -u)" -eq 0 ]] || die "this needs root (it runs containerd, kubelet, iptables)"
}

# ensure_packages PKG...: apt-get install the Debian packages that are missing,
# non-interactively (CI has no stdin).
_podplane_apt_updated=""
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("${p}")
    fi
  done
  ((${#missing[@]} == 0)) && return 0
  need_root
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z "${_podplane_apt_updated}" ]]; then
    apt-get update -qq >/dev/null
    _podplane_apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# k8s_minor v1.36.3 -> 36 ; k8s_patch v1.36.3 -> 3
k8s_minor() { local v="${1#v}"; v="${v#*.}"; echo "${v%%.*}"; }
k8s_patch() { local v="${1#v}"; echo "${v##*.}"; }

# wait_for DESCRIPTION TIMEOUT_SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what="$1" timeout="$2" start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) - start >= timeout)); then
      log "timed out after ${timeout}s waiting for ${what}"
      return 1
    fi
    sleep 0.5
  done
}

# Check counters of the smoke scripts: pass MSG / record_failure MSG, then
# check_summary prints "N passed, N failed".
PASSED=0
FAILED=0
pass() {
  PASSED=$((PASSED + 1))
  log "PASS: $*"
}
record_failure() {
  FAILED=$((FAILED + 1))
  log "FAIL: $*"
}
check_summary() { echo "${PASSED} passed, ${FAILED} failed"; }

# operator_image_ref: the operator image's canonical name,
# docker.io/podplane/podplane:v<Cargo.toml's version> (PODPLANE_OPERATOR_IMAGE overrides).
operator_image_ref() {
  local version
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${PODPLANE_ROOT}/Cargo.toml" | head -n1)"
  [[ -n "${version}" ]] || die "no version in Cargo.toml"
  echo "${PODPLANE_OPERATOR_IMAGE:-docker.io/podplane/podplane:v${version}}"
}
