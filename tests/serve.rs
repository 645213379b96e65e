//! The reference verifier over real HTTP on 127.0.0.1:0: every class of every algorithm family
//! gets its labelled answer and reason, `/metrics` agrees with what was sent, the knobs do what
//! they say, and hostile input gets a 4xx, never a panic or a stall.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
mod common;

use jwtstorm::model::Placement;
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::TokenClass;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::{self, Delay, Knobs, RunningServer};
use jwtstorm::verifier::verify::Reason;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// A minimal blocking HTTP/1.1 client: one request per connection.
fn send(addr: SocketAddr, raw: &[u8], timeout: Duration) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(raw)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok(Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    })
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> Reply {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    send(addr, raw.as_bytes(), Duration::from_secs(20)).unwrap()
}

fn bearer(addr: SocketAddr, token: &str) -> Reply {
    get(addr, "/protected", &format!("Authorization: Bearer {token}\r\n"))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn policy(alg: Algorithm) -> Policy {
    let mut p = Policy::for_alg(alg);
    p.audience = Some("api://orders".into());
    p.issuer = Some("https://auth.example.test".into());
    p.check_nbf = true;
    p
}

async fn start(alg: Algorithm, keys: &[KeyMaterial], knobs: Knobs, placement: Placement) -> RunningServer {
    server::start(common::config(policy(alg), keys, knobs, placement))
        .await
        .unwrap()
}

fn minter(alg: Algorithm, keys: &[KeyMaterial], mix: Vec<(TokenClass, f64)>, count: u64) -> Minter {
    Minter::new(MintConfig {
        alg,
        keys: keys.to_vec(),
        policy: policy(alg),
        count,
        seed: 3,
        now: now(),
        ttl: 600,
        nbf_offset: None,
        iat: true,
        jti: true,
        claims: ClaimTemplate::compile(serde_json::from_str(r#"{"sub":"user-{i}"}"#).unwrap()).unwrap(),
        mix,
        size: None,
        idp: Some(jwtstorm::token::mint::IdpRef {
            url: "http://127.0.0.1:9".into(),
            attacker: KeyMaterial::generate(alg, Some(2048)).unwrap(),
        }),
    })
    .unwrap()
}

fn metric(text: &str, outcome: &str, reason: &str) -> u64 {
    let key = format!("jwtstorm_server_requests_total{{outcome=\"{outcome}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_of_every_family_gets_its_answer_and_metrics_agree() {
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let keys: Vec<KeyMaterial> = (0..2)
            .map(|_| KeyMaterial::generate(alg, Some(2048)).unwrap())
            .collect();
        let p = policy(alg);
        let mix: Vec<_> = TokenClass::ALL
            .iter()
            .filter(|c| c.inapplicable(alg, &p).is_none())
            .map(|c| (*c, 1.0))
            .collect();
        let n_classes = mix.len();
        // The list `revoked` tokens are on, as `mint` writes it beside a batch.
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("revoked.txt");
        std::fs::write(
            &list,
            jwtstorm::token::revocation::render(&jwtstorm::token::revocation::pool(3)),
        )
        .unwrap();
        let knobs = Knobs {
            revocation: Some(jwtstorm::verifier::revocation::ListSource {
                path: list,
                poll: std::time::Duration::from_secs(1),
            }),
            ..Knobs::default()
        };
        let srv = start(alg, &keys, knobs, Placement::Bearer).await;
        let addr = srv.addr;
        let m = minter(alg, &keys, mix, 400);
        let (sent_ok, sent_reasons, classes) = tokio::task::spawn_blocking(move || {
            let (mut ok, mut reasons, mut classes) = (
                0u64,
                std::collections::BTreeMap::new(),
                std::collections::BTreeSet::new(),
            );
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            for i in 0..400 {
                out.clear();
                let (class, expect) = m.mint_into(i, &mut out, &mut scratch);
                classes.insert(class);
                let token = String::from_utf8(out.clone()).unwrap();
                let r = bearer(addr, &token);
                if class.either() {
                    // Left to the implementation: the reference verifier gives the answer its
                    // class documents (an empty reason: it accepts).
                    let accepted = class.reason().is_empty();
                    assert_eq!(
                        r.status,
                        if accepted { 200 } else { 401 },
                        "{alg:?} {class}: {}",
                        r.head
                    );
                    if accepted {
                        ok += 1;
                    } else {
                        *reasons.entry(class.reason().to_string()).or_insert(0u64) += 1;
                    }
                } else if expect.accepts_at(now()) {
                    assert_eq!(r.status, 200, "{alg:?} {class}: {}", r.head);
                    assert!(r.body.contains("\"sub\":\"user-"), "{}", r.body);
                    ok += 1;
                } else {
                    assert_eq!(r.status, 401, "{alg:?} {class} was not rejected: {}", r.head);
                    assert!(
                        r.head
                            .contains("www-authenticate: bearer error=\"invalid_token\""),
                        "{}",
                        r.head
                    );
                    assert!(
                        r.head.contains(&format!("x-jwtstorm-reason: {}", class.reason())),
                        "{alg:?} {class}: {}",
                        r.head
                    );
                    *reasons.entry(class.reason().to_string()).or_insert(0u64) += 1;
                }
            }
            (ok, reasons, classes)
        })
        .await
        .unwrap();
        assert_eq!(classes.len(), n_classes, "{alg:?}: all applicable classes sent");
        let metrics = get(addr, "/metrics", "").body;
        assert_eq!(
            metric(&metrics, "accepted", ""),
            sent_ok,
            "{alg:?}: accepted count"
        );
        for (reason, n) in &sent_reasons {
            assert_eq!(
                metric(&metrics, "rejected", reason),
                *n,
                "{alg:?}: {reason} count"
            );
        }
        assert!(metrics.contains(&format!("jwtstorm_server_verify_seconds_count {}", 400)));
        let jwks: serde_json::Value =
            serde_json::from_str(&get(addr, "/.well-known/jwks.json", "").body).unwrap();
        if alg == Algorithm::HS256 {
            assert_eq!(
                jwks["keys"].as_array().unwrap().len(),
                0,
                "HMAC secrets are never published"
            );
        } else {
            assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
            assert!(jwks["keys"][0].get("d").is_none());
        }
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placements_and_the_vulnerable_knob() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let m = minter(alg, &keys, vec![(TokenClass::Valid, 1.0)], 1);
    let (mut valid, mut s) = (Vec::new(), Vec::new());
    m.mint_into(0, &mut valid, &mut s);
    let valid = String::from_utf8(valid).unwrap();
    let none = minter(alg, &keys, vec![(TokenClass::AlgNone, 1.0)], 1);
    let mut forged = Vec::new();
    none.mint_into(0, &mut forged, &mut s);
    let forged = String::from_utf8(forged).unwrap();

    for (placement, header, path) in [
        (
            Placement::Cookie("jwt".into()),
            format!("Cookie: a=b; jwt={valid}\r\n"),
            "/protected".to_string(),
        ),
        (
            Placement::Header("x-token".into()),
            format!("X-Token: {valid}\r\n"),
            "/protected".to_string(),
        ),
        (
            Placement::Query("access_token".into()),
            String::new(),
            format!("/protected?access_token={valid}"),
        ),
    ] {
        let srv = start(alg, &keys, Knobs::default(), placement.clone()).await;
        let addr = srv.addr;
        let (ok, missing) =
            tokio::task::spawn_blocking(move || (get(addr, &path, &header), get(addr, "/protected", "")))
                .await
                .unwrap();
        assert_eq!(ok.status, 200, "{placement}");
        assert_eq!(missing.status, 401, "{placement}");
        assert!(missing.head.contains("x-jwtstorm-reason: missing_token"));
        srv.stop().await;
    }

    let safe = start(alg, &keys, Knobs::default(), Placement::Bearer).await;
    let vulnerable = start(
        alg,
        &keys,
        Knobs {
            vulnerable: true,
            ..Knobs::default()
        },
        Placement::Bearer,
    )
    .await;
    let (a, b) = (safe.addr, vulnerable.addr);
    let f = forged.clone();
    let (r_safe, r_vuln) = tokio::task::spawn_blocking(move || (bearer(a, &f), bearer(b, &f)))
        .await
        .unwrap();
    assert_eq!(r_safe.status, 401);
    assert_eq!(r_vuln.status, 200, "the vulnerable knob lets alg none in");
    let health = tokio::task::spawn_blocking(move || get(b, "/healthz", ""))
        .await
        .unwrap();
    assert!(health.body.contains("\"vulnerable\":true"), "{}", health.body);
    safe.stop().await;
    vulnerable.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_knobs_inject_500s_closes_and_hangs() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let m = minter(alg, &keys, vec![(TokenClass::Valid, 1.0)], 1);
    let (mut t, mut s) = (Vec::new(), Vec::new());
    m.mint_into(0, &mut t, &mut s);
    let token = String::from_utf8(t).unwrap();

    let fail = start(
        alg,
        &keys,
        Knobs {
            fail_rate: 1.0,
            ..Knobs::default()
        },
        Placement::Bearer,
    )
    .await;
    let close = start(
        alg,
        &keys,
        Knobs {
            close_rate: 1.0,
            ..Knobs::default()
        },
        Placement::Bearer,
    )
    .await;
    let hang = start(
        alg,
        &keys,
        Knobs {
            hang_rate: 1.0,
            ..Knobs::default()
        },
        Placement::Bearer,
    )
    .await;
    let half = start(
        alg,
        &keys,
        Knobs {
            fail_rate: 0.5,
            ..Knobs::default()
        },
        Placement::Bearer,
    )
    .await;
    let (fa, ca, ha, hf) = (fail.addr, close.addr, hang.addr, half.addr);
    let tk = token.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(bearer(fa, &tk).status, 500);
        let closed = bearer(ca, &tk);
        assert_eq!(closed.status, 0, "closed before any response");
        let raw = format!("GET /protected HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tk}\r\n\r\n");
        let hung = send(ha, raw.as_bytes(), Duration::from_millis(300));
        assert!(hung.is_err(), "a hung request gets no response");
        let fails = (0..200).filter(|_| bearer(hf, &tk).status == 500).count();
        assert!(
            (50..=150).contains(&fails),
            "about half of 200 requests fail, got {fails}"
        );
    })
    .await
    .unwrap();
    assert_eq!(
        hang.metrics
            .injected_hang
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        close
            .metrics
            .injected_close
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    for srv in [fail, close, hang, half] {
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_with_a_delay_queues_requests() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let knobs = Knobs {
        max_concurrency: Some(1),
        delay: Some(Delay::Fixed(Duration::from_millis(50))),
        ..Knobs::default()
    };
    let srv = start(alg, &keys, knobs, Placement::Bearer).await;
    let addr = srv.addr;
    // Eight requests at once through one 50 ms slot take at least 8 x 50 ms in all.
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || bearer(addr, "x.y.z").status))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 401);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "served one at a time"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_4xx_never_a_panic() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let srv = start(alg, &keys, Knobs::default(), Placement::Bearer).await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let big = "a".repeat(1 << 20);
        let r = bearer(addr, &big);
        assert!(r.status == 431 || r.status == 401, "1 MB token: {}", r.status);
        let segments = vec!["eyJ"; 1000].join(".");
        assert_eq!(bearer(addr, &segments).status, 401);
        let bomb = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(&("[".repeat(5000) + &"]".repeat(5000))));
        assert_eq!(bearer(addr, &bomb).status, 401);
        let mut raw = b"GET /protected HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \xff\xfe.\x80.\x81\r\n\r\n".to_vec();
        let r = send(addr, &raw, Duration::from_secs(10)).unwrap();
        assert!(r.status == 401 || r.status == 400, "invalid UTF-8: {}", r.status);
        raw = b"GARBAGE\r\n\r\n".to_vec();
        let r = send(addr, &raw, Duration::from_secs(10)).unwrap();
        assert!(r.status == 400 || r.status == 0);
        assert_eq!(get(addr, "/protected", "Authorization: Basic dTpw\r\n").status, 401);
        assert_eq!(get(addr, "/nowhere", "").status, 404);
        // Still serving after all of it.
        assert_eq!(get(addr, "/healthz", "").status, 200);
    })
    .await
    .unwrap();
    assert!(srv.metrics.rejected(Reason::Malformed) >= 2);
    srv.stop().await;
}

