//! Every run keeps its bounds: the open model sends nothing after its schedule, a refused port
//! is backed off instead of hammered, and file descriptors are checked before anything starts.
//! Against the real reference verifier on 127.0.0.1:0; wide margins, counts over timings.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, Server, assert_accounted, n, read_results};
use jsonwebtoken::Algorithm;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::{Delay, Knobs};

const TOKENS: &str = "count = 500";

#[test]
fn the_open_model_sends_nothing_after_its_schedule() {
    // Every answer takes 1 s and only 2 connections may wait for one: of the 200 requests due
    // over 2 s, a handful leave; the rest are cancelled when the schedule ends, not sent late.
    let server = Server::hs256(
        Policy::for_alg(Algorithm::HS256),
        Knobs {
            delay: Some(Delay::Fixed(Duration::from_secs(1))),
            ..Knobs::default()
        },
    );
    let f = Fixture::new(
        &format!("url = \"{}\"\ntimeout = \"5s\"", server.url()),
        "rate = 100\nduration = \"2s\"\nconcurrency = 2\ngrace = \"1s\"",
        TOKENS,
    );
    let started = Instant::now();
    let (_, r) = f.run(&[]);
    let took = started.elapsed();
    assert_accounted(&r);
    let t = &r["totals"];
    assert_eq!(n(t, "scheduled"), 200);
    assert!(n(t, "sent") <= 10, "{t}");
    assert!(n(t, "not_sent") >= 190, "{t}");
    // The window is the schedule's, so throughput is not diluted by the tail.
    assert!(t["duration_s"].as_f64().unwrap() <= 2.0 + 1e-6, "{t}");
    // Nothing was sent from the end of the schedule on.
    for p in r["timeline"].as_array().unwrap() {
        if n(p, "second") >= 2 {
            assert_eq!(n(p, "sent"), 0, "{p}");
        }
    }
    // The bound: schedule + timeout + grace (plus start-up), far below what sending late took.
    assert!(took < Duration::from_secs(2 + 5 + 1 + 5), "{took:?}");
    let results: jwtstorm::stats::results::Results = serde_json::from_value(read_results(&f.out())).unwrap();
    let summary = jwtstorm::report::summary::render(&results, false);
    assert!(summary.contains("still due when the schedule ended"), "{summary}");
}

#[test]
fn a_refused_port_is_backed_off_not_hammered() {
    // A port nothing listens on, reserved for the test.
    let refused = common::refused_port();
    let port = refused.port;
    let f = Fixture::new(
        &format!("url = \"http://127.0.0.1:{port}/protected\""),
        "duration = \"2s\"\nconcurrency = 4",
        TOKENS,
    );
    let (code, r) = f.run(&[]);
    assert_eq!(code, 3, "no response at all: cannot proceed");
    assert_accounted(&r);
    let errors = n(&r, "totals.transport_errors");
    assert!(errors > 0);
    // About ten attempts per connection in 2 s with the back-off; without it, hundreds of
    // thousands.
    assert!(errors <= 4 * 20, "{errors} connect attempts in 2 s");
    assert_eq!(n(&r, "transport_errors.connect_refused"), errors);
    let results: jwtstorm::stats::results::Results = serde_json::from_value(read_results(&f.out())).unwrap();
    let summary = jwtstorm::report::summary::render(&results, false);
    assert!(summary.contains("the target was unreachable"), "{summary}");
}

