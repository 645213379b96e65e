//! A run spread over segments and merged: three `jwtstorm run --segment I/3` processes against
//! one reference verifier add up to exactly what the verifier counted, their merge is the
//! single-process schedule, a segment that joins late counts what it missed, the merge refuses
//! what does not belong together, and adding histograms is exact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use jsonwebtoken::Algorithm;
use jwtstorm::scenario::Loaded;
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::verifier::server::Knobs;
use serde_json::Value;

mod common;

use common::{Fixture, Server, assert_accounted, n, read_results};

const MIX: &str = "count = 4000\nseed = 5\nclaims = { sub = \"user-{i}\" }\n\
    mix = { valid = 80, expired = 5, bad_signature = 5, alg_none = 5, wrong_audience = 5 }";

fn verifier_for(scenario: &Path) -> Server {
    let s = Settings::from_scenario(&Loaded::read(scenario).unwrap()).unwrap();
    Server::hs256(s.policy(Algorithm::HS256), Knobs::default())
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("jwtstorm").to_path_buf()
}

/// An RFC 3339 time `d` from now (negative: ago), as a user writes `--start-at`.
fn at(from_now: i64) -> String {
    let now = SystemTime::now();
    let t = if from_now >= 0 {
        now + Duration::from_secs(from_now as u64)
    } else {
        now - Duration::from_secs((-from_now) as u64)
    };
    humantime::format_rfc3339_millis(t).to_string()
}

