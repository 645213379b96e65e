//! TLS end to end: `run` against the reference verifier serving HTTPS on 127.0.0.1:0 with a
//! test CA, mutual TLS, HTTP/2 by ALPN, and the failures a wrong trust setup gives.

use std::path::Path;

use clap::Parser;
use jsonwebtoken::Algorithm;
use jwtstorm::cli::Cli;
use jwtstorm::model::Placement;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::Knobs;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;

mod common;

use common::{SECRET, Server};

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate into `dir`.
fn certificates(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, sans) in [
        ("server", vec!["127.0.0.1".to_string()]),
        ("client", vec!["client.test".to_string()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(sans)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

fn https_server(dir: &Path) -> Server {
    let tls = jwtstorm::tls::server_config(
        &dir.join("server.pem"),
        &dir.join("server.key"),
        Some(&dir.join("ca.pem")),
    )
    .unwrap();
    let mut config = common::config(
        Policy::for_alg(Algorithm::HS256),
        &[common::hs256_key()],
        Knobs::default(),
        Placement::Bearer,
    );
    config.tls = Some(tls);
    Server::start(config)
}

fn run(dir: &Path, target: &str, extra: &[&str]) -> (i32, Value) {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"tls\"\n[target]\n{target}\n[keys]\nsecret_file = \"secret\"\n[tokens]\ncount = 300\n\
             mix = {{ valid = 8, alg_none = 1, bad_signature = 1 }}\n[load]\nrequests = 300\nconcurrency = 4\n"
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let mut argv = vec![
        "jwtstorm",
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        // The run itself is under test, TLS failures included: no preflight.
        "--no-preflight",
    ];
    argv.extend_from_slice(extra);
    let code = jwtstorm::run(Cli::try_parse_from(argv).unwrap()).unwrap_or_else(|f| f.code);
    let r = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    (code, r)
}

#[test]
fn mutual_tls_with_a_custom_ca_over_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let server = https_server(dir.path());
    let url = format!("https://127.0.0.1:{}/protected", server.addr().port());
    let trusted = format!(
        "url = \"{url}\"\nca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\""
    );
    for transport in ["hyper", "reqwest"] {
        for http in ["1.1", "2"] {
            let (code, r) = run(dir.path(), &trusted, &["--http", http, "--transport", transport]);
            assert_eq!(code, 0, "{transport} HTTP/{http}: {}", r["transport_errors"]);
            assert_eq!(r["totals"]["completed"], 300, "{transport} HTTP/{http}");
            assert_eq!(r["totals"]["false_accepts"], 0);
            assert_eq!(r["totals"]["false_rejects"], 0);
            assert_eq!(r["meta"]["http"], http);
        }
    }
    let served = server
        .metrics()
        .accepted
        .load(std::sync::atomic::Ordering::Relaxed)
        + server.metrics().rejected_total();
    assert_eq!(served, 1200);

    // Without the CA the certificate is not trusted: every request is a TLS error, exit 3.
    let (code, r) = run(
        dir.path(),
        &format!("url = \"{url}\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\""),
        &[],
    );
    assert_eq!(code, 3);
    assert_eq!(r["totals"]["completed"], 0);
    assert_eq!(r["transport_errors"]["tls"], r["totals"]["transport_errors"]);

    // insecure = true skips the certificate check (the client certificate is still needed).
    let (code, r) = run(
        dir.path(),
        &format!(
            "url = \"{url}\"\ninsecure = true\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\""
        ),
        &[],
    );
    assert_eq!(code, 0, "{}", r["transport_errors"]);
    assert_eq!(r["totals"]["completed"], 300);
    drop(server);
}

#[test]
fn tls_settings_on_a_plain_http_target_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "[target]\nurl = \"http://127.0.0.1:9/p\"\nca_file = \"ca.pem\"\n[keys]\nsecret_file = \"secret\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = dir.path().join("s.toml");
    let err = jwtstorm::run(
        Cli::try_parse_from([
            "jwtstorm",
            "run",
            s.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.code, 2);
    assert!(err.to_string().contains("need an https:// target"), "{err}");
}
