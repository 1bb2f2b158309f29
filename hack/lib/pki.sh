# shellcheck shell=bash
# Throw-away PKI for the local management cluster, made with openssl.
# ECDSA P-256 keys (cheap to make); existing files are kept, so `up` is
# idempotent. Source hack/lib/common.sh first.

# pki_key FILE: an ECDSA P-256 private key (PKCS#8 PEM), unless FILE exists.
pki_key() {
  [[ -f "$1" ]] && return 0
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

# pki_ca DIR NAME CN: self-signed CA DIR/NAME.{crt,key}.
pki_ca() {
  local dir="$1" name="$2" cn="$3"
  [[ -f "${dir}/${name}.crt" ]] && return 0
  pki_key "${dir}/${name}.key"
  openssl req -x509 -new -key "${dir}/${name}.key" -subj "/CN=${cn}" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -out "${dir}/${name}.crt" 2>/dev/null
}

# pki_cert DIR CA NAME SUBJECT USAGE [SAN]: leaf DIR/NAME.{crt,key} signed by
# DIR/CA.{crt,key}. USAGE is client, server or both; SAN like
# "DNS:localhost,IP:127.0.0.1".
pki_cert() {
  local dir="$1" ca="$2" name="$3" subject="$4" usage="$5" san="${6:-}" ext eku
  [[ -f "${dir}/${name}.crt" ]] && return 0
  pki_key "${dir}/${name}.key"
  case "${usage}" in
    client) eku=clientAuth ;;
    server) eku=serverAuth ;;
    both) eku=serverAuth,clientAuth ;;
    *) die "pki_cert: bad usage ${usage}" ;;
  esac
  ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=${eku}"
    [[ -n "${san}" ]] && echo "subjectAltName=${san}"
  } >"${ext}"
  openssl req -new -key "${dir}/${name}.key" -subj "${subject}" 2>/dev/null |
    openssl x509 -req -CA "${dir}/${ca}.crt" -CAkey "${dir}/${ca}.key" -CAcreateserial \
      -days 365 -extfile "${ext}" -out "${dir}/${name}.crt" 2>/dev/null
  rm -f "${ext}"
}

# kubeconfig FILE SERVER CA_FILE CERT_FILE KEY_FILE USER: a kubeconfig with
# embedded credentials.
kubeconfig() {
  local file="$1" server="$2" ca="$3" cert="$4" key="$5" user="$6"
  [[ -f "${file}" ]] && return 0
  cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: podplane-dev
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 <"${ca}")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 <"${cert}")
    client-key-data: $(base64 -w0 <"${key}")
contexts:
- name: ${user}@podplane-dev
  context:
    cluster: podplane-dev
    user: ${user}
current-context: ${user}@podplane-dev
EOF
  chmod 0600 "${file}"
}
