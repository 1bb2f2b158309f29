#!/usr/bin/env bash
# Build the operator binary (release) and import it into the local cluster's
# containerd as docker.io/podplane/podplane:v${version} (Cargo.toml's), the image
# manifests/operator.yaml runs (PODPLANE_OPERATOR_IMAGE overrides the name).
# It is the image the Dockerfile builds, without a container engine.
#
# The binary links glibc dynamically; the image carries it with the shared
# libraries it needs (oci_add_binary), on top of the minimal base rootfs.
set -euo pipefail
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/oci.sh
source "${PODPLANE_HACK_DIR}/lib/oci.sh"

IMAGE="$(operator_image_ref)"

step "cargo build --release (operator binary)"
(cd "${PODPLANE_ROOT}" && cargo build --release --quiet --bin podplane)
binary="${PODPLANE_ROOT}/target/release/podplane"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/podplane-image.XXXXXX")"
trap 'rm -rf "${rootfs}"' EXIT
chmod 0755 "${rootfs}"
oci_base_rootfs "${rootfs}"
oci_add_binary "${rootfs}" "${binary}" /usr/local/bin/podplane

step "importing ${IMAGE}"
oci_image_from_dir "${rootfs}" "${IMAGE}" \
  '{"Entrypoint":["/usr/local/bin/podplane"],"User":"65532:65532"}'
