//! Certificates, keys and kubeconfigs: chains, usages, SANs, and what is kept or reissued.

mod common;

use std::net::IpAddr;

use podplane::pki::inspect::{ParsedCert, parse_key};
use podplane::pki::kubeconfig;
use podplane::pki::{self, Action, Asset, AssetKind, CaKind, IssuedPki, PkiError, SecretSet};
use time::{Duration, OffsetDateTime};

fn issue_fresh(hcp: &podplane::api::HostedControlPlane) -> (Vec<Asset>, IssuedPki) {
    let required = pki::assets::required(hcp, &[]);
    let issued = pki::issue(&required, &SecretSet::new(), OffsetDateTime::now_utc()).expect("fresh PKI");
    (required, issued)
}

fn cert_of(issued: &SecretSet, asset: &Asset) -> (ParsedCert, rcgen::KeyPair) {
    let data = &issued[&asset.secret];
    match &asset.kind {
        AssetKind::Kubeconfig { .. } => {
            let parts = kubeconfig::parse(&data["value"]).unwrap();
            (
                ParsedCert::from_pem(&parts.client_certificate).unwrap(),
                parse_key(&parts.client_key).unwrap(),
            )
        }
        _ => (
            ParsedCert::from_pem(&data["tls.crt"]).unwrap(),
            parse_key(&data["tls.key"]).unwrap(),
        ),
    }
}

fn authority(issued: &SecretSet, required: &[Asset], kind: CaKind) -> ParsedCert {
    let asset = required
        .iter()
        .find(|a| a.kind == AssetKind::Authority(kind))
        .unwrap();
    ParsedCert::from_pem(&issued[&asset.secret]["tls.crt"]).unwrap()
}

#[test]
fn every_certificate_chains_to_its_authority_and_matches_its_key() {
    let hcp = common::with_spec("chain", "version: v1.36.3\netcd:\n  replicas: 3");
    let (required, issued) = issue_fresh(&hcp);
    for asset in &required {
        match &asset.kind {
            AssetKind::Authority(_) => {
                let (cert, key) = cert_of(&issued.secrets, asset);
                assert!(cert.is_ca(), "{} is a CA", asset.secret);
                assert!(cert.matches_key(&key));
                assert!(cert.signed_by(&cert), "{} is self-signed", asset.secret);
                let x509 = cert.x509();
                let usage = x509.key_usage().unwrap().unwrap().value;
                assert!(
                    usage.key_cert_sign() && usage.crl_sign(),
                    "{} signs certificates",
                    asset.secret
                );
            }
            AssetKind::ServiceAccountKey => {
                let data = &issued.secrets[&asset.secret];
                let key = parse_key(&data["tls.key"]).unwrap();
                assert_eq!(String::from_utf8_lossy(&data["tls.crt"]), key.public_key_pem());
            }
            AssetKind::Certificate(spec) | AssetKind::Kubeconfig { leaf: spec, .. } => {
                let (cert, key) = cert_of(&issued.secrets, asset);
                let ca = authority(&issued.secrets, &required, spec.issuer);
                assert!(cert.signed_by(&ca), "{} verifies against its CA", asset.secret);
                assert!(cert.matches_key(&key), "{} matches its key", asset.secret);
                assert!(!cert.is_ca(), "{} is no CA", asset.secret);
                assert_eq!(
                    cert.extended_usages(),
                    (spec.usage.server(), spec.usage.client()),
                    "{}",
                    asset.secret
                );
                let other = [CaKind::Cluster, CaKind::Etcd, CaKind::FrontProxy]
                    .into_iter()
                    .find(|k| *k != spec.issuer)
                    .unwrap();
                assert!(!cert.signed_by(&authority(&issued.secrets, &required, other)));
            }
        }
    }
}

