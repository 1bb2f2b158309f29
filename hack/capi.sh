#!/usr/bin/env bash
# Cluster API on the local management cluster, installed the way a user
# installs a release: `clusterctl init` from a clusterctl repository, here a
# local one built offline from Go modules.
#
#   hack/capi.sh build   binaries (hack/build.sh capi cert-manager) and the
#                        four images under their upstream names (cached),
#                        imported into the local cluster's containerd
#   hack/capi.sh repo    the local clusterctl repository and its config under
#                        ${PODPLANE_CACHE}/clusterctl/ (layout: hack/README.md)
#   hack/capi.sh init    clusterctl init: cert-manager, cluster-api, kubeadm
#                        bootstrap, podplane control-plane + infrastructure;
#                        then waits until every Deployment is Available and
#                        Cluster API's webhooks answer the API server
#   hack/capi.sh env     export lines: PATH with clusterctl,
#                        PODPLANE_CLUSTERCTL_CONFIG (pass it as --config), ...
#
# init needs the cluster (hack/cluster.sh up) and `eval "$(hack/cluster.sh env)"`;
# hack/capi-smoke.sh checks the result.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"
# shellcheck source=hack/lib/clusterctl-repo.sh
source "${PODPLANE_HACK_DIR}/lib/clusterctl-repo.sh"

IMAGES_DIR="${PODPLANE_CACHE}/images"
CONTAINERD_SOCK="${PODPLANE_STATE}/containerd/containerd.sock"
WAIT_TIMEOUT="${PODPLANE_CAPI_TIMEOUT:-300}"

# name binary path-in-image reference
capi_images() {
  cat <<EOF
cluster-api ${CAPI_BIN_DIR}/manager /manager registry.k8s.io/cluster-api/cluster-api-controller:${CAPI_VERSION}
kubeadm-bootstrap ${CAPI_BIN_DIR}/kubeadm-bootstrap-manager /manager registry.k8s.io/cluster-api/kubeadm-bootstrap-controller:${CAPI_VERSION}
cert-manager-controller ${CERT_MANAGER_BIN_DIR}/controller /app/cmd/controller/controller quay.io/jetstack/cert-manager-controller:${CERT_MANAGER_VERSION}
cert-manager-cainjector ${CERT_MANAGER_BIN_DIR}/cainjector /app/cmd/cainjector/cainjector quay.io/jetstack/cert-manager-cainjector:${CERT_MANAGER_VERSION}
EOF
}

image_tar() { echo "${IMAGES_DIR}/${1//[\/:]/_}.tar"; }

# build_image BINARY PATH REF: a static binary at PATH on the base rootfs,
# run as nonroot (65532) like upstream's distroless images; cached until the
# binary or oci.sh changes.
build_image() {
  local bin="$1" path="$2" ref="$3" tar work start
  tar="$(image_tar "${ref}")"
  [[ -x "${bin}" ]] || die "image ${ref}: ${bin} missing"
  if [[ -f "${tar}" && "${tar}" -nt "${bin}" && "${tar}" -nt "${PODPLANE_HACK_DIR}/lib/oci.sh" ]]; then
    log "image ${ref}: cached"
    return 0
  fi
  start=$(date +%s)
  work="$(mktemp -d "${TMPDIR:-/tmp}/img-capi.XXXXXX")"
  oci_base_rootfs "${work}"
  install -D -m 0755 "${bin}" "${work}${path}"
  oci_image_build "${tar}" "${ref}" "$(jq -cn --arg b "${path}" '{Entrypoint: [$b], User: "65532:65532"}')" "${work}"
  rm -rf "${work}"
  log "image ${ref}: $(du -h "${tar}" | cut -f1) in $(($(date +%s) - start))s -> ${tar}"
}

cmd_build() {
  local start bin path ref
  start=$(date +%s)
  "${PODPLANE_HACK_DIR}/build.sh" capi cert-manager
  ensure_packages jq
  mkdir -p "${IMAGES_DIR}"
  step "Cluster API and cert-manager images"
  while read -r _ bin path ref; do
    build_image "${bin}" "${path}" "${ref}"
  done < <(capi_images)
  if [[ -S "${CONTAINERD_SOCK}" ]]; then
    while read -r _ bin path ref; do
      ctr_import_changed "${CONTAINERD_SOCK}" "${ref}" "$(image_tar "${ref}")"
    done < <(capi_images)
  else
    log "no containerd at ${CONTAINERD_SOCK}: images not imported (hack/cluster.sh up, then run build again)"
  fi
  log "build done in $(($(date +%s) - start))s"
}

cmd_env() {
  cat <<EOF
export PATH=${CAPI_BIN_DIR}:\$PATH
export PODPLANE_CLUSTERCTL_CONFIG=${CLUSTERCTL_CONFIG_FILE}
export PODPLANE_CLUSTERCTL_REPOSITORY=${CLUSTERCTL_REPO_DIR}
export PODPLANE_PROVIDER_VERSION=$(podplane_version)
export CLUSTERCTL_DISABLE_VERSIONCHECK=true
# clusterctl: ${CAPI_BIN_DIR}/clusterctl (always pass --config "\$PODPLANE_CLUSTERCTL_CONFIG")
EOF
}

need_cluster() {
  command -v kubectl >/dev/null || die "kubectl not in PATH: eval \"\$(hack/cluster.sh env)\" first"
  kubectl get --raw /readyz >/dev/null 2>&1 || die "the local cluster is not reachable (hack/cluster.sh up)"
  [[ -x "${CAPI_BIN_DIR}/clusterctl" ]] || die "clusterctl missing: hack/capi.sh build"
  [[ -f "${CLUSTERCTL_CONFIG_FILE}" ]] || die "no clusterctl config: hack/capi.sh repo"
}

