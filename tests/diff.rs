//! `jwtstorm diff`: one batch to several verifiers, every token compared. Against the real
//! reference verifier as separate processes: strict against `--vulnerable` disagrees on exactly
//! the classes the vulnerable mode lets in (found independently, by a run judging it), two
//! alike verifiers agree, and diff thresholds gate one class while others differ.

mod common;

use std::collections::BTreeSet;

use common::{Fixture, Serve, n};
use serde_json::Value;

fn diff(f: &Fixture, extra: &[&str]) -> (i32, Value, std::path::PathBuf) {
    let out = f.dir.path().join("diff");
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .arg("diff")
        .arg(f.scenario())
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap();
    let code = result.status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(out.join("diff.json"))
        .unwrap_or_else(|_| panic!("no diff.json: {}", String::from_utf8_lossy(&result.stderr)));
    (code, serde_json::from_str(&text).unwrap(), out)
}

fn assert_diff_schema(r: &Value) {
    common::assert_matches_schema(include_str!("../schema/diff.schema.json"), r);
}

fn disagreeing(r: &Value) -> BTreeSet<String> {
    r["classes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| n(c, "disagreements") > 0)
        .map(|(k, _)| k.clone())
        .collect()
}

const TOKENS: &str = "count = 1500\nmix = { valid = 10, expired = 2, bad_signature = 2, tampered_payload = 1, alg_none = 1, \
                      null_signature = 1, missing_exp = 1, malformed = 1, wrong_segment_count = 1, wrong_audience = 1 }";

#[test]
fn strict_against_vulnerable_disagrees_on_exactly_the_classes_it_lets_in() {
    let strict = Serve::start(&[]);
    let vulnerable = Serve::start(&["--vulnerable"]);
    // What the vulnerable verifier lets in, found by a run that judges it.
    let f = Fixture::new(
        &format!("url = \"{}\"", vulnerable.url()),
        "concurrency = 8\nrequests = 1500",
        TOKENS,
    );
    let (_, run) = f.run(&[]);
    let let_in: BTreeSet<String> = run["classes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c["verdicts"]["false_accept"].as_u64().unwrap_or(0) > 0)
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        let_in.contains("alg_none") && let_in.contains("bad_signature"),
        "{let_in:?}"
    );
    let (code, r, out) = diff(
        &f,
        &[
            "--target",
            &format!("strict={}", strict.url()),
            "--target",
            &format!("vulnerable={}", vulnerable.url()),
        ],
    );
    assert_diff_schema(&r);
    assert_eq!(code, 1, "a disagreement exits 1");
    assert_eq!(disagreeing(&r), let_in);
    assert_eq!(n(&r, "undecided"), 0);
    // Every disagreement is the vulnerable one accepting what the strict one rejects.
    for (class, c) in r["classes"].as_object().unwrap() {
        for p in c["patterns"].as_array().unwrap() {
            assert_eq!(p["answers"]["strict"], "rejected", "{class}: {p}");
            assert_eq!(p["answers"]["vulnerable"], "accepted", "{class}: {p}");
        }
        let counts = &c["answers"]["strict"];
        let total: u64 = counts
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(total, n(c, "tokens"), "{class}");
    }
    let total: u64 = r["classes"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| n(c, "disagreements"))
        .sum();
    assert_eq!(total, n(&r, "disagreements"));
    // The verifiers' own counts: every token reached each one once.
    assert_eq!(
        strict.counter("accepted") + strict.counter("rejected"),
        n(&r, "meta.tokens")
    );
    assert!(!r["samples"].as_array().unwrap().is_empty());
    assert!(r["samples"][0]["header"].is_object(), "{}", r["samples"][0]);
    assert!(!r["samples"][0]["about"].as_str().unwrap().is_empty());
    // The HTML is well-formed, self-contained and says so at the top.
    let html = std::fs::read_to_string(out.join("diff.html")).unwrap();
    roxmltree::Document::parse(&html.replace("<!DOCTYPE html>", "")).expect("diff.html is well-formed");
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    assert!(html.contains("DISAGREE"));
    let md = std::fs::read_to_string(out.join("diff.md")).unwrap();
    assert!(md.contains("## Disagreements"), "{md}");
    // A class gate: the expired tokens are answered alike, so the gate passes though other
    // classes differ.
    let (code, r, _) = diff(
        &f,
        &[
            "--target",
            &format!("strict={}", strict.url()),
            "--target",
            &format!("vulnerable={}", vulnerable.url()),
            "--sequential",
            "--threshold",
            "expired.disagreements == 0",
        ],
    );
    assert_eq!(code, 0, "{}", r["thresholds"]);
    assert_eq!(r["thresholds"][0]["passed"], true);
    assert!(n(&r, "disagreements") > 0);
}

#[test]
fn alike_verifiers_agree_and_targets_come_from_the_scenario() {
    let a = Serve::start(&[]);
    let b = Serve::start(&[]);
    let f = Fixture::new("", "concurrency = 4", TOKENS);
    let text = std::fs::read_to_string(f.scenario()).unwrap();
    std::fs::write(
        f.scenario(),
        format!(
            "{text}\n[diff]\nparallel = false\n[[diff.targets]]\nname = \"a\"\nurl = \"{}\"\nreason_header = \"x-jwtstorm-reason\"\n\
             [[diff.targets]]\nname = \"b\"\nurl = \"{}\"\nreason_header = \"x-jwtstorm-reason\"\n",
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let (code, r, _) = diff(&f, &[]);
    assert_diff_schema(&r);
    assert_eq!(code, 0, "{}", r["disagreements"]);
    assert_eq!(n(&r, "disagreements"), 0);
    assert_eq!(n(&r, "meta.tokens"), 1500);
    assert_eq!(r["meta"]["parallel"], false);
    for t in r["targets"].as_array().unwrap() {
        assert_eq!(n(t, "answered"), 1500);
        assert!(t["latency_us"]["valid"]["p50"].as_u64().is_some(), "{t}");
    }
}

#[test]
fn bad_targets_are_refused_before_anything_is_sent() {
    let f = Fixture::new("", "concurrency = 1", "count = 10");
    for (args, says) in [
        (vec!["--target", "a=http://127.0.0.1:9/p"], "2 to 8 targets"),
        (
            vec!["--target", "a=http://127.0.0.1:9/p", "--target", "b"],
            "expected NAME=URL",
        ),
        (
            vec![
                "--target",
                "a=http://127.0.0.1:9/p",
                "--target",
                "b=http://127.0.0.1:9/p",
                "--threshold",
                "p99 < 1",
            ],
            "disagreements",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
            .arg("diff")
            .arg(f.scenario())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn verifiers_with_different_leeways_disagree_on_the_time_edge_only() {
    let tight = Serve::start(&["--leeway", "0s"]);
    let loose = Serve::start(&["--leeway", "120s"]);
    let f = Fixture::new(
        "",
        "concurrency = 8",
        "count = 1200\nmix = { valid = 4, expired = 1, recently_expired = 2, bad_signature = 1, trailing_segment = 1, jwe_compact = 1, weak_secret = 1 }",
    );
    let (code, r, _) = diff(
        &f,
        &[
            "--target",
            &format!("tight={}", tight.url()),
            "--target",
            &format!("loose={}", loose.url()),
        ],
    );
    assert_diff_schema(&r);
    assert_eq!(code, 1);
    assert_eq!(disagreeing(&r), BTreeSet::from(["recently_expired".to_string()]));
    let c = &r["classes"]["recently_expired"];
    // Every one of them: 1 to 60 s past exp is inside 120 s and outside 0 s.
    assert_eq!(n(c, "disagreements"), n(c, "tokens"));
    assert_eq!(c["patterns"][0]["answers"]["tight"], "rejected");
    assert_eq!(c["patterns"][0]["answers"]["loose"], "accepted");
}

#[test]
fn either_classes_are_never_false_in_a_run() {
    // The reference verifier refuses utf8_bom and accepts iat_in_future: both are right.
    let f = Fixture::new(
        "embedded = true",
        "requests = 600\nconcurrency = 4",
        "count = 600\nmix = { valid = 1, utf8_bom = 1, iat_in_future = 1, exp_float = 1, duplicate_header_alg = 1, padded_base64 = 1 }",
    );
    let (code, r) = f.run(&[]);
    common::assert_accounted(&r);
    common::assert_schema(&r);
    assert_eq!(code, 0);
    assert_eq!(
        (n(&r, "totals.false_accepts"), n(&r, "totals.false_rejects")),
        (0, 0)
    );
    for class in ["utf8_bom", "iat_in_future", "exp_float", "duplicate_header_alg"] {
        let c = &r["classes"][class];
        assert_eq!(n(c, "verdicts.either"), n(c, "count"), "{class}: {c}");
        assert!(n(c, "count") > 50, "{class}");
    }
    assert_eq!(
        n(&r, "classes.utf8_bom.outcomes.rejected"),
        n(&r, "classes.utf8_bom.count")
    );
    assert_eq!(
        n(&r, "classes.iat_in_future.outcomes.accepted"),
        n(&r, "classes.iat_in_future.count")
    );
    // padded_base64 is not left open: RFC 7515 omits the padding.
    assert_eq!(
        n(&r, "classes.padded_base64.verdicts.correct_reject"),
        n(&r, "classes.padded_base64.count")
    );
}
