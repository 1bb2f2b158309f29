//! What the hosted-network tests run inside a hosted cluster. No image can be pulled and
//! the worker nodes hold only what the node image preloads, so the test Pods run the
//! kube-proxy image (Debian: bash, perl) and borrow socat and openssl from the node's own
//! Debian root, mounted read-only (same Debian release, same C library).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::harness::eventually;

pub const WEBHOOK_PORT: i32 = 8443;

fn toolbox_image() -> String {
    format!(
        "registry.k8s.io/kube-proxy:{}",
        podplane::versions::DEFAULT_KUBERNETES_VERSION
    )
}

/// Run a node binary from the Pod: the node's libraries first.
const NODE_TOOLS: &str = "export LD_LIBRARY_PATH=/host/usr/lib/x86_64-linux-gnu:/host/lib/x86_64-linux-gnu";

/// Answers admission reviews on /validate (denies, naming the object) and conversion
/// reviews on /convert (sets each object's apiVersion to the one asked for), one HTTP/1.1
/// request per connection, as socat hands them over.
const HANDLER: &str = r#"
use strict;
my $line = <STDIN>; my ($path) = $line =~ m{^\w+ (\S+)};
my $length = 0;
while (my $header = <STDIN>) {
  last if $header =~ /^\r?\n$/;
  $length = $1 if $header =~ /^content-length:\s*(\d+)/i;
}
my $body = '';
while (length($body) < $length) { last unless read(STDIN, $body, $length - length($body), length($body)); }
my ($uid) = $body =~ /"uid":"([^"]+)"/;
my $answer;
if ($path =~ m{^/validate}) {
  my ($name) = $body =~ /"object":\{.*?"name":"([^"]+)"/;
  $answer = qq({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"$uid","allowed":false,"status":{"code":403,"message":"the podplane test webhook refuses $name"}}});
} else {
  my ($desired) = $body =~ /"desiredAPIVersion":"([^"]+)"/;
  my ($objects) = $body =~ /"objects":(\[.*\])\}(?:,"response".*)?\}\s*$/s;
  $objects =~ s/\{"apiVersion":"[^"]+","kind":"Gadget"/{"apiVersion":"$desired","kind":"Gadget"/g;
  $answer = qq({"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","response":{"uid":"$uid","convertedObjects":$objects,"result":{"status":"Success"}}});
}
print "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " . length($answer) . "\r\nConnection: close\r\n\r\n$answer";
"#;

/// A PEM CA and a serving certificate (and key) for `dns_name`, signed by it.
pub fn webhook_certificates(dns_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(vec![]).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![dns_name.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// The webhook server: a Pod labelled `app: webhook` serving HTTPS on [`WEBHOOK_PORT`].
pub fn webhook_pod(cert: &str, key: &str) -> Pod {
    let script = format!(
        "set -e; {NODE_TOOLS}; mkdir -p /tmp/w; cd /tmp/w\n\
         printf '%s' \"$CERT\" > tls.crt; printf '%s' \"$KEY\" > tls.key; printf '%s' \"$HANDLER\" > handler.pl\n\
         exec /host/usr/bin/socat OPENSSL-LISTEN:{WEBHOOK_PORT},reuseaddr,fork,cert=tls.crt,key=tls.key,verify=0 \
         EXEC:'perl /tmp/w/handler.pl'"
    );
    serde_json::from_value(json!({
        "metadata": {"name": "webhook", "labels": {"app": "webhook"}},
        "spec": {
            "containers": [{
                "name": "webhook",
                "image": toolbox_image(),
                "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
                "env": [
                    {"name": "CERT", "value": cert},
                    {"name": "KEY", "value": key},
                    {"name": "HANDLER", "value": HANDLER},
                ],
                "ports": [{"containerPort": WEBHOOK_PORT}],
                "readinessProbe": {"tcpSocket": {"port": WEBHOOK_PORT}, "periodSeconds": 1},
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": true}],
            }],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }))
    .unwrap()
}

/// A Pod that fetches the ServiceAccount issuer's discovery document and the JWKS it
/// points to, verifying the API server against the cluster CA the Pod was given.
pub fn discovery_pod() -> Pod {
    let script = format!(
        r#"set -e; {NODE_TOOLS}
sa=/var/run/secrets/kubernetes.io/serviceaccount
fetch() {{ # URL: GET it with the Pod's token, checking the server against the cluster CA
  rest="${{1#https://}}"; host="${{rest%%/*}}"; path="/${{rest#*/}}"
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' \
    "$path" "$host" "$(cat $sa/token)" |
    /host/usr/bin/openssl s_client -quiet -connect "$host:443" -servername "$host" \
      -verify_hostname "$host" -CAfile $sa/ca.crt -verify_return_error 2>/dev/null |
    sed '1,/^\r$/d'
}}
discovery="$(fetch https://kubernetes.default.svc/.well-known/openid-configuration)"
echo "discovery: $discovery"
jwks_uri="$(printf '%s' "$discovery" | perl -ne 'print $1 if /"jwks_uri":"([^"]+)"/')"
echo "jwks: $(fetch "$jwks_uri")""#
    );
    serde_json::from_value(json!({
        "metadata": {"name": "discovery"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "discovery",
                "image": toolbox_image(),
                "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": true}],
            }],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }))
    .unwrap()
}

/// What the web server answers each connection with (socat mangles quotes in its
/// addresses, so the answer is a script of its own). It reads the request to its blank line
/// first: closing with the request unread resets the connection, which can discard the
/// answer on its way.
const RESPOND: &str = r#"#!/bin/sh
while IFS= read -r line; do case "$line" in "$(printf '\r')"|'') break ;; esac; done
printf 'HTTP/1.0 200 OK\r\n\r\nhello from %s\n' "$(cat /etc/hostname)"
"#;

/// A web server Deployment's Pod spec: answers every request with `hello from <pod>`.
pub fn web_template() -> Value {
    let script = format!(
        "{NODE_TOOLS}; printf %s \"$RESPOND\" > /tmp/respond; chmod +x /tmp/respond; \
         exec /host/usr/bin/socat TCP-LISTEN:80,reuseaddr,fork EXEC:/tmp/respond"
    );
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": toolbox_image(),
                "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
                "env": [{"name": "RESPOND", "value": RESPOND}],
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": true}],
            }],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    })
}

/// Create `pod` and wait until it finished; its phase and logs.
pub async fn run_to_completion(client: &Client, pod: Pod) -> (String, String) {
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let name = pod.metadata.name.clone().unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let phase = eventually(
        &format!("Pod {name} finished"),
        Duration::from_secs(120),
        || async {
            let pod = pods.get(&name).await.map_err(|e| e.to_string())?;
            match pod.status.and_then(|s| s.phase) {
                Some(p) if p == "Succeeded" || p == "Failed" => Ok(p),
                other => Err(format!("phase {other:?}")),
            }
        },
    )
    .await;
    let logs = pods.logs(&name, &LogParams::default()).await.unwrap_or_default();
    (phase, logs)
}