/// Starts segment `i` of `count` of the fixture's scenario against `url`.
fn segment(f: &Fixture, url: &str, i: u64, count: u64, start: &str, extra: &[&str]) -> std::process::Child {
    let out = f.dir.path().join(format!("segments/seg-{i}"));
    Command::new(bin())
        .args([
            "run",
            f.scenario().to_str().unwrap(),
            "--url",
            url,
            "--segment",
            &format!("{i}/{count}"),
            "--start-at",
            start,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--no-preflight",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "segment failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `jwtstorm merge ARGS`: exit code, stdout and stderr.
fn merge(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).arg("merge").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The verifier's `/metrics` as Prometheus text, fetched over HTTP: (accepted, rejected).
fn scraped(server: &Server) -> (u64, u64) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (mut accepted, mut rejected) = (0, 0);
    for line in text
        .lines()
        .filter(|l| l.starts_with("jwtstorm_server_requests_total{"))
    {
        let v: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if line.contains("outcome=\"accepted\"") {
            accepted += v;
        } else if line.contains("outcome=\"rejected\"") {
            rejected += v;
        }
    }
    (accepted, rejected)
}

fn p(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_f64().unwrap_or_else(|| panic!("{path}: {cur}"))
}

#[test]
fn three_segments_add_up_to_the_verifiers_counts_and_the_single_run() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 600\nduration = \"4s\"\nconcurrency = 12",
        MIX,
    );
    let server = verifier_for(&f.scenario());
    let url = server.url();
    let start = at(4);
    let children: Vec<_> = (0..3).map(|i| segment(&f, &url, i, 3, &start, &[])).collect();
    children.into_iter().for_each(wait_ok);
    let segments = f.dir.path().join("segments");
    let merged_dir = f.dir.path().join("merged");
    let (code, stdout, stderr) = merge(&[segments.to_str().unwrap(), "--out", merged_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("merged 3 of 3 segments"), "{stdout}");
    let r = read_results(&merged_dir);
    assert_accounted(&r);
    let t = &r["totals"];
    // The union of the segments is the single-process schedule: 600/s for 4 s.
    assert_eq!(n(t, "scheduled"), 2400);
    // Exactly what the verifier counted, over its /metrics endpoint.
    let (accepted, rejected) = scraped(&server);
    assert_eq!(n(t, "accepted"), accepted);
    assert_eq!(n(t, "rejected"), rejected);
    assert_eq!(n(t, "sent"), accepted + rejected + n(t, "transport_errors"));
    assert_eq!(n(t, "false_accepts") + n(t, "false_rejects"), 0);
    // Each segment's counts, summed, are the merge's; each carries its identity.
    let mut sent = 0;
    let mut hashes = Vec::new();
    for i in 0..3 {
        let s = read_results(&segments.join(format!("seg-{i}")));
        assert_eq!(s["fleet"]["segment"], i);
        assert_eq!(s["fleet"]["segments"], 3);
        assert!(s["thresholds"].as_array().unwrap().is_empty());
        hashes.push(s["fleet"]["scenario_hash"].as_str().unwrap().to_string());
        sent += n(&s["totals"], "sent");
        // Four of the twelve connections each.
        assert_eq!(n(&s["scenario"]["load"], "concurrency"), 12);
    }
    assert_eq!(sent, n(t, "sent"));
    assert!(hashes.iter().all(|h| h == &hashes[0]));
    assert_eq!(r["fleet"]["merged"], serde_json::json!([0, 1, 2]));
    assert_eq!(r["fleet"]["partial"], false);
    // Throughput over the common window, not summed per segment's own.
    let thr = p(t, "throughput_rps");
    assert!((400.0..800.0).contains(&thr), "{thr}");
    // The merged timeline: about 600 sent in each whole second.
    let mid: u64 = r["timeline"].as_array().unwrap()[1..3]
        .iter()
        .map(|s| n(s, "sent"))
        .sum();
    assert!((900..1500).contains(&mid), "{mid}");
    // Every report was rendered from the merge.
    for name in ["report.html", "summary.md", "timeline.svg", "latency.hgrm"] {
        assert!(merged_dir.join(name).exists(), "{name}");
    }
    assert!(
        std::fs::read_to_string(merged_dir.join("summary.md"))
            .unwrap()
            .contains("merge of all 3 segments")
    );
    // The merge and a segment are results files like any other.
    let schema: Value = serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for doc in [&r, &read_results(&segments.join("seg-1"))] {
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The merged send lag is over every request sent.
    assert!(n(&r, "schedule.lag_us.count") >= n(t, "sent"));

    // The same total rate from one process against the same target: the merged percentiles
    // are of the same requests' kind (wide margins: a shared machine).
    let single = f.dir.path().join("single");
    let status = Command::new(bin())
        .args(["run", f.scenario().to_str().unwrap(), "--url", &url, "--out"])
        .arg(&single)
        .args(["--quiet", "--no-preflight"])
        .status()
        .unwrap();
    assert!(status.success());
    let s = read_results(&single);
    assert_eq!(n(&s["totals"], "scheduled"), 2400);
    let (m50, s50) = (
        p(&r, "latency_us.uncorrected.p50"),
        p(&s, "latency_us.uncorrected.p50"),
    );
    assert!(
        m50 < s50 * 5.0 + 2000.0 && s50 < m50 * 5.0 + 2000.0,
        "{m50} vs {s50}"
    );
}

#[test]
fn a_segment_that_joins_late_counts_what_it_missed() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 300\nduration = \"5s\"\nconcurrency = 4",
        MIX,
    );
    let server = verifier_for(&f.scenario());
    // The common start was 2 s ago: segment 1 of 2 joins at once.
    wait_ok(segment(&f, &server.url(), 1, 2, &at(-2), &[]));
    let r = read_results(&f.dir.path().join("segments/seg-1"));
    assert_accounted(&r);
    let t = &r["totals"];
    // Its share of 300/s for 5 s: 750 scheduled, whatever it missed.
    assert_eq!(n(t, "scheduled"), 750);
    let missed = n(&r["fleet"], "missed");
    // About 2 s of 150/s missed (wide margins for a busy machine).
    assert!((150..700).contains(&missed), "{missed}");
    assert!(n(t, "not_sent") >= missed);
    assert!(p(&r["fleet"], "joined_late_ms") >= 2000.0);
    assert_eq!(n(t, "sent") + n(t, "not_sent"), 750);
    // The missed seconds sent nothing; the timeline is on the common start's clock.
    let first = &r["timeline"].as_array().unwrap()[0];
    assert!(n(first, "second") >= 1, "{first}");
    let summary = std::fs::read_to_string(f.dir.path().join("segments/seg-1/summary.md")).unwrap();
    assert!(
        summary.contains("segment 1 of 2") && summary.contains("missed"),
        "{summary}"
    );
}

