#!/usr/bin/env bash
# Rancher's local-path-provisioner as the default StorageClass (`local-path`) of
# the local management cluster: a claim gets a directory under the state dir of
# the node its first Pod runs on.
#
#   hack/local-path.sh build      the provisioner binary (hack/build.sh
#                                 local-path-provisioner) and two image archives
#                                 in ${PODPLANE_CACHE}/images/ (cached)
#   hack/local-path.sh import     import them into the first node's containerd, and
#                                 the helper image into the second node's when it runs
#   hack/local-path.sh install    apply manifests/local-path.yaml, wait for the
#                                 provisioner to be Available
#   hack/local-path.sh manifest   print what install applies
#   hack/local-path.sh list       the image references
#
# Images: the provisioner as docker.io/rancher/local-path-provisioner:<v>
# (/usr/bin/local-path-provisioner, upstream's path, user 65532), and the helper
# its Pods run `sh` in to make and remove the directories: Debian's static
# busybox, tagged with the package's version (upstream's busybox cannot be pulled).
# Data: ${PODPLANE_STATE}/local-path on the first node,
# ${PODPLANE_STATE}/second-node/local-path on the second (hack/second-node.sh).
# import and install need the cluster (hack/cluster.sh up).
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"
# shellcheck source=hack/lib/node.sh
source "${PODPLANE_HACK_DIR}/lib/node.sh"

IMAGES_DIR="${PODPLANE_CACHE}/images"
CONTAINERD_SOCK="${STATE}/containerd/containerd.sock"
# hack/second-node.sh's name and state dir.
SECOND_NODE_NAME="${PODPLANE_SECOND_NODE_NAME:-${NODE_NAME}-2}"
SECOND_NODE_DIR="${STATE}/second-node"
SECOND_NODE_SOCK="${SECOND_NODE_DIR}/containerd/containerd.sock"
MANIFEST="${PODPLANE_HACK_DIR}/manifests/local-path.yaml"
NAMESPACE=local-path-storage
WAIT_TIMEOUT="${PODPLANE_LOCAL_PATH_TIMEOUT:-120}"

PROVISIONER_IMAGE="docker.io/rancher/local-path-provisioner:${LOCAL_PATH_PROVISIONER_VERSION}"
PROVISIONER_BIN="${LOCAL_PATH_BIN_DIR}/local-path-provisioner"

# set_helper_image: HELPER_IMAGE=podplane.local/local-path/busybox:<busybox-static's
# Debian version as a tag> (1:1.35.0-4+deb12u1+b1 -> 1.35.0-4-deb12u1-b1).
HELPER_IMAGE=""
set_helper_image() {
  local v
  v="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null)" ||
    die "busybox-static is not installed (hack/local-path.sh build installs it)"
  v="${v#*:}"
  HELPER_IMAGE="podplane.local/local-path/busybox:${v//[^A-Za-z0-9_.-]/-}"
}

image_tar() { echo "${IMAGES_DIR}/$(oci_normalize_ref "$1" | tr '/:' '__').tar"; }

# fresh TAR INPUT...: TAR exists and is newer than every INPUT.
fresh() {
  local tar="$1" f
  shift
  [[ -f "${tar}" ]] || return 1
  for f in "$@"; do [[ "${tar}" -nt "${f}" ]] || return 1; done
}

build_provisioner_image() {
  local ref="${PROVISIONER_IMAGE}" tar work
  tar="$(image_tar "${ref}")"
  if fresh "${tar}" "${PROVISIONER_BIN}" "${PODPLANE_HACK_DIR}/lib/oci.sh"; then
    log "image ${ref}: cached"
    return 0
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/img-local-path.XXXXXX")"
  oci_base_rootfs "${work}"
  install -D -m 0755 "${PROVISIONER_BIN}" "${work}/usr/bin/local-path-provisioner"
  # Upstream's image has CMD ["local-path-provisioner"] (in /usr/bin) and no
  # entrypoint; its manifests set the command.
  oci_image_build "${tar}" "${ref}" '{"Cmd":["local-path-provisioner"],"User":"65532:65532"}' "${work}"
  rm -rf "${work}"
  log "image ${ref}: $(du -h "${tar}" | cut -f1) -> ${tar}"
}

