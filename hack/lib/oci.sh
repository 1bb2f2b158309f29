# shellcheck shell=bash
# Build OCI images offline from plain directories and import them into
# containerd. Source hack/lib/common.sh first.
#
#   oci_base_rootfs DIR
#       minimal files a static binary image wants: /etc/passwd, /etc/group,
#       /etc/nsswitch.conf, /tmp, CA certificates.
#   oci_image_build OUT_TAR IMAGE_REF CONFIG_JSON LAYER_DIR...
#       writes an OCI image layout archive (one uncompressed layer per
#       LAYER_DIR, in order) that `ctr images import` names IMAGE_REF, in
#       its normalized form (kindest/node:v1 -> docker.io/kindest/node:v1),
#       which is the name the kubelet asks for.
#       CONFIG_JSON is the image config's "config" object, e.g.
#       '{"Entrypoint":["/pause"]}' (PATH is added when it has no Env).
#   oci_add_binary ROOTFS BINARY [DEST]
#       a (possibly dynamically linked) binary plus the libraries ldd lists.
#   oci_image_from_dir DIR IMAGE_REF [CONFIG_JSON] [ADDRESS]
#       oci_image_build + ctr_import in one go, for later callers (the
#       operator's image, kindest/node).
#   ctr_import ADDRESS TAR...      import archives into namespace k8s.io
#   ctr_image_exists ADDRESS REF

OCI_DEFAULT_PATH="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

oci_base_rootfs() {
  local dir="$1"
  mkdir -p "${dir}/etc/ssl/certs" "${dir}/tmp" "${dir}/root" "${dir}/home/nonroot" "${dir}/var/run"
  chmod 1777 "${dir}/tmp"
  chmod 0700 "${dir}/root"
  cat >"${dir}/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"${dir}/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
  echo 'hosts: files dns' >"${dir}/etc/nsswitch.conf"
  chown 65532:65532 "${dir}/home/nonroot"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "${dir}/etc/ssl/certs/ca-certificates.crt"
  fi
}

# _oci_blob LAYOUT FILE MEDIATYPE: move FILE into LAYOUT/blobs/sha256 and print
# its descriptor JSON.
_oci_blob() {
  local layout="$1" file="$2" media="$3" digest size
  digest="$(sha256sum "${file}" | cut -d' ' -f1)"
  size="$(stat -c %s "${file}")"
  mv "${file}" "${layout}/blobs/sha256/${digest}"
  jq -cn --arg m "${media}" --arg d "sha256:${digest}" --argjson s "${size}" \
    '{mediaType: $m, digest: $d, size: $s}'
}

