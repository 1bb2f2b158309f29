#!/usr/bin/env bash
# Build the binaries of the local management cluster from upstream sources via
# the Go module proxy, cached per version under ${PODPLANE_CACHE}/bin/.
#
#   hack/build.sh [all|kubernetes|etcd|coredns|containerd|crictl|pause|
#                  konnectivity|flannel|metrics-server]...
#   hack/build.sh capi cert-manager     (Cluster API; not part of all)
#   hack/build.sh local-path-provisioner (hack/local-path.sh; not part of all)
#
# Every component is built by a small generated Go module under
# ${PODPLANE_CACHE}/src/ (never in the repo) that requires the upstream module at
# the pinned version. A component whose output directory has a .done stamp is
# skipped, so re-running is cheap.
#
# Another release: PODPLANE_KUBE_VERSION=v1.35.4 builds kubernetes of that
# release into its own bin/kubernetes-<v>/
# (lib/release.sh); hack/previous-release.sh does so for KUBE_PREVIOUS_VERSION.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/release.sh
source "${PODPLANE_HACK_DIR}/lib/release.sh"
# shellcheck source=hack/lib/build-hosted.sh
source "${PODPLANE_HACK_DIR}/lib/build-hosted.sh"

GO_BUILD_FLAGS=(-mod=mod -trimpath)

# mod_info MODULE@VERSION FIELD: a field of `go mod download -json`.
mod_info() {
  local dir
  dir="$(mktemp -d)"
  (cd "${dir}" && go mod download -json "$1") | sed -n "s/^\t\"$2\": \"\(.*\)\",\{0,1\}$/\1/p"
  rm -rf "${dir}"
}

# build_module NAME OUTDIR GOMOD_BODY LDFLAGS TAGS PKG...
# Writes ${PODPLANE_CACHE}/src/NAME/go.mod, then ONE `go build -o OUTDIR PKG...`.
build_module() {
  local name="$1" out="$2" gomod="$3" ldflags="$4" tags="$5"
  shift 5
  if [[ -f "${out}/.done" ]]; then
    log "${name}: cached in ${out}"
    return 0
  fi
  local src="${PODPLANE_CACHE}/src/${name}" start
  mkdir -p "${src}"
  printf '%s\n' "${gomod}" >"${src}/go.mod"
  [[ -f "${src}/go.sum" ]] || : >"${src}/go.sum"
  rm -rf "${out}.tmp"
  mkdir -p "${out}.tmp"
  step "${name}: go build $* (log: ${src}/build.log)"
  start=$(date +%s)
  # -v lists each package as it is compiled: a heartbeat shows the count.
  (cd "${src}" && exec env CGO_ENABLED=0 go build -v "${GO_BUILD_FLAGS[@]}" -tags "${tags}" \
    -ldflags "${ldflags}" -o "${out}.tmp/" "$@") >"${src}/build.log" 2>&1 &
  local pid=$! rc=0 last=${start}
  while kill -0 "${pid}" 2>/dev/null; do
    sleep 2
    if (($(date +%s) - last >= 60)); then
      last=$(date +%s)
      log "${name}: still building, $(grep -cv '^go: ' "${src}/build.log" || true) packages compiled so far"
    fi
  done
  wait "${pid}" || rc=$?
  if ((rc != 0)); then
    grep -v '^[a-z0-9.-]*/[^ ]*$' "${src}/build.log" | tail -n 30 >&2
    die "${name}: go build failed (full log: ${src}/build.log)"
  fi
  rm -rf "${out}"
  mv "${out}.tmp" "${out}"
  echo "$(($(date +%s) - start))" >"${out}/.build-seconds"
  touch "${out}/.done"
  log "${name}: built in $(($(date +%s) - start))s -> ${out}: $(cd "${out}" && echo *)"
}

# bin_rename DIR FROM TO: go names a binary after its package's last element;
# give it upstream's name (once: a cached build is already renamed).
bin_rename() { if [[ -f "$1/$2" ]]; then mv "$1/$2" "$1/$3"; fi; }

