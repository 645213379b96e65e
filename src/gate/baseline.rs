//! The gate step `run --baseline` and `compare` share: options from the flags, the baselines
//! found (files, or folders of results.json), read and compared, and runs that are not
//! comparable refused unless forced.

use std::path::{Path, PathBuf};

use super::compare::{self, Options, Report};
use crate::cli::GateArgs;
use crate::error::{ExitCode, exit};
use crate::stats::results::{ReadError, Results};

/// Baseline runs pooled at most (a folder with more is refused: pick the recent ones).
pub const MAX_BASELINES: usize = 100;

/// Why the gate could not judge.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("--max-regression {0}")]
    Tolerance(String),
    #[error("--min-change {0}")]
    MinChange(String),
    #[error("--confidence {0}")]
    Confidence(String),
    #[error("--compare-classes '{given}': {why}")]
    Classes { given: String, why: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("'{}': {why}", path.display())]
    Baseline { path: PathBuf, why: String },
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
            GateError::Write { .. } | GateError::StepSummary(_) => exit::CANNOT_PROCEED,
            _ => exit::BAD_INPUT,
        }
    }
}

/// The comparison options the flags give, over the defaults.
pub fn options(g: &GateArgs) -> Result<Options, GateError> {
    let mut o = Options::default();
    for item in &g.max_regression {
        let (k, v) = compare::parse_tolerance(item).map_err(GateError::Tolerance)?;
        o.tolerances.insert(k, v);
    }
    for item in &g.min_change {
        let (k, v) = compare::parse_min_change(item).map_err(GateError::MinChange)?;
        o.min_change.insert(k, v);
    }
    o.confidence = compare::parse_confidence(&g.confidence).map_err(GateError::Confidence)?;
    o.classes = g.compare_classes.parse().map_err(|why| GateError::Classes {
        given: g.compare_classes.clone(),
        why,
    })?;
    Ok(o)
}

/// The results files `paths` name: files as given, folders searched (three levels deep, as
/// `REPORT_DIR/NAME/TIMESTAMP/results.json` nests) for `results.json`, in name order.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, GateError> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> Result<(), GateError> {
        let bad = |e: std::io::Error| GateError::Baseline {
            path: dir.to_path_buf(),
            why: format!("cannot read the folder: {e}"),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(bad)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() && depth > 0 {
                walk(&p, depth - 1, out)?;
            } else if p.file_name().is_some_and(|n| n == "results.json") {
                out.push(p);
            }
            if out.len() > MAX_BASELINES {
                return Err(GateError::Baseline {
                    path: dir.to_path_buf(),
                    why: format!("more than {MAX_BASELINES} baseline runs; point at fewer"),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = out.len();
            walk(p, 3, &mut out)?;
            if out.len() == before {
                return Err(GateError::Baseline {
                    path: p.clone(),
                    why: "the folder holds no results.json".into(),
                });
            }
        } else {
            out.push(p.clone());
        }
    }
    if out.len() > MAX_BASELINES {
        return Err(GateError::Baseline {
            path: paths[0].clone(),
            why: format!("more than {MAX_BASELINES} baseline runs; point at fewer"),
        });
    }
    Ok(out)
}

/// Compares `current` with the baselines `paths` name, refusing runs that are not comparable
/// unless forced.
pub fn against(
    paths: &[PathBuf],
    current: &Results,
    current_path: &Path,
    g: &GateArgs,
) -> Result<Report, GateError> {
    let o = options(g)?;
    let files = find(paths)?;
    if files.is_empty() {
        return Err(GateError::Baseline {
            path: PathBuf::from("--baseline"),
            why: "no baseline given".into(),
        });
    }
    let mut runs = Vec::with_capacity(files.len());
    for f in &files {
        runs.push(Results::read(f)?);
    }
    let refs: Vec<&Results> = runs.iter().collect();
    let report = compare::compare(&refs, current, &o).map_err(|e| GateError::Baseline {
        path: e
            .run
            .map_or_else(|| current_path.to_path_buf(), |i| files[i].clone()),
        why: e.why,
    })?;
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
