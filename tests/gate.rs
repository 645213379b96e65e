//! The CI gate from fixed fixtures: every threshold metric, scope and operator; baseline
//! comparison with regressions, improvements and refusals; JUnit XML; GitHub output; exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use jwtstorm::gate::compare::{self, default_tolerances};
use jwtstorm::gate::thresholds::parse;
use jwtstorm::stats::results::Results;
use serde_json::Value;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.json")
}

fn fixture() -> Results {
    serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap()
}

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
}

#[test]
fn every_metric_scope_and_operator() {
    // The fixture: 1,487 responses, 214 false accepts (69 alg_none), corrected p99 597µs,
    // uncorrected p99 201µs, 495.8 responses/s, 47 unexpected statuses and 13 transport errors.
    let r = fixture();
    let cases: &[(&str, &str, bool)] = &[
        ("false_accepts", "== 214", true),
        ("false_accepts", "!= 214", false),
        ("false_accepts", "< 214", false),
        ("false_accepts", "<= 214", true),
        ("false_accepts", "> 213", true),
        ("false_accepts", ">= 215", false),
        ("false_rejects", "== 0", true),
        ("alg_none.false_accepts", "== 69", true),
        ("expired.false_accepts", "== 0", true),
        ("expired.rejected", "== 63", true),
        ("valid.false_accept_rate", "== 0%", true),
        ("alg_none.false_accept_rate", "> 99%", true),
        ("p99", "< 600us", true),
        ("p99", "< 590us", false),
        ("uncorrected.p99", "<= 201us", true),
        ("uncorrected.p99", "< 200us", false),
        ("valid.p99.9", "< 2ms", true),
        ("valid.uncorrected.max", "< 1ms", true),
        ("max", "< 1s", true),
        ("mean", "< 1ms", true),
        ("stddev", "< 1ms", true),
        ("throughput", "> 490/s", true),
        ("throughput", "> 500/s", false),
        ("unexpected_status", "== 47", true),
        ("transport_errors", "== 13", true),
        ("error_rate", "< 5%", true),
        ("error_rate", "< 3%", false),
        ("unexpected_status_rate", "< 0.1%", false),
        ("oversized.p99", "< 1s", false),
    ];
    for (name, cond, want) in cases {
        let v = parse(name, cond).unwrap().evaluate(&r);
        assert_eq!(
            v.passed, *want,
            "{name} {cond}: measured {:?} {:?}",
            v.value, v.note
        );
    }
}

fn modified(f: impl FnOnce(&mut Results)) -> PathBuf {
    let mut r = fixture();
    f(&mut r);
    let dir = std::env::temp_dir().join(format!("jwtstorm-gate-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("results.json");
    std::fs::write(&p, serde_json::to_vec(&r).unwrap()).unwrap();
    p
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn comparison_finds_regressions_and_improvements() {
    let base = fixture();
    let same = compare::compare(&base, &base, &default_tolerances());
    assert!(!same.regressed());
    assert!(same.comparisons.iter().all(|c| c.verdict == "ok"));
    assert!(same.differences.is_empty());

    let mut worse = fixture();
    worse.latency_us.corrected.p99 *= 2;
    worse.totals.throughput_rps *= 0.8;
    worse.totals.false_accepts += 5;
    let rep = compare::compare(&base, &worse, &default_tolerances());
    let regressed: Vec<String> = rep
        .comparisons
        .iter()
        .filter(|c| c.regressed())
        .map(|c| format!("{}/{}", c.scope, c.metric))
        .collect();
    assert_eq!(regressed, vec!["all/p99", "all/throughput", "all/false_accepts"]);

    let mut better = fixture();
    better.latency_us.corrected.p99 /= 2;
    let rep = compare::compare(&base, &better, &default_tolerances());
    assert!(!rep.regressed());
    assert!(
        rep.comparisons
            .iter()
            .any(|c| c.metric == jwtstorm::model::Metric::P99
                && c.scope == "all"
                && c.verdict == "improvement")
    );

    // A looser tolerance lets a 2x p99 through.
    let mut loose = default_tolerances();
    loose.insert(jwtstorm::model::Metric::P99, 1.5);
    let mut slower = fixture();
    slower.latency_us.corrected.p99 *= 2;
    assert!(!compare::compare(&base, &slower, &loose).regressed());
}

#[test]
fn compare_command_exit_codes_junit_and_github_output() {
    let base = fixture_path();
    // The same run: exit 0.
    let out = bin()
        .args(["compare", base.to_str().unwrap(), base.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("| all | p99 |"));

    // A regression: exit 1, JUnit with a failure, annotations, the GitHub summary appended.
    let worse = modified(|r| r.latency_us.corrected.p99 *= 3);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let out = bin()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "compare",
            base.to_str().unwrap(),
            worse.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--github-annotations",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error title=jwtstorm regression::all p99: baseline 597µs, current 1.79ms"),
        "{stdout}"
    );
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(
        s.starts_with("# earlier step\n") && s.contains("**REGRESSION**"),
        "{s}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(
        suite.attribute("tests").unwrap().parse::<usize>().unwrap(),
        cases.len()
    );
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
        .map(|c| (c.attribute("classname").unwrap(), c.attribute("name").unwrap()))
        .collect();
    assert_eq!(failed, vec![("jwtstorm.compare.all", "p99")]);
    assert_eq!(suite.attribute("failures"), Some("1"));

    // --json: the verdict on stdout.
    let out = bin()
        .args([
            "compare",
            base.to_str().unwrap(),
            worse.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passed"], false);

    // Not comparable: exit 2 unless --force.
    let other = modified(|r| r.meta.tool_version = "9.9.9".into());
    let out = bin()
        .args(["compare", base.to_str().unwrap(), other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tool version: 0.1.0 vs 9.9.9"));
    let out = bin()
        .args([
            "compare",
            base.to_str().unwrap(),
            other.to_str().unwrap(),
            "--force",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A bad tolerance: exit 2.
    let out = bin()
        .args([
            "compare",
            base.to_str().unwrap(),
            base.to_str().unwrap(),
            "--max-regression",
            "p42=1%",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn junit_lists_every_threshold() {
    let r = fixture();
    let xml = jwtstorm::gate::junit::render("suite <&>", &r.thresholds, &[], 1.0);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert_eq!(cases, r.thresholds.len());
    let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(failures, r.thresholds.iter().filter(|t| !t.passed).count());
    assert!(xml.contains("measured 214, limit false_accepts == 0"), "{xml}");
}
