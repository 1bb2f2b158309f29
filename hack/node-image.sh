#!/usr/bin/env bash
# Build a kind-compatible node image, kindest/node:${KUBE_VERSION}, offline,
# and import it into the management cluster's containerd.
#
#   hack/node-image.sh [all]        build (cached) and import
#   hack/node-image.sh build        only write the archive (path on stdout)
#   hack/node-image.sh import [ADDRESS]
#                                   import the archive (default: the dev
#                                   cluster's containerd socket)
#
# Layers:
#   1. Debian ${DEBIAN_SUITE} (debootstrap --variant=minbase) with systemd,
#      runc, CNI plugins, iptables... cached under $PODPLANE_CACHE/rootfs,
#      keyed by suite + package list (+ a hash of the clean-up step below).
#   2. Our files (hack/node-image/rootfs/: entrypoint, systemd units,
#      containerd config), containerd/ctr/shim, crictl, kubelet/kubeadm/kubectl
#      from the build cache, and the images to preload (/kind/images/*.tar:
#      pause, kube-proxy, coredns, flannel, konnectivity's proxy-agent,
#      metrics-server), imported into the node's containerd at boot.
#
# PODPLANE_KUBE_VERSION=v1.35.4 (lib/release.sh): kindest/node:v1.35.4, with
# that release's kubelet, kubeadm, kubectl and kube-proxy image; the rest is
# shared (hack/previous-release.sh).
#
# The image's config mirrors kind's: Entrypoint /usr/local/bin/entrypoint,
# Cmd /sbin/init, StopSignal SIGRTMIN+3, env container=docker.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/release.sh
source "${PODPLANE_HACK_DIR}/lib/release.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

NODE_IMAGE="${PODPLANE_NODE_IMAGE:-kindest/node:${KUBE_VERSION}}"
NODE_FILES="${PODPLANE_HACK_DIR}/node-image"
IMAGES_DIR="${PODPLANE_CACHE}/images"
NODE_TAR="${IMAGES_DIR}/$(oci_normalize_ref "${NODE_IMAGE}" | tr '/:' '__').tar"
DEFAULT_ADDRESS="${PODPLANE_STATE}/containerd/containerd.sock"

# What a kind node needs from Debian. Everything else (containerd, crictl,
# Kubernetes) comes from our own builds.
NODE_PACKAGES=(
  systemd systemd-sysv dbus
  iptables iproute2 ethtool socat conntrack ebtables kmod
  mount util-linux procps bash ca-certificates
  libseccomp2 runc containernetworking-plugins
)

# Images preloaded into the node (any *.tar in /kind/images is imported at
# boot; add more here or drop archives into that directory of a derived image).
preload_refs() {
  cat <<EOF
registry.k8s.io/pause:${PAUSE_VERSION}
registry.k8s.io/kube-proxy:${KUBE_VERSION}
registry.k8s.io/coredns/coredns:${COREDNS_VERSION}
ghcr.io/flannel-io/flannel:${FLANNEL_VERSION}
registry.k8s.io/kas-network-proxy/proxy-agent:${KONNECTIVITY_VERSION}
registry.k8s.io/metrics-server/metrics-server:${METRICS_SERVER_VERSION}
EOF
  # An older release's node also holds the pinned release's kube-proxy: once the control
  # plane is upgraded, the hosted kube-proxy DaemonSet moves to it before the old nodes are
  # replaced, and nodes here cannot pull.
  if [[ "${KUBE_VERSION}" != "${KUBE_PINNED_VERSION}" ]]; then
    echo "registry.k8s.io/kube-proxy:${KUBE_PINNED_VERSION}"
  fi
}
image_tar() { echo "${IMAGES_DIR}/${1//[\/:]/_}.tar"; }

debian_mirror() {
  local mirror
  mirror="$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
  echo "${mirror:-http://deb.debian.org/debian}"
}

# debootstrap_rootfs: the pristine debootstrap, cached per suite + packages.
debootstrap_rootfs() {
  local key dir mirror
  key="$(printf '%s\n' "${DEBIAN_SUITE}" "${NODE_PACKAGES[@]}" | sha256sum | cut -c1-12)"
  dir="${PODPLANE_CACHE}/rootfs/debian-${DEBIAN_SUITE}-node-${key}"
  if [[ ! -f "${dir}.done" ]]; then
    ensure_packages debootstrap
    mirror="$(debian_mirror)"
    step "debootstrap ${DEBIAN_SUITE} minbase + ${#NODE_PACKAGES[@]} packages into ${dir} (from ${mirror}; ~1-2 min)"
    rm -rf "${dir}"
    mkdir -p "$(dirname "${dir}")"
    local pkgs
    pkgs="$(
      IFS=,
      echo "${NODE_PACKAGES[*]}"
    )"
    debootstrap --variant=minbase --include="${pkgs}" \
      "${DEBIAN_SUITE}" "${dir}" "${mirror}" >"${dir}.log" 2>&1 &
    local pid=$! start
    start=$(date +%s)
    while kill -0 "${pid}" 2>/dev/null; do
      sleep 10
      kill -0 "${pid}" 2>/dev/null || break
      log "debootstrap: $(($(date +%s) - start))s, $(tail -n1 "${dir}.log" | cut -c1-100)"
    done
    wait "${pid}" || { tail -n 20 "${dir}.log" >&2; die "debootstrap failed (log: ${dir}.log)"; }
    touch "${dir}.done"
  fi
  echo "${dir}"
}

