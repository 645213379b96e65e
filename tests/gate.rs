//! The CI gate from fixed fixtures: every threshold metric, scope and operator; baseline
//! comparison with regressions, improvements and refusals; JUnit XML; GitHub output; exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use jwtstorm::gate::compare::{self, Finding, Options};
use jwtstorm::gate::thresholds::parse;
use jwtstorm::model::Metric;
use jwtstorm::stats::recorder::histogram;
use jwtstorm::stats::results::Results;
use jwtstorm::stats::results::{decode_histogram, encode_histogram};
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

/// Multiplies every corrected latency the run recorded by `k` (the histograms the gate reads).
fn slower(r: &mut Results, k: f64) {
    for (key, text) in r.histograms.iter_mut() {
        if key.ends_with("/corrected") {
            let h = decode_histogram(text).unwrap();
            let mut scaled = histogram();
            for v in h.iter_recorded() {
                scaled
                    .record_n((v.value_iterated_to() as f64 * k) as u64, v.count_at_value())
                    .unwrap();
            }
            *text = encode_histogram(&scaled);
        }
    }
}

fn compared(base: &Results, cur: &Results, o: &Options) -> compare::Report {
    compare::compare(&[base], cur, o).unwrap()
}

fn regressed(r: &compare::Report) -> Vec<String> {
    r.comparisons
        .iter()
        .filter(|c| c.regressed())
        .map(|c| format!("{}/{}", c.scope, c.metric))
        .collect()
}

#[test]
fn comparison_finds_regressions_and_improvements() {
    let base = fixture();
    let same = compared(&base, &base, &Options::default());
    assert!(!same.regressed());
    assert!(
        same.comparisons
            .iter()
            .all(|c| matches!(c.verdict, Finding::NoSignificantChange | Finding::NotEnoughData)),
        "{same:?}"
    );
    assert!(same.differences.is_empty());
    // The fixture has 1,487 responses: p99.9 (10,000 needed) is not compared.
    assert!(
        same.comparisons
            .iter()
            .any(|c| c.metric == Metric::P99_9 && c.verdict == Finding::NotEnoughData)
    );

    // Twice as slow: p99 597µs -> 1.19ms is a regression; p90 (+410µs) and p50 (+102µs) stay
    // within the 500µs floor. Throughput 20% down; a false reject where there were none.
    let mut worse = fixture();
    slower(&mut worse, 2.0);
    worse.totals.duration_s /= 0.8;
    worse.totals.false_rejects = 1;
    let rep = compared(&base, &worse, &Options::default());
    assert_eq!(
        regressed(&rep),
        vec!["all/p99", "all/throughput", "all/false_rejects", "valid/p99"]
    );
    let p50 = rep.comparisons.iter().find(|c| c.metric == Metric::P50).unwrap();
    assert!(p50.why.contains("floor"), "{}", p50.why);
    let p90 = rep.comparisons.iter().find(|c| c.metric == Metric::P90).unwrap();
    assert_eq!(p90.verdict, Finding::NoSignificantChange, "{}", p90.why);

    // Faster: an improvement, never a regression.
    let mut better = fixture();
    slower(&mut better, 2.0);
    let rep = compared(&better, &base, &Options::default());
    assert!(!rep.regressed());
    assert!(
        rep.comparisons
            .iter()
            .any(|c| c.metric == Metric::P99 && c.scope == "all" && c.verdict == Finding::Improvement)
    );

    // A looser tolerance lets a 2x p99 through; a lower floor catches the p50.
    let mut loose = Options::default();
    loose.tolerances.insert(Metric::P99, 1.5);
    let mut twice = fixture();
    slower(&mut twice, 2.0);
    assert!(!regressed(&compared(&base, &twice, &loose)).contains(&"all/p99".to_string()));
    let mut fine = Options::default();
    fine.min_change.insert(Metric::P50, 50.0);
    assert!(regressed(&compared(&base, &twice, &fine)).contains(&"all/p50".to_string()));

    // Every class's latency when asked; only valid's by default.
    let all = Options {
        classes: compare::Classes::All,
        ..Options::default()
    };
    let scopes = |r: &compare::Report| {
        let mut s: Vec<String> = r
            .comparisons
            .iter()
            .filter(|c| c.metric == Metric::P50)
            .map(|c| c.scope.clone())
            .collect();
        s.dedup();
        s
    };
    assert_eq!(
        scopes(&compared(&base, &twice, &Options::default())),
        ["all", "valid"]
    );
    assert_eq!(
        scopes(&compared(&base, &twice, &all)),
        [
            "all",
            "alg_none",
            "bad_signature",
            "expired",
            "valid",
            "wrong_audience"
        ]
    );
    // A class of ~70 requests has no p99 to compare.
    let rep = compared(&base, &twice, &all);
    let c = rep
        .comparisons
        .iter()
        .find(|c| c.scope == "expired" && c.metric == Metric::P99)
        .unwrap();
    assert_eq!(c.verdict, Finding::NotEnoughData);
}

