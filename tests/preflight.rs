//! Aiming jwtstorm at your own service in one command: flags instead of a scenario file, a
//! preflight that fails in a second with the cause, and warnings about tokens that will expire
//! under the run. Against the real reference verifier (or a tiny recording server) on
//! 127.0.0.1:0.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{SECRET, Server, n};
use jsonwebtoken::Algorithm;
use jwtstorm::model::Placement;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::Knobs;
use serde_json::Value;

fn jwtstorm(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("out/results.json")).unwrap()).unwrap()
}

#[test]
fn one_command_with_an_rs256_pem_and_a_kid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "keys",
            "generate",
            "--alg",
            "RS256",
            "--rsa-bits",
            "2048",
            "--out",
            "k",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let keys = jwtstorm::token::keys::load_key_dir(&d.join("k"), None).unwrap();
    let kid = keys[0].kid.clone();
    let pem = std::fs::read_dir(d.join("k"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".key.pem"))
        .unwrap();
    let policy = Policy {
        audience: Some("api://orders".into()),
        issuer: Some("https://auth.example.test".into()),
        ..Policy::for_alg(Algorithm::RS256)
    };
    let server = Server::start(common::config(policy, &keys, Knobs::default(), Placement::Bearer));
    let url = server.url();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "run",
            "--url",
            &url,
            "--alg",
            "RS256",
            "--private-key-file",
            pem.to_str().unwrap(),
            "--kid",
            &kid,
            "--audience",
            "api://orders",
            "--issuer",
            "https://auth.example.test",
            "--mix",
            "valid=8,expired=1,bad_signature=1",
            "--count",
            "300",
            "-n",
            "300",
            "-c",
            "4",
            "--out",
            "out",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("preflight: valid token: HTTP 200"), "{err}");
    assert!(err.contains(&format!("kid {kid} in the header")), "{err}");
    let r = results(d);
    assert_eq!(n(&r, "totals.completed"), 300);
    assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);
    assert!(n(&r, "totals.correct_accepts") > 0 && n(&r, "totals.correct_rejects") > 0);
    assert_eq!(r["meta"]["scenario"], "flags");
}

/// A server that answers 200 to everything and keeps each request's head.
fn recording_server() -> (tokio::runtime::Runtime, String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let heads = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = heads.clone();
    let addr = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let body = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if buf.len() < end + 4 + body {
                                break;
                            }
                            buf.drain(..end + 4 + body);
                            seen.lock().unwrap().push(head);
                            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                });
            }
        });
        addr
    });
    (rt, format!("http://{addr}/orders?x=1"), heads)
}

#[test]
fn request_flags_shape_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let (_rt, url, heads) = recording_server();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "run",
            "--url",
            &url,
            "--secret-file",
            "secret",
            "-H",
            "X-Tenant: acme",
            "-H",
            "Accept: application/json",
            "-m",
            "post",
            "--body",
            "{}",
            "--token-in",
            "header:x-token",
            "--mix",
            "valid=1",
            "--count",
            "50",
            "-n",
            "50",
            "-c",
            "2",
            "--rate",
            "0.2k",
            "--out",
            "out",
            "--quiet",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let heads = heads.lock().unwrap();
    // The preflight's one request (the batch holds only valid tokens) and the fifty of the run.
    assert_eq!(heads.len(), 51, "{heads:?}");
    for h in heads.iter() {
        assert!(h.starts_with("post /orders?x=1 http/1.1"), "{h}");
        assert!(h.contains("\r\nx-tenant: acme"), "{h}");
        assert!(h.contains("\r\naccept: application/json"), "{h}");
        assert!(h.contains("\r\nx-token: ey"), "{h}");
        assert!(h.contains("\r\ncontent-length: 2"), "{h}");
    }
    assert_eq!(results(d)["meta"]["model"], "open");
}

#[test]
fn a_closed_port_fails_the_preflight_at_once_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let refused = common::refused_port();
    let port = refused.port;
    let url = format!("http://127.0.0.1:{port}/protected");
    let started = Instant::now();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "run",
            "--url",
            &url,
            "--secret-file",
            "secret",
            "-d",
            "30s",
            "--out",
            "out",
        ],
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("cannot connect"),
        "{err}"
    );
    assert!(!d.join("out/results.json").exists() && !d.join("out/results.json.partial").exists());
}

#[test]
fn an_untrusted_certificate_names_the_problem_and_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let tls = jwtstorm::tls::server_config(&d.join("cert.pem"), &d.join("key.pem"), None).unwrap();
    let mut config = common::config(
        Policy::for_alg(Algorithm::HS256),
        &[common::hs256_key()],
        Knobs::default(),
        Placement::Bearer,
    );
    config.tls = Some(tls);
    let server = Server::start(config);
    let url = format!("https://127.0.0.1:{}/protected", server.addr().port());
    let (code, _, err) = jwtstorm(
        d,
        &["run", "--url", &url, "--secret-file", "secret", "--out", "out"],
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("TLS handshake failed") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(err.contains("--ca-file") && err.contains("--insecure"), "{err}");
    // Trusting its certificate makes the same command work.
    let (code, _, err) = jwtstorm(
        d,
        &[
            "run",
            "--url",
            &url,
            "--secret-file",
            "secret",
            "--ca-file",
            "cert.pem",
            "-n",
            "20",
            "--out",
            "out",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_verifier_with_another_audience_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let server = Server::hs256(
        Policy {
            audience: Some("api://billing".into()),
            ..Policy::for_alg(Algorithm::HS256)
        },
        Knobs::default(),
    );
    let url = server.url();
    let args = [
        "run",
        "--url",
        &url,
        "--secret-file",
        "secret",
        "--audience",
        "api://orders",
        "-n",
        "50",
        "--out",
        "out",
    ];
    let (code, _, err) = jwtstorm(d, &args);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("refused a valid token") || err.contains("answered a valid token with HTTP 401"),
        "{err}"
    );
    assert!(
        err.contains("wrong_audience") && err.contains("audience api://orders"),
        "{err}"
    );
    // --force-preflight runs anyway, and every valid token is a false reject.
    let mut forced = args.to_vec();
    forced.push("--force-preflight");
    let (code, _, err) = jwtstorm(d, &forced);
    assert_eq!(code, Some(1), "{err}");
    let r = results(d);
    assert!(n(&r, "totals.false_rejects") > 0);
    let names: Vec<&str> = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"valid.correct_accepts"),
        "the accept path was never exercised: {names:?}"
    );
}

