//! `jwtstorm run` end to end against the real reference verifier on 127.0.0.1:0: counts agree
//! with what the server counted, false accepts show up when the verifier is broken, coordinated
//! omission is corrected, faults are accounted for, and an interrupted run still writes results.
//! Timing assertions use wide margins: these machines are small and shared.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use jsonwebtoken::Algorithm;
use jwtstorm::cli::Cli;
use jwtstorm::scenario::Loaded;
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::verifier::server::Knobs;
use serde_json::Value;

mod common;

use common::{Fixture, SECRET, Server, assert_accounted, n, read_results};

/// The reference verifier with the scenario's policy and key, on its own runtime.
fn verifier_for(scenario: &Path, knobs: Knobs) -> Server {
    let s = Settings::from_scenario(&Loaded::read(scenario).unwrap()).unwrap();
    Server::hs256(s.policy(Algorithm::HS256), knobs)
}

const MIX: &str = "count = 3000\nseed = 9\n\
    mix = { valid = 60, expired = 5, bad_signature = 5, alg_none = 5, tampered_payload = 5, wrong_audience = 5, \
    wrong_issuer = 5, malformed = 5, missing_exp = 5 }";

#[test]
fn closed_loop_counts_match_the_servers_metrics() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "concurrency = 8\nrequests = 3000\nduration = \"60s\"",
        MIX,
    );
    let server = verifier_for(&f.scenario(), Knobs::default());
    let url = format!("http://{}/protected", server.addr());
    let (code, r) = f.run(&["--url", &url]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    let t = &r["totals"];
    assert_eq!(n(t, "scheduled"), 3000);
    assert_eq!(n(t, "completed"), 3000);
    let m = server.metrics();
    assert_eq!(
        n(t, "accepted"),
        m.accepted.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(n(t, "rejected"), m.rejected_total());
    assert_eq!(n(t, "false_accepts"), 0);
    assert_eq!(n(t, "false_rejects"), 0);
    // Every invalid class was sent and rejected; valid ones were accepted.
    let classes = r["classes"].as_object().unwrap();
    assert_eq!(classes.len(), 9);
    for (name, c) in classes {
        let key = if name == "valid" { "accepted" } else { "rejected" };
        assert_eq!(n(c, &format!("outcomes.{key}")), n(c, "count"), "{name}");
        // The closed model has no schedule: corrected and uncorrected agree.
        assert_eq!(
            c["latency_us"]["corrected"]["all"],
            c["latency_us"]["uncorrected"]["all"]
        );
    }
    assert_eq!(r["meta"]["model"], "closed");
    assert!(r["schedule"].is_null());
    assert_eq!(r["meta"]["target_url"], url);
}

#[test]
fn a_broken_verifier_produces_false_accepts() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "concurrency = 4\nrequests = 2000\nduration = \"60s\"",
        MIX,
    );
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            vulnerable: true,
            ..Knobs::default()
        },
    );
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", server.addr())]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    let alg_none = &r["classes"]["alg_none"];
    assert!(n(alg_none, "verdicts.false_accept") > 0, "{alg_none}");
    assert!(n(&r, "totals.false_accepts") >= n(alg_none, "verdicts.false_accept"));
    let samples = r["samples"].as_array().unwrap();
    assert!(
        samples
            .iter()
            .any(|s| s["verdict"] == "false_accept" && s["class"] == "alg_none")
    );

    // A route that answers 200 to anything lets every invalid token in.
    let (_, r) = f.run(&["--url", &format!("http://{}/healthz", server.addr())]);
    assert_accounted(&r);
    let valid = n(&r, "classes.valid.count");
    assert_eq!(n(&r, "totals.false_accepts"), 2000 - valid);
}

#[test]
fn embedded_open_loop_schedules_every_request() {
    let f = Fixture::new(
        "embedded = true",
        "rate = 400\nduration = \"3s\"\nwarmup = \"1s\"\nconcurrency = 16",
        MIX,
    );
    let (code, r) = f.run(&[]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    assert_eq!(r["meta"]["model"], "open");
    assert_eq!(r["meta"]["embedded"], true);
    // 3 s at 400/s: 400 in the warmup, 800 measured.
    assert_eq!(n(&r, "warmup.scheduled"), 400);
    assert_eq!(n(&r, "totals.scheduled"), 800);
    assert_eq!(n(&r, "totals.completed"), 800);
    assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);
    let lat = &r["latency_us"];
    assert!(n(lat, "corrected.p99") >= n(lat, "uncorrected.p50"));
    assert!(!r["timeline"].as_array().unwrap().is_empty());
    let sent: u64 = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| n(p, "sent"))
        .sum();
    assert_eq!(sent, 1200, "the timeline covers warmup and measured seconds");
}

