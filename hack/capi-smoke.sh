#!/usr/bin/env bash
# Checks Cluster API on the local management cluster after `hack/capi.sh init`
# (prints "N passed, N failed", exit 1 on any failure):
#   - the clusterctl inventory: the four providers at their versions
#   - the managers, cert-manager and the operator Available
#   - cert-manager issued the webhook serving certificates, and issues a fresh
#     SelfSigned -> CA -> leaf chain in a throwaway namespace
#   - the CA injector put that CA into Cluster API's webhook configurations
#     and CRD conversion webhooks
#   - the API server reaches the webhooks (server-side dry runs)
#   - Cluster API's manager may use the podplane kinds (aggregated RBAC)
# Needs `eval "$(hack/cluster.sh env)"`.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/clusterctl-repo.sh
source "${PODPLANE_HACK_DIR}/lib/clusterctl-repo.sh"

NS="capi-smoke-$$"
trap 'kubectl delete namespace "${NS}" --wait=false >/dev/null 2>&1 || true' EXIT

check() {
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then pass "${what}"; else record_failure "${what}"; fi
}

provider_version() {
  kubectl -n "$1" get providers.clusterctl.cluster.x-k8s.io "$2" -o jsonpath='{.version}'
}

check_inventory() {
  local v
  v="$(podplane_version)"
  check "clusterctl is ${CAPI_VERSION}" \
    grep -qx "${CAPI_VERSION}" <("${CAPI_BIN_DIR}/clusterctl" version -o short)
  check "inventory: cluster-api ${CAPI_VERSION}" \
    test "$(provider_version capi-system cluster-api)" == "${CAPI_VERSION}"
  check "inventory: bootstrap-kubeadm ${CAPI_VERSION}" \
    test "$(provider_version capi-kubeadm-bootstrap-system bootstrap-kubeadm)" == "${CAPI_VERSION}"
  check "inventory: control-plane-podplane ${v}" \
    test "$(provider_version podplane-system control-plane-podplane)" == "${v}"
  check "inventory: infrastructure-podplane ${v}" \
    test "$(provider_version podplane-infrastructure-system infrastructure-podplane)" == "${v}"
}

check_deployments() {
  local d
  for d in capi-system/capi-controller-manager \
    capi-kubeadm-bootstrap-system/capi-kubeadm-bootstrap-controller-manager \
    cert-manager/cert-manager cert-manager/cert-manager-cainjector podplane-system/podplane; do
    check "${d} Available" kubectl -n "${d%/*}" wait --for=condition=Available \
      "deployment/${d#*/}" --timeout=5s
  done
  check "the Cluster API managers log their version ${CAPI_VERSION}" logs_have "Version: ${CAPI_VERSION} (" \
    capi-system/capi-controller-manager capi-kubeadm-bootstrap-system/capi-kubeadm-bootstrap-controller-manager
  check "the cert-manager controller logs its version ${CERT_MANAGER_VERSION}" \
    logs_have "version=\"${CERT_MANAGER_VERSION}\"" cert-manager/cert-manager
}

# logs_have TEXT NAMESPACE/DEPLOYMENT...: each Deployment's log has TEXT.
logs_have() {
  local text="$1" d
  shift
  for d in "$@"; do
    grep -qF "${text}" <(kubectl -n "${d%/*}" logs "deployment/${d#*/}") || return 1
  done
}

secret_field() { kubectl -n "$1" get secret "$2" -o "jsonpath={.data.${3//./\\.}}"; }

# check_serving_cert NAMESPACE CERTIFICATE SECRET WEBHOOK_SERVICE
check_serving_cert() {
  local ns="$1" cert="$2" secret="$3" svc="$4" crt
  check "${ns}/${cert} Ready" kubectl -n "${ns}" wait --for=condition=Ready "certificate/${cert}" --timeout=5s
  crt="$(secret_field "${ns}" "${secret}" tls.crt | base64 -d)"
  check "${ns}/${secret}: issued for ${svc}.${ns}.svc" \
    grep -q "DNS:${svc}.${ns}.svc" <(openssl x509 -noout -ext subjectAltName <<<"${crt}")
}

# check_injected NAME WANT_CA JSONPATH KIND...: every caBundle at JSONPATH of
# each KIND/NAME object is WANT_CA (base64).
check_injected() {
  local name="$1" want="$2" path="$3" obj got
  shift 3
  for obj in "$@"; do
    got="$(kubectl get "${obj}" -o "jsonpath=${path}" 2>/dev/null | tr ' ' '\n' | sort -u)"
    check "caBundle of ${obj} is ${name}'s CA" test "${got}" == "${want}"
  done
}

# injectable_crds PROVIDER: the provider's CRDs that ask for a CA bundle.
injectable_crds() {
  kubectl get crd -l "cluster.x-k8s.io/provider=$1" -o json |
    jq -r '.items[] | select(.metadata.annotations["cert-manager.io/inject-ca-from"]) | "crd/\(.metadata.name)"'
}