build_kubernetes() {
  local v="${KUBE_VERSION}" minor patch gomodfile staging replaces date ldflags pkg
  minor="$(k8s_minor "${v}")"
  patch="$(k8s_patch "${v}")"
  [[ -f "${KUBE_BIN_DIR}/.done" ]] && { log "kubernetes: cached in ${KUBE_BIN_DIR}"; return 0; }
  step "kubernetes ${v}: resolving k8s.io/kubernetes and its staging modules"
  gomodfile="$(mod_info "k8s.io/kubernetes@${v}" GoMod)"
  [[ -f "${gomodfile}" ]] || die "could not download k8s.io/kubernetes@${v}"
  # Every staging module is required at v0.0.0 and replaced by ./staging/src/...
  # upstream; a dependent module must point each at its published v0.<minor>.<patch>.
  staging="$(sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "${gomodfile}")"
  replaces=""
  for pkg in ${staging}; do
    replaces+=$'\t'"${pkg} => ${pkg} v0.${minor}.${patch}"$'\n'
  done
  # buildDate: the release's publication time on the module proxy.
  date="$(jq -r .Time "$(mod_info "k8s.io/kubernetes@${v}" Info)")"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${v} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date} -X ${pkg}.gitCommit="
  done
  build_module "kubernetes-${v}" "${KUBE_BIN_DIR}" \
    "module podplane.local/build/kubernetes

go $(sed -n 's/^go //p' "${gomodfile}")

require k8s.io/kubernetes ${v}

replace (
${replaces})" "${ldflags}" "" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubeadm
}

build_etcd() {
  local v="${ETCD_VERSION}"
  build_module "etcd-${v}" "${ETCD_BIN_DIR}" \
    "module podplane.local/build/etcd

go 1.24

require (
	go.etcd.io/etcd/server/v3 ${v}
	go.etcd.io/etcd/etcdctl/v3 ${v}
	go.etcd.io/etcd/etcdutl/v3 ${v}
)" "-s -w" "" \
    go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3 go.etcd.io/etcd/etcdutl/v3
  # go names the server module's binary "server" (path before the /v3 suffix).
  bin_rename "${ETCD_BIN_DIR}" server etcd
}

build_coredns() {
  local v="${COREDNS_VERSION}"
  build_module "coredns-${v}" "${COREDNS_BIN_DIR}" \
    "module podplane.local/build/coredns

go 1.25

require github.com/coredns/coredns ${v}" \
    "-s -w -X github.com/coredns/coredns/coremain.GitCommit=${v}" "" \
    github.com/coredns/coredns
}

build_containerd() {
  local v="${CONTAINERD_VERSION}" p=github.com/containerd/containerd/v2
  build_module "containerd-${v}" "${CONTAINERD_BIN_DIR}" \
    "module podplane.local/build/containerd

go 1.24

require ${p} ${v}" \
    "-s -w -X ${p}/version.Version=${v} -X ${p}/version.Package=${p}" \
    "no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
    "${p}/cmd/containerd" "${p}/cmd/containerd-shim-runc-v2" "${p}/cmd/ctr"
}

build_crictl() {
  local v="${CRI_TOOLS_VERSION}"
  build_module "cri-tools-${v}" "${CRICTL_BIN_DIR}" \
    "module podplane.local/build/cri-tools

go 1.26

require sigs.k8s.io/cri-tools ${v}" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${v}" "" \
    sigs.k8s.io/cri-tools/cmd/crictl
}

