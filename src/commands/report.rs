//! `jwtstorm report`: re-render a run's reports from its results.json alone; with several
//! files, also compare them (overlaid percentile curves and a table of deltas).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::report::{self, Format, micros};
use crate::stats::results::{Results, SCHEMA_VERSION};

/// Reads and checks a results file.
pub fn read_results(path: &Path) -> Result<Results, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read '{}'", path.display()))
        .or_bad_input()?;
    let r: Results = serde_json::from_str(&text)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a jwtstorm results file: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })
        .or_bad_input()?;
    if r.schema_version != SCHEMA_VERSION {
        return Err(anyhow::anyhow!(
            "'{}': results schema version {} is not supported (this jwtstorm reads version {SCHEMA_VERSION})",
            path.display(),
            r.schema_version
        ))
        .or_bad_input();
    }
    Ok(r)
}

/// Runs `jwtstorm report`.
pub fn run(args: ReportArgs) -> Result<i32, Failure> {
    let formats: Vec<Format> = match &args.format {
        Some(list) => list
            .iter()
            .map(|f| f.parse())
            .collect::<Result<_, String>>()
            .map_err(|e| anyhow::anyhow!("--format: {e}"))
            .or_bad_input()?,
        None => Format::ALL
            .iter()
            .copied()
            .filter(|f| *f != Format::Json)
            .collect(),
    };
    let runs: Vec<(PathBuf, Results)> = args
        .results
        .iter()
        .map(|p| read_results(p).map(|r| (p.clone(), r)))
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
    let mut written = Vec::new();
    if runs.len() == 1 {
        written = report::write_all(&runs[0].1, &out, &formats)
            .map_err(anyhow::Error::msg)
            .or_cannot_proceed()?;
    } else {
        let labelled: Vec<(String, &Results)> = runs
            .iter()
            .enumerate()
            .map(|(i, (p, r))| (format!("{}: {} ({})", i + 1, r.meta.scenario, label(p)), r))
            .collect();
        let md = compare_md(&labelled);
        let path = out.join("compare.md");
        std::fs::write(&path, md)
            .with_context(|| format!("writing '{}'", path.display()))
            .or_cannot_proceed()?;
        written.push(path);
        if formats.contains(&Format::Svg) || formats.contains(&Format::Html) {
            let svg = report::charts::compare::svg(&labelled)
                .map_err(anyhow::Error::msg)
                .or_cannot_proceed()?;
            let path = out.join("compare.svg");
            std::fs::write(&path, svg)
                .with_context(|| format!("writing '{}'", path.display()))
                .or_cannot_proceed()?;
            written.push(path);
        }
        if formats.contains(&Format::Png) {
            let path = out.join("compare.png");
            report::charts::compare::png(&labelled, &path)
                .map_err(anyhow::Error::msg)
                .or_cannot_proceed()?;
            written.push(path);
        }
    }
    for p in &written {
        println!("{}", p.display());
    }
    Ok(exit::OK)
}

fn label(p: &Path) -> String {
    p.parent()
        .and_then(|d| d.file_name())
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A compared metric: name, how to read it, whether it is a latency.
type Row = (&'static str, fn(&Results) -> f64, bool);

/// A table of the runs side by side, with each figure's change against the first run.
pub fn compare_md(runs: &[(String, &Results)]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# jwtstorm comparison\n");
    for (label, r) in runs {
        let _ = writeln!(
            o,
            "- {label}: started {}, {}",
            r.meta.started,
            report::markdown::load_line(r)
        );
    }
    let base = runs[0].1;
    let rows: [Row; 9] = [
        ("p50 (corrected)", |r| r.latency_us.corrected.p50 as f64, true),
        ("p90 (corrected)", |r| r.latency_us.corrected.p90 as f64, true),
        ("p99 (corrected)", |r| r.latency_us.corrected.p99 as f64, true),
        ("p99.9 (corrected)", |r| r.latency_us.corrected.p99_9 as f64, true),
        ("max (corrected)", |r| r.latency_us.corrected.max as f64, true),
        ("p99 (uncorrected)", |r| r.latency_us.uncorrected.p99 as f64, true),
        ("throughput (responses/s)", |r| r.totals.throughput_rps, false),
        ("false accepts", |r| r.totals.false_accepts as f64, false),
        ("transport errors", |r| r.totals.transport_errors as f64, false),
    ];
    let _ = write!(o, "\n| metric |");
    for (i, _) in runs.iter().enumerate() {
        let _ = write!(o, " run {} |", i + 1);
        if i > 0 {
            let _ = write!(o, " change |");
        }
    }
    let _ = write!(o, "\n|---|");
    for i in 0..runs.len() {
        let _ = write!(o, "---:|{}", if i > 0 { "---:|" } else { "" });
    }
    o.push('\n');
    for (name, f, latency) in rows {
        let _ = write!(o, "| {name} |");
        let b = f(base);
        for (i, (_, r)) in runs.iter().enumerate() {
            let v = f(r);
            let shown = if latency {
                micros(v as u64)
            } else if name.starts_with("throughput") {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            };
            let _ = write!(o, " {shown} |");
            if i > 0 {
                let change = if b > 0.0 {
                    format!("{:+.1}%", (v - b) / b * 100.0)
                } else if v > 0.0 {
                    "new".into()
                } else {
                    "=".into()
                };
                let _ = write!(o, " {change} |");
            }
        }
        o.push('\n');
    }
    o
}
