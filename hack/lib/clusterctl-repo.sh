# shellcheck shell=bash disable=SC2034 # a library: defines variables for its callers
# The local clusterctl repository (hack/capi.sh repo). Source hack/lib/common.sh
# first. Layout, as clusterctl's local repository reads it
# ({basepath}/{provider-label}/{version}/{file}, version a semantic version):
#
#   ${CLUSTERCTL_REPO_DIR}/cluster-api/<CAPI_VERSION>/{core-components,metadata}.yaml
#   ${CLUSTERCTL_REPO_DIR}/bootstrap-kubeadm/<CAPI_VERSION>/{bootstrap-components,metadata}.yaml
#   ${CLUSTERCTL_REPO_DIR}/cert-manager/<CERT_MANAGER_VERSION>/cert-manager.yaml
#   ${CLUSTERCTL_REPO_DIR}/control-plane-podplane/<v>/{control-plane-components,metadata}.yaml
#   ${CLUSTERCTL_REPO_DIR}/infrastructure-podplane/<v>/{infrastructure-components,metadata}.yaml
#                                                         (+ cluster-template*.yaml)
#   ${CLUSTERCTL_CONFIG_FILE}   providers (file:// URLs), cert-manager url/version
#
# <v> is Cargo.toml's version with a "v". Cluster API and cert-manager parts are
# generated once per version; the podplane parts on every call (they follow
# manifests/ and crds/).

CLUSTERCTL_DIR="${PODPLANE_CACHE}/clusterctl"
CLUSTERCTL_REPO_DIR="${CLUSTERCTL_DIR}/repository"
CLUSTERCTL_CONFIG_FILE="${CLUSTERCTL_DIR}/clusterctl.yaml"

# podplane_version: the crate version as a clusterctl release, e.g. v0.1.0.
podplane_version() {
  local v
  v="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${PODPLANE_ROOT}/Cargo.toml" | head -n1)"
  [[ -n "${v}" ]] || die "no version in Cargo.toml"
  echo "v${v}"
}

# module_dir MODULE@VERSION: the module's source in the Go module cache.
module_dir() {
  local tmp dir
  tmp="$(mktemp -d)"
  dir="$(cd "${tmp}" && go mod download -json "$1" | jq -r '.Dir // empty')"
  rm -rf "${tmp}"
  [[ -d "${dir}" ]] || die "could not download $1"
  echo "${dir}"
}

repo_kubectl() { "${KUBE_BIN_DIR}/kubectl" "$@"; }

# count_kind FILE KIND: how many objects of KIND a multi-document YAML has.
count_kind() { grep -c "^kind: $2\$" "$1" || true; }

# check_components FILE: exactly one Namespace, no image pulled on each start.
check_components() {
  local file="$1"
  [[ "$(count_kind "${file}" Namespace)" == 1 ]] || die "${file}: not exactly one Namespace"
  if grep -q 'imagePullPolicy: Always' "${file}"; then die "${file}: imagePullPolicy Always"; fi
}