check_webhooks() {
  local ca crds
  check_serving_cert capi-system capi-serving-cert capi-webhook-service-cert capi-webhook-service
  check_serving_cert capi-kubeadm-bootstrap-system capi-kubeadm-bootstrap-serving-cert \
    capi-kubeadm-bootstrap-webhook-service-cert capi-kubeadm-bootstrap-webhook-service
  ca="$(secret_field capi-system capi-webhook-service-cert ca.crt)"
  check_injected capi-serving-cert "${ca}" '{.webhooks[*].clientConfig.caBundle}' \
    validatingwebhookconfiguration/capi-validating-webhook-configuration \
    mutatingwebhookconfiguration/capi-mutating-webhook-configuration
  mapfile -t crds < <(injectable_crds cluster-api)
  check_injected capi-serving-cert "${ca}" '{.spec.conversion.webhook.clientConfig.caBundle}' "${crds[@]}"
  ca="$(secret_field capi-kubeadm-bootstrap-system capi-kubeadm-bootstrap-webhook-service-cert ca.crt)"
  mapfile -t crds < <(injectable_crds bootstrap-kubeadm)
  check_injected capi-kubeadm-bootstrap-serving-cert "${ca}" \
    '{.spec.conversion.webhook.clientConfig.caBundle}' "${crds[@]}"

  check "Cluster API's validating webhook rejects a Cluster without refs" \
    grep -qF 'one of spec.controlPlaneRef, spec.infrastructureRef or spec.topology must be set' \
    <(kubectl create --dry-run=server -f - 2>&1 <<EOF
{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
 "metadata": {"name": "probe", "namespace": "${NS}"}, "spec": {"paused": false}}
EOF
    )
  check "a Cluster with a HostedControlPlane controlPlaneRef passes the webhooks" \
    kubectl create --dry-run=server -f - <<EOF
{"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
 "metadata": {"name": "probe", "namespace": "${NS}"},
 "spec": {"controlPlaneRef": {"apiGroup": "controlplane.podplane.dev",
   "kind": "HostedControlPlane", "name": "probe"}}}
EOF
  check "the kubeadm bootstrap webhook rejects a user with passwd and passwdFrom" \
    grep -qF 'only one of passwd or passwdFrom may be specified for a single user' \
    <(kubectl create --dry-run=server -f - 2>&1 <<EOF
{"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2", "kind": "KubeadmConfig",
 "metadata": {"name": "probe", "namespace": "${NS}"},
 "spec": {"users": [{"name": "u", "passwd": "p", "passwdFrom": {"secret": {"name": "s", "key": "k"}}}]}}
EOF
    )
  check "a KubeadmConfig passes the kubeadm bootstrap webhooks" \
    kubectl create --dry-run=server -f - <<EOF
{"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2", "kind": "KubeadmConfig",
 "metadata": {"name": "probe", "namespace": "${NS}"}, "spec": {"format": "cloud-config"}}
EOF
}

# check_issuance: SelfSigned Issuer -> CA Certificate -> CA Issuer -> leaf.
check_issuance() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned, namespace: ${NS}}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: ca, namespace: ${NS}}
spec:
  isCA: true
  commonName: capi-smoke-ca
  secretName: ca
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: selfsigned}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca, namespace: ${NS}}
spec: {ca: {secretName: ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: leaf, namespace: ${NS}}
spec:
  dnsNames: [leaf.${NS}.svc]
  secretName: leaf
  issuerRef: {name: ca}
EOF
  check "cert-manager issues a CA Certificate (SelfSigned issuer)" \
    kubectl -n "${NS}" wait --for=condition=Ready certificate/ca --timeout=60s
  check "cert-manager issues a leaf Certificate (CA issuer)" \
    kubectl -n "${NS}" wait --for=condition=Ready certificate/leaf --timeout=60s
  check "the leaf verifies against the CA" openssl verify \
    -CAfile <(secret_field "${NS}" ca tls.crt | base64 -d) <(secret_field "${NS}" leaf tls.crt | base64 -d)
}

check_rbac() {
  local sa=system:serviceaccount:capi-system:capi-manager r
  for r in hostedcontrolplanes.controlplane.podplane.dev podmachines.infrastructure.podplane.dev \
    podmachinetemplates.infrastructure.podplane.dev; do
    check "Cluster API's manager may patch ${r}" kubectl auth can-i patch "${r}" --as="${sa}" -A
  done
  check "the kubeadm bootstrap manager may read hostedcontrolplanes" kubectl auth can-i get \
    hostedcontrolplanes.controlplane.podplane.dev -A \
    --as=system:serviceaccount:capi-kubeadm-bootstrap-system:capi-kubeadm-bootstrap-manager
}

main() {
  command -v kubectl >/dev/null || die "kubectl not in PATH: eval \"\$(hack/cluster.sh env)\" first"
  ensure_packages jq openssl
  kubectl create namespace "${NS}" >/dev/null
  check_inventory
  check_deployments
  check_webhooks
  check_issuance
  check_rbac
  check_summary
  ((FAILED == 0))
}

main "$@"
