//! CI-native output beyond JUnit: the GitHub step summary, `::error::` annotations, and the
//! machine-readable verdict.

use std::io::Write;

use serde::Serialize;

use std::path::Path;

use super::baseline::GateError;
use super::compare::{self, Comparison, Report};
use super::junit;
use crate::cli::GateArgs;
use crate::stats::results::Verdict;
use crate::text::format_value;

/// The machine-readable verdict (`--json`).
#[derive(Debug, Serialize)]
pub struct Verdicts<'a> {
    pub passed: bool,
    pub thresholds: &'a [Verdict],
    /// The baseline comparison (schema `schema/compare.schema.json`), when there was one.
    pub comparison: Option<&'a Report>,
    pub results: Option<String>,
}

/// Appends Markdown to the file `GITHUB_STEP_SUMMARY` names, when it is set.
pub fn github_step_summary(markdown: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(markdown.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(true)
}

/// Text escaped for a workflow command's data (`%`, CR and LF).
fn command_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// `::error::` lines for every failed threshold and regressed metric.
pub fn annotations(thresholds: &[Verdict], comparisons: &[Comparison]) -> Vec<String> {
    let clean = |s: String| command_data(&s);
    let mut out = Vec::new();
    for v in thresholds.iter().filter(|v| !v.passed) {
        let measured = match v.value {
            Some(x) => format_value(x, v.unit),
            None => v.note.clone().unwrap_or_default(),
        };
        out.push(format!(
            "::error title=jwtstorm threshold failed::{}",
            clean(format!("{} {} (measured {measured})", v.name, v.condition))
        ));
    }
    for c in comparisons.iter().filter(|c| c.regressed()) {
        out.push(format!(
            "::error title=jwtstorm regression::{}",
            clean(format!(
                "{} {}: baseline {}, current {} ({}, {:.0}% interval {}): {}",
                c.scope,
                c.metric,
                compare::show(c, c.baseline),
                compare::show(c, c.current),
                c.change_text(),
                c.confidence * 100.0,
                c.interval_text(),
                c.why
            ))
        ));
    }
    out
}

/// Writes JUnit, the GitHub step summary and annotations; prints the JSON verdict when asked.
/// Returns whether everything passed.
pub fn emit(
    g: &GateArgs,
    suite: &str,
    thresholds: &[Verdict],
    comparison: Option<&Report>,
    markdown: &str,
    seconds: f64,
    results: Option<&Path>,
) -> Result<bool, GateError> {
    let comparisons = comparison.map_or(&[][..], |c| &c.comparisons);
    let passed = thresholds.iter().all(|v| v.passed) && !comparisons.iter().any(Comparison::regressed);
    if let Some(path) = &g.junit {
        std::fs::write(path, junit::render(suite, thresholds, comparisons, seconds)).map_err(|source| {
            GateError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    github_step_summary(markdown).map_err(GateError::StepSummary)?;
    if g.github_annotations {
        for line in annotations(thresholds, comparisons) {
            println!("{line}");
        }
        // Notes (a busy machine, an unstable run) are warnings: they explain, never fail.
        for note in comparison.iter().flat_map(|c| &c.notes) {
            println!("::warning title=jwtstorm comparison::{}", command_data(note));
        }
    }
    if g.json {
        let v = Verdicts {
            passed,
            thresholds,
            comparison,
            results: results.map(|p| p.display().to_string()),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("verdicts serialize")
        );
    }
    Ok(passed)
}