#[test]
fn coordinated_omission_is_corrected() {
    // A 1 s stall every 2.5 s at 400 requests/s over 4 connections: hundreds of requests are due
    // during each stall, but only the few in flight see the stall from their actual send.
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 400\nduration = \"5s\"\nconcurrency = 4",
        "count = 2000\nmix = { valid = 1 }",
    );
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            stall: Some((Duration::from_secs(1), Duration::from_millis(2500))),
            ..Knobs::default()
        },
    );
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", server.addr())]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    let lat = &r["latency_us"];
    let corrected = n(lat, "corrected.p99");
    let uncorrected = n(lat, "uncorrected.p99");
    eprintln!("corrected p99 {corrected}µs, uncorrected p99 {uncorrected}µs");
    assert!(
        corrected >= 300_000,
        "corrected p99 {corrected}µs should show the stall"
    );
    assert!(
        uncorrected < 150_000,
        "uncorrected p99 {uncorrected}µs should hide it"
    );
    assert!(n(&r, "schedule.late") > 100, "{}", r["schedule"]);
    // Requests still waiting for a connection when the schedule ended are cancelled, not sent
    // late; every one of the 2000 is accounted for.
    assert_eq!(
        n(&r, "totals.completed") + n(&r, "totals.not_sent"),
        2000,
        "{}",
        r["totals"]
    );
    assert!(n(&r, "totals.not_sent") < 200, "{}", r["totals"]);
}

