//! jwtstorm as the identity provider: key rotation under load against the reference verifier
//! fetching the JWKS from jwtstorm's own listener, the fetches recorded against the verifier's
//! own counter, and `jku`/`x5u` injection against a verifier that follows the header and one
//! that does not. Every run is a real one on 127.0.0.1; the assertions are on counts and wide
//! time windows, never on tight timings.

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use jwtstorm::cli::Cli;
use jwtstorm::model::Placement;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::remote::RemoteSettings;
use jwtstorm::verifier::server::{Knobs, Limits, ServerConfig};
use jwtstorm::verifier::verify::Verifier;
use serde_json::Value;

use common::{Server, assert_accounted, n, read_results};

/// The load-heavy runs one at a time, so each has the machine's other core.
static HEAVY: Mutex<()> = Mutex::new(());

fn run(dir: &Path, scenario: &str) -> (i32, Value) {
    let path = dir.join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    let out = dir.join("out");
    let argv = vec![
        "jwtstorm".to_string(),
        "run".into(),
        path.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    let code = match jwtstorm::run(Cli::try_parse_from(argv).unwrap()) {
        Ok(c) => c,
        Err(f) => {
            eprintln!("run failed: {f}");
            f.code
        }
    };
    (code, read_results(&out))
}

/// The results file's JSON Schema holds for `r`.
fn assert_schema(r: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(r)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

fn key<'a>(r: &'a Value, kid: &str) -> &'a Value {
    r["idp"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A free port on 127.0.0.1 for the identity provider, so a verifier can be told its URL first.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_abrupt_rotation_shows_a_gap_within_the_cooldown_and_no_other_false_rejects() {
    let _one = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // unknown_kid tokens keep the verifier's unknown-kid refetch busy, so the new key may wait
    // for its cooldown: the gap is then somewhere in [0, cooldown + 1 s].
    let (code, r) = run(
        dir.path(),
        r#"name = "abrupt"
[keys]
alg = "ES256"
[verifier]
jwks_cooldown = "2s"
[idp]
max_age = "60s"
rotation = "abrupt"
rotate_at = "3s"
[tokens]
mix = { valid = 95, unknown_kid = 5 }
[target]
embedded = true
[load]
model = "open"
rate = 300
duration = "8s"
[report]
formats = ["json"]
"#,
    );
    assert_eq!(code, 0, "{}", r["meta"]);
    assert_accounted(&r);
    let k2 = key(&r, "k2");
    assert!(n(k2, "sent") > 500, "{k2}");
    let gap = f(&k2["rotation_gap_ms"]);
    assert!((0.0..=3000.0).contains(&gap), "gap {gap} ms");
    // Every false reject of the run is a k2 token in the gap.
    let false_rejects = n(&r, "totals.false_rejects") + n(&r, "warmup.false_rejects");
    assert_eq!(n(k2, "false_rejects"), false_rejects);
    assert_eq!(n(&r, "totals.rotation_false_rejects"), false_rejects);
    if let Some(last) = k2["last_false_reject_ms"].as_f64() {
        assert!(last <= f(&k2["first_sent_ms"]) + 3000.0, "{k2}");
    }
    // The verifier learnt k2 from the JWKS: it fetched again after the rotation.
    let fetches = r["idp"]["fetches"].as_array().unwrap();
    assert!(
        fetches
            .iter()
            .any(|x| x["at_ms"].as_i64().unwrap() >= 3000 && x["version"] == 1)
    );
    assert_eq!(n(&r, "idp.attacker_fetches"), 0);
}

#[test]
fn a_graceful_rotation_rejects_no_good_token_and_the_retired_key_stops_within_max_age() {
    let _one = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // graceful with max-age 3 s from 2 s: publish k2 at 2 s, sign with it at 6 s, retire k1 at
    // 10 s; a fifth of the requests keep sending k1 tokens after that.
    let (code, r) = run(
        dir.path(),
        r#"name = "graceful"
[keys]
alg = "EdDSA"
[verifier]
jwks_cooldown = "30s"
[idp]
max_age = "3s"
rotation = "graceful"
rotate_at = "2s"
retired_share = "20%"
[tokens]
mix = { valid = 1 }
[target]
embedded = true
[load]
model = "open"
rate = 250
duration = "15s"
[report]
formats = ["json", "md"]
"#,
    );
    assert_eq!(code, 0, "{}", r["meta"]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(n(&r, "totals.false_rejects") + n(&r, "warmup.false_rejects"), 0);
    let k1 = key(&r, "k1");
    assert_eq!(n(k1, "retired_ms"), 10_000);
    let window = f(&k1["removal_window_ms"]);
    assert!((0.0..=4000.0).contains(&window), "removal window {window} ms");
    // The stale accepts are counted: per key, in the totals, and as false accepts of the class.
    let stale = n(k1, "stale_accepts");
    assert_eq!(n(&r, "totals.stale_key_accepts"), stale);
    assert_eq!(
        r["classes"]["retired_key"]["verdicts"]["false_accept"]
            .as_u64()
            .unwrap_or(0),
        stale
    );
    assert!(
        n(&r, "classes.retired_key.verdicts.correct_reject") > 50,
        "{}",
        r["classes"]["retired_key"]
    );
    if let Some(last) = k1["last_stale_accept_ms"].as_f64() {
        assert!(last <= 10_000.0 + 4000.0, "{k1}");
    }
    // Graceful: k2 was fetched before its first token and never refused.
    let k2 = key(&r, "k2");
    assert_eq!(n(k2, "false_rejects"), 0);
    assert!(f(&k2["first_sent_ms"]) >= 6000.0, "{k2}");
    let checks = r["idp"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c["passed"] == true || c["name"] == "refetch_at_max_age"),
        "{checks:?}"
    );
    let md = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(
        md.contains("## Identity provider") && md.contains("| k1 |"),
        "{md}"
    );
}

/// The reference verifier fetching from `jwks_url`, on 127.0.0.1:0.
fn remote_verifier(jwks_url: &str, follow: bool) -> Server {
    let mut policy = Policy::for_alg(jsonwebtoken::Algorithm::ES256);
    policy.algorithms = vec![jsonwebtoken::Algorithm::ES256];
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        path: "/protected".into(),
        placement: Placement::Bearer,
        knobs: Knobs::default(),
        verifier: Verifier::with_keys(policy, &[], true).unwrap(),
        remote: Some(RemoteSettings {
            url: jwks_url.into(),
            max_age: Duration::from_secs(2),
            cooldown: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }),
        follow_header_keys: follow,
        jwks: Default::default(),
        tls: None,
        limits: Limits::default(),
    })
}

