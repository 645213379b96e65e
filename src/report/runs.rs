//! Several runs side by side: a Markdown table of their figures with each one's change against
//! the first run, and the overlaid percentile curves, written as `compare.md`, `.svg` and `.png`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::Format;
use crate::stats::results::Results;
use crate::text::micros;

/// Writes the comparison of `runs` (each with its label) into `dir`; returns the files written.
pub fn write(runs: &[(String, &Results)], dir: &Path, formats: &[Format]) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("writing '{}': {e}", path.display()))?;
        Ok::<_, String>(path)
    };
    written.push(write("compare.md", compare_md(runs).as_bytes())?);
    if formats.contains(&Format::Svg) || formats.contains(&Format::Html) {
        let svg = super::charts::compare::svg(runs)?;
        written.push(write("compare.svg", svg.as_bytes())?);
    }
    if formats.contains(&Format::Png) {
        let path = dir.join("compare.png");
        super::charts::compare::png(runs, &path)?;
        written.push(path);
    }
    Ok(written)
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
            super::markdown::load_line(r)
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