#[test]
fn more_connections_than_descriptors_are_refused_before_anything_starts() {
    let f = Fixture::new("embedded = true", "duration = \"1s\"\nconcurrency = 3000", TOKENS);
    let script = format!(
        "ulimit -n 256 && exec {} validate {}",
        assert_cmd::cargo::cargo_bin!("jwtstorm").display(),
        f.scenario().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("3000 connections need about 6064 file descriptors") && stderr.contains("only 256"),
        "{stderr}"
    );
    // A low soft limit alone is raised to the hard one, as Go load testers do.
    let f = Fixture::new("embedded = true", "requests = 300\nconcurrency = 100", TOKENS);
    let script = format!(
        "ulimit -S -n 128 && exec {} run {} --quiet --out {}",
        assert_cmd::cargo::cargo_bin!("jwtstorm").display(),
        f.scenario().display(),
        f.out().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_results(&f.out());
    assert_accounted(&r);
    assert_eq!(n(&r, "totals.completed"), 300);
    assert!(
        r["transport_errors"].get("fd_limit").is_none(),
        "{}",
        r["transport_errors"]
    );
}

/// Ctrl-C while `run` is still minting: exit 130, a message, and nothing half-written; a second
/// Ctrl-C right after it leaves nothing either.
#[test]
fn an_interrupt_while_minting_leaves_nothing_behind() {
    for signals in [1, 2] {
        let f = Fixture::new(
            "embedded = true",
            "duration = \"1s\"",
            // RSA signing is slow enough that minting is still under way when the signal comes.
            "count = 2000000",
        );
        let text = std::fs::read_to_string(f.scenario()).unwrap().replace(
            "alg = \"HS256\"\nsecret_file = \"secret\"",
            "alg = \"RS256\"\ngenerate = true\nrsa_bits = 2048",
        );
        std::fs::write(f.scenario(), text).unwrap();
        let (mut child, mut stderr) = common::spawn_run(&f);
        let first = common::next_line(&mut stderr);
        assert!(
            first.starts_with("preparing 't': minting 2000000 RS256 tokens"),
            "{first}"
        );
        // The results file is open (a bad path fails first); then minting starts.
        let partial = f.out().join("results.json.partial");
        let waited = Instant::now();
        while !partial.exists() && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(partial.exists(), "the results file is opened before minting");
        for _ in 0..signals {
            let sent = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        let started = Instant::now();
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        assert_eq!(status.code(), Some(130), "{signals} signal(s): {rest}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        if signals == 1 {
            assert!(rest.contains("interrupted while preparing the tokens"), "{rest}");
        }
        assert!(
            !partial.exists(),
            "{signals} signal(s) left {}",
            partial.display()
        );
        assert!(!f.out().join("results.json").exists());
    }
}

/// A client thread that panics stops the run and fails it; its result is never a pass.
#[test]
fn a_client_thread_that_panics_fails_the_run() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use bytes::Bytes;
    use http_body_util::Full;
    use jwtstorm::model::{ErrorKind, Placement, StatusSets};
    use jwtstorm::replay::engine::{Plan, execute};
    use jwtstorm::replay::tokens::{Formatter, Selector, TokenStore, Tokens};
    use jwtstorm::replay::transport::{Failed, Reply, Target, Transport};
    use jwtstorm::token::claims::ClaimTemplate;
    use jwtstorm::token::classes::TokenClass;
    use jwtstorm::token::keys::KeyMaterial;
    use jwtstorm::token::mint::{MintConfig, Minter};

    /// A transport whose every connect panics, as a bug in a client thread would.
    struct Panics;
    impl Transport for Panics {
        type Conn = ();
        fn fork(&self) -> Self {
            Panics
        }
        async fn connect(&self) -> Result<(), ErrorKind> {
            panic!("a bug in a client thread")
        }
        async fn send(
            &self,
            _: &mut (),
            _: hyper::Request<Full<Bytes>>,
            _: impl Fn(u16) -> bool,
        ) -> Result<Reply, Failed> {
            unreachable!("never connected")
        }
    }

    let minter = Minter::new(MintConfig {
        alg: Algorithm::HS256,
        keys: vec![KeyMaterial::generate(Algorithm::HS256, None).unwrap()],
        policy: Policy::for_alg(Algorithm::HS256),
        count: 100,
        seed: 1,
        now: 1_767_225_600,
        ttl: 900,
        nbf_offset: None,
        iat: true,
        jti: true,
        claims: ClaimTemplate::default(),
        mix: vec![(TokenClass::Valid, 1.0)],
        size: None,
        idp: None,
    })
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let no = AtomicBool::new(false);
    let store = TokenStore::mint(
        &minter,
        &Formatter::new(Placement::Bearer, "/p"),
        &pool,
        &no,
        jwtstorm::model::Segment::WHOLE,
    )
    .unwrap();
    let plan = Plan {
        target: Arc::new(Target {
            method: hyper::Method::GET,
            uri: "/p".parse().unwrap(),
            host: hyper::header::HeaderValue::from_static("127.0.0.1:1"),
            token_header: Some(hyper::header::AUTHORIZATION),
            headers: Vec::new(),
            body: Bytes::new(),
            absolute_prefix: None,
            max_body: 1024,
        }),
        tokens: Tokens::Store {
            selector: Selector::new(store.len(), None, false, 0.0, 1),
            store: Arc::new(store),
        },
        pacer: None,
        statuses: StatusSets::default(),
        concurrency: 4,
        threads: 2,
        duration: Duration::from_secs(30),
        requests: None,
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        grace: Duration::from_secs(1),
        boundary_guard: Duration::from_secs(1),
        reasons: None,
        rotation: None,
        segment: jwtstorm::model::Segment::WHOLE,
        start_at: None,
        rate_limit: None,
        respect_retry_after: false,
        routes: None,
        revoker: None,
        answers: None,
    };
    let started = Instant::now();
    let finished = execute(plan, Panics, &no, |_| None);
    let why = finished.worker_failure.expect("the failure is reported");
    assert!(why.contains("panicked: a bug in a client thread"), "{why}");
    assert!(!finished.interrupted, "a failure is not an interrupt");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run stopped at the failure"
    );
}