#[test]
fn the_merge_refuses_what_does_not_belong_together() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 200\nduration = \"1s\"\nconcurrency = 6",
        "count = 600\nmix = { valid = 1 }",
    );
    // A threshold for the whole run, which the merge judges.
    let text =
        std::fs::read_to_string(f.scenario()).unwrap() + "[thresholds]\n\"valid.count\" = \">= 150\"\n";
    std::fs::write(f.scenario(), text).unwrap();
    let server = verifier_for(&f.scenario());
    let url = server.url();
    let start = at(3);
    let children: Vec<_> = (0..3).map(|i| segment(&f, &url, i, 3, &start, &[])).collect();
    children.into_iter().for_each(wait_ok);
    let seg = |i: u64| f.dir.path().join(format!("segments/seg-{i}/results.json"));
    let out = f.dir.path().join("m");
    let out = out.to_str().unwrap();
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    // A missing segment is named, and refused unless asked.
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&seg(2)), "--out", out]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("1 of 3 segments are missing: 1"), "{err}");
    let (code, stdout, err) = merge(&[&s(&seg(0)), &s(&seg(2)), "--out", out, "--allow-missing"]);
    // Two segments of 200/s for 1 s hold about 134 valid tokens: the threshold fails on them.
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(stdout.contains("PARTIAL"), "{stdout}");
    let r = read_results(Path::new(out));
    assert_eq!(r["fleet"]["partial"], true);
    assert_eq!(r["fleet"]["missing"], serde_json::json!([1]));
    assert_eq!(r["thresholds"][0]["name"], "valid.count");
    assert_eq!(r["thresholds"][0]["passed"], false);
    // All three: the threshold is judged on the whole run and passes.
    let (code, stdout, err) = merge(&[&s(&seg(0)), &s(&seg(1)), &s(&seg(2)), "--out", out]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert_eq!(read_results(Path::new(out))["thresholds"][0]["passed"], true);
    // The same segment twice (a copy: the same path given twice is read once).
    let copy = f.dir.path().join("copy.json");
    std::fs::copy(seg(0), &copy).unwrap();
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&copy), "--out", out]);
    assert_eq!(code, 2);
    assert!(err.contains("are both segment 0"), "{err}");
    // A segment of another run (another scenario: its hash differs).
    let mut other: Value = serde_json::from_str(&std::fs::read_to_string(seg(1)).unwrap()).unwrap();
    other["scenario"]["load"]["concurrency"] = 99.into();
    let other_path = f.dir.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&other_path), &s(&seg(2)), "--out", out]);
    assert_eq!(code, 2);
    assert!(err.contains("does not match the hash recorded"), "{err}");
    other["fleet"]["scenario_hash"] = jwtstorm::stats::results::scenario_hash(&other["scenario"]).into();
    std::fs::write(&other_path, other.to_string()).unwrap();
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&other_path), &s(&seg(2)), "--out", out]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is segment 1 of a different run: its scenario (hash) differs"),
        "{err}"
    );
    // A run that was not a segment.
    let mut single: Value = serde_json::from_str(&std::fs::read_to_string(seg(1)).unwrap()).unwrap();
    single.as_object_mut().unwrap().remove("fleet");
    std::fs::write(&other_path, single.to_string()).unwrap();
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&other_path), "--out", out]);
    assert_eq!(code, 2);
    assert!(err.contains("not a segment of a run"), "{err}");
    // A truncated file names itself.
    std::fs::write(&other_path, "{\"schema_version\": 1,").unwrap();
    let (code, _, err) = merge(&[&s(&seg(0)), &s(&other_path), "--out", out]);
    assert_eq!(code, 2);
    assert!(err.contains("other.json"), "{err}");
}

