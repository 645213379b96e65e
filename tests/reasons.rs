//! Reason-aware judging: with a reason source, a token rejected for another reason than its
//! class's is counted apart (`rejected_other_reason`), with the reasons the target stated;
//! without one nothing changes. Against the reference verifier, told to misreport one reason.

mod common;

use common::{Fixture, Server, assert_accounted, n};
use jsonwebtoken::Algorithm;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::Knobs;
use jwtstorm::verifier::verify::Reason;

const MIX: &str = "count = 600\nmix = { valid = 4, expired = 1, bad_signature = 1 }";

fn misreporting() -> Server {
    Server::hs256(
        Policy {
            audience: Some("api://orders".into()),
            issuer: Some("https://auth.example.test".into()),
            ..Policy::for_alg(Algorithm::HS256)
        },
        Knobs {
            // Expired tokens are refused, but stated as a bad signature.
            misreport: vec![(Reason::Expired, Reason::BadSignature)],
            ..Knobs::default()
        },
    )
}

#[test]
fn a_rejection_for_the_wrong_reason_is_counted_apart() {
    let server = misreporting();
    for (source, extra) in [
        ("reason_header = \"x-jwtstorm-reason\"", vec![]),
        ("reason_json = \"reason\"", vec![]),
        ("", vec!["--reason-header", "x-jwtstorm-reason"]),
    ] {
        let f = Fixture::new(
            &format!("url = \"{}\"\n{source}", server.url()),
            "requests = 600\nconcurrency = 4\n[thresholds]\nwrong_reason = \"== 0\"",
            MIX,
        );
        let (code, r) = f.run(&extra);
        assert_accounted(&r);
        assert_eq!(code, 1, "the wrong_reason threshold fails ({source} {extra:?})");
        let expired = n(&r, "classes.expired.count");
        assert!(expired > 0);
        assert_eq!(
            n(&r, "classes.expired.verdicts.rejected_other_reason"),
            expired,
            "{source}"
        );
        assert_eq!(
            n(&r, "classes.expired.reasons.bad_signature"),
            expired,
            "{source}"
        );
        assert!(
            r["classes"]["expired"]["verdicts"]
                .get("correct_reject")
                .is_none()
        );
        // Rejected for the right reason: still correct.
        let bad = n(&r, "classes.bad_signature.count");
        assert_eq!(n(&r, "classes.bad_signature.verdicts.correct_reject"), bad);
        assert_eq!(n(&r, "totals.rejected_other_reason"), expired);
        assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);
        let results: jwtstorm::stats::results::Results = serde_json::from_value(r.clone()).unwrap();
        let summary = jwtstorm::report::summary::render(&results, false);
        assert!(
            summary.contains("rejected for another reason than their class's: expired (bad_signature"),
            "{summary}"
        );
        let md = jwtstorm::report::markdown::render(&results);
        assert!(md.contains("## Reasons stated by the target"), "{md}");
        // The evidence names the token: its index in the batch and the token itself.
        let sample = r["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["class"] == "expired" && s["verdict"] == "rejected_other_reason")
            .expect("a sample of the wrong reason");
        assert!(sample["index"].as_u64().is_some(), "{sample}");
        assert!(sample["token"].as_str().unwrap().starts_with("ey"), "{sample}");
        let html = jwtstorm::report::html::render(&results);
        assert!(
            html.contains("<h3>expired — rejected_other_reason</h3>"),
            "samples grouped by class and verdict"
        );
    }
    // Without a reason source nothing changes: a rejection is a correct reject.
    let f = Fixture::new(
        &format!("url = \"{}\"", server.url()),
        "requests = 600\nconcurrency = 4",
        MIX,
    );
    let (code, r) = f.run(&[]);
    assert_eq!(code, 0);
    assert_eq!(n(&r, "totals.rejected_other_reason"), 0);
    assert!(r["classes"]["expired"].get("reasons").is_none());
}

#[test]
fn reason_translations_are_checked_and_applied() {
    let server = misreporting();
    // The scenario translates the target's word back: no longer another reason.
    let f = Fixture::new(
        &format!(
            "url = \"{}\"\nreason_header = \"x-jwtstorm-reason\"\n[target.reasons]\nbad_signature = \"expired\"",
            server.url()
        ),
        "requests = 300\nconcurrency = 2",
        "count = 300\nmix = { expired = 1 }",
    );
    let (code, r) = f.run(&["--allow-no-accepts"]);
    assert_eq!(code, 0, "{}", r["totals"]);
    assert_eq!(n(&r, "totals.rejected_other_reason"), 0);
    assert_eq!(n(&r, "classes.expired.reasons.expired"), 300);
    // An unknown jwtstorm reason is refused with its place.
    let f = Fixture::new(
        "embedded = true\n[target.reasons]\nbad_audience = \"wrong_audiences\"",
        "requests = 10",
        "count = 10",
    );
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .args(["validate", f.scenario().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target.reasons: 'bad_audience' = 'wrong_audiences'"),
        "{err}"
    );
}
