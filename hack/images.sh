#!/usr/bin/env bash
# Build the cluster's container images offline from the binaries of
# hack/build.sh, under their upstream names, and import them into containerd.
#
#   hack/images.sh build              build every image archive (cached) into
#                                     ${PODPLANE_CACHE}/images/
#   hack/images.sh import [ADDRESS]   import them into containerd (namespace
#                                     k8s.io; default: the dev cluster's socket)
#   hack/images.sh list               the image references
#   hack/images.sh from-dir DIR REF [CONFIG_JSON] [ADDRESS]
#                                     build an image from a directory (one
#                                     layer) and import it, e.g.
#                                     hack/images.sh from-dir out/ podplane/operator:dev \
#                                       '{"Entrypoint":["/podplane"]}'
#
# PODPLANE_KUBE_VERSION (lib/release.sh): the kube-* images of another release;
# the other images are shared.
#
# Library use: `source hack/lib/common.sh; source hack/lib/oci.sh` and call
# oci_image_build / oci_image_from_dir / ctr_import directly.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/release.sh
source "${PODPLANE_HACK_DIR}/lib/release.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

IMAGES_DIR="${PODPLANE_CACHE}/images"
DEFAULT_ADDRESS="${PODPLANE_STATE}/containerd/containerd.sock"
BUSYBOX_IMAGE_REF="${BUSYBOX_IMAGE_REF:-podplane.local/test/busybox:1}"

# name -> reference, in build order.
image_refs() {
  cat <<EOF
pause registry.k8s.io/pause:${PAUSE_VERSION}
etcd registry.k8s.io/etcd:${ETCD_IMAGE_TAG}
coredns registry.k8s.io/coredns/coredns:${COREDNS_VERSION}
kube-apiserver registry.k8s.io/kube-apiserver:${KUBE_VERSION}
kube-controller-manager registry.k8s.io/kube-controller-manager:${KUBE_VERSION}
kube-scheduler registry.k8s.io/kube-scheduler:${KUBE_VERSION}
kube-proxy registry.k8s.io/kube-proxy:${KUBE_VERSION}
proxy-server registry.k8s.io/kas-network-proxy/proxy-server:${KONNECTIVITY_VERSION}
proxy-agent registry.k8s.io/kas-network-proxy/proxy-agent:${KONNECTIVITY_VERSION}
flannel ghcr.io/flannel-io/flannel:${FLANNEL_VERSION}
metrics-server registry.k8s.io/metrics-server/metrics-server:${METRICS_SERVER_VERSION}
busybox ${BUSYBOX_IMAGE_REF}
EOF
}

image_tar() { echo "${IMAGES_DIR}/${1//[\/:]/_}.tar"; }

