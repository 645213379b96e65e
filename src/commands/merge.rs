//! `jwtstorm merge`: find the segments' results, merge them exactly, write the merged
//! results.json and every report, print the summary, and exit as `run` would on the whole.

use anyhow::Context;

use crate::cli::MergeArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::model::Format;
use crate::report;
use crate::session::merge;
use crate::stats::merge::ranges;
use crate::text::{colour, stdout_is_tty};

/// Runs `jwtstorm merge`.
pub fn run(args: MergeArgs) -> Result<i32, Failure> {
    let files = merge::find_inputs(&args.inputs)?;
    let merged = merge::merge(&files, args.allow_missing)?;
    let results = merged.results;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create '{}'", args.out.display()))
        .or_bad_input()?;
    let path = args.out.join("results.json");
    let mut file = crate::token::batch::AtomicFile::create(&path)
        .with_context(|| format!("cannot create '{}'", path.display()))
        .or_bad_input()?;
    serde_json::to_writer_pretty(file.writer(), &results)
        .context("encoding results")
        .or_cannot_proceed()?;
    file.commit()
        .with_context(|| format!("writing '{}'", path.display()))
        .or_cannot_proceed()?;
    let formats: Vec<Format> = args
        .format
        .clone()
        .unwrap_or_else(|| Format::ALL.to_vec())
        .into_iter()
        .filter(|f| *f != Format::Json)
        .collect();
    let written = report::write_all(&results, &args.out, &formats)
        .map_err(anyhow::Error::msg)
        .or_cannot_proceed()?;
    let fleet = results.fleet.clone().unwrap_or_default();
    if !args.quiet {
        println!(
            "merged {} of {} segments from {} file(s){}",
            fleet.merged.len(),
            fleet.segments,
            merged.inputs.len(),
            if fleet.partial {
                format!(" — PARTIAL: segments {} are missing", ranges(&fleet.missing))
            } else {
                String::new()
            }
        );
        print!("{}", report::summary::render(&results, colour(stdout_is_tty())));
        println!("\n  results     {}", path.display());
        if !written.is_empty() {
            let names: Vec<String> = written
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            println!("  reports     {} ({})", args.out.display(), names.join(", "));
        }
    }
    let failed = results.thresholds.iter().filter(|v| !v.passed).count();
    if failed > 0 {
        eprintln!("{failed} threshold(s) failed on the merged results");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}
