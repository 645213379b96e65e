//! `jwtstorm compare [BASELINE..] CURRENT`: the comparison table, compare.json, JUnit, GitHub
//! summary and annotations, the JSON verdict and the exit code.

use anyhow::{Context, anyhow};

use crate::cli::CompareArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::gate::{baseline, ci, compare};
use crate::stats::results::Results;

/// Runs `jwtstorm compare`.
pub fn run(args: CompareArgs) -> Result<i32, Failure> {
    let (current_path, positional) = args.paths.split_last().expect("clap requires at least one path");
    let mut baselines = positional.to_vec();
    baselines.extend(args.baseline.iter().cloned());
    if baselines.is_empty() {
        return Err(anyhow!(
            "no baseline: give `compare BASELINE CURRENT` or `--baseline PATH` (a results.json or a folder of them)"
        ))
        .or_bad_input();
    }
    let current = Results::read(current_path)?;
    let report = baseline::against(&baselines, &current, current_path, &args.gate)?;
    let md = compare::markdown(&report);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))
            .or_bad_input()?;
        for (name, body) in [
            ("compare.md", md.clone().into_bytes()),
            (
                "compare.json",
                serde_json::to_vec_pretty(&report).expect("the comparison serializes"),
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, body)
                .with_context(|| format!("writing '{}'", path.display()))
                .or_cannot_proceed()?;
        }
    }
    if !args.gate.json {
        print!(
            "{}",
            compare::text(&report, crate::text::colour(crate::text::stdout_is_tty()))
        );
    }
    let passed = ci::emit(
        &args.gate,
        &format!("jwtstorm compare {}", current.meta.scenario),
        &[],
        Some(&report),
        &md,
        current.totals.duration_s,
        Some(current_path),
    )?;
    if !passed {
        let regressions = report.comparisons.iter().filter(|c| c.regressed()).count();
        eprintln!("{regressions} regression(s) against the baseline");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}