#[test]
fn faults_are_counted_and_the_run_stays_bounded() {
    let started = std::time::Instant::now();
    // Nothing listens: every request fails to connect, results are still written, exit 3.
    let refused = common::refused_port();
    let dead = format!("127.0.0.1:{}", refused.port);
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 200\nduration = \"1s\"\nconcurrency = 4",
        MIX,
    );
    let (code, r) = f.run(&["--url", &format!("http://{dead}/protected")]);
    assert_eq!(code, 3);
    assert_accounted(&r);
    assert_eq!(n(&r, "totals.scheduled"), 200);
    assert_eq!(
        n(&r, "transport_errors.connect_refused"),
        n(&r, "totals.transport_errors")
    );
    assert!(n(&r, "totals.transport_errors") > 0);

    // 500s are unexpected statuses, kept as samples.
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            fail_rate: 1.0,
            ..Knobs::default()
        },
    );
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", server.addr())]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    assert_eq!(n(&r, "status_codes.500"), 200);
    assert_eq!(n(&r, "totals.unexpected_status"), 200);
    assert!(
        r["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == 500)
    );
    drop(server);

    // Resets: the server closes every connection before answering.
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            close_rate: 1.0,
            ..Knobs::default()
        },
    );
    let (_, r) = f.run(&["--url", &format!("http://{}/protected", server.addr())]);
    assert_accounted(&r);
    assert_eq!(n(&r, "totals.transport_errors"), 200, "{}", r["transport_errors"]);
    drop(server);

    // A server that never answers: every request times out, within the run's bound.
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            hang_rate: 1.0,
            ..Knobs::default()
        },
    );
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario())
            .unwrap()
            .replace("[target]\n", "[target]\ntimeout = \"300ms\"\n"),
    )
    .unwrap();
    let (_, r) = f.run(&["--url", &format!("http://{}/protected", server.addr())]);
    assert_accounted(&r);
    let timeouts = n(&r, "transport_errors.timeout");
    assert!(timeouts > 0);
    assert_eq!(n(&r, "totals.completed"), 0);
    // 4 connections, each waiting 300 ms per request: most of the 200 due were never sent.
    assert!(n(&r, "totals.cancelled") > 100, "{}", r["totals"]);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn overrides_replace_scenario_values() {
    let f = Fixture::new(
        "embedded = true",
        "concurrency = 2\nduration = \"30s\"",
        "count = 500\nmix = { valid = 1 }",
    );
    let (code, r) = f.run(&[
        "--rate",
        "300",
        "--duration",
        "1s",
        "--concurrency",
        "3",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 0);
    assert_eq!(r["meta"]["model"], "open");
    assert_eq!(n(&r, "totals.scheduled"), 300);
    assert_eq!(r["scenario"]["load"]["concurrency"], 3);
    assert_eq!(n(&r, "meta.threads"), 1);
    // 500 tokens for 300 requests: no wrap; with --requests 700 in a closed loop, a wrap.
    assert_eq!(r["meta"]["batch_wrapped"], false);
    let f = Fixture::new(
        "embedded = true",
        "concurrency = 2\nrequests = 700\nduration = \"30s\"",
        "count = 500\nmix = { valid = 1 }",
    );
    let (_, r) = f.run(&[]);
    assert_eq!(n(&r, "totals.completed"), 700);
    assert_eq!(r["meta"]["batch_wrapped"], true);
    assert_eq!(n(&r, "totals.false_rejects"), 0);
}

#[test]
fn results_never_hold_the_secret() {
    let f = Fixture::new(
        "embedded = true\nheaders = { x-api-key = \"sekrit-header\" }",
        "requests = 50",
        "count = 50",
    );
    let (code, _) = f.run(&[]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(f.out().join("results.json")).unwrap();
    assert!(!text.contains(SECRET));
    assert!(!text.contains("sekrit-header"));
    assert!(text.contains("\"fingerprint\""));
}

#[test]
fn an_interrupted_run_writes_valid_results() {
    let f = Fixture::new(
        "embedded = true",
        "rate = 200\nduration = \"30s\"\nconcurrency = 4",
        MIX,
    );
    // Wait for the lines that say the replay has started, then let it send for a while.
    let (child, mut stderr) = common::spawn_run(&f);
    let first = common::next_line(&mut stderr);
    assert!(
        first.starts_with("preparing 't': minting 3000 HS256 tokens"),
        "{first}"
    );
    let ready = common::next_line(&mut stderr);
    assert!(ready.starts_with("running 't': "), "{ready}");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the grace period bounds the stop"
    );
    assert_eq!(out.status.code(), Some(130), "{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("INTERRUPTED: t"), "{stdout}");
    let r = read_results(&f.out());
    assert_eq!(r["meta"]["interrupted"], true);
    assert_accounted(&r);
    // About 1.5 s of a 30 s schedule: far fewer than the 6000 planned, and more than none.
    let scheduled = n(&r, "totals.scheduled");
    assert!((100..3000).contains(&scheduled), "{scheduled}");
    assert!(!f.dir.path().join("out/results.json.partial").exists());
}

#[test]
fn results_match_the_schema() {
    let schema: Value = serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let f = Fixture::new(
        "embedded = true",
        "rate = 300\nduration = \"2s\"\nwarmup = \"500ms\"\n[thresholds]\n\"p99\" = \"< 10s\"\n\"oversized.p99\" = \"< 1s\"",
        MIX,
    );
    let (_, open) = f.run(&[]);
    let f2 = Fixture::new("embedded = true", "requests = 300", MIX);
    let (_, closed) = f2.run(&[]);
    assert_eq!(open["thresholds"][0]["name"], "oversized.p99");
    assert_eq!(
        open["thresholds"][0]["value"],
        Value::Null,
        "no oversized tokens were sent"
    );
    for r in [open, closed] {
        let errors: Vec<String> = validator
            .iter_errors(&r)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The schema is strict enough to catch drift: an unknown field fails.
    let mut bad = read_results(&f.out());
    bad["totals"]["bogus"] = 1.into();
    assert!(!validator.is_valid(&bad));
}

/// Each validation error, exactly as the user sees it.
#[test]
fn validation_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "[target]\nembedded = true\n[load]\nmodel = \"closed\"\nrate = 100\n",
            "s.toml:5:8: load.rate: a rate needs the open model (load.model = \"open\"); the closed model sends as fast as the target answers",
        ),
        (
            "[target]\nembedded = true\n[load]\nduration = \"5s\"\nwarmup = \"10s\"\n",
            "s.toml:5:10: load.warmup: the warmup (10.00s) must be shorter than the run (5.00s)",
        ),
        (
            "[target]\nembedded = true\ncolour = \"red\"\n",
            "s.toml:3:1: [target]: unknown field `colour`, expected one of `embedded`, `url`, `method`, `token`, \
             `headers`, `body`, `body_file`, `accept`, `reject`, `forbidden`, `limited`, `timeout`, `connect_timeout`, `http`, `transport`, \
             `max_body`, `ca_file`, `client_cert_file`, `client_key_file`, `insecure`, `boundary_guard`, `reason_header`, `reason_json`, `reasons`, `endpoints`",
        ),
        (
            "[target]\nembedded = true\n[load]\nconcurrency = \"lots\"\n",
            "s.toml:4:15: load.concurrency: invalid type: string \"lots\", expected i64",
        ),
        (
            "[target]\nembedded = true\n[load]\nstages = [{ duration = \"1s\", rate = 10 }]\nduration = \"5s\"\n",
            "s.toml:5:12: load.duration: with stages the run lasts as long as the stages; remove load.duration",
        ),
        (
            "[target]\nembedded = true\n[thresholds]\n\"valid.p99\" = \"< 20\"\n",
            "s.toml:4:15: thresholds.\"valid.p99\": '< 20': a latency limit needs a unit: us, ms or s (for example 20ms)",
        ),
        (
            "[target]\nembedded = true\n[capacity]\nslo = { \"p98\" = \"< 1s\" }\n",
            "",
        ),
        (
            "[target]\nembedded = true\n[keys]\nalg = \"HS256\"\n[tokens]\nmix = { psychic_signature = 1 }\n",
            "",
        ),
        (
            "[target]\nembedded = true\n[load]\nstages = [{ duration = 5, rate = 10 }]\n",
            "s.toml:4:24: load.stages.duration: invalid type: integer `5`, expected a string; a duration is a string \
             with a unit, such as \"0s\", \"250ms\" or \"5m\"",
        ),
        (
            "[target]\nembedded = true\n[keys]\nsecret_file = \"nope/secret\"\n",
            "",
        ),
        (
            "[target]\nembedded = true\n[verifier]\n[keys]\nalg = \"HS256\"\n[tokens]\nmix = { wrong_issuer = 1 }\n",
            "s.toml:7:7: tokens.mix: wrong_issuer needs verifier.issuer",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
            .current_dir(dir.path())
            .args(["validate", "s.toml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        if want.is_empty() {
            assert!(
                stderr.contains("s.toml:6:7: tokens.mix: psychic_signature")
                    || stderr.contains("capacity.slo.\"p98\": 'p98': unknown metric")
                    || stderr.contains("s.toml:4:15: keys.secret_file: no such file"),
                "case {i}: {stderr}"
            );
        } else {
            assert_eq!(stderr.trim_end(), format!("error: {want}"), "case {i}");
        }
        assert!(!dir.path().join("reports").exists(), "validate writes nothing");
    }
    // Flags are checked the same way.
    std::fs::write(dir.path().join("s.toml"), "[target]\nembedded = true\n").unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .current_dir(dir.path())
        .args(["validate", "s.toml", "--warmup", "20s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the warmup (20.00s) must be shorter than the run (10.00s)")
    );
    let ok = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .current_dir(dir.path())
        .args(["validate", "s.toml"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains(": ok"));
}

#[test]
fn thresholds_pass_then_fail_against_a_broken_verifier() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "concurrency = 4\nrequests = 1000\nduration = \"60s\"\n[thresholds]\n\"false_accepts\" = \"== 0\"\n\
         \"valid.p99\" = \"< 5s\"\n\"error_rate\" = \"< 1%\"\n\"alg_none.false_accept_rate\" = \"== 0%\"",
        MIX,
    );
    let good = verifier_for(&f.scenario(), Knobs::default());
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", good.addr())]);
    assert_eq!(code, 0, "{}", r["thresholds"]);
    let verdicts = r["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 4);
    assert!(verdicts.iter().all(|v| v["passed"] == true));
    // A flag adds a threshold that cannot hold.
    let (code, r) = f.run(&[
        "--url",
        &format!("http://{}/protected", good.addr()),
        "--threshold",
        "throughput > 100000000/s",
    ]);
    assert_eq!(code, 1);
    let t = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "throughput")
        .unwrap()
        .clone();
    assert_eq!(t["passed"], false);
    assert!(t["value"].as_f64().unwrap() > 0.0);
    drop(good);

    let bad = verifier_for(
        &f.scenario(),
        Knobs {
            vulnerable: true,
            ..Knobs::default()
        },
    );
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", bad.addr())]);
    assert_eq!(code, 1);
    let failed: Vec<&str> = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["passed"] == false)
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["alg_none.false_accept_rate", "false_accepts"]);
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let mut path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // A scenario for a target of your own names keys you make (its comment says how): make
        // them beside a copy of it.
        let text = std::fs::read_to_string(&path).unwrap();
        let own_keys = tempfile::tempdir().unwrap();
        if let Some(keys) = text.lines().find_map(|l| l.strip_prefix("dir = \"keys/")) {
            let keys = keys.trim_end_matches('"');
            let copy = own_keys.path().join(path.file_name().unwrap());
            std::fs::write(&copy, &text).unwrap();
            let out = own_keys.path().join("keys").join(keys);
            let make = [
                "jwtstorm",
                "keys",
                "generate",
                "--alg",
                "ES256",
                "--out",
                out.to_str().unwrap(),
            ];
            assert_eq!(jwtstorm::run(Cli::try_parse_from(make).unwrap()).ok(), Some(0));
            path = copy;
        }
        if path.extension().is_some_and(|e| e == "toml") {
            let cli = Cli::try_parse_from(["jwtstorm", "validate", path.to_str().unwrap()]).unwrap();
            assert_eq!(
                jwtstorm::run(cli).map_err(|f| f.to_string()),
                Ok(0),
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 7, "{seen}");
}