#[test]
fn several_baselines_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    for (i, k) in [1.0, 1.5, 2.0].iter().enumerate() {
        let mut r = fixture();
        slower(&mut r, *k);
        let d = dir.path().join(format!("fixture/2026-11-28T00000{i}Z"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("results.json"), serde_json::to_vec(&r).unwrap()).unwrap();
    }
    let mut cur = fixture();
    slower(&mut cur, 2.2);
    let cur_path = dir.path().join("current.json");
    std::fs::write(&cur_path, serde_json::to_vec(&cur).unwrap()).unwrap();
    // Against the fastest alone, 2.2x is a regression; against the folder's three (1x..2x) it
    // is within their spread.
    let first = dir.path().join("fixture/2026-11-28T000000Z/results.json");
    let out = bin()
        .args(["compare", first.to_str().unwrap(), cur_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = bin()
        .args(["compare", "--json", "--baseline"])
        .arg(dir.path().join("fixture"))
        .arg(&cur_path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["comparison"]["baselines"], 3);
    let schema: Value = serde_json::from_str(include_str!("../schema/compare.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&v["comparison"])
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Positional baselines work too; a folder without results is refused by name.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = bin()
        .args(["compare"])
        .arg(&empty)
        .arg(&cur_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty") && err.contains("no results.json"), "{err}");
    // Only the current run: no baseline.
    let out = bin().args(["compare"]).arg(&cur_path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no baseline"));
    // Bad gate flags name the flag.
    for (flag, value) in [
        ("--min-change", "p99=soon"),
        ("--confidence", "120%"),
        ("--compare-classes", "valid,nonsense"),
    ] {
        let out = bin()
            .args([
                "compare",
                first.to_str().unwrap(),
                cur_path.to_str().unwrap(),
                flag,
                value,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{flag}");
    }
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
    // The terminal form: one aligned line per metric, with its verdict and reason.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("compared with the baseline: no regression"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("all")
            && l.contains(" p99 ")
            && l.contains("no significant change")),
        "{stdout}"
    );

    // A regression: exit 1, JUnit with a failure, annotations, the GitHub summary appended.
    let worse = modified(|r| slower(r, 3.0));
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
        stdout.contains("::error title=jwtstorm regression::all p99: baseline 597µs, current 1.79ms (+200."),
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
    assert_eq!(
        failed,
        vec![
            ("jwtstorm.compare.all", "p90"),
            ("jwtstorm.compare.all", "p99"),
            ("jwtstorm.compare.valid", "p90"),
            ("jwtstorm.compare.valid", "p99")
        ]
    );
    assert_eq!(suite.attribute("failures"), Some("4"));
    // p99.9 from 1,487 samples: skipped, with the reason.
    let skipped: Vec<_> = cases
        .iter()
        .filter_map(|c| c.children().find(|f| f.has_tag_name("skipped")))
        .map(|s| s.attribute("message").unwrap().to_string())
        .collect();
    assert_eq!(
        suite.attribute("skipped"),
        Some(skipped.len().to_string().as_str())
    );
    assert!(
        skipped.iter().any(|m| m.contains("p99.9 needs 10,000 samples")),
        "{skipped:?}"
    );

    // jwtstorm itself late in the current run: a warning annotation explains, nothing fails.
    let wake = |at: u64| {
        let mut h = histogram();
        h.record_n(at, 1000).unwrap();
        encode_histogram(&h)
    };
    let early = modified(|r| {
        r.histograms.insert("schedule/wake".into(), wake(10));
    });
    let late = modified(|r| {
        r.histograms.insert("schedule/wake".into(), wake(900));
    });
    let out = bin()
        .args([
            "compare",
            early.to_str().unwrap(),
            late.to_str().unwrap(),
            "--github-annotations",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::warning title=jwtstorm comparison::jwtstorm itself sent late"),
        "{stdout}"
    );

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