fn external(port: u16, url: &str, mix: &str) -> String {
    format!(
        r#"name = "external"
[keys]
alg = "ES256"
[idp]
listen = "127.0.0.1:{port}"
max_age = "2s"
[tokens]
source = "stream"
mix = {{ {mix} }}
[target]
url = "{url}"
[load]
model = "open"
rate = 200
duration = "5s"
[report]
formats = ["json"]
"#
    )
}

fn counter(metrics: &str, labels: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("jwtstorm_server_key_fetches_total") && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {labels} in\n{metrics}"))
}

fn get(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

#[test]
fn every_jwks_fetch_is_recorded_and_matches_the_verifiers_own_counter() {
    let _one = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let srv = remote_verifier(&format!("http://127.0.0.1:{port}/.well-known/jwks.json"), false);
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = run(dir.path(), &external(port, &srv.url(), "valid = 1"));
    assert_eq!(code, 0, "{}", r["meta"]);
    assert_eq!(n(&r, "totals.false_rejects"), 0);
    let metrics = get(&format!("http://{}/metrics", srv.addr()));
    let recorded = n(&r, "idp.jwks_fetches");
    // The first fetch (the preflight's), and a refresh at about every max-age of the 5 s run.
    assert!(recorded >= 2, "{}", r["idp"]);
    assert_eq!(counter(&metrics, r#"source="jwks",result="all""#), recorded);
    assert_eq!(
        counter(&metrics, r#"result="not_modified""#),
        n(&r, "idp.not_modified")
    );
    for x in r["idp"]["fetches"].as_array().unwrap() {
        assert_eq!(x["document"], "jwks");
        assert!(
            x["user_agent"]
                .as_str()
                .unwrap()
                .starts_with("jwtstorm-verifier/")
        );
    }
}

#[test]
fn jku_and_x5u_injection_are_false_accepts_with_a_fetch_only_where_the_verifier_follows_them() {
    let _one = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let mix = "valid = 50, jku_injection = 25, x5u_injection = 25";
    for follow in [false, true] {
        let port = free_port();
        let srv = remote_verifier(&format!("http://127.0.0.1:{port}/.well-known/jwks.json"), follow);
        let dir = tempfile::tempdir().unwrap();
        let (_, r) = run(dir.path(), &external(port, &srv.url(), mix));
        assert_accounted(&r);
        assert_schema(&r);
        let fetched = n(&r, "idp.attacker_fetches");
        let header_counter = counter(
            &get(&format!("http://{}/metrics", srv.addr())),
            r#"source="header""#,
        );
        for class in ["jku_injection", "x5u_injection"] {
            let c = &r["classes"][class]["verdicts"];
            let count = |k: &str| c[k].as_u64().unwrap_or(0);
            let (fa, cr) = (count("false_accept"), count("correct_reject"));
            if follow {
                assert!(fa > 50 && cr == 0, "{class} against a verifier that follows: {c}");
            } else {
                assert!(fa == 0 && cr > 50, "{class} against the secure verifier: {c}");
            }
        }
        let check = r["idp"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "no_header_key_fetches")
            .unwrap()
            .clone();
        if follow {
            assert!(fetched > 100 && check["passed"] == false, "{check}");
            assert_eq!(header_counter, fetched);
        } else {
            assert_eq!((fetched, header_counter), (0, 0));
            assert_eq!(check["passed"], true);
        }
    }
}

fn bin() -> std::process::Command {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
}

#[test]
fn impossible_idp_settings_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"bad\"\n[target]\nembedded = true\n[keys]\nalg = \"ES256\"\n";
    let cases = [
        (
            format!("{base}[idp]\nrotation = \"sudden\"\n"),
            "s.toml:7",
            "unknown rotation preset 'sudden'",
        ),
        (
            format!("{base}[idp]\nrotation = [{{ at = \"5s\", sign_with = \"k2\" }}]\n"),
            "",
            "publish it first",
        ),
        (
            format!("{base}[idp]\nrotation = [{{ at = \"5s\", retire = \"k1\" }}]\n"),
            "",
            "sign_with another key first",
        ),
        (
            format!("{base}[idp]\nrotation = [{{ at = \"5s\", publish = \"k2\", retire = \"k1\" }}]\n"),
            "s.toml:7",
            "one of publish, sign_with and retire",
        ),
        (
            format!("{base}[idp]\nrotate_at = \"5s\"\n"),
            "s.toml:7",
            "needs idp.rotation",
        ),
        (
            format!("{base}[idp]\nlisten = \"nowhere\"\n"),
            "s.toml:7",
            "idp.listen",
        ),
        (
            "name = \"bad\"\n[target]\nembedded = true\n[keys]\nalg = \"HS256\"\n[idp]\n".to_string(),
            "",
            "asymmetric algorithm",
        ),
        (
            format!("{base}[verifier]\njwks_cooldown = \"2s\"\n"),
            "s.toml:7",
            "add an [idp] section",
        ),
        (
            format!("{base}[tokens]\nmix = {{ valid = 1, jku_injection = 1 }}\n"),
            "",
            "add an [idp] section",
        ),
        (
            format!("{base}[tokens]\nmix = {{ valid = 1, retired_key = 1 }}\n"),
            "",
            "made by an [idp] rotation",
        ),
    ];
    for (text, place, want) in cases {
        let path = dir.path().join("s.toml");
        std::fs::write(&path, &text).unwrap();
        let out = bin().args(["validate"]).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}\n{stderr}");
        assert!(
            stderr.contains(want) && stderr.contains(place),
            "{text}\n{stderr}"
        );
    }
}

#[test]
fn the_idp_command_serves_the_key_set_with_etags_and_logs_every_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let made = bin()
        .args(["keys", "generate", "--alg", "ES256", "--count", "2", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let log = dir.path().join("fetches.json");
    let mut child = bin()
        .args([
            "idp",
            "--listen",
            "127.0.0.1:0",
            "--max-age",
            "7s",
            "--exit-after",
            "60s",
            "--keys-dir",
        ])
        .arg(&keys)
        .arg("--log")
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect(&line)
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, tag, body, again, discovery) = rt.block_on(async {
        let c = reqwest::Client::builder()
            .user_agent("idp-test/1")
            .build()
            .unwrap();
        let r = c
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let tag = r.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(r.headers()["cache-control"], "public, max-age=7");
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let again = c
            .get(format!("{base}/.well-known/jwks.json"))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let discovery: Value = serde_json::from_str(
            &c.get(format!("{base}/.well-known/openid-configuration"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        (status, tag, body, again, discovery)
    });
    assert_eq!((status, again), (200, 304));
    assert!(tag.starts_with("\"v0-"), "{tag}");
    let published = body["keys"].as_array().unwrap();
    assert_eq!(published.len(), 2);
    assert!(
        published.iter().all(|k| k.get("d").is_none() && k["kty"] == "EC"),
        "{body}"
    );
    assert_eq!(discovery["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    // SIGTERM stops it; the log is written on the way out.
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let code = child.wait().unwrap();
    assert!(code.code().is_some(), "{code:?}");
    let logged: Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    let fetches = logged["fetches"].as_array().unwrap();
    assert_eq!(fetches.len(), 3, "{logged}");
    assert_eq!(fetches[1]["if_none_match"], tag.as_str());
    assert_eq!(fetches[1]["status"], 304);
    assert_eq!(fetches[0]["user_agent"], "idp-test/1");
}

#[test]
fn print_scenario_keeps_the_identity_provider() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/key-rotation.toml");
    let out = bin()
        .args([
            "run",
            scenario,
            "--print-scenario",
            "--rotate-at",
            "7s",
            "--idp-max-age",
            "4s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let idp = doc["idp"].as_table().unwrap();
    assert_eq!(idp["rotation"].as_str(), Some("abrupt"));
    assert_eq!(idp["rotate_at"].as_str(), Some("7s"));
    assert_eq!(idp["max_age"].as_str(), Some("4s"));
    assert_eq!(doc["verifier"]["jwks_cooldown"].as_str(), Some("2s"));
    let path = dir.path().join("printed.toml");
    std::fs::write(&path, &text).unwrap();
    let v = bin().arg("validate").arg(&path).output().unwrap();
    assert!(
        v.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn a_failed_refresh_keeps_the_cached_keys_and_is_counted() {
    use jwtstorm::idp::{self, Attacker, IdpConfig};
    use jwtstorm::token::keys::KeyMaterial;
    use jwtstorm::token::rotation::Schedule;
    use jwtstorm::verifier::remote::RemoteKeys;
    use std::sync::atomic::Ordering;

    let key = KeyMaterial::generate(jsonwebtoken::Algorithm::ES256, None).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "u", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.private_pem().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = idp::start(IdpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            issuer: None,
            max_age: Duration::from_secs(1),
            schedule: std::sync::Arc::new(Schedule::fixed(vec![key.clone()]).unwrap()),
            attacker: Attacker::default(),
            revocations: Default::default(),
        })
        .await
        .unwrap();
        let mut policy = Policy::for_alg(jsonwebtoken::Algorithm::ES256);
        policy.algorithms = vec![jsonwebtoken::Algorithm::ES256];
        let remote = RemoteKeys::new(
            RemoteSettings {
                url: format!("{}{}", running.url(), idp::JWKS_PATH),
                max_age: Duration::ZERO,
                cooldown: Duration::from_secs(60),
                timeout: Duration::from_secs(2),
            },
            policy,
        )
        .unwrap();
        assert!(remote.verify(token.as_bytes(), now).await.is_ok());
        assert_eq!(remote.counters.fetches.load(Ordering::Relaxed), 1);
        // The second use refreshes (max-age zero) and gets 304: the keys stay.
        assert!(remote.verify(token.as_bytes(), now).await.is_ok());
        assert_eq!(remote.counters.not_modified.load(Ordering::Relaxed), 1);
        running.stop().await;
        // Now the refresh fails: still accepted with the cached key, and the failure counted.
        assert!(remote.verify(token.as_bytes(), now).await.is_ok());
        assert_eq!(remote.counters.failures.load(Ordering::Relaxed), 1);
        assert_eq!(remote.counters.fetches.load(Ordering::Relaxed), 3);
    });
}

#[test]
fn with_nothing_cached_a_down_issuer_is_retried_once_per_cooldown() {
    use jwtstorm::verifier::remote::RemoteKeys;
    use jwtstorm::verifier::verify::Reason;
    use std::sync::atomic::Ordering;

    let port = free_port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let remote = RemoteKeys::new(
            RemoteSettings {
                url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
                max_age: Duration::from_secs(60),
                cooldown: Duration::from_secs(60),
                timeout: Duration::from_secs(2),
            },
            Policy::for_alg(jsonwebtoken::Algorithm::ES256),
        )
        .unwrap();
        for _ in 0..5 {
            assert_eq!(remote.verify(b"a.b.c", 0).await, Err(Reason::UnknownKid));
        }
        assert_eq!(remote.counters.fetches.load(Ordering::Relaxed), 1);
        assert_eq!(remote.counters.failures.load(Ordering::Relaxed), 1);
    });
}