# repo_capi_provider LABEL SUBDIR FILE IMAGE: `kubectl kustomize` of the
# module's SUBDIR/config/default (copied: the module cache is read-only), with
# the manager image set to IMAGE:CAPI_VERSION and pulled only if not present,
# as upstream's release manifests are.
repo_capi_provider() {
  local label="$1" subdir="$2" file="$3" image="$4" dest mod work from
  dest="${CLUSTERCTL_REPO_DIR}/${label}/${CAPI_VERSION}"
  if [[ -f "${dest}/${file}" && "${dest}/${file}" -nt "${BASH_SOURCE[0]}" ]]; then
    log "repository: ${label}/${CAPI_VERSION} cached"
    return 0
  fi
  mod="$(module_dir "sigs.k8s.io/cluster-api@${CAPI_VERSION}")"
  work="$(mktemp -d "${TMPDIR:-/tmp}/capi-repo.XXXXXX")"
  cp -r "${mod}/${subdir}/config" "${work}/config"
  chmod -R u+w "${work}"
  from="$(sed -n 's/^ *- image: *\(.*\):[^:/]*$/\1/p' "${work}/config/default/manager_image_patch.yaml")"
  [[ -n "${from}" ]] || die "${subdir}: no image in manager_image_patch.yaml"
  mkdir -p "${work}/release" "${dest}"
  cat >"${work}/release/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../config/default
images:
  - name: ${from}
    newName: ${image}
    newTag: ${CAPI_VERSION}
patches:
  - target:
      kind: Deployment
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: IfNotPresent
EOF
  repo_kubectl kustomize "${work}/release" >"${dest}/${file}.tmp"
  rm -rf "${work}"
  check_components "${dest}/${file}.tmp"
  grep -q "image: ${image}:${CAPI_VERSION}\$" "${dest}/${file}.tmp" || die "${label}: image not set"
  cp "${mod}/metadata.yaml" "${dest}/metadata.yaml"
  mv "${dest}/${file}.tmp" "${dest}/${file}"
  log "repository: ${label}/${CAPI_VERSION}/${file} ($(count_kind "${dest}/${file}" CustomResourceDefinition) CRDs)"
}

# repo_cert_manager: cert-manager's CRDs from its module, then our manifest
# with the image tags set to CERT_MANAGER_VERSION.
repo_cert_manager() {
  local v="${CERT_MANAGER_VERSION}" dest mod manifest="${PODPLANE_HACK_DIR}/manifests/cert-manager.yaml" crd
  dest="${CLUSTERCTL_REPO_DIR}/cert-manager/${v}"
  if [[ -f "${dest}/cert-manager.yaml" && "${dest}/cert-manager.yaml" -nt "${manifest}" &&
    "${dest}/cert-manager.yaml" -nt "${BASH_SOURCE[0]}" ]]; then
    log "repository: cert-manager/${v} cached"
    return 0
  fi
  mod="$(module_dir "github.com/cert-manager/cert-manager@${v}")"
  mkdir -p "${dest}"
  {
    for crd in "${mod}"/deploy/crds/*.yaml; do
      sed '/^---$/d' "${crd}"
      echo '---'
    done
    sed "s#\(image: quay.io/jetstack/cert-manager-[a-z]*\):.*#\1:${v}#" "${manifest}"
  } >"${dest}/cert-manager.yaml.tmp"
  check_components "${dest}/cert-manager.yaml.tmp"
  mv "${dest}/cert-manager.yaml.tmp" "${dest}/cert-manager.yaml"
  log "repository: cert-manager/${v}/cert-manager.yaml ($(count_kind "${dest}/cert-manager.yaml" CustomResourceDefinition) CRDs)"
}

# object_ids FILE: "Kind/namespace/name" of every object of kustomize output
# (top-level keys at column 0, metadata's fields indented by two), sorted.
object_ids() {
  awk '
    function emit() { if (kind != "") print kind "/" ns "/" name; kind = ns = name = "" }
    /^---$/ { emit(); next }
    /^[A-Za-z]/ { top = $1 }
    /^kind: / { kind = $2 }
    top == "metadata:" && /^  name: / { name = $2 }
    top == "metadata:" && /^  namespace: / { ns = $2 }
    END { emit() }
  ' "$1" | sort
}

# repo_podplane: both podplane providers from manifests/clusterctl/, and a
# check that together they carry every object of `kubectl apply -k manifests/`.
repo_podplane() {
  local v cp infra dir="${PODPLANE_ROOT}/manifests/clusterctl" missing tmpl templates=""
  v="$(podplane_version)"
  cp="${CLUSTERCTL_REPO_DIR}/control-plane-podplane/${v}"
  infra="${CLUSTERCTL_REPO_DIR}/infrastructure-podplane/${v}"
  rm -rf "${cp}" "${infra}"
  mkdir -p "${cp}" "${infra}"
  repo_kubectl kustomize --load-restrictor=LoadRestrictionsNone "${dir}/control-plane" \
    >"${cp}/control-plane-components.yaml"
  repo_kubectl kustomize --load-restrictor=LoadRestrictionsNone "${dir}/infrastructure" \
    >"${infra}/infrastructure-components.yaml"
  check_components "${cp}/control-plane-components.yaml"
  check_components "${infra}/infrastructure-components.yaml"
  cp "${dir}/metadata.yaml" "${cp}/metadata.yaml"
  cp "${dir}/metadata.yaml" "${infra}/metadata.yaml"
  for tmpl in "${dir}"/cluster-template*.yaml; do
    [[ -f "${tmpl}" ]] || continue
    cp "${tmpl}" "${infra}/"
    templates+=" + ${tmpl##*/}"
  done
  repo_kubectl kustomize "${PODPLANE_ROOT}/manifests" >"${cp}/.install.yaml"
  missing="$(comm -23 <(object_ids "${cp}/.install.yaml") \
    <(cat <(object_ids "${cp}/control-plane-components.yaml") \
      <(object_ids "${infra}/infrastructure-components.yaml") | sort))"
  rm -f "${cp}/.install.yaml"
  [[ -z "${missing}" ]] ||
    die "manifests/ has objects neither podplane provider carries (add them to manifests/clusterctl/): ${missing//$'\n'/ }"
  log "repository: control-plane-podplane/${v}, infrastructure-podplane/${v}${templates}"
}

