//! Rate limits under load: a 429 is `limited` (neither accepted, rejected, false nor an error),
//! its `Retry-After` is recorded and, when asked, honoured; against a declared limit the run
//! finds the target's effective threshold per subject and catches a limiter that lets more
//! through. Against the reference verifier's token bucket (`serve --rate-limit`).

mod common;

use common::{Fixture, Serve, Server, assert_accounted, assert_schema, n};
use jsonwebtoken::Algorithm;
use jwtstorm::model::{LimitKey, RateLimit};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::Knobs;

const SUBJECTS: &str =
    "mix = { valid = 1 }\nclaims = { sub = { one_of = [\"ann\", \"bob\", \"cat\", \"dan\", \"eve\"] } }";

fn policy() -> Policy {
    Policy {
        audience: Some("api://orders".into()),
        issuer: Some("https://auth.example.test".into()),
        ..Policy::for_alg(Algorithm::HS256)
    }
}

fn limiting(spec: &str, key: LimitKey) -> Server {
    Server::hs256(
        policy(),
        Knobs {
            rate_limit: Some(RateLimit::new(spec.parse().unwrap(), key, None)),
            ..Knobs::default()
        },
    )
}

fn subject<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["rate_limit"]["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subject"] == name)
        .unwrap_or_else(|| panic!("no subject {name}: {}", r["rate_limit"]))
}

#[test]
fn a_limit_per_subject_is_found_per_subject_and_agrees_with_the_verifier() {
    let serve = Serve::start(&["--rate-limit", "50/s", "--rate-limit-key", "sub"]);
    // Five subjects at about 100/s each for five seconds.
    let f = Fixture::new(
        &format!("url = \"{}\"", serve.url()),
        "rate = 500\nduration = \"5s\"\nconcurrency = 32\n[thresholds]\nover_limit = \"== 0\"\nfalse_rejects = \"== 0\"",
        &format!("count = 2500\n{SUBJECTS}"),
    );
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario())
            .unwrap()
            .replace("[verifier]\n", "[verifier]\nrate_limit = \"50/s\"\n"),
    )
    .unwrap();
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(code, 0, "{}", r["thresholds"]);
    let t = &r["totals"];
    let limited = n(t, "limited");
    assert!(limited > 0);
    // A 429 is neither a false reject nor an error.
    assert_eq!((n(t, "false_rejects"), n(t, "unexpected_status")), (0, 0));
    assert_eq!(n(&r, "classes.valid.outcomes.limited"), limited);
    assert_eq!(n(&r, "status_codes.429"), limited);
    // Exactly what the verifier says it limited and accepted.
    assert_eq!(serve.counter("limited"), limited);
    assert_eq!(serve.counter("accepted"), n(t, "accepted"));
    let rl = &r["rate_limit"];
    assert_eq!(n(rl, "with_retry_after"), limited);
    assert!(n(rl, "retry_after_ms.min") >= 1000, "{rl}");
    assert_eq!(n(rl, "over_limit"), 0);
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        let s = subject(&r, name);
        let (sent, limited) = (n(s, "sent"), n(s, "limited"));
        assert!(sent > 200, "{s}");
        let share = limited as f64 / sent as f64;
        assert!((0.2..0.7).contains(&share), "{name}: {share} limited of {sent}");
        let effective = s["effective_per_s"].as_f64().unwrap();
        assert!(
            (40.0..=60.0).contains(&effective),
            "{name}: effective {effective}/s"
        );
        assert_eq!(s["over_limit"], false);
        assert!(
            n(s, "accepted") as f64 <= s["allowed"].as_f64().unwrap() + 6.0,
            "{s}"
        );
    }
    let results: jwtstorm::stats::results::Results = serde_json::from_value(r.clone()).unwrap();
    let summary = jwtstorm::report::summary::render(&results, false);
    assert!(
        summary.contains("rate limit  declared 50/s per sub (burst 50)"),
        "{summary}"
    );
    let md = jwtstorm::report::markdown::render(&results);
    assert!(md.contains("## Rate limit") && md.contains("| ann |"), "{md}");
    // The timeline draws the limited answers per second.
    let svg = std::fs::read_to_string(f.out().join("timeline.svg")).unwrap();
    assert!(svg.contains("limited/s (429)"));
}

#[test]
fn a_limiter_that_lets_more_through_than_declared_is_caught() {
    // The verifier allows 60/s over everyone; the scenario declares 20/s.
    let server = limiting("60/s", LimitKey::Global);
    let f = Fixture::new(
        &format!("url = \"{}\"", server.url()),
        "rate = 150\nduration = \"4s\"\nconcurrency = 16\n[thresholds]\nover_limit = \"== 0\"",
        &format!("count = 600\n{SUBJECTS}"),
    );
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario()).unwrap().replace(
            "[verifier]\n",
            "[verifier]\nrate_limit = \"20/s\"\nrate_limit_key = \"global\"\n",
        ),
    )
    .unwrap();
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(code, 1, "over_limit fails: {}", r["rate_limit"]);
    assert_eq!(n(&r, "totals.over_limit"), 1);
    let s = subject(&r, "(global)");
    assert_eq!(s["over_limit"], true);
    // The limiter's real threshold is found, not the declared one.
    let effective = s["effective_per_s"].as_f64().unwrap();
    assert!((48.0..=72.0).contains(&effective), "effective {effective}/s");
    assert_eq!(
        n(s, "limited"),
        server
            .metrics()
            .limited
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn retry_after_is_honoured_when_asked() {
    let server = limiting("20/s", LimitKey::Global);
    let closed = |respect: bool| {
        let f = Fixture::new(
            &format!("url = \"{}\"", server.url()),
            &format!("duration = \"3s\"\nconcurrency = 2\nrespect_retry_after = {respect}"),
            &format!("count = 200\n{SUBJECTS}"),
        );
        let (code, r) = f.run(&[]);
        assert_eq!(code, 0);
        assert_accounted(&r);
        r
    };
    let eager = closed(false);
    let patient = closed(true);
    let (a, b) = (n(&eager, "totals.limited"), n(&patient, "totals.limited"));
    assert!(
        a > 0 && b < a,
        "honouring Retry-After sends fewer into the limit: {b} vs {a}"
    );
    let waits = n(&patient, "rate_limit.waits");
    assert!(waits >= 1 && waits <= b, "{}", patient["rate_limit"]);
    assert!(n(&patient, "rate_limit.waited_ms") >= 500 * waits.min(1));
    assert_eq!(n(&eager, "rate_limit.waits"), 0);

    // The open model keeps its schedule and says how much too soon a limited caller came back.
    let f = Fixture::new(
        &format!("url = \"{}\"", server.url()),
        "rate = 100\nduration = \"3s\"\nconcurrency = 8\nrespect_retry_after = true",
        &format!("count = 300\n{SUBJECTS}"),
    );
    let (code, r) = f.run(&[]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(n(&r, "totals.scheduled"), 300, "the schedule never waits");
    let rl = &r["rate_limit"];
    assert!(n(rl, "early") > 0, "{rl}");
    assert!(n(rl, "early_by_ms.max") <= 1000, "{rl}");
}