# The helper: /bin/busybox with its applets linked in /bin (sh, mkdir, chmod, rm).
build_helper_image() {
  local ref="${HELPER_IMAGE}" tar work applet
  tar="$(image_tar "${ref}")"
  if fresh "${tar}" "${PODPLANE_HACK_DIR}/lib/oci.sh"; then
    log "image ${ref}: cached"
    return 0
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/img-local-path-helper.XXXXXX")"
  mkdir -p "${work}/bin" "${work}/etc" "${work}/tmp"
  chmod 1777 "${work}/tmp"
  cp /bin/busybox "${work}/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ "${applet}" == busybox ]] || ln -sf busybox "${work}/bin/${applet}"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"${work}/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"${work}/etc/group"
  oci_image_build "${tar}" "${ref}" '{"Cmd":["/bin/sh"]}' "${work}"
  rm -rf "${work}"
  log "image ${ref}: $(du -h "${tar}" | cut -f1) -> ${tar}"
}

cmd_build() {
  local start
  start=$(date +%s)
  "${PODPLANE_HACK_DIR}/build.sh" local-path-provisioner
  ensure_packages jq busybox-static
  mkdir -p "${IMAGES_DIR}"
  set_helper_image
  step "local-path-provisioner images"
  build_provisioner_image
  build_helper_image
  log "build done in $(($(date +%s) - start))s"
}

# The provisioner runs on the first node only (it does not tolerate the second
# node's taint); helper Pods run on whichever node holds the volume.
cmd_import() {
  need_root
  [[ -S "${CONTAINERD_SOCK}" ]] || die "no containerd at ${CONTAINERD_SOCK} (hack/cluster.sh up)"
  set_helper_image
  ctr_import_changed "${CONTAINERD_SOCK}" "${PROVISIONER_IMAGE}" "$(image_tar "${PROVISIONER_IMAGE}")"
  ctr_import_changed "${CONTAINERD_SOCK}" "${HELPER_IMAGE}" "$(image_tar "${HELPER_IMAGE}")"
  if [[ -S "${SECOND_NODE_SOCK}" ]]; then
    ctr_import_changed "${SECOND_NODE_SOCK}" "${HELPER_IMAGE}" "$(image_tar "${HELPER_IMAGE}")"
  else
    log "no second node: run import again after hack/second-node.sh up"
  fi
}

# render: the manifest with this cluster's images, node names and paths (needs
# set_helper_image).
render() {
  sed -e "s|__PROVISIONER_IMAGE__|${PROVISIONER_IMAGE}|g" \
    -e "s|__HELPER_IMAGE__|${HELPER_IMAGE}|g" \
    -e "s|__NODE_NAME__|${NODE_NAME}|g" -e "s|__NODE_PATH__|${STATE}/local-path|g" \
    -e "s|__SECOND_NODE_NAME__|${SECOND_NODE_NAME}|g" \
    -e "s|__SECOND_NODE_PATH__|${SECOND_NODE_DIR}/local-path|g" "${MANIFEST}"
}

provisioner_available() {
  [[ "$(kc -n "${NAMESPACE}" get deploy local-path-provisioner \
    -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" == True ]]
}

cmd_install() {
  local start ref others
  start=$(date +%s)
  [[ -f "${ADMIN_KUBECONFIG}" ]] || die "no ${ADMIN_KUBECONFIG} (hack/cluster.sh up)"
  kc get --raw /readyz >/dev/null 2>&1 || die "the local cluster is not reachable (hack/cluster.sh up)"
  set_helper_image
  for ref in "${PROVISIONER_IMAGE}" "${HELPER_IMAGE}"; do
    ctr_image_exists "${CONTAINERD_SOCK}" "${ref}" || die "${ref} is not in containerd: hack/local-path.sh import"
  done
  others="$(kc get storageclass -o json | jq -r '.items[]
    | select(.metadata.name != "local-path"
        and .metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true")
    | .metadata.name' | tr '\n' ' ')"
  [[ -z "${others// /}" ]] || log "WARNING: also marked default: ${others}(the newest default wins)"
  step "applying ${MANIFEST}"
  render | kc apply --server-side --field-manager podplane-hack -f - >/dev/null
  if ! wait_for "the local-path-provisioner Deployment" "${WAIT_TIMEOUT}" provisioner_available; then
    kc -n "${NAMESPACE}" get pods -o wide >&2 || true
    die "local-path-provisioner not Available after ${WAIT_TIMEOUT}s"
  fi
  log "local-path-provisioner Available; StorageClass local-path is the default ($(($(date +%s) - start))s)"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    build) cmd_build ;;
    import) cmd_import ;;
    install) cmd_install ;;
    manifest)
      set_helper_image
      render
      ;;
    list)
      set_helper_image
      oci_normalize_ref "${PROVISIONER_IMAGE}"
      oci_normalize_ref "${HELPER_IMAGE}"
      ;;
    *) die "usage: $0 build|import|install|manifest|list" ;;
  esac
}

main "$@"
