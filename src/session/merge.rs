//! `jwtstorm merge` as the library does it: the segments' results files found (files, or
//! folders searched for `results.json`), read and decoded a few at a time in parallel, added
//! one by one into a [`Merger`], checked for missing segments, and the thresholds of the
//! scenario judged on the merged whole.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::SessionError;
use crate::gate::thresholds;
use crate::stats::merge::{Decoded, Merger, ranges};
use crate::stats::results::Results;

/// The most results files one merge reads.
pub const MAX_INPUTS: usize = 100_000;
/// How deep folders are searched for `results.json`.
const MAX_DEPTH: usize = 6;

/// A merge done.
pub struct Merged {
    pub results: Results,
    /// The files merged, in the order they were added.
    pub inputs: Vec<PathBuf>,
}

/// The results files `inputs` name: files as given, folders searched (sorted, at most
/// six folders deep) for `results.json`.
pub fn find_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, SessionError> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), SessionError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| SessionError::Invalid(format!("cannot read '{}': {e}", dir.display())))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if out.len() > MAX_INPUTS {
                break;
            }
            let meta = std::fs::symlink_metadata(&p)
                .map_err(|e| SessionError::Invalid(format!("cannot read '{}': {e}", p.display())))?;
            if meta.is_dir() && depth < MAX_DEPTH {
                walk(&p, depth + 1, out)?;
            } else if meta.is_file() && p.file_name().is_some_and(|n| n == "results.json") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for i in inputs {
        let meta = std::fs::metadata(i)
            .map_err(|e| SessionError::Invalid(format!("cannot read '{}': {e}", i.display())))?;
        if meta.is_dir() {
            let before = out.len();
            walk(i, 0, &mut out)?;
            if out.len() == before {
                return Err(SessionError::Invalid(format!(
                    "'{}': no results.json in this folder or below it",
                    i.display()
                )));
            }
        } else {
            out.push(i.clone());
        }
        if out.len() > MAX_INPUTS {
            return Err(SessionError::Invalid(format!(
                "more than {MAX_INPUTS} results files to merge"
            )));
        }
    }
    // A file named twice (also through a folder) is read once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// Merges the segments' results in `files`; refuses missing segments unless `allow_missing`
/// (the result is then marked partial). The scenario's thresholds are judged on the merge.
pub fn merge(files: &[PathBuf], allow_missing: bool) -> Result<Merged, SessionError> {
    if files.is_empty() {
        return Err(SessionError::Invalid("nothing to merge: no results files".into()));
    }
    let mut merger = Merger::new();
    // A few files in flight at a time (each decoded one holds its histograms), in parallel.
    let width = rayon::current_num_threads().clamp(1, 8);
    for group in files.chunks(width) {
        let decoded: Vec<Result<Decoded, SessionError>> = group
            .par_iter()
            .map(|path| {
                let r = Results::read(path).map_err(|e| SessionError::Invalid(e.to_string()))?;
                Decoded::of(&path.display().to_string(), r).map_err(|e| SessionError::Invalid(e.to_string()))
            })
            .collect();
        for d in decoded {
            merger.add(d?).map_err(|e| SessionError::Invalid(e.to_string()))?;
        }
    }
    let segments = merger.fleet_size().unwrap_or(0);
    let seen = merger.segments();
    let missing: Vec<u64> = (0..segments).filter(|s| seen.binary_search(s).is_err()).collect();
    if !missing.is_empty() && !allow_missing {
        return Err(SessionError::Invalid(format!(
            "{} of {segments} segments are missing: {} (merge what is there with --allow-missing; the result is \
             then marked partial)",
            missing.len(),
            ranges(&missing)
        )));
    }
    let mut results = merger.finish().expect("at least one segment was added");
    judge(&mut results)?;
    Ok(Merged {
        results,
        inputs: files.to_vec(),
    })
}

/// Judges the thresholds the segments carry (as the scenario wrote them) on merged results.
pub fn judge(results: &mut Results) -> Result<(), SessionError> {
    let Some(fleet) = results.fleet.clone() else {
        return Ok(());
    };
    let mut verdicts = Vec::new();
    for spec in &fleet.thresholds {
        let t = thresholds::parse(&spec.name, &spec.condition).map_err(|e| {
            SessionError::Invalid(format!("threshold \"{}\" {}: {e}", spec.name, spec.condition))
        })?;
        verdicts.push(t.evaluate(results));
    }
    if fleet.require_accepts
        && let Some(v) = thresholds::accept_path_unexercised(results)
    {
        verdicts.push(v);
    }
    results.thresholds = verdicts;
    Ok(())
}
