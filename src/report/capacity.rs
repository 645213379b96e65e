//! The files of a capacity search: capacity.json, capacity.md and the chart as SVG and PNG.

use std::path::{Path, PathBuf};

use super::charts::capacity::{Drawn, png, svg};
use crate::capacity::report::{CapacityReport, markdown, p99_slo_ms};
use crate::gate::thresholds::Threshold;

/// Writes every file of `report` into `dir`; returns their paths.
pub fn write(report: &CapacityReport, slos: &[Threshold], dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("writing '{}': {e}", path.display()))?;
        written.push(path);
        Ok::<_, String>(())
    };
    let json = serde_json::to_vec_pretty(report).map_err(|e| format!("encoding capacity.json: {e}"))?;
    write("capacity.json", &json)?;
    write("capacity.md", markdown(report).as_bytes())?;
    let drawn: Vec<Drawn> = report
        .searches
        .iter()
        .map(|s| Drawn {
            label: &s.label,
            steps: &s.steps,
            answer: &s.answer,
        })
        .collect();
    let slo_ms = p99_slo_ms(slos);
    let title = format!("Capacity search — {} — {}", report.scenario, report.started);
    write("capacity.svg", svg(&title, &drawn, slo_ms)?.as_bytes())?;
    let path = dir.join("capacity.png");
    png(&title, &drawn, slo_ms, &path)?;
    written.push(path);
    Ok(written)
}
