//! The gate step `run --baseline` and `compare` share: tolerances from the flags, the baseline
//! read and compared, and runs that are not comparable refused unless forced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::compare::{self, Report};
use crate::cli::GateArgs;
use crate::error::{ExitCode, exit};
use crate::model::Metric;
use crate::stats::results::{ReadError, Results};

/// Why the gate could not judge.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("--max-regression {0}")]
    Tolerance(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the runs are not comparable ({0}); pass --force to compare anyway")]
    NotComparable(String),
    #[error("writing '{}'", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("appending to GITHUB_STEP_SUMMARY")]
    StepSummary(#[source] std::io::Error),
}

impl ExitCode for GateError {
    fn exit_code(&self) -> i32 {
        match self {
            GateError::Tolerance(_) | GateError::Read(_) | GateError::NotComparable(_) => exit::BAD_INPUT,
            GateError::Write { .. } | GateError::StepSummary(_) => exit::CANNOT_PROCEED,
        }
    }
}

/// The tolerances the flags give, over the defaults.
pub fn tolerances(g: &GateArgs) -> Result<BTreeMap<Metric, f64>, GateError> {
    let mut t = compare::default_tolerances();
    for item in &g.max_regression {
        let (k, v) = compare::parse_tolerance(item).map_err(GateError::Tolerance)?;
        t.insert(k, v);
    }
    Ok(t)
}

/// Compares against a baseline file, refusing runs that are not comparable unless forced.
pub fn against(baseline: &Path, current: &Results, g: &GateArgs) -> Result<Report, GateError> {
    let base = Results::read(baseline)?;
    let report = compare::compare(&base, current, &tolerances(g)?);
    if !report.differences.is_empty() {
        if !g.force {
            return Err(GateError::NotComparable(report.differences.join("; ")));
        }
        eprintln!(
            "warning: comparing runs that differ: {}",
            report.differences.join("; ")
        );
    }
    Ok(report)
}