#[test]
fn the_reqwest_transport_gives_the_same_answers() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "concurrency = 4\nrequests = 1000\nduration = \"60s\"",
        MIX,
    );
    let server = verifier_for(&f.scenario(), Knobs::default());
    let url = format!("http://{}/protected", server.addr());
    let (code, r) = f.run(&["--url", &url, "--transport", "reqwest"]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    assert_eq!(r["meta"]["transport"], "reqwest");
    assert_eq!(n(&r, "totals.completed"), 1000);
    assert_eq!(
        n(&r, "totals.accepted"),
        server
            .metrics()
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);
    let refused = common::refused_port();
    let dead = format!("127.0.0.1:{}", refused.port);
    let (code, r) = f.run(&[
        "--url",
        &format!("http://{dead}/protected"),
        "--transport",
        "reqwest",
        "--requests",
        "20",
    ]);
    assert_eq!(code, 3);
    assert_eq!(
        n(&r, "transport_errors.connect_refused"),
        20,
        "{}",
        r["transport_errors"]
    );
}

#[test]
fn every_token_placement_method_and_http2_reach_the_verifier() {
    for (placement, extra) in [
        (
            "header:x-jwt",
            "method = \"POST\"\nbody = \"{}\"\nheaders = { content-type = \"application/json\" }",
        ),
        ("cookie:session", ""),
        ("query:access_token", "method = \"get\""),
        ("bearer", "http = \"2\""),
    ] {
        let f = Fixture::new(
            &format!("embedded = true\ntoken = \"{placement}\"\n{extra}"),
            "concurrency = 4\nrequests = 400",
            MIX,
        );
        let (code, r) = f.run(&[]);
        assert_eq!(code, 0, "{placement}");
        assert_accounted(&r);
        assert_eq!(
            n(&r, "totals.completed"),
            400,
            "{placement}: {}",
            r["transport_errors"]
        );
        assert_eq!(
            n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"),
            0,
            "{placement}"
        );
        assert!(
            n(&r, "totals.accepted") > 100 && n(&r, "totals.rejected") > 50,
            "{placement}: {}",
            r["totals"]
        );
    }
}