clusterctl_cmd() {
  CLUSTERCTL_DISABLE_VERSIONCHECK=true "${CAPI_BIN_DIR}/clusterctl" --config "${CLUSTERCTL_CONFIG_FILE}" "$@"
}

# installed_providers: the clusterctl inventory, one "<namespace>/<name>" a line.
installed_providers() {
  kubectl get providers.clusterctl.cluster.x-k8s.io -A \
    -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null || true
}

# The podplane providers are installed again when their components changed
# since the last init (a checksum annotation on the inventory's Provider), so
# a kept cluster picks up new CRDs and RBAC.
PODPLANE_SUM_ANNOTATION=podplane.dev/components-sha256

podplane_components_sum() {
  cat "${CLUSTERCTL_REPO_DIR}"/*-podplane/"$(podplane_version)"/{*-components,metadata}.yaml |
    sha256sum | cut -c1-16
}

cmd_init() {
  need_cluster
  local start installed args=() sum old
  start=$(date +%s)
  installed="$(installed_providers)"
  grep -q '/cluster-api$' <<<"${installed}" || args+=(--core "cluster-api:${CAPI_VERSION}")
  grep -q '/bootstrap-kubeadm$' <<<"${installed}" || args+=(--bootstrap "kubeadm:${CAPI_VERSION}")
  sum="$(podplane_components_sum)"
  if grep -q '^podplane-system/control-plane-podplane$' <<<"${installed}"; then
    old="$(kubectl -n podplane-system get providers.clusterctl.cluster.x-k8s.io control-plane-podplane \
      -o "jsonpath={.metadata.annotations.podplane\.dev/components-sha256}")"
    if [[ "${old}" != "${sum}" ]]; then
      step "podplane providers changed (${old:-unknown} -> ${sum}): clusterctl delete, then init again"
      clusterctl_cmd delete --control-plane podplane --infrastructure podplane
      kubectl -n podplane-system wait --for=delete deployment/podplane --timeout=120s >/dev/null 2>&1 || true
      installed="$(installed_providers)"
    fi
  fi
  grep -q '/control-plane-podplane$' <<<"${installed}" ||
    args+=(--control-plane "podplane:$(podplane_version)")
  grep -q '/infrastructure-podplane$' <<<"${installed}" ||
    args+=(--infrastructure "podplane:$(podplane_version)")
  if ((${#args[@]})); then
    step "clusterctl init ${args[*]}"
    clusterctl_cmd init "${args[@]}"
    kubectl -n podplane-system annotate --overwrite providers.clusterctl.cluster.x-k8s.io \
      control-plane-podplane "${PODPLANE_SUM_ANNOTATION}=${sum}" >/dev/null
  else
    log "every provider is installed and unchanged"
  fi
  wait_available
  wait_webhooks
  log "init done in $(($(date +%s) - start))s"
}

# pending_deployments: "<namespace>/<name>" of every Deployment clusterctl
# installed (providers and cert-manager: label clusterctl.cluster.x-k8s.io)
# that is not Available at its current generation.
pending_deployments() {
  kubectl get deployments -A -l clusterctl.cluster.x-k8s.io -o json | jq -r '.items[]
    | select((.status.observedGeneration // 0) < .metadata.generation
        or ((.status.conditions // []) | map(select(.type == "Available" and .status == "True")) | length == 0)
        or (.status.updatedReplicas // 0) < .spec.replicas)
    | "\(.metadata.namespace)/\(.metadata.name)"'
}

wait_available() {
  local start pending last=0 n
  start=$(date +%s)
  step "waiting for the provider and cert-manager Deployments to be Available"
  while :; do
    n="$(kubectl get deployments -A -l clusterctl.cluster.x-k8s.io -o name | wc -l)"
    pending="$(pending_deployments | tr '\n' ' ')"
    if ((n > 0)) && [[ -z "${pending// /}" ]]; then break; fi
    if (($(date +%s) - start >= WAIT_TIMEOUT)); then
      kubectl get pods -A -o wide >&2 || true
      die "timed out after ${WAIT_TIMEOUT}s; not Available: ${pending}"
    fi
    if (($(date +%s) - last >= 10)); then
      last=$(date +%s)
      log "not Available yet: ${pending:-(no Deployments yet)}"
    fi
    sleep 1
  done
  log "${n} Deployments Available after $(($(date +%s) - start))s"
}

# webhook_probe: a server-side dry run of a Cluster that only Cluster API's
# validating webhook rejects; that rejection proves the API server reaches it.
WEBHOOK_PROBE_CLUSTER='{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
  "metadata": {"name": "webhook-probe", "namespace": "default"}, "spec": {"paused": false}}'
WEBHOOK_PROBE_ERROR='one of spec.controlPlaneRef, spec.infrastructureRef or spec.topology must be set'

webhook_probe() {
  local out
  out="$(kubectl create --dry-run=server -f - <<<"${WEBHOOK_PROBE_CLUSTER}" 2>&1 || true)"
  grep -qF "${WEBHOOK_PROBE_ERROR}" <<<"${out}"
}

wait_webhooks() {
  local start
  start=$(date +%s)
  step "waiting until the API server reaches Cluster API's webhooks"
  if ! wait_for "Cluster API's validating webhook" "${WAIT_TIMEOUT}" webhook_probe; then
    kubectl create --dry-run=server -f - <<<"${WEBHOOK_PROBE_CLUSTER}" >&2 || true
    die "Cluster API's webhook does not answer"
  fi
  log "webhooks answer after $(($(date +%s) - start))s"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "${cmd}" in
    build) cmd_build ;;
    repo) cmd_repo ;;
    init) cmd_init ;;
    env) cmd_env ;;
    *) die "usage: $0 build|repo|init|env" ;;
  esac
}

main "$@"
