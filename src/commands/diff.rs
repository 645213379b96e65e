//! `jwtstorm diff SCENARIO --target NAME=URL ...`: read the scenario and the targets, send the
//! batch to every target, write diff.json, diff.md and diff.html, print the verdict, and pick
//! the exit code (1 on a disagreement, or on a failed threshold when thresholds are given).

use std::time::SystemTime;

use anyhow::Context;

use crate::cli::{DiffArgs, LoadOverrides};
use crate::error::{Failure, ResultExt, exit};
use crate::scenario::diff::{DiffSettings, FlagOrScenario};
use crate::session::{self, SessionError};

/// Runs `jwtstorm diff`.
pub fn run(args: DiffArgs) -> Result<i32, Failure> {
    let interrupt = crate::interrupt::install();
    let loaded = crate::scenario::Loaded::read(&args.scenario).map_err(SessionError::Scenario)?;
    let d = DiffSettings::from_scenario(&loaded, &args.targets, args.sequential, &args.thresholds).map_err(
        |e| match e {
            FlagOrScenario::Scenario(e) => SessionError::Scenario(e),
            FlagOrScenario::Flag(m) => SessionError::Invalid(m),
        },
    )?;
    // Every target gets its own URL; the scenario's [target] gives the rest (headers, placement).
    let overrides = LoadOverrides {
        url: Some(d.targets[0].url.clone()),
        ..LoadOverrides::default()
    };
    let p = session::prepare(Some(&args.scenario), &overrides, &args.source)?;
    session::diff::check(&p)?;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => p.report_folder("diff", SystemTime::now()),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create '{}'", dir.display()))
        .or_bad_input()?;
    if !args.quiet {
        let names: Vec<String> = d
            .targets
            .iter()
            .map(|t| format!("{} ({})", t.name, t.url))
            .collect();
        eprintln!(
            "diff '{}': one batch to {} target(s), {}: {}",
            p.name,
            d.targets.len(),
            if d.parallel {
                "at once"
            } else {
                "one after another"
            },
            names.join(", ")
        );
    }
    let report = match session::diff::run(&p, &d, interrupt) {
        Err(SessionError::Interrupted) => {
            eprintln!("interrupted while preparing the tokens: nothing was sent, nothing written");
            return Ok(exit::INTERRUPTED);
        }
        other => other?,
    };
    for (name, body) in [
        (
            "diff.json",
            serde_json::to_vec_pretty(&report).expect("the differential serializes"),
        ),
        ("diff.md", crate::report::diff::markdown(&report).into_bytes()),
        ("diff.html", crate::report::diff::html(&report).into_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, body)
            .with_context(|| format!("writing '{}'", path.display()))
            .or_cannot_proceed()?;
    }
    if !args.quiet {
        eprintln!("{}", crate::report::diff::verdict_line(&report));
        for (name, c) in report.classes.iter().filter(|(_, c)| c.disagreements > 0) {
            for pat in &c.patterns {
                let answers: Vec<String> = pat.answers.iter().map(|(t, a)| format!("{t} {a}")).collect();
                eprintln!(
                    "  {name}{}: {} token(s): {}",
                    pat.variant.as_ref().map_or(String::new(), |v| format!(" ({v})")),
                    crate::text::thousands(pat.tokens),
                    answers.join(", ")
                );
            }
        }
        for t in &report.thresholds {
            eprintln!(
                "  {} {} {}: {}",
                if t.passed { "pass" } else { "FAIL" },
                t.name,
                t.condition,
                t.value
            );
        }
        eprintln!("  written to {} (diff.json, diff.md, diff.html)", dir.display());
    }
    if report.meta.interrupted {
        return Ok(exit::INTERRUPTED);
    }
    let passed = if report.thresholds.is_empty() {
        report.disagreements == 0
    } else {
        report.thresholds.iter().all(|t| t.passed)
    };
    Ok(if passed { exit::OK } else { exit::VERDICT })
}
