//! Revocation under load: `revoked` tokens (their jti on the list from the start) are refused
//! with reason `revoked`; a revocation during the run puts a share of the valid tokens already
//! sent on the list, replays them, and measures how long the target takes to follow (the lag)
//! and what it still lets in. Against the reference verifier following the list file
//! (`serve --revocation-list`, the embedded verifier), and one that does not follow it.

mod common;

use std::time::Duration;

use common::{Fixture, Serve, assert_accounted, assert_schema, n};
use jwtstorm::token::revocation;

/// The list the minted `revoked` tokens (seed 1, the default) draw from, in a file.
fn pool_list(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("deny.txt");
    std::fs::write(&path, revocation::render(&revocation::pool(1))).unwrap();
    path
}

#[test]
fn revoked_tokens_are_refused_with_reason_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let list = pool_list(dir.path());
    let serve = Serve::start(&["--revocation-list", list.to_str().unwrap()]);
    let f = Fixture::new(
        &format!("url = \"{}\"\nreason_header = \"x-jwtstorm-reason\"", serve.url()),
        "requests = 800\nconcurrency = 8\n[thresholds]\nrevoked_accepts = \"== 0\"\nfalse_rejects = \"== 0\"",
        "count = 800\nmix = { valid = 3, revoked = 1 }",
    );
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(code, 0, "{}", r["thresholds"]);
    let revoked = n(&r, "classes.revoked.count");
    assert!(revoked > 100, "{}", r["classes"]);
    // Every one refused for the right reason: reason-aware judging would count another apart.
    assert_eq!(n(&r, "classes.revoked.verdicts.correct_reject"), revoked);
    assert_eq!(n(&r, "totals.revoked_accepts"), 0);
    assert_eq!(
        serve.sum("jwtstorm_server_requests_total{outcome=\"rejected\",reason=\"revoked\"}"),
        revoked
    );
    assert_eq!(serve.counter("accepted"), n(&r, "classes.valid.count"));
    // The run kept the list it started with in its results folder.
    let kept = revocation::read(&f.out().join(revocation::FILE_NAME)).unwrap();
    assert_eq!(kept.len() as u64, revocation::POOL);
    assert_eq!(n(&r, "revocation.initial"), revocation::POOL);
}

#[test]
fn a_revocation_during_the_run_is_followed_within_the_poll_and_stale_accepts_are_counted() {
    // The embedded verifier follows the run's list, looking once a second.
    let f = Fixture::new(
        "embedded = true",
        "rate = 300\nduration = \"6s\"\nconcurrency = 16\nrevoke = [{ at = \"2s\", share = \"20%\", replay = \"20%\" }]",
        "count = 2000\nmix = { valid = 1 }",
    );
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(code, 0);
    let e = &r["revocation"]["events"][0];
    let fired = e["fired_at_s"].as_f64().unwrap();
    assert!((2.0..2.5).contains(&fired), "{e}");
    // About a fifth of the ~600 valid tokens sent in the first two seconds.
    let listed = n(e, "revoked");
    assert!((60..=240).contains(&listed), "{e}");
    let kept = revocation::read(&f.out().join(revocation::FILE_NAME)).unwrap();
    assert_eq!(kept.len() as u64, listed);
    // A fifth of the ~1,200 requests after it replayed them.
    let replays = n(e, "replays");
    assert!((120..=400).contains(&replays), "{e}");
    assert_eq!(replays, n(&r, "classes.revoked.count"));
    let lag = e["lag_s"]
        .as_f64()
        .expect("the verifier rejected a revoked token");
    assert!((0.0..=2.0).contains(&lag), "lag {lag}: {e}");
    // Stale accepts: revoked tokens let in before the verifier looked again, and only then.
    let stale = n(e, "accepted");
    assert_eq!(stale, n(&r, "classes.revoked.outcomes.accepted"));
    assert_eq!(stale, n(&r, "totals.revoked_accepts"));
    assert_eq!(stale + n(e, "rejected") + n(e, "other"), replays);
    assert!(n(e, "rejected") > stale, "{e}");
    if stale > 0 {
        assert!(e["last_accept_after_s"].as_f64().unwrap() <= 2.0, "{e}");
    }
    assert_eq!(n(&r, "totals.false_rejects"), 0);
}