# node_base_cleanup DIR: make the Debian rootfs a container node (as kind's
# base image does): no units that make no sense in a container, journald not
# reading the host's kernel log, CNI plugins where containerd looks, no
# machine-id (the entrypoint makes one per node). Its text is part of the
# cache key of the cleaned base.
node_base_cleanup() {
  local r="$1" p
  chroot "${r}" apt-get clean
  rm -rf "${r}"/var/lib/apt/lists/* "${r}"/usr/share/doc/* "${r}"/usr/share/man/* \
    "${r}"/usr/share/locale/* "${r}"/usr/share/info/* "${r}"/var/log/* \
    "${r}"/var/cache/debconf/*-old "${r}"/var/cache/ldconfig/* "${r}"/root/.bash_history
  # Services started by default that a node container does not want.
  rm -f "${r}"/etc/systemd/system/*.wants/* \
    "${r}"/usr/lib/systemd/system/multi-user.target.wants/* \
    "${r}"/usr/lib/systemd/system/local-fs.target.wants/* \
    "${r}"/usr/lib/systemd/system/sockets.target.wants/*udev* \
    "${r}"/usr/lib/systemd/system/sockets.target.wants/*initctl* \
    "${r}"/usr/lib/systemd/system/basic.target.wants/* \
    "${r}"/usr/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service
  # Keep systemd-logind and its dbus activation (it is harmless), but never
  # register binfmt handlers (kernel-global) or start gettys on the console
  # (a privileged Pod's /dev/console is the host's).
  for p in systemd-binfmt.service getty.target console-getty.service \
    systemd-firstboot.service systemd-networkd-wait-online.service \
    systemd-udevd.service systemd-udev-trigger.service systemd-hwdb-update.service \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
    ln -sfn /dev/null "${r}/etc/systemd/system/${p}"
  done
  mkdir -p "${r}/etc/systemd/journald.conf.d"
  printf '[Journal]\nReadKMsg=no\nStorage=volatile\n' >"${r}/etc/systemd/journald.conf.d/10-node.conf"
  # Debian's CNI plugins live in /usr/lib/cni; containerd and kubelet (and
  # CNI installers) use /opt/cni/bin.
  mkdir -p "${r}/opt/cni/bin"
  for p in "${r}"/usr/lib/cni/*; do
    ln -sfn "/usr/lib/cni/${p##*/}" "${r}/opt/cni/bin/${p##*/}"
  done
  rm -f "${r}/etc/machine-id" "${r}/var/lib/dbus/machine-id"
  mkdir -p "${r}/etc/kubernetes/manifests" "${r}/etc/cni/net.d" "${r}/var/lib/kubelet" \
    "${r}/var/lib/containerd" "${r}/kind/images"
  [[ -e "${r}/sbin/init" ]] || die "node base: /sbin/init missing (systemd-sysv)"
}

# node_base_rootfs: the debootstrap with node_base_cleanup applied, cached.
node_base_rootfs() {
  local src key dir
  src="$(debootstrap_rootfs)"
  key="$( (echo "${src}" && declare -f node_base_cleanup) | sha256sum | cut -c1-12)"
  dir="${PODPLANE_CACHE}/rootfs/kind-node-base-${key}"
  if [[ ! -f "${dir}.done" ]]; then
    step "node base rootfs ${dir}"
    rm -rf "${dir}" "${PODPLANE_CACHE}"/rootfs/kind-node-base-*
    cp -a "${src}" "${dir}"
    node_base_cleanup "${dir}"
    touch "${dir}.done"
  fi
  echo "${dir}"
}