#[test]
fn segment_flags_are_checked() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 100\nduration = \"1s\"\nconcurrency = 2",
        "count = 100\nmix = { valid = 1 }",
    );
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(bin())
            .args(["run", f.scenario().to_str().unwrap(), "--quiet", "--no-preflight"])
            .args(extra)
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("JWTSTORM_SEGMENT")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--segment", "3/3"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("numbered 0 to 2"), "{err}");
    let (code, err) = run(&["--segments", "3"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("JOB_COMPLETION_INDEX"), "{err}");
    let (code, err) = run(&["--segments", "3"], &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(code, 2);
    assert!(err.contains("at least the number of segments"), "{err}");
    let (code, err) = run(&["--segment", "0/2", "--start-at", "next tuesday"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--start-at") && err.contains("RFC 3339"), "{err}");
    let (code, err) = run(
        &[
            "--url",
            "http://127.0.0.1:1/protected",
            "--segment",
            "0/2",
            "--baseline",
            "x",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("compare the merged results"), "{err}");
    // The embedded verifier cannot be shared by segments.
    let g = Fixture::new(
        "embedded = true",
        "rate = 100\nduration = \"1s\"\nconcurrency = 2",
        "count = 100",
    );
    let out = Command::new(bin())
        .args([
            "run",
            g.scenario().to_str().unwrap(),
            "--quiet",
            "--segment",
            "0/2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("share one target"));
}

#[test]
fn merging_adds_histograms_exactly() {
    use jwtstorm::stats::merge::{Decoded, Merger};
    use jwtstorm::stats::recorder::{Percentiles, histogram};
    use jwtstorm::stats::results::{Results, decode_histogram, encode_histogram, scenario_hash};
    use proptest::prelude::*;
    // A real segment's results as the template each random segment is made from.
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 100\nduration = \"1s\"\nconcurrency = 2",
        "count = 100\nmix = { valid = 1 }",
    );
    let server = verifier_for(&f.scenario());
    wait_ok(segment(&f, &server.url(), 0, 2, &at(1), &[]));
    let text = std::fs::read_to_string(f.dir.path().join("segments/seg-0/results.json")).unwrap();
    let template: Results = serde_json::from_str(&text).unwrap();
    const KEY: &str = "valid/accepted/corrected";
    let values = prop::collection::vec(1u64..5_000_000, 0..400);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(&prop::collection::vec(values, 1..6), |segments| {
            let n = segments.len() as u64;
            let mut all = histogram();
            let mut merger = Merger::new();
            for (i, vals) in segments.iter().enumerate() {
                let mut h = histogram();
                for v in vals {
                    h.record(*v).unwrap();
                    all.record(*v).unwrap();
                }
                let mut r = template.clone();
                let fleet = r.fleet.as_mut().unwrap();
                fleet.segment = Some(i as u64);
                fleet.segments = n;
                fleet.scenario_hash = scenario_hash(&r.scenario);
                r.histograms.clear();
                if !h.is_empty() {
                    r.histograms.insert(KEY.into(), encode_histogram(&h));
                }
                merger.add(Decoded::of(&format!("seg-{i}"), r).unwrap()).unwrap();
            }
            let merged = merger.finish().unwrap();
            match merged.histograms.get(KEY) {
                None => prop_assert!(all.is_empty()),
                Some(text) => {
                    let h = decode_histogram(text).unwrap();
                    // Bucket by bucket the same as one histogram fed every value.
                    prop_assert_eq!(h.len(), all.len());
                    let mine: Vec<(u64, u64)> = h
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect();
                    let one: Vec<(u64, u64)> = all
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect();
                    prop_assert_eq!(mine, one);
                    // And the percentiles reported are those of the union.
                    let reported = &merged.classes["valid"].latency_us.corrected["accepted"];
                    prop_assert_eq!(reported, &Percentiles::of(&all));
                    prop_assert_eq!(&merged.latency_us.corrected, &Percentiles::of(&all));
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_results_file_with_a_strange_fleet_is_reported_not_a_panic() {
    // `jwtstorm report` reads any results file: a hash that is not hex must not cut a character.
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 50\nduration = \"1s\"\nconcurrency = 2",
        "count = 100\nmix = { valid = 1 }",
    );
    let server = verifier_for(&f.scenario());
    wait_ok(segment(&f, &server.url(), 0, 2, &at(1), &[]));
    let dir = f.dir.path().join("segments/seg-0");
    // The same file named twice, directly and through its folder, is read once.
    let (code, _, err) = merge(&[
        dir.join("results.json").to_str().unwrap(),
        dir.to_str().unwrap(),
        "--out",
        f.dir.path().join("m").to_str().unwrap(),
        "--allow-missing",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        read_results(&f.dir.path().join("m"))["fleet"]["merged"],
        serde_json::json!([0])
    );
    let mut r = read_results(&dir);
    r["fleet"]["scenario_hash"] = "ééééééééééééé".into();
    std::fs::write(dir.join("results.json"), r.to_string()).unwrap();
    let out = Command::new(bin())
        .args([
            "report",
            dir.join("results.json").to_str().unwrap(),
            "--format",
            "md",
            "--out",
        ])
        .arg(f.dir.path().join("re"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(f.dir.path().join("re/summary.md")).unwrap();
    assert!(md.contains("segment 0 of 2 (run éééééééééééé"), "{md}");
}

#[test]
fn a_limiter_seen_by_two_segments_is_judged_on_their_merge() {
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"",
        "rate = 200\nduration = \"4s\"\nconcurrency = 8",
        "count = 800\nmix = { valid = 1 }\nclaims = { sub = { one_of = [\"ann\", \"bob\"] } }",
    );
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario())
            .unwrap()
            .replace("[verifier]\n", "[verifier]\nrate_limit = \"40/s\"\n"),
    )
    .unwrap();
    let s = Settings::from_scenario(&Loaded::read(&f.scenario()).unwrap()).unwrap();
    let limit = s.verifier.rate_limit.expect("declared");
    // The verifier's limiter sees both segments' requests: 40/s per subject across the fleet.
    let server = Server::hs256(
        s.policy(Algorithm::HS256),
        Knobs {
            rate_limit: Some(limit),
            ..Knobs::default()
        },
    );
    let start = at(3);
    let children: Vec<_> = (0..2)
        .map(|i| segment(&f, &server.url(), i, 2, &start, &[]))
        .collect();
    children.into_iter().for_each(wait_ok);
    let segments = f.dir.path().join("segments");
    let merged_dir = f.dir.path().join("merged");
    let (code, stdout, stderr) = merge(&[segments.to_str().unwrap(), "--out", merged_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let r = read_results(&merged_dir);
    assert_accounted(&r);
    let limited = server
        .metrics()
        .limited
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(limited > 0);
    assert_eq!(n(&r, "totals.limited"), limited);
    assert_eq!(n(&r, "rate_limit.with_retry_after"), limited);
    let subjects = r["rate_limit"]["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 2);
    for s in subjects {
        // Each segment saw half of a subject's traffic; the merge sees all of it, and so finds
        // the fleet-wide limit (each segment alone would see about 20/s accepted).
        let seg_sent: u64 = (0..2)
            .map(|i| {
                let seg = read_results(&segments.join(format!("seg-{i}")));
                seg["rate_limit"]["subjects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["subject"] == s["subject"])
                    .map_or(0, |x| n(x, "sent"))
            })
            .sum();
        assert_eq!(n(s, "sent"), seg_sent, "{s}");
        let effective = p(s, "effective_per_s");
        assert!(
            (32.0..=48.0).contains(&effective),
            "{}: {effective}/s",
            s["subject"]
        );
        assert_eq!(s["over_limit"], false, "{s}");
    }
    assert_eq!(n(&r, "totals.over_limit"), 0);
}

#[test]
fn endpoints_of_two_segments_add_up_to_the_verifiers_per_path_counts() {
    // The reference verifier with a second, scoped path.
    let f = Fixture::new(
        "url = \"http://127.0.0.1:1/protected\"\n\
         [[target.endpoints]]\npath = \"/protected\"\nweight = 2\n\
         [[target.endpoints]]\npath = \"/admin\"\nweight = 1\nrequired_scope = \"admin\"",
        "rate = 200\nduration = \"3s\"\nconcurrency = 8",
        "count = 600\nmix = { valid = 9, expired = 1 }",
    );
    let s = Settings::from_scenario(&Loaded::read(&f.scenario()).unwrap()).unwrap();
    let server = Server::hs256(
        s.policy(Algorithm::HS256),
        Knobs {
            scoped_paths: vec![("/admin".into(), Some("admin".into()))],
            ..Knobs::default()
        },
    );
    let url = server.url();
    let start = at(3);
    let children: Vec<_> = (0..2).map(|i| segment(&f, &url, i, 2, &start, &[])).collect();
    children.into_iter().for_each(wait_ok);
    let segments = f.dir.path().join("segments");
    let merged_dir = f.dir.path().join("merged");
    let (code, stdout, stderr) = merge(&[segments.to_str().unwrap(), "--out", merged_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let r = read_results(&merged_dir);
    assert_accounted(&r);
    let eps = r["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    let m = server.metrics();
    for (e, path) in [(&eps[0], "/protected"), (&eps[1], "/admin")] {
        for outcome in ["accepted", "rejected", "forbidden"] {
            let ours = e["outcomes"].get(outcome).and_then(Value::as_u64).unwrap_or(0);
            assert_eq!(ours, m.path_count(path, outcome), "{path} {outcome}");
        }
        assert!(p(e, "latency_us.count") > 0.0);
    }
    assert_eq!(n(&eps[0], "count") + n(&eps[1], "count"), n(&r, "totals.sent"));
    // Valid tokens lack the admin scope: forbidden there, rightly.
    assert_eq!(n(&r, "totals.false_rejects") + n(&r, "totals.false_accepts"), 0);
    assert!(n(&eps[1], "outcomes.forbidden") > 0);
}
