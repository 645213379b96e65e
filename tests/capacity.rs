//! Capacity search against the reference verifier with a known ceiling: `--max-concurrency N
//! --delay 2ms` serves at most N / (2 ms plus timer slack) requests per second. The true
//! capacity is measured first with a saturating closed-loop run; the search must land within
//! 15% of it, and a repeated search within 10% of the first.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use jsonwebtoken::Algorithm;
use jwtstorm::cli::Cli;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::{Delay, Knobs};
use serde_json::Value;

mod common;

use common::{SECRET, Server};

fn run(argv: &[&str]) -> i32 {
    jwtstorm::run(Cli::try_parse_from(argv).unwrap()).unwrap_or_else(|f| {
        eprintln!("{f}");
        f.code
    })
}

fn scenario(dir: &Path, url: &str) {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    std::fs::write(
        dir.join("sat.toml"),
        format!(
            "name = \"sat\"\n[target]\nurl = \"{url}\"\n[keys]\nsecret_file = \"secret\"\n[tokens]\ncount = 1000\nmix = {{ valid = 1 }}\n\
             [load]\nconcurrency = 16\nduration = \"3s\"\nwarmup = \"500ms\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("cap.toml"),
        format!(
            "name = \"cap\"\n[target]\nurl = \"{url}\"\ntimeout = \"1s\"\n[keys]\nsecret_file = \"secret\"\n[tokens]\ncount = 1000\n\
             mix = {{ valid = 1 }}\n[load]\nconcurrency = 64\ngrace = \"500ms\"\n[capacity]\nslo = {{ \"p99\" = \"< 100ms\", \"error_rate\" = \"< 1%\" }}\n\
             start_rate = 100\nstep = \"1500ms\"\nsettle = \"500ms\"\nconfirm = \"2s\"\nprecision = \"8%\"\nmax_late = \"20%\"\n"
        ),
    )
    .unwrap();
}

fn search(dir: &Path, out: &str) -> (f64, Value) {
    let o = dir.join(out);
    let code = run(&[
        "jwtstorm",
        "capacity",
        dir.join("cap.toml").to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(o.join("capacity.json")).unwrap()).unwrap();
    assert!(
        o.join("capacity.md").is_file()
            && o.join("capacity.png").is_file()
            && o.join("capacity.svg").is_file()
    );
    let answer = report["searches"][0]["answer"]["capacity_rps"].as_f64().unwrap();
    (answer, report)
}

#[test]
fn the_answer_lies_near_the_true_capacity() {
    for (limit, repeat) in [(1usize, true), (4, false)] {
        let dir = tempfile::tempdir().unwrap();
        let running = Server::hs256(
            Policy::for_alg(Algorithm::HS256),
            Knobs {
                max_concurrency: Some(limit),
                delay: Some(Delay::Fixed(Duration::from_millis(2))),
                ..Knobs::default()
            },
        );
        scenario(dir.path(), &running.url());
        // The true capacity: what a saturating closed loop gets through, measured before and
        // after the search (the machine is shared: its speed drifts between the two).
        let saturation = |name: &str| {
            let sat = dir.path().join(name);
            assert_eq!(
                run(&[
                    "jwtstorm",
                    "run",
                    dir.path().join("sat.toml").to_str().unwrap(),
                    "-o",
                    sat.to_str().unwrap(),
                    "-q"
                ]),
                0
            );
            let results: Value =
                serde_json::from_str(&std::fs::read_to_string(sat.join("results.json")).unwrap()).unwrap();
            results["totals"]["throughput_rps"].as_f64().unwrap()
        };
        let before = saturation("sat-before");
        let (first, report) = search(dir.path(), "one");
        let after = saturation("sat-after");
        let (low, high) = (before.min(after), before.max(after));
        eprintln!(
            "max-concurrency {limit}: saturation {before:.0}/s then {after:.0}/s, capacity {first:.0}/s"
        );
        assert!(
            first >= low * 0.85 && first <= high * 1.15,
            "limit {limit}: found {first:.0}, true {before:.0} to {after:.0}: {report:#}"
        );
        let steps = report["searches"][0]["steps"].as_array().unwrap();
        assert_eq!(steps.last().unwrap()["phase"], "confirm");
        assert!(
            steps.iter().any(|s| s["passed"] == false),
            "the search saw a failing rate"
        );
        if repeat {
            let (second, _) = search(dir.path(), "two");
            eprintln!("repeat: {second:.0}/s");
            assert!(
                (second - first).abs() <= first * 0.10,
                "{first:.0} then {second:.0}"
            );
        }
        drop(running);
    }
}

#[test]
fn bad_capacity_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "http://127.0.0.1:9/protected");
    let text = std::fs::read_to_string(dir.path().join("cap.toml"))
        .unwrap()
        .replace("start_rate = 100", "start_rate = 100\ngrowth = 1");
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let err = jwtstorm::run(
        Cli::try_parse_from([
            "jwtstorm",
            "capacity",
            dir.path().join("bad.toml").to_str().unwrap(),
        ])
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.code, 2);
    assert!(
        err.to_string().contains("capacity.growth: must be above 1"),
        "{err}"
    );
    let err = jwtstorm::run(
        Cli::try_parse_from([
            "jwtstorm",
            "capacity",
            dir.path().join("cap.toml").to_str().unwrap(),
            "--slo",
            "p99 20ms",
        ])
        .unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("--slo 'p99 20ms'"), "{err}");
    let err = jwtstorm::run(
        Cli::try_parse_from([
            "jwtstorm",
            "capacity",
            dir.path().join("cap.toml").to_str().unwrap(),
            "--compare-alg",
            "RS256",
        ])
        .unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs target.embedded"), "{err}");
}

#[test]
fn compare_algorithms_against_the_embedded_verifier() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "name = \"algs\"\n[target]\nembedded = true\n[tokens]\ncount = 500\nmix = { valid = 9, expired = 1 }\n[load]\nconcurrency = 16\n\
         [capacity]\nslo = { \"p99\" = \"< 200ms\", \"false_accepts\" = \"== 0\" }\nstart_rate = 100\nmax_rate = 400\nstep = \"1s\"\nsettle = \"300ms\"\nconfirm = \"1s\"\nmax_late = \"20%\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let code = run(&[
        "jwtstorm",
        "capacity",
        dir.path().join("c.toml").to_str().unwrap(),
        "--compare-alg",
        "HS256,ES256",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("capacity.json")).unwrap()).unwrap();
    let searches = report["searches"].as_array().unwrap();
    assert_eq!(searches.len(), 2);
    for (s, label) in searches.iter().zip(["HS256", "ES256"]) {
        assert_eq!(s["label"], label);
        // Each search ends with a confirmed answer no higher than the 400/s ceiling (400/s on an
        // idle machine; less when the machine is busy).
        let c = s["answer"]["capacity_rps"]
            .as_f64()
            .unwrap_or_else(|| panic!("{s:#}"));
        assert!((50.0..=400.0).contains(&c), "{s:#}");
        assert_eq!(s["steps"].as_array().unwrap().last().unwrap()["phase"], "confirm");
    }
    let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(md.contains("| HS256 | ") && md.contains("| ES256 | "), "{md}");
}