# node_top_layer DIR: our files, binaries and preloaded images.
node_top_layer() {
  local top="$1" ref tar f
  mkdir -p "${top}"
  chmod 0755 "${top}"
  cp -a "${NODE_FILES}/rootfs/." "${top}/"
  find "${top}" -type d -exec chmod 0755 {} +
  find "${top}" -type f -exec chmod 0644 {} +
  chmod 0755 "${top}"/usr/local/bin/* "${top}"/kind/bin/*
  sed -i "s|@PAUSE_VERSION@|${PAUSE_VERSION}|g" "${top}/etc/containerd/config.toml"
  # Enable our units (what `systemctl enable` would link).
  mkdir -p "${top}/etc/systemd/system/multi-user.target.wants"
  for f in containerd.service kind-preload-images.service kubelet.service; do
    ln -sfn "/etc/systemd/system/${f}" "${top}/etc/systemd/system/multi-user.target.wants/${f}"
  done
  for f in containerd containerd-shim-runc-v2 ctr; do
    install -D -m 0755 "${CONTAINERD_BIN_DIR}/${f}" "${top}/usr/local/bin/${f}"
  done
  install -D -m 0755 "${CRICTL_BIN_DIR}/crictl" "${top}/usr/local/bin/crictl"
  for f in kubelet kubeadm kubectl; do
    install -D -m 0755 "${KUBE_BIN_DIR}/${f}" "${top}/usr/bin/${f}"
  done
  mkdir -p "${top}/kind/images"
  while read -r ref; do
    tar="$(image_tar "${ref}")"
    cp "${tar}" "${top}/kind/images/${tar##*/}"
    chmod 0644 "${top}/kind/images/${tar##*/}"
  done < <(preload_refs)
  printf '%s\n' "${KUBE_VERSION}" >"${top}/kind/version"
}

# Inputs of the archive: rebuild when any of them is newer than it.
node_inputs() {
  local ref
  echo "${BASH_SOURCE[0]}" "${PODPLANE_HACK_DIR}/lib/oci.sh" "${PODPLANE_HACK_DIR}/versions.env"
  find "${NODE_FILES}" -print
  echo "${CONTAINERD_BIN_DIR}"/{containerd,containerd-shim-runc-v2,ctr} "${CRICTL_BIN_DIR}/crictl"
  echo "${KUBE_BIN_DIR}"/{kubelet,kubeadm,kubectl}
  while read -r ref; do image_tar "${ref}"; done < <(preload_refs)
}

cmd_build() {
  need_root
  ensure_packages jq debootstrap
  local ref f missing=()
  for f in "${CONTAINERD_BIN_DIR}"/{containerd,containerd-shim-runc-v2,ctr} "${CRICTL_BIN_DIR}/crictl" \
    "${KUBE_BIN_DIR}"/{kubelet,kubeadm,kubectl}; do
    [[ -x "${f}" ]] || missing+=("${f}")
  done
  ((${#missing[@]} == 0)) || die "missing binaries (run hack/build.sh): ${missing[*]}"
  while read -r ref; do
    [[ -f "$(image_tar "${ref}")" ]] || die "image archive for ${ref} missing (run hack/images.sh build)"
  done < <(preload_refs)

  local base
  base="$(node_base_rootfs)"
  if [[ -f "${NODE_TAR}" && "${NODE_TAR}" -nt "${base}.done" ]]; then
    local newer=""
    while read -r f; do
      [[ "${f}" -nt "${NODE_TAR}" ]] && newer="${f}" && break
    done < <(node_inputs | tr ' ' '\n')
    if [[ -z "${newer}" ]]; then
      log "image ${NODE_IMAGE}: cached ${NODE_TAR}"
      echo "${NODE_TAR}"
      return 0
    fi
    log "image ${NODE_IMAGE}: rebuilding (${newer} changed)"
  fi

  local work config
  work="$(mktemp -d "${TMPDIR:-/tmp}/kind-node.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: work is local
  trap "rm -rf '${work}'" EXIT
  step "node image: top layer (our files, binaries, $(preload_refs | wc -l) preloaded images)"
  node_top_layer "${work}/top"
  config="$(jq -cn --arg path "${OCI_DEFAULT_PATH}" '{
    Entrypoint: ["/usr/local/bin/entrypoint"],
    Cmd: ["/sbin/init"],
    Env: [$path, "container=docker"],
    StopSignal: "SIGRTMIN+3"}')"
  step "node image: writing ${NODE_TAR} (base $(du -sh "${base}" | cut -f1), top $(du -sh "${work}/top" | cut -f1))"
  oci_image_build "${NODE_TAR}" "${NODE_IMAGE}" "${config}" "${base}" "${work}/top"
  rm -rf "${work}"
  trap - EXIT
  log "image $(oci_normalize_ref "${NODE_IMAGE}"): $(du -h "${NODE_TAR}" | cut -f1) -> ${NODE_TAR}"
  echo "${NODE_TAR}"
}

cmd_import() {
  local address="${1:-${DEFAULT_ADDRESS}}"
  [[ -S "${address}" ]] || die "no containerd socket at ${address} (hack/cluster.sh up)"
  [[ -f "${NODE_TAR}" ]] || die "${NODE_TAR} missing (hack/node-image.sh build)"
  step "importing $(oci_normalize_ref "${NODE_IMAGE}") into ${address}"
  ctr_import "${address}" "${NODE_TAR}"
  log "imported $(oci_normalize_ref "${NODE_IMAGE}")"
}

main() {
  local cmd="${1:-all}"
  shift || true
  case "${cmd}" in
    build) cmd_build ;;
    import) cmd_import "$@" ;;
    all)
      cmd_build >/dev/null
      cmd_import "$@"
      ;;
    *) die "usage: $0 [all|build|import [ADDRESS]]" ;;
  esac
}

main "$@"