#[test]
fn tokens_that_expired_before_the_run_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let two_hours_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200)
        .to_string();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "mint",
            "--secret-file",
            "secret",
            "--now",
            &two_hours_ago,
            "--count",
            "100",
            "--mix",
            "valid=1",
            "--out",
            "b.jwts",
            "--quiet",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(
        d.join("s.toml"),
        "[target]\nembedded = true\n[keys]\nsecret_file = \"secret\"\n[tokens]\nbatch = \"b.jwts\"\n",
    )
    .unwrap();
    let (code, _, err) = jwtstorm(d, &["validate", "s.toml"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning: of 100 valid tokens, 100 are already expired"),
        "{err}"
    );
    let (_, out, err) = jwtstorm(
        d,
        &["run", "s.toml", "-n", "50", "--out", "out", "--allow-no-accepts"],
    );
    assert!(
        err.contains("warning: of 100 valid tokens, 100 are already expired"),
        "{err}"
    );
    assert!(
        out.contains("50 valid token(s) were sent outside their window"),
        "{out}"
    );
}

#[test]
fn print_scenario_writes_a_file_that_reproduces_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let server = Server::hs256(
        Policy {
            audience: Some("api://orders".into()),
            ..Policy::for_alg(Algorithm::HS256)
        },
        Knobs::default(),
    );
    let url = server.url();
    // A pinned clock, so both runs mint the same batch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let flags = [
        "--url",
        url.as_str(),
        "--secret-file",
        "secret",
        "--audience",
        "api://orders",
        "--now",
        now.as_str(),
        "--ttl",
        "1h",
        "--mix",
        "valid=9,expired=1",
        "--count",
        "200",
        "--claim",
        "sub=user-{i}",
        "-H",
        "X-Tenant: acme",
        "-n",
        "200",
        "-c",
        "2",
        "--threshold",
        "false_accepts == 0",
    ];
    let mut print = vec!["run", "--print-scenario"];
    print.extend_from_slice(&flags);
    let (code, toml, err) = jwtstorm(d, &print);
    assert_eq!(code, Some(0), "{err}");
    assert!(!toml.contains(SECRET), "secrets by reference only");
    std::fs::write(d.join("printed.toml"), &toml).unwrap();
    let (code, _, err) = jwtstorm(d, &["validate", "printed.toml"]);
    assert_eq!(code, Some(0), "{err}\n{toml}");
    // The same run from the flags and from the file: the same scenario as run.
    let mut from_flags = vec!["run", "--out", "a", "--quiet"];
    from_flags.extend_from_slice(&flags);
    let (code, _, err) = jwtstorm(d, &from_flags);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = jwtstorm(d, &["run", "printed.toml", "--out", "b", "--quiet"]);
    assert_eq!(code, Some(0), "{err}\n{toml}");
    let read = |f: &str| -> Value {
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(f).join("results.json")).unwrap()).unwrap();
        let mut s = r["scenario"].clone();
        s.as_object_mut().unwrap().remove("file");
        // The printed file names the secret by its absolute path; the flags, as typed.
        let source = s["keys"]["source"].as_str().unwrap().to_string();
        assert!(
            source.starts_with("secret_file ") && source.ends_with("secret"),
            "{source}"
        );
        s["keys"].as_object_mut().unwrap().remove("source");
        s
    };
    assert_eq!(read("a"), read("b"));
}

#[test]
fn an_empty_kid_sends_tokens_without_one() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "mint",
            "--secret-file",
            "secret",
            "--kid",
            "",
            "--mix",
            "valid=1",
            "--count",
            "1",
            "--out",
            "b.jwts",
            "--quiet",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(d.join("b.jwts")).unwrap();
    let token = text.lines().nth(1).unwrap().rsplit('\t').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    assert!(header.get("kid").is_none(), "{header}");
    // The reference verifier finds the key by algorithm alone.
    let server = Server::hs256(Policy::for_alg(Algorithm::HS256), Knobs::default());
    let url = server.url();
    let (code, _, err) = jwtstorm(
        d,
        &[
            "run",
            "--url",
            &url,
            "--secret-file",
            "secret",
            "--kid",
            "",
            "--mix",
            "valid=1",
            "-n",
            "50",
            "--out",
            "out",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("kid (none) in the header"), "{err}");
    assert_eq!(n(&results(d), "totals.correct_accepts"), 50);
}