# A Debian rootfs with iptables and conntrack for kube-proxy (like upstream's
# distroless-iptables base), cached per suite.
debian_iptables_rootfs() {
  local dir="${PODPLANE_CACHE}/rootfs/debian-${DEBIAN_SUITE}-iptables" mirror
  if [[ -f "${dir}.done" ]]; then
    echo "${dir}"
    return 0
  fi
  ensure_packages debootstrap
  mirror="$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  step "debootstrap ${DEBIAN_SUITE} minbase + iptables into ${dir} (from ${mirror})"
  rm -rf "${dir}"
  mkdir -p "$(dirname "${dir}")"
  debootstrap --variant=minbase --include=iptables,conntrack,ipset,kmod \
    "${DEBIAN_SUITE}" "${dir}" "${mirror}" >"${dir}.log" 2>&1 ||
    { tail -n 20 "${dir}.log" >&2; die "debootstrap failed (log: ${dir}.log)"; }
  chroot "${dir}" apt-get clean
  rm -rf "${dir}"/var/lib/apt/lists/* "${dir}"/usr/share/doc/* "${dir}"/usr/share/man/* \
    "${dir}"/usr/share/locale/* "${dir}"/var/log/* "${dir}"/var/cache/debconf/*-old
  touch "${dir}.done"
  echo "${dir}"
}

# build_image NAME REF: prepare the rootfs for NAME and write its archive.
build_image() {
  local name="$1" ref="$2" tar work bin config layers=()
  tar="$(image_tar "${ref}")"
  case "${name}" in
    pause) bin="${PAUSE_BIN_DIR}/pause" ;;
    etcd) bin="${ETCD_BIN_DIR}/etcd" ;;
    coredns) bin="${COREDNS_BIN_DIR}/coredns" ;;
    proxy-server | proxy-agent) bin="${KONNECTIVITY_BIN_DIR}/${name}" ;;
    flannel) bin="${FLANNEL_BIN_DIR}/flanneld" ;;
    metrics-server) bin="${METRICS_SERVER_BIN_DIR}/metrics-server" ;;
    busybox) bin=/bin/busybox ;;
    *) bin="${KUBE_BIN_DIR}/${name}" ;;
  esac
  [[ -x "${bin}" ]] || die "image ${ref}: ${bin} missing (run hack/build.sh first)"
  if [[ -f "${tar}" && "${tar}" -nt "${bin}" && "${tar}" -nt "${PODPLANE_HACK_DIR}/lib/oci.sh" ]]; then
    log "image ${ref}: cached"
    return 0
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/img-${name}.XXXXXX")"
  mkdir -p "${work}/top"
  case "${name}" in
    pause)
      oci_base_rootfs "${work}/top"
      cp "${bin}" "${work}/top/pause"
      config='{"Entrypoint":["/pause"],"User":"65535:65535"}'
      ;;
    etcd)
      oci_base_rootfs "${work}/top"
      mkdir -p "${work}/top/usr/local/bin" "${work}/top/var/lib/etcd"
      cp "${ETCD_BIN_DIR}/etcd" "${ETCD_BIN_DIR}/etcdctl" "${work}/top/usr/local/bin/"
      if [[ -x "${ETCD_BIN_DIR}/etcdutl" ]]; then cp "${ETCD_BIN_DIR}/etcdutl" "${work}/top/usr/local/bin/"; fi
      config='{"Cmd":["/usr/local/bin/etcd"]}'
      ;;
    coredns)
      oci_base_rootfs "${work}/top"
      cp "${bin}" "${work}/top/coredns"
      config='{"Entrypoint":["/coredns"],"ExposedPorts":{"53/tcp":{},"53/udp":{}}}'
      ;;
    proxy-server | proxy-agent)
      # Upstream: static binary on distroless static:nonroot (uid 65532).
      oci_base_rootfs "${work}/top"
      cp "${bin}" "${work}/top/${name}"
      config="$(jq -cn --arg b "/${name}" '{Entrypoint: [$b], User: "65532"}')"
      ;;
    metrics-server)
      # Upstream: static binary on distroless static, USER 65534.
      oci_base_rootfs "${work}/top"
      cp "${bin}" "${work}/top/metrics-server"
      config='{"Entrypoint":["/metrics-server"],"User":"65534"}'
      ;;
    flannel)
      # flanneld (iptables mode, the default) runs iptables, ip6tables and
      # iptables-restore; nftables mode would need nft, which this layer
      # lacks. Debian's dash is the /bin/sh of flannel's install-cni sidecar.
      layers+=("$(debian_iptables_rootfs)")
      mkdir -p "${work}/top/opt/bin"
      cp "${bin}" "${FLANNEL_BIN_DIR}/install-conf" "${work}/top/opt/bin/"
      config='{"Entrypoint":["/opt/bin/flanneld"]}'
      ;;
    kube-proxy)
      layers+=("$(debian_iptables_rootfs)")
      mkdir -p "${work}/top/usr/local/bin"
      cp "${bin}" "${work}/top/usr/local/bin/kube-proxy"
      config='{"Entrypoint":["/usr/local/bin/kube-proxy"]}'
      ;;
    busybox)
      # Test image: Debian's static busybox with its applets linked in /bin.
      mkdir -p "${work}/top/bin" "${work}/top/etc" "${work}/top/tmp"
      chmod 1777 "${work}/top/tmp"
      cp "${bin}" "${work}/top/bin/busybox"
      local applet
      for applet in $("${bin}" --list); do
        [[ "${applet}" == busybox ]] || ln -sf busybox "${work}/top/bin/${applet}"
      done
      printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"${work}/top/etc/passwd"
      printf 'root:x:0:\nnobody:x:65534:\n' >"${work}/top/etc/group"
      config='{"Cmd":["/bin/sh"]}'
      ;;
    *)
      oci_base_rootfs "${work}/top"
      mkdir -p "${work}/top/usr/local/bin"
      cp "${bin}" "${work}/top/usr/local/bin/${name}"
      config="$(jq -cn --arg b "/usr/local/bin/${name}" '{Entrypoint: [$b]}')"
      ;;
  esac
  layers+=("${work}/top")
  oci_image_build "${tar}" "${ref}" "${config}" "${layers[@]}"
  rm -rf "${work}"
  log "image ${ref}: $(du -h "${tar}" | cut -f1) -> ${tar}"
}

cmd_build() {
  ensure_packages jq busybox-static
  mkdir -p "${IMAGES_DIR}"
  step "building images into ${IMAGES_DIR}"
  local name ref
  while read -r name ref; do
    build_image "${name}" "${ref}"
  done < <(image_refs)
}

cmd_import() {
  local address="${1:-${DEFAULT_ADDRESS}}" name ref tars=()
  [[ -S "${address}" ]] || die "no containerd socket at ${address}"
  while read -r name ref; do
    if ctr_image_exists "${address}" "${ref}"; then continue; fi
    [[ -f "$(image_tar "${ref}")" ]] || die "image archive for ${ref} missing (run hack/images.sh build)"
    tars+=("$(image_tar "${ref}")")
  done < <(image_refs)
  if ((${#tars[@]})); then
    step "importing ${#tars[@]} image(s) into containerd (${address})"
    ctr_import "${address}" "${tars[@]}"
  fi
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    build) cmd_build ;;
    import) cmd_import "$@" ;;
    list) image_refs | cut -d' ' -f2 ;;
    from-dir)
      (($# >= 2)) || die "usage: $0 from-dir DIR REF [CONFIG_JSON] [ADDRESS]"
      ensure_packages jq
      oci_image_from_dir "$@"
      ;;
    *) die "usage: $0 build|import [ADDRESS]|list|from-dir DIR REF [CONFIG_JSON] [ADDRESS]" ;;
  esac
}

main "$@"