# pause: our own tiny init for pod sandboxes (hack/pause/main.go), not upstream's C.
build_pause() {
  local out="${PAUSE_BIN_DIR}"
  if [[ -f "${out}/.done" && "${out}/pause" -nt "${PODPLANE_HACK_DIR}/pause/main.go" ]]; then
    log "pause: cached in ${out}"
    return 0
  fi
  step "pause: go build hack/pause"
  mkdir -p "${out}"
  (cd "${PODPLANE_HACK_DIR}/pause" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=${PAUSE_VERSION}" -o "${out}/pause" .)
  touch "${out}/.done"
}

# capi: the core manager, the kubeadm bootstrap manager and clusterctl in ONE
# go build. The module requires its api module by a zero pseudo-version and
# replaces it with ./api, which does not apply to dependents: require both.
build_capi() {
  local v="${CAPI_VERSION}" p=sigs.k8s.io/cluster-api info ldflags major
  if [[ -f "${CAPI_BIN_DIR}/.done" && -x "${CAPI_BIN_DIR}/manager" ]]; then
    log "capi: cached in ${CAPI_BIN_DIR}"
    return 0
  fi
  rm -f "${CAPI_BIN_DIR}/.done"
  step "cluster-api ${v}: resolving ${p} and ${p}/api"
  info="$(mod_info "${p}@${v}" Info)"
  [[ -f "${info}" ]] || die "could not download ${p}@${v}"
  major="${v#v}"
  ldflags="-s -w -X ${p}/version.gitVersion=${v} -X ${p}/version.gitMajor=${major%%.*}"
  ldflags+=" -X ${p}/version.gitMinor=$(k8s_minor "${v}")"
  ldflags+=" -X ${p}/version.gitTreeState=clean -X ${p}/version.buildDate=$(jq -r .Time "${info}")"
  ldflags+=" -X ${p}/version.gitCommit=$(jq -r '.Origin.Hash // ""' "${info}")"
  build_module "cluster-api-${v}" "${CAPI_BIN_DIR}" \
    "module podplane.local/build/cluster-api

go 1.26.0

require (
	${p} ${v}
	${p}/api ${v}
)" "${ldflags}" "" \
    "${p}/core" "${p}/bootstrap/kubeadm" "${p}/cmd/clusterctl"
  bin_rename "${CAPI_BIN_DIR}" core manager
  bin_rename "${CAPI_BIN_DIR}" kubeadm kubeadm-bootstrap-manager
  log "capi: $(cd "${CAPI_BIN_DIR}" && echo *)"
}

# cert-manager: its command modules are not on the module proxy, so our own
# mains (hack/cert-manager/{controller,cainjector}) wire the root module's
# packages. They are copied into the generated module and rebuilt when changed.
build_cert_manager() {
  local v="${CERT_MANAGER_VERSION}" p=github.com/cert-manager/cert-manager info ldflags
  local src="${PODPLANE_CACHE}/src/cert-manager-${v}" d main
  for d in controller cainjector; do
    main="${PODPLANE_HACK_DIR}/cert-manager/${d}/main.go"
    if [[ ! -f "${CERT_MANAGER_BIN_DIR}/${d}" || "${main}" -nt "${CERT_MANAGER_BIN_DIR}/${d}" ]]; then
      rm -f "${CERT_MANAGER_BIN_DIR}/.done"
    fi
    mkdir -p "${src}/${d}"
    cp "${main}" "${src}/${d}/main.go"
  done
  [[ -f "${CERT_MANAGER_BIN_DIR}/.done" ]] && { log "cert-manager: cached in ${CERT_MANAGER_BIN_DIR}"; return 0; }
  step "cert-manager ${v}: resolving ${p}"
  info="$(mod_info "${p}@${v}" Info)"
  [[ -f "${info}" ]] || die "could not download ${p}@${v}"
  ldflags="-s -w -X ${p}/pkg/util.AppVersion=${v}"
  ldflags+=" -X ${p}/pkg/util.AppGitCommit=$(jq -r '.Origin.Hash // ""' "${info}")"
  build_module "cert-manager-${v}" "${CERT_MANAGER_BIN_DIR}" \
    "module podplane.local/build/cert-manager

go 1.26.0

require ${p} ${v}" "${ldflags}" "" ./controller ./cainjector
}

# local-path-provisioner: its main package is the module's root; the version
# variable is main.VERSION, as its scripts/build sets it.
build_local_path_provisioner() {
  local v="${LOCAL_PATH_PROVISIONER_VERSION}" p=github.com/rancher/local-path-provisioner
  build_module "local-path-provisioner-${v}" "${LOCAL_PATH_BIN_DIR}" \
    "module podplane.local/build/local-path-provisioner

go 1.23.0

require ${p} ${v}" "-s -w -X main.VERSION=${v}" "" "${p}"
}

main() {
  local targets=("$@") t
  ((${#targets[@]})) || targets=(all)
  [[ "${targets[*]}" == all ]] &&
    targets=(pause kubernetes etcd coredns containerd crictl konnectivity flannel metrics-server)
  command -v go >/dev/null || die "go not found (expected /usr/local/go/bin/go)"
  ensure_packages jq ca-certificates
  mkdir -p "${PODPLANE_CACHE}/bin" "${PODPLANE_CACHE}/src"
  for t in "${targets[@]}"; do
    case "${t}" in
      kubernetes | etcd | coredns | containerd | crictl | pause | capi | konnectivity | flannel) "build_${t}" ;;
      cert-manager | metrics-server | local-path-provisioner) "build_${t//-/_}" ;;
      *) die "unknown build target ${t}" ;;
    esac
  done
}

main "$@"