# write_clusterctl_config: providers with file:// URLs (overriding the
# built-in cluster-api and kubeadm entries), cert-manager from the repository,
# no version check against GitHub, overrides only from our own folder.
write_clusterctl_config() {
  local v r="${CLUSTERCTL_REPO_DIR}"
  v="$(podplane_version)"
  mkdir -p "${CLUSTERCTL_DIR}/overrides"
  cat >"${CLUSTERCTL_CONFIG_FILE}.tmp" <<EOF
# Written by hack/capi.sh repo: the local clusterctl repository of podplane's
# management cluster. Use with clusterctl --config ${CLUSTERCTL_CONFIG_FILE}
providers:
  - name: cluster-api
    type: CoreProvider
    url: file://${r}/cluster-api/${CAPI_VERSION}/core-components.yaml
  - name: kubeadm
    type: BootstrapProvider
    url: file://${r}/bootstrap-kubeadm/${CAPI_VERSION}/bootstrap-components.yaml
  - name: podplane
    type: ControlPlaneProvider
    url: file://${r}/control-plane-podplane/${v}/control-plane-components.yaml
  - name: podplane
    type: InfrastructureProvider
    url: file://${r}/infrastructure-podplane/${v}/infrastructure-components.yaml
cert-manager:
  url: file://${r}/cert-manager/${CERT_MANAGER_VERSION}/cert-manager.yaml
  version: ${CERT_MANAGER_VERSION}
overridesFolder: ${CLUSTERCTL_DIR}/overrides
CLUSTERCTL_DISABLE_VERSIONCHECK: "true"
EOF
  mv "${CLUSTERCTL_CONFIG_FILE}.tmp" "${CLUSTERCTL_CONFIG_FILE}"
}

cmd_repo() {
  local start
  start=$(date +%s)
  [[ -x "${KUBE_BIN_DIR}/kubectl" ]] || die "kubectl missing: hack/build.sh kubernetes"
  command -v go >/dev/null || die "go not found"
  ensure_packages jq
  step "clusterctl repository in ${CLUSTERCTL_REPO_DIR}"
  repo_capi_provider cluster-api core core-components.yaml registry.k8s.io/cluster-api/cluster-api-controller
  repo_capi_provider bootstrap-kubeadm bootstrap/kubeadm bootstrap-components.yaml \
    registry.k8s.io/cluster-api/kubeadm-bootstrap-controller
  repo_cert_manager
  repo_podplane
  write_clusterctl_config
  log "repository done in $(($(date +%s) - start))s; config: ${CLUSTERCTL_CONFIG_FILE}"
}