#[test]
fn a_target_that_ignores_revocations_lets_every_replay_in_and_fails_the_gate() {
    // No --revocation-list: this verifier never hears of a revocation.
    let serve = Serve::start(&[]);
    let f = Fixture::new(
        &format!("url = \"{}\"", serve.url()),
        "rate = 200\nduration = \"3s\"\nconcurrency = 8\nrevoke = [{ at = \"1s\", share = \"50%\", replay = \"30%\" }]\n\
         [thresholds]\nrevoked_accepts = \"== 0\"",
        "count = 1000\nmix = { valid = 1 }",
    );
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_eq!(code, 1, "the gate must fail: {}", r["thresholds"]);
    let e = &r["revocation"]["events"][0];
    let replays = n(e, "replays");
    assert!(replays > 50, "{e}");
    assert_eq!(n(e, "accepted"), replays);
    assert!(e["lag_s"].is_null(), "{e}");
    assert_eq!(n(&r, "totals.revoked_accepts"), replays);
    assert_eq!(n(&r, "classes.revoked.verdicts.false_accept"), replays);
}

#[test]
fn mint_writes_the_list_beside_the_batch_and_a_run_of_it_uses_it() {
    let f = Fixture::new(
        "embedded = true",
        "requests = 400\nconcurrency = 4",
        "count = 400\nmix = { valid = 1, revoked = 1 }",
    );
    let batch = f.dir.path().join("b.jwts");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .args(["mint", "--quiet", "--scenario"])
        .arg(f.scenario())
        .arg("--out")
        .arg(&batch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let beside = f.dir.path().join(revocation::FILE_NAME);
    assert_eq!(revocation::read(&beside).unwrap().len() as u64, revocation::POOL);
    let text = std::fs::read_to_string(f.scenario()).unwrap();
    std::fs::write(
        f.scenario(),
        text.replace("[tokens]\n", "[tokens]\nbatch = \"b.jwts\"\n")
            .replace("count = 400\nmix = { valid = 1, revoked = 1 }\n", ""),
    )
    .unwrap();
    let (code, r) = f.run(&[]);
    assert_eq!(code, 0);
    assert!(n(&r, "classes.revoked.count") > 100);
    assert_eq!(
        n(&r, "classes.revoked.verdicts.correct_reject"),
        n(&r, "classes.revoked.count")
    );
    // Without the list beside it, the run refuses to judge revoked tokens it cannot list.
    std::fs::remove_file(&beside).unwrap();
    let (scenario, out) = (f.scenario(), f.out());
    let argv = [
        "jwtstorm",
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let err = jwtstorm::run(<jwtstorm::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap())
        .expect_err("no list beside the batch");
    assert!(
        err.to_string().contains("no revocation list is beside it"),
        "{err}"
    );
}

#[test]
fn a_bad_list_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("revoked.txt");
    std::fs::write(&list, "ok-1\nnot ok\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--secret-env",
            "NO_SUCH_VAR_JWTSTORM",
        ])
        .arg("--revocation-list")
        .arg(&list)
        .env("NO_SUCH_VAR_JWTSTORM", common::SECRET)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked.txt:2:"), "{err}");
}

#[test]
fn the_identity_provider_serves_the_list_with_an_etag() {
    use jwtstorm::idp::{self, Attacker, IdpConfig};
    use jwtstorm::token::keys::KeyMaterial;
    use jwtstorm::token::rotation::Schedule;
    let key = KeyMaterial::generate(jsonwebtoken::Algorithm::ES256, None).unwrap();
    let doc = idp::RevocationDoc::default();
    *doc.write().unwrap() = bytes::Bytes::from(revocation::render(&["a1".into(), "b2".into()]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = idp::start(IdpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            issuer: None,
            max_age: Duration::from_secs(1),
            schedule: std::sync::Arc::new(Schedule::fixed(vec![key]).unwrap()),
            attacker: Attacker::default(),
            revocations: doc.clone(),
        })
        .await
        .unwrap();
        let url = format!("{}{}", running.url(), idp::REVOCATION_PATH);
        let client = reqwest::Client::new();
        let first = client.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let tag = first.headers()["etag"].to_str().unwrap().to_string();
        let body = first.text().await.unwrap();
        assert_eq!(revocation::parse(&body, "served").unwrap().len(), 2);
        let again = client
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        *doc.write().unwrap() = bytes::Bytes::from(revocation::render(&["a1".into()]));
        let changed = client
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        running.stop().await;
    });
}
