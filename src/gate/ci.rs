//! CI-native output beyond JUnit: the GitHub step summary, `::error::` annotations, and the
//! machine-readable verdict.

use std::io::Write;

use serde::Serialize;

use super::compare::{self, Comparison};
use super::thresholds::{Verdict, format_value};

/// The machine-readable verdict (`--json`).
#[derive(Debug, Serialize)]
pub struct Verdicts<'a> {
    pub passed: bool,
    pub thresholds: &'a [Verdict],
    pub comparison: &'a [Comparison],
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

/// `::error::` lines for every failed threshold and regressed metric.
pub fn annotations(thresholds: &[Verdict], comparisons: &[Comparison]) -> Vec<String> {
    let clean = |s: String| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
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
                "{} {}: baseline {}, current {}",
                c.scope,
                c.metric,
                compare::show(&c.metric, c.baseline),
                compare::show(&c.metric, c.current)
            ))
        ));
    }
    out
}
