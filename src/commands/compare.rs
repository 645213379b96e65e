//! `jwtstorm compare BASELINE CURRENT`: the comparison table, JUnit, GitHub summary and
//! annotations, the JSON verdict and the exit code.

use anyhow::Context;

use crate::cli::CompareArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::gate::{baseline, ci, compare};
use crate::stats::results::Results;

/// Runs `jwtstorm compare`.
pub fn run(args: CompareArgs) -> Result<i32, Failure> {
    let current = Results::read(&args.current)?;
    let report = baseline::against(&args.baseline, &current, &args.gate)?;
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
    let passed = ci::emit(
        &args.gate,
        &format!("jwtstorm compare {}", current.meta.scenario),
        &[],
        &report.comparisons,
        &md,
        current.totals.duration_s,
        Some(&args.current),
    )?;
    if !passed {
        let regressions = report.comparisons.iter().filter(|c| c.regressed()).count();
        eprintln!("{regressions} regression(s) against the baseline");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}
