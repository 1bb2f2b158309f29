# shellcheck shell=bash disable=SC2034 # a library: sets variables for its callers
# The release that hack/build.sh, hack/images.sh and hack/node-image.sh build
# for. Source it after hack/lib/common.sh.
#
#   PODPLANE_KUBE_VERSION=v1.35.4   Kubernetes binaries, kube-* images and
#                                   kindest/node:<it> of that release instead of
#                                   KUBE_VERSION's
#
# KUBE_PINNED_VERSION keeps versions.env's KUBE_VERSION.
# It is cached beside the default one (bin/kubernetes-<v>/, images/*_<v>.tar);
# what does not depend on it (etcd, pause, CoreDNS, konnectivity, flannel,
# metrics-server, containerd, crictl) is shared. hack/previous-release.sh sets
# it to KUBE_PREVIOUS_VERSION.

KUBE_PINNED_VERSION="${KUBE_VERSION}"

if [[ -n "${PODPLANE_KUBE_VERSION:-}" ]]; then
  [[ "${PODPLANE_KUBE_VERSION}" =~ ^v1\.[0-9]+\.[0-9]+$ ]] ||
    die "PODPLANE_KUBE_VERSION=${PODPLANE_KUBE_VERSION}: want v1.<minor>.<patch>"
  KUBE_VERSION="${PODPLANE_KUBE_VERSION}"
  KUBE_BIN_DIR="${PODPLANE_CACHE}/bin/kubernetes-${KUBE_VERSION}"
fi
