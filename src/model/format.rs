//! The report file formats.

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
