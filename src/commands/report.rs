//! `jwtstorm report`: re-render a run's reports from its results.json alone; with several
//! files, also compare them (overlaid percentile curves and a table of deltas).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::model::Format;
use crate::report;
use crate::stats::results::Results;

/// Runs `jwtstorm report`.
pub fn run(args: ReportArgs) -> Result<i32, Failure> {
    let formats: Vec<Format> = match &args.format {
        Some(list) => list.clone(),
        None => Format::ALL
            .iter()
            .copied()
            .filter(|f| *f != Format::Json)
            .collect(),
    };
    let runs: Vec<(PathBuf, Results)> = args
        .results
        .iter()
        .map(|p| Results::read(p).map(|r| (p.clone(), r)))
        .collect::<Result<_, _>>()?;
    let out = match &args.out {
        Some(d) => d.clone(),
        None => args.results[0]
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create '{}'", out.display()))
        .or_bad_input()?;
    let written = if runs.len() == 1 {
        report::write_all(&runs[0].1, &out, &formats)
    } else {
        let labelled: Vec<(String, &Results)> = runs
            .iter()
            .enumerate()
            .map(|(i, (p, r))| (format!("{}: {} ({})", i + 1, r.meta.scenario, label(p)), r))
            .collect();
        report::runs::write(&labelled, &out, &formats)
    }
    .map_err(anyhow::Error::msg)
    .or_cannot_proceed()?;
    for p in &written {
        println!("{}", p.display());
    }
    Ok(exit::OK)
}

/// A run's label: the name of the folder its results file is in.
fn label(p: &Path) -> String {
    p.parent()
        .and_then(|d| d.file_name())
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}
