//! `jwtstorm compare BASELINE CURRENT`, and the gate step `run` shares with it: tolerances,
//! comparability, JUnit, GitHub summary and annotations, the JSON verdict, the exit code.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow};

use crate::cli::{CompareArgs, GateArgs};
use crate::commands::report::read_results;
use crate::error::{Failure, ResultExt, exit};
use crate::gate::ci::{self, Verdicts};
use crate::gate::compare::{self, Comparison, Report};
use crate::gate::junit;
use crate::gate::thresholds::Verdict;
use crate::stats::results::Results;

/// The tolerances the flags give, over the defaults.
pub fn tolerances(g: &GateArgs) -> Result<BTreeMap<String, f64>, Failure> {
    let mut t = compare::default_tolerances();
    for item in &g.max_regression {
        let (k, v) = compare::parse_tolerance(item)
            .map_err(|e| anyhow!("--max-regression {e}"))
            .or_bad_input()?;
        t.insert(k, v);
    }
    Ok(t)
}

/// Compares against a baseline file, refusing runs that are not comparable unless forced.
pub fn against(baseline: &Path, current: &Results, g: &GateArgs) -> Result<Report, Failure> {
    let base = read_results(baseline)?;
    let report = compare::compare(&base, current, &tolerances(g)?);
    if !report.differences.is_empty() {
        if !g.force {
            return Err(anyhow!(
                "the runs are not comparable ({}); pass --force to compare anyway",
                report.differences.join("; ")
            ))
            .or_bad_input();
        }
        eprintln!(
            "warning: comparing runs that differ: {}",
            report.differences.join("; ")
        );
    }
    Ok(report)
}

/// Writes JUnit, the GitHub step summary and annotations; prints the JSON verdict when asked.
/// Returns whether everything passed.
pub fn emit(
    g: &GateArgs,
    suite: &str,
    thresholds: &[Verdict],
    comparisons: &[Comparison],
    markdown: &str,
    seconds: f64,
    results: Option<&Path>,
) -> Result<bool, Failure> {
    let passed = thresholds.iter().all(|v| v.passed) && !comparisons.iter().any(Comparison::regressed);
    if let Some(path) = &g.junit {
        std::fs::write(path, junit::render(suite, thresholds, comparisons, seconds))
            .with_context(|| format!("writing '{}'", path.display()))
            .or_cannot_proceed()?;
    }
    ci::github_step_summary(markdown)
        .context("appending to GITHUB_STEP_SUMMARY")
        .or_cannot_proceed()?;
    if g.github_annotations {
        for line in ci::annotations(thresholds, comparisons) {
            println!("{line}");
        }
    }
    if g.json {
        let v = Verdicts {
            passed,
            thresholds,
            comparison: comparisons,
            results: results.map(|p| p.display().to_string()),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("verdicts serialize")
        );
    }
    Ok(passed)
}

/// Runs `jwtstorm compare`.
pub fn run(args: CompareArgs) -> Result<i32, Failure> {
    let current = read_results(&args.current)?;
    let report = against(&args.baseline, &current, &args.gate)?;
    let md = compare::markdown(&report);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))
            .or_bad_input()?;
        let path = dir.join("compare.md");
        std::fs::write(&path, &md)
            .with_context(|| format!("writing '{}'", path.display()))
            .or_cannot_proceed()?;
    }
    if !args.gate.json {
        print!("{md}");
    }
    let passed = emit(
        &args.gate,
        &format!("jwtstorm compare {}", current.meta.scenario),
        &[],
        &report.comparisons,
        &md,
        current.totals.duration_s,
        Some(&args.current),
    )?;
    let regressions = report.comparisons.iter().filter(|c| c.regressed()).count();
    if !passed {
        eprintln!("{regressions} regression(s) against the baseline");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}
