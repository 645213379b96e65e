//! Output for people: the live line during a run, the text summary after it, and the report
//! files (one module per format, behind [`Exporter`], picked by [`Format`]).

pub mod capacity;
pub mod charts;
pub mod diff;
pub mod hgrm;
pub mod html;
pub mod live;
pub mod markdown;
pub mod runs;
pub mod summary;
pub mod table;

use std::path::{Path, PathBuf};

use crate::model::Format;
use crate::stats::results::Results;

/// Writes one format's files for a run into a folder.
pub trait Exporter {
    /// Writes the files and returns their paths.
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String>;
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("writing '{}': {e}", path.display()))?;
    Ok(path)
}

struct JsonExport;
impl Exporter for JsonExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let json = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
        Ok(vec![put(dir, "results.json", &json)?])
    }
}

struct MarkdownExport;
impl Exporter for MarkdownExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        Ok(vec![put(dir, "summary.md", markdown::render(r).as_bytes())?])
    }
}

struct HtmlExport;
impl Exporter for HtmlExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        Ok(vec![put(dir, "report.html", html::render(r).as_bytes())?])
    }
}

struct SvgExport;
impl Exporter for SvgExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        charts::Chart::of(r)
            .iter()
            .map(|c| put(dir, &format!("{}.svg", c.name().0), c.svg(r)?.as_bytes()))
            .collect()
    }
}

struct PngExport;
impl Exporter for PngExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        charts::Chart::of(r)
            .iter()
            .map(|c| {
                let path = dir.join(format!("{}.png", c.name().0));
                c.png(r, &path)?;
                Ok(path)
            })
            .collect()
    }
}

struct HgrmExport;
impl Exporter for HgrmExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        for (name, corrected) in [("latency.hgrm", true), ("latency-uncorrected.hgrm", false)] {
            let h = charts::merged(r, None, &charts::RESPONSES, corrected)
                .unwrap_or_else(crate::stats::recorder::histogram);
            out.push(put(dir, name, hgrm::render(&h).as_bytes())?);
        }
        Ok(out)
    }
}

/// Writes every requested format for `r` into `dir`.
pub fn write_all(r: &Results, dir: &Path, formats: &[Format]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for f in formats {
        out.extend(exporter(*f).write(r, dir)?);
    }
    Ok(out)
}

/// The exporter that writes a format.
fn exporter(f: Format) -> &'static dyn Exporter {
    match f {
        Format::Json => &JsonExport,
        Format::Md => &MarkdownExport,
        Format::Html => &HtmlExport,
        Format::Svg => &SvgExport,
        Format::Png => &PngExport,
        Format::Hgrm => &HgrmExport,
    }
}