#[test]
fn a_server_that_closes_keep_alive_connections_is_not_an_error() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "concurrency = 4\nrequests = 600\nduration = \"60s\"",
        MIX,
    );
    let server = verifier_for(
        &f.scenario(),
        Knobs {
            keepalive_max: Some(3),
            ..Knobs::default()
        },
    );
    for transport in ["hyper", "reqwest"] {
        let (code, r) = f.run(&[
            "--url",
            &format!("http://{}/protected", server.addr()),
            "--transport",
            transport,
        ]);
        assert_eq!(code, 0);
        assert_accounted(&r);
        assert_eq!(
            n(&r, "totals.transport_errors"),
            0,
            "{transport}: {}",
            r["transport_errors"]
        );
        assert_eq!(n(&r, "totals.completed"), 600);
        if transport == "hyper" {
            // Three responses per connection: about 200 connections.
            assert!(n(&r, "meta.connections_opened") >= 150, "{}", r["meta"]);
        }
    }
}

#[test]
fn a_baseline_catches_a_slower_verifier() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 200\nduration = \"2s\"\nconcurrency = 8",
        MIX,
    );
    let fast = verifier_for(&f.scenario(), Knobs::default());
    let (code, _) = f.run(&["--url", &format!("http://{}/protected", fast.addr())]);
    assert_eq!(code, 0);
    let baseline = f.dir.path().join("baseline.json");
    std::fs::copy(f.out().join("results.json"), &baseline).unwrap();
    drop(fast);
    let slow = verifier_for(
        &f.scenario(),
        Knobs {
            delay: Some(jwtstorm::verifier::server::Delay::Fixed(Duration::from_millis(
                25,
            ))),
            ..Knobs::default()
        },
    );
    let junit = f.dir.path().join("junit.xml");
    let (code, _) = f.run(&[
        "--url",
        &format!("http://{}/protected", slow.addr()),
        "--baseline",
        baseline.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--threshold",
        "p99 < 10ms",
    ]);
    assert_eq!(code, 1);
    let md = std::fs::read_to_string(f.out().join("compare.md")).unwrap();
    assert!(
        md.contains("| all | p50 |") && md.contains("**REGRESSION**"),
        "{md}"
    );
    // compare.json: the same verdicts; 400 requests are too few for a p99.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.out().join("compare.json")).unwrap()).unwrap();
    let verdict = |m: &str| {
        json["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scope"] == "all" && c["metric"] == m)
            .map(|c| c["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(verdict("p50"), "regression");
    assert_eq!(verdict("p99"), "not_enough_data");
    let summary = std::fs::read_to_string(f.out().join("summary.md")).unwrap();
    assert!(summary.contains("## Comparison with the baseline"), "{summary}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("classname=\"jwtstorm.thresholds\" name=\"p99 &lt; 10ms\""),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"jwtstorm.compare.all\" name=\"p50\""),
        "{xml}"
    );
}

