//! Output for people: the live line during a run, the text summary after it, and the report
//! files (one module per format, behind [`Exporter`], picked by [`Format`]).

pub mod charts;
pub mod hgrm;
pub mod html;
pub mod live;
pub mod markdown;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::stats::results::Results;

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// results.json (always written by `run`).
    Json,
    /// summary.md.
    Md,
    /// report.html, self-contained.
    Html,
    /// Every chart as SVG.
    Svg,
    /// Every chart as PNG.
    Png,
    /// latency.hgrm and latency-uncorrected.hgrm.
    Hgrm,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Json,
        Format::Md,
        Format::Html,
        Format::Svg,
        Format::Png,
        Format::Hgrm,
    ];

    fn exporter(self) -> &'static dyn Exporter {
        match self {
            Format::Json => &JsonExport,
            Format::Md => &MarkdownExport,
            Format::Html => &HtmlExport,
            Format::Svg => &SvgExport,
            Format::Png => &PngExport,
            Format::Hgrm => &HgrmExport,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "json" => Format::Json,
            "md" | "markdown" => Format::Md,
            "html" => Format::Html,
            "svg" => Format::Svg,
            "png" => Format::Png,
            "hgrm" => Format::Hgrm,
            other => {
                return Err(format!(
                    "unknown report format '{other}'; expected json, md, html, svg, png or hgrm"
                ));
            }
        })
    }
}

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
        charts::Chart::ALL
            .iter()
            .map(|c| put(dir, &format!("{}.svg", c.name().0), c.svg(r)?.as_bytes()))
            .collect()
    }
}

struct PngExport;
impl Exporter for PngExport {
    fn write(&self, r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
        charts::Chart::ALL
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
        out.extend(f.exporter().write(r, dir)?);
    }
    Ok(out)
}

/// Whether colour is wanted on stderr/stdout (a terminal, and `NO_COLOR` unset).
pub fn colour(tty: bool) -> bool {
    tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as a short human figure: `850µs`, `1.25ms`, `2.40s`.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_numbers() {
        assert_eq!(super::thousands(1_234_567), "1,234,567");
        assert_eq!(super::thousands(12), "12");
        assert_eq!(super::micros(850), "850µs");
        assert_eq!(super::micros(1_250), "1.25ms");
        assert_eq!(super::micros(2_400_000), "2.40s");
    }
}