#[test]
fn the_binary_prints_its_address_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("k");
    let bin = env!("CARGO_BIN_EXE_jwtstorm");
    assert!(
        StdCommand::new(bin)
            .args(["keys", "generate", "--alg", "ES256", "--out"])
            .arg(&keys)
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut child = StdCommand::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--exit-after",
            "60s",
            "--keys-dir",
        ])
        .arg(&keys)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect(&line)
        .parse()
        .unwrap();
    assert_eq!(get(addr, "/healthz", "").status, 200);
    let jwks: serde_json::Value =
        serde_json::from_str(&get(addr, "/.well-known/jwks.json", "").body).unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");

    // The same port again: cannot proceed (3).
    let busy = StdCommand::new(bin)
        .args(["serve", "--listen", &addr.to_string(), "--keys-dir"])
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(
        busy.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    // SIGTERM stops it cleanly.
    #[cfg(unix)]
    {
        StdCommand::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }
    #[cfg(not(unix))]
    child.kill().unwrap();

    // A bad policy or key at start-up: exit 2 with a message.
    let bad = StdCommand::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--secret-file",
            "/nonexistent/s",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/s"));
    let bad = StdCommand::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--algorithms",
            "HS999",
            "--keys-dir",
        ])
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = StdCommand::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("serve needs the keys"));

    // A deliberately vulnerable verifier is refused on an address other machines can reach
    // (checked before anything is bound).
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let bad = StdCommand::new(bin)
            .args(["serve", "--vulnerable", "--listen", listen, "--keys-dir"])
            .arg(&keys)
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{listen}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("--expose-vulnerable"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_hold_responses_back() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let knobs = Knobs {
        stall: Some((Duration::from_millis(400), Duration::from_secs(30))),
        ..Knobs::default()
    };
    let srv = start(alg, &keys, knobs, Placement::Bearer).await;
    let addr = srv.addr;
    // The server has just started, so it is inside its first stall window.
    let first = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        assert_eq!(bearer(addr, "x.y.z").status, 401);
        t.elapsed()
    })
    .await
    .unwrap();
    assert!(
        first >= Duration::from_millis(200),
        "held back during the stall, took {first:?}"
    );
    srv.stop().await;
}