#[test]
fn abort_on_fail_stops_a_hopeless_run_early() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 200\nduration = \"30s\"\nconcurrency = 8\n[gate]\nabort_on_fail = true\nabort_after = \"1s\"\n[thresholds]\n\"false_accepts\" = \"== 0\"",
        MIX,
    );
    let bad = verifier_for(
        &f.scenario(),
        Knobs {
            vulnerable: true,
            ..Knobs::default()
        },
    );
    let started = std::time::Instant::now();
    let (code, r) = f.run(&["--url", &format!("http://{}/protected", bad.addr())]);
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped early, not after 30 s"
    );
    let why = r["meta"]["aborted"].as_str().unwrap();
    assert!(
        why.starts_with("threshold false_accepts == 0 failed at "),
        "{why}"
    );
    assert_eq!(r["meta"]["interrupted"], false);
    assert_accounted(&r);
    assert!(n(&r, "totals.scheduled") < 6000);
}

/// A flag accepts the words its scenario key accepts, and is refused by the same rule.
#[test]
fn flags_and_scenario_keys_agree() {
    let dir = tempfile::tempdir().unwrap();
    let validate = |scenario: &str, flags: &[&str]| {
        std::fs::write(dir.path().join("s.toml"), scenario).unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
            .current_dir(dir.path())
            .args(["validate", "s.toml"])
            .args(flags)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let embedded = "[target]\nembedded = true\n";
    for word in ["1.1", "1", "http1", "2", "h2", "h2c", "http2"] {
        let (code, err) = validate(&format!("{embedded}http = \"{word}\"\n"), &[]);
        assert_eq!(code, Some(0), "target.http = {word}: {err}");
        let (code, err) = validate(embedded, &["--http", word]);
        assert_eq!(code, Some(0), "--http {word}: {err}");
    }
    let (code, err) = validate(&format!("{embedded}http = \"3\"\n"), &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("target.http: '3': expected \"1.1\" or \"2\""),
        "{err}"
    );
    let (code, err) = validate(embedded, &["--http", "3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("'3': expected \"1.1\" or \"2\""), "{err}");

    // A fixed rate of 0 is refused both ways; a stage may start from 0 for a ramp.
    let (code, err) = validate(&format!("{embedded}[load]\nrate = 0\n"), &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("load.rate: must be above 0"), "{err}");
    let (code, err) = validate(embedded, &["--rate", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--rate: must be above 0"), "{err}");
    let (code, err) = validate(
        &format!(
            "{embedded}[load]\nstages = [{{ duration = \"1s\", rate = 0 }}, {{ duration = \"1s\", rate = 50, ramp = true }}]\n"
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    for (flag, value) in [("--transport", "curl"), ("--threads", "9999")] {
        let (code, err) = validate(embedded, &[flag, value]);
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{err}");
    }
}
