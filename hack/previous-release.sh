#!/usr/bin/env bash
# Everything the upgrade tests need of the previous Kubernetes release
# (KUBE_PREVIOUS_VERSION in versions.env): a hosted control plane is created at
# that release and upgraded to KUBE_VERSION.
#
#   hack/previous-release.sh build            binaries, images and the node image
#                                             (cached: a second run does nothing)
#   hack/previous-release.sh import [ADDRESS] import them into containerd (default:
#                                             the dev cluster's socket)
#   hack/previous-release.sh list             the image references
#   hack/previous-release.sh env              the variables that point build.sh,
#                                             images.sh and node-image.sh at it
#
# It runs hack/build.sh all, hack/images.sh build and hack/node-image.sh build
# with PODPLANE_KUBE_VERSION=KUBE_PREVIOUS_VERSION (lib/release.sh). New of that
# release: the seven Kubernetes commands, the kube-apiserver,
# kube-controller-manager, kube-scheduler and kube-proxy images,
# kindest/node:KUBE_PREVIOUS_VERSION (its kubelet, kubeadm, kubectl, kube-proxy
# image, and KUBE_VERSION's kube-proxy image too). Shared with KUBE_VERSION,
# built once: etcd, pause, CoreDNS, konnectivity, flannel, metrics-server,
# containerd, crictl.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

[[ -n "${KUBE_PREVIOUS_VERSION:-}" ]] || die "KUBE_PREVIOUS_VERSION is not set in hack/versions.env"
export PODPLANE_KUBE_VERSION="${KUBE_PREVIOUS_VERSION}"
# The node image is named after the release, never after the caller's choice.
unset PODPLANE_NODE_IMAGE

# run DESCRIPTION CMD...: a headline, CMD, and how long it took.
run() {
  local what="$1" start
  shift
  step "${what}"
  start=$(date +%s)
  "$@"
  log "${what}: done in $(($(date +%s) - start))s"
}

cmd_build() {
  local start
  start=$(date +%s)
  step "previous release: Kubernetes ${PODPLANE_KUBE_VERSION}"
  run "binaries (hack/build.sh all)" "${PODPLANE_HACK_DIR}/build.sh" all
  run "images (hack/images.sh build)" "${PODPLANE_HACK_DIR}/images.sh" build
  run "node image kindest/node:${PODPLANE_KUBE_VERSION} (hack/node-image.sh build)" \
    "${PODPLANE_HACK_DIR}/node-image.sh" build >/dev/null
  log "previous release ${PODPLANE_KUBE_VERSION} built in $(($(date +%s) - start))s"
}

# Images missing from containerd (by name), then the node image unless
# containerd holds this very build (its manifest digest): it is 1 GB.
cmd_import() {
  local address="${1:-${PODPLANE_STATE}/containerd/containerd.sock}" ref tar want have
  [[ -S "${address}" ]] || die "no containerd socket at ${address}"
  ensure_packages jq
  run "images of ${PODPLANE_KUBE_VERSION} into ${address}" "${PODPLANE_HACK_DIR}/images.sh" import "${address}"
  ref="docker.io/kindest/node:${PODPLANE_KUBE_VERSION}"
  tar="${PODPLANE_CACHE}/images/${ref//[\/:]/_}.tar"
  [[ -f "${tar}" ]] || die "${tar} missing (run $0 build)"
  want="$(tar -xOf "${tar}" index.json | jq -r '.manifests[0].digest')"
  have="$(ctr_cmd "${address}" images ls "name==${ref}" 2>/dev/null | awk 'NR > 1 { print $3 }')"
  if [[ "${have}" == "${want}" ]]; then
    log "${ref}: already in containerd"
  else
    run "${ref} into ${address}" "${PODPLANE_HACK_DIR}/node-image.sh" import "${address}"
  fi
}

cmd_list() {
  "${PODPLANE_HACK_DIR}/images.sh" list
  echo "docker.io/kindest/node:${PODPLANE_KUBE_VERSION}"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    build) cmd_build ;;
    import) cmd_import "$@" ;;
    list) cmd_list ;;
    env) printf 'export PODPLANE_KUBE_VERSION=%s\n' "${PODPLANE_KUBE_VERSION}" ;;
    *) die "usage: $0 build|import [ADDRESS]|list|env" ;;
  esac
}

main "$@"