#[test]
fn keys_are_ecdsa_p256_with_explicit_validity() {
    let (required, issued) = issue_fresh(&common::example());
    let now = OffsetDateTime::now_utc();
    for asset in required
        .iter()
        .filter(|a| !matches!(a.kind, AssetKind::ServiceAccountKey))
    {
        let (cert, key) = cert_of(&issued.secrets, asset);
        assert_eq!(
            key.algorithm(),
            &rcgen::PKCS_ECDSA_P256_SHA256,
            "{}",
            asset.secret
        );
        let x509 = cert.x509();
        assert_eq!(
            x509.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let lifetime = cert.not_after() - now;
        let expected = if cert.is_ca() {
            Duration::days(3650)
        } else {
            Duration::days(365)
        };
        assert!(
            (lifetime - expected).abs() < Duration::hours(1),
            "{}: {lifetime}",
            asset.secret
        );
    }
}

#[test]
fn api_server_certificate_covers_every_name_clients_use() {
    let hcp = common::with_spec(
        "sans",
        "version: v1.36.3\ncontrolPlaneEndpoint:\n  host: api.example.com\n  port: 443\ningress:\n  hostname: sans.tenants.example.com\ncertSANs: [extra.example.com, 192.0.2.7]\nnetwork:\n  serviceCIDR: 10.100.0.0/16\n  dnsDomain: tenant.local",
    );
    let required = pki::assets::required(&hcp, &["10.0.0.42".to_string()]);
    let issued = pki::issue(&required, &SecretSet::new(), OffsetDateTime::now_utc()).unwrap();
    let asset = required.iter().find(|a| a.secret == "sans-apiserver").unwrap();
    let (cert, _) = cert_of(&issued.secrets, asset);
    let (dns, ips) = cert.sans();
    for name in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.tenant.local",
        "sans-kube-apiserver",
        "sans-kube-apiserver.tenant-a",
        "sans-kube-apiserver.tenant-a.svc",
        "localhost",
        "api.example.com",
        "sans.tenants.example.com",
        "extra.example.com",
    ] {
        assert!(dns.iter().any(|d| d == name), "{name} missing from {dns:?}");
    }
    for ip in ["10.100.0.1", "127.0.0.1", "192.0.2.7", "10.0.0.42"] {
        assert!(
            ips.contains(&ip.parse::<IpAddr>().unwrap()),
            "{ip} missing from {ips:?}"
        );
    }
}

#[test]
fn a_second_pass_keeps_everything_valid() {
    let (required, issued) = issue_fresh(&common::example());
    let again = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap();
    assert!(again.issued().is_empty(), "reissued {:?}", again.issued());
    assert_eq!(again.secrets, issued.secrets);
}

#[test]
fn a_new_san_reissues_only_the_certificates_that_name_the_api_server() {
    let hcp = common::example();
    let (_, issued) = issue_fresh(&hcp);
    let mut changed = hcp.clone();
    changed.spec.cert_sans.push("new.example.com".into());
    let required = pki::assets::required(&changed, &[]);
    let again = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap();
    // The konnectivity server presents the API server's names to agents.
    assert_eq!(again.issued(), vec!["demo-apiserver", "demo-konnectivity-server"]);
    let reason = again
        .verdicts
        .iter()
        .find(|v| v.secret == "demo-apiserver")
        .unwrap();
    assert_eq!(
        reason.action,
        Action::Issue("subject alternative names lack new.example.com".into())
    );
    assert_eq!(again.secrets["demo-ca"], issued.secrets["demo-ca"]);
}

#[test]
fn leaves_inside_the_renewal_window_are_renewed_and_their_ca_kept() {
    let hcp = common::example();
    let required = pki::assets::required(&hcp, &[]);
    let long_ago = OffsetDateTime::now_utc() - Duration::days(340);
    let old = pki::issue(&required, &SecretSet::new(), long_ago).unwrap();
    let now = pki::issue(&required, &old.secrets, OffsetDateTime::now_utc()).unwrap();
    for verdict in &now.verdicts {
        match required.iter().find(|a| a.secret == verdict.secret).unwrap().kind {
            AssetKind::Authority(_) | AssetKind::ServiceAccountKey => {
                assert_eq!(verdict.action, Action::Keep)
            }
            _ => assert!(
                matches!(&verdict.action, Action::Issue(r) if r.contains("renewal window")),
                "{verdict:?}"
            ),
        }
    }
}

