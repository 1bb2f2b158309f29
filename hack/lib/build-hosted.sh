# shellcheck shell=bash
# Build recipes of what every hosted cluster runs (konnectivity, flannel,
# metrics-server), part of `hack/build.sh all`. Sourced by hack/build.sh: uses
# its build_module, mod_info and bin_rename.

# konnectivity: proxy-server and proxy-agent in ONE go build. The root module
# replaces its konnectivity-client with ./konnectivity-client, which does not
# apply to dependents: require both at the same version.
build_konnectivity() {
  local v="${KONNECTIVITY_VERSION}" p=sigs.k8s.io/apiserver-network-proxy
  build_module "konnectivity-${v}" "${KONNECTIVITY_BIN_DIR}" \
    "module podplane.local/build/konnectivity

go 1.24.7

require (
	${p} ${v}
	${p}/konnectivity-client ${v}
)" "-s -w" "" "${p}/cmd/server" "${p}/cmd/agent"
  bin_rename "${KONNECTIVITY_BIN_DIR}" server proxy-server
  bin_rename "${KONNECTIVITY_BIN_DIR}" agent proxy-agent
}

# flannel: flanneld and install-conf (upstream's kube-flannel.yml runs it from
# the same image to install the CNI config). flanneld is built from a copy of
# the root package's main.go without two backends: tencentvpc (the proxy lacks
# its tencentcloud SDK modules) and udp (cgo on amd64); vxlan is the default.
build_flannel() {
  local v="${FLANNEL_VERSION}" p=github.com/flannel-io/flannel dir
  local src="${PODPLANE_CACHE}/src/flannel-${v}"
  [[ -f "${FLANNEL_BIN_DIR}/.done" ]] && { log "flannel-${v}: cached in ${FLANNEL_BIN_DIR}"; return 0; }
  dir="$(mod_info "${p}@${v}" Dir)"
  [[ -f "${dir}/main.go" ]] || die "could not download ${p}@${v}"
  mkdir -p "${src}/flanneld"
  sed -E '\|"'"${p}"'/pkg/backend/(tencentvpc\|udp)"$|d' "${dir}/main.go" >"${src}/flanneld/main.go"
  ! grep -Eq 'backend/(tencentvpc|udp)"' "${src}/flanneld/main.go" || die "flannel: could not drop backends"
  build_module "flannel-${v}" "${FLANNEL_BIN_DIR}" \
    "module podplane.local/build/flannel

go 1.26.0

require ${p} ${v}" "-s -w -X ${p}/pkg/version.Version=${v}" "" ./flanneld "${p}/cmd/install_conf"
  bin_rename "${FLANNEL_BIN_DIR}" install_conf install-conf
}

# metrics-server: version variables as its Makefile sets them (client-go's).
build_metrics_server() {
  local v="${METRICS_SERVER_VERSION}" p=sigs.k8s.io/metrics-server info ldflags
  [[ -f "${METRICS_SERVER_BIN_DIR}/.done" ]] && { log "metrics-server-${v}: cached in ${METRICS_SERVER_BIN_DIR}"; return 0; }
  info="$(mod_info "${p}@${v}" Info)"
  [[ -f "${info}" ]] || die "could not download ${p}@${v}"
  ldflags="-s -w -X k8s.io/client-go/pkg/version.gitVersion=${v}"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitCommit=$(jq -r '.Origin.Hash // ""' "${info}")"
  ldflags+=" -X k8s.io/client-go/pkg/version.buildDate=$(jq -r .Time "${info}")"
  build_module "metrics-server-${v}" "${METRICS_SERVER_BIN_DIR}" \
    "module podplane.local/build/metrics-server

go 1.26.4

require ${p} ${v}" "${ldflags}" "" "${p}/cmd/metrics-server"
}