# oci_normalize_ref REF: the full name containerd's CRI looks images up by
# (kindest/node:v1 -> docker.io/kindest/node:v1, busybox:1 ->
# docker.io/library/busybox:1); already qualified names are unchanged.
oci_normalize_ref() {
  local ref="$1" first="${1%%/*}"
  if [[ "${ref}" != */* ]]; then
    ref="docker.io/library/${ref}"
  elif [[ "${first}" != *.* && "${first}" != *:* && "${first}" != localhost ]]; then
    ref="docker.io/${ref}"
  fi
  [[ "${ref##*/}" == *[:@]* ]] || ref="${ref}:latest"
  echo "${ref}"
}

oci_image_build() {
  local out="$1" ref config="$3"
  ref="$(oci_normalize_ref "$2")"
  shift 3
  ((${#@})) || die "oci_image_build: no layer directories"
  local work layout layers=() diff_ids=() dir desc tag
  work="$(mktemp -d "${TMPDIR:-/tmp}/oci.XXXXXX")"
  layout="${work}/layout"
  mkdir -p "${layout}/blobs/sha256"
  for dir in "$@"; do
    [[ -d "${dir}" ]] || die "oci_image_build: ${dir} is not a directory"
    # Reproducible layer: sorted, fixed mtime, ownership kept as is. The layer
    # has no entry for its root directory (a mktemp -d one would be 0700 and
    # lock non-root users out of /): the runtime makes / 0755.
    (cd "${dir}" && find . -mindepth 1 -maxdepth 1 \
      ! -name dev ! -name proc ! -name sys -printf '%P\n' | LC_ALL=C sort) >"${work}/top-level"
    tar -C "${dir}" --sort=name --mtime=@0 --numeric-owner --xattrs \
      -cf "${work}/layer.tar" -T "${work}/top-level"
    diff_ids+=("sha256:$(sha256sum "${work}/layer.tar" | cut -d' ' -f1)")
    layers+=("$(_oci_blob "${layout}" "${work}/layer.tar" application/vnd.oci.image.layer.v1.tar)")
  done
  jq -cn --argjson c "${config}" --arg path "${OCI_DEFAULT_PATH}" \
    --argjson ids "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
      config: ({Env: [$path]} + $c), rootfs: {type: "layers", diff_ids: $ids},
      history: [$ids[] | {created: "1970-01-01T00:00:00Z", created_by: "podplane hack/lib/oci.sh"}]}' \
    >"${work}/config.json"
  desc="$(_oci_blob "${layout}" "${work}/config.json" application/vnd.oci.image.config.v1+json)"
  jq -cn --argjson cfg "${desc}" \
    --argjson layers "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: $cfg, layers: $layers}' >"${work}/manifest.json"
  desc="$(_oci_blob "${layout}" "${work}/manifest.json" application/vnd.oci.image.manifest.v1+json)"
  tag="${ref##*:}"
  jq -cn --argjson m "${desc}" --arg ref "${ref}" --arg tag "${tag}" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [$m + {platform: {architecture: "amd64", os: "linux"},
        annotations: {"io.containerd.image.name": $ref,
                      "org.opencontainers.image.ref.name": $tag}}]}' >"${layout}/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"${layout}/oci-layout"
  mkdir -p "$(dirname "${out}")"
  tar -C "${layout}" --sort=name --mtime=@0 --owner=0 --group=0 -cf "${out}.tmp" oci-layout index.json blobs
  mv "${out}.tmp" "${out}"
  rm -rf "${work}"
}

# oci_add_binary ROOTFS BINARY [DEST]: copy BINARY to ROOTFS/DEST (default:
# the same path) with the shared libraries `ldd` lists, keeping their modes:
# the ELF interpreter (ld-linux) must stay executable, or exec fails with
# "permission denied".
oci_add_binary() {
  local rootfs="$1" bin="$2" dest="${3:-$2}" lib
  install -D -m 0755 "${bin}" "${rootfs}${dest}"
  while read -r lib; do
    [[ -e "${rootfs}${lib}" ]] && continue
    mkdir -p "$(dirname "${rootfs}${lib}")"
    cp -L --preserve=mode "${lib}" "${rootfs}${lib}"
  done < <(ldd "${bin}" 2>/dev/null | grep -o '/[^ ]*' || true)
}

# ctr_cmd ADDRESS ARGS...: the ctr we built, against containerd at ADDRESS.
ctr_cmd() {
  local address="$1"
  shift
  "${CONTAINERD_BIN_DIR}/ctr" --address "${address}" --namespace k8s.io "$@"
}

ctr_image_exists() {
  local ref
  ref="$(oci_normalize_ref "$2")"
  ctr_cmd "$1" images ls -q "name==${ref}" 2>/dev/null | grep -qxF "${ref}"
}

ctr_import() {
  local address="$1" tar err
  shift
  err="$(mktemp)"
  for tar in "$@"; do
    if ! ctr_cmd "${address}" images import --snapshotter overlayfs "${tar}" >/dev/null 2>"${err}"; then
      cat "${err}" >&2
      rm -f "${err}"
      die "ctr images import ${tar} failed"
    fi
    # containerd 2.2 warns about cgroup v1 on every call; keep other messages.
    grep -v DEPRECATION "${err}" >&2 || true
  done
  rm -f "${err}"
}

oci_image_from_dir() {
  local dir="$1" ref="$2" config="${3:-"{}"}" address="${4:-${PODPLANE_STATE}/containerd/containerd.sock}"
  local tar
  tar="$(mktemp "${TMPDIR:-/tmp}/image.XXXXXX.tar")"
  oci_image_build "${tar}" "${ref}" "${config}" "${dir}"
  ctr_import "${address}" "${tar}"
  rm -f "${tar}"
  log "imported $(oci_normalize_ref "${ref}")"
}

# ctr_import_changed ADDRESS REF TAR: import TAR (an image archive of REF) into
# containerd at ADDRESS unless it already holds that very manifest.
ctr_import_changed() {
  local address="$1" ref tar="$3" want have
  ref="$(oci_normalize_ref "$2")"
  [[ -f "${tar}" ]] || die "image archive ${tar} missing"
  want="$(tar -xOf "${tar}" index.json | jq -r '.manifests[0].digest')"
  have="$(ctr_cmd "${address}" images ls "name==${ref}" 2>/dev/null | awk 'NR > 1 { print $3 }')"
  if [[ "${have}" == "${want}" ]]; then
    log "image ${ref}: already in ${address}"
    return 0
  fi
  ctr_import "${address}" "${tar}"
  log "image ${ref}: imported into ${address}"
}