#[test]
fn a_leaf_with_a_foreign_key_is_reissued() {
    let (required, mut issued) = issue_fresh(&common::example());
    let foreign = issue_fresh(&common::example()).1;
    let secret = "demo-apiserver-etcd-client";
    issued
        .secrets
        .get_mut(secret)
        .unwrap()
        .insert("tls.key".into(), foreign.secrets[secret]["tls.key"].clone());
    let again = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(again.issued(), vec![secret]);
}

#[test]
fn a_kubeconfig_pointing_elsewhere_is_reissued() {
    let (required, mut issued) = issue_fresh(&common::example());
    let secret = "demo-kubeconfig";
    let text = String::from_utf8(issued.secrets[secret]["value"].clone()).unwrap();
    let moved = text.replace(
        "https://demo-kube-apiserver.tenant-a.svc:6443",
        "https://old.example.com:6443",
    );
    issued
        .secrets
        .get_mut(secret)
        .unwrap()
        .insert("value".into(), moved.into_bytes());
    let again = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(again.issued(), vec![secret]);
}

#[test]
fn a_broken_ca_is_reported_and_nothing_is_replaced() {
    let (required, mut issued) = issue_fresh(&common::example());
    issued
        .secrets
        .get_mut("demo-ca")
        .unwrap()
        .insert("tls.crt".into(), b"garbage".to_vec());
    match pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()) {
        Err(PkiError::BrokenAuthority { secret, reason }) => {
            assert_eq!(secret, "demo-ca");
            assert!(reason.contains("not a PEM certificate"), "{reason}");
        }
        other => panic!("expected a broken-authority error, got {other:?}"),
    }
}

#[test]
fn a_missing_ca_while_its_leaves_exist_is_reported() {
    let (required, mut issued) = issue_fresh(&common::example());
    issued.secrets.remove("demo-etcd");
    let err = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("demo-etcd: certificate authority is missing while certificates it signed exist"),
        "{text}"
    );
    assert!(text.contains("demo-etcd-0-server"), "{text}");
}

#[test]
fn a_missing_ca_with_no_leaves_is_issued() {
    let (required, mut issued) = issue_fresh(&common::example());
    for secret in ["demo-proxy", "demo-front-proxy-client"] {
        issued.secrets.remove(secret);
    }
    let again = pki::issue(&required, &issued.secrets, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(again.issued(), vec!["demo-proxy", "demo-front-proxy-client"]);
}

#[test]
fn an_expired_ca_is_reported() {
    let hcp = common::example();
    let required = pki::assets::required(&hcp, &[]);
    let issued = pki::issue(&required, &SecretSet::new(), OffsetDateTime::now_utc()).unwrap();
    let err = pki::issue(
        &required,
        &issued.secrets,
        OffsetDateTime::now_utc() + Duration::days(3651),
    )
    .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn kubeconfigs_name_their_user_and_server() {
    let (_, issued) = issue_fresh(&common::example());
    for (secret, user, group) in [
        ("demo-kubeconfig", "kubernetes-admin", Some("system:masters")),
        (
            "demo-controller-manager-kubeconfig",
            "system:kube-controller-manager",
            None,
        ),
        ("demo-scheduler-kubeconfig", "system:kube-scheduler", None),
    ] {
        let parts = kubeconfig::parse(&issued.secrets[secret]["value"]).unwrap();
        assert_eq!(parts.server, "https://demo-kube-apiserver.tenant-a.svc:6443");
        let cert = ParsedCert::from_pem(&parts.client_certificate).unwrap();
        assert_eq!(cert.common_name().as_deref(), Some(user));
        assert_eq!(
            cert.organizations(),
            group.map(str::to_string).into_iter().collect::<Vec<_>>()
        );
        assert_eq!(cert.x509().subject().iter_common_name().count(), 1);
    }
}