/// Whether the server has closed this connection: a read finds the end (or an answer, or a
/// reset) instead of timing out.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        // The end, or an answer (a 408): either way the server is done with it.
        Ok(0) | Ok(1..) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_and_healthz_keeps_answering() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let mut config = common::config(policy(alg), &keys, Knobs::default(), Placement::Bearer);
    config.limits = server::Limits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections: 1000,
    };
    let srv = server::start(config).await.unwrap();
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        // Slow loris: 40 connections sending their request headers a byte every 200 ms, and 10
        // that send nothing at all.
        let head = b"GET /protected HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\n";
        let mut slow: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let started = std::time::Instant::now();
        let mut open_slow = vec![true; slow.len()];
        let mut byte = 0;
        while open_slow.iter().any(|o| *o) && started.elapsed() < Duration::from_secs(8) {
            for (s, open) in slow.iter_mut().zip(open_slow.iter_mut()) {
                if !*open {
                    continue;
                }
                if s.write_all(&head[byte % head.len()..][..1]).is_err() || closed_by_server(s) {
                    *open = false;
                }
            }
            byte += 1;
            // The server keeps answering others while the slow clients hold their connections.
            assert_eq!(get(addr, "/healthz", "").status, 200);
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            open_slow.iter().all(|o| !o),
            "{} slow clients still open after {:?}",
            open_slow.iter().filter(|o| **o).count(),
            started.elapsed()
        );
        for s in &mut idle {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "an idle connection is closed");
        }
        assert_eq!(get(addr, "/healthz", "").status, 200);
    })
    .await
    .unwrap();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let alg = Algorithm::HS256;
    let keys = vec![KeyMaterial::generate(alg, None).unwrap()];
    let mut config = common::config(policy(alg), &keys, Knobs::default(), Placement::Bearer);
    config.limits = server::Limits {
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(2),
        max_connections: 8,
    };
    let srv = server::start(config).await.unwrap();
    let addr = srv.addr;
    let refused = tokio::task::spawn_blocking(move || {
        // Each of the eight is served one request (and kept open), so the server has surely
        // taken all eight before the ninth comes: readiness, not a sleep.
        let held: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut buf = [0u8; 512];
                assert!(s.read(&mut buf).unwrap() > 0, "the held connection is served");
                s
            })
            .collect();
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 16];
        let closed = matches!(extra.read(&mut buf), Ok(0) | Err(_));
        drop(held);
        closed
    })
    .await
    .unwrap();
    assert!(refused, "a connection beyond the cap is closed");
    assert!(
        srv.metrics
            .refused_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    let health = tokio::task::spawn_blocking(move || get(addr, "/healthz", "").status)
        .await
        .unwrap();
    assert_eq!(health, 200, "slots come back once the held connections go");
    srv.stop().await;
}
