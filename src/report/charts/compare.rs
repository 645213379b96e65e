//! Several runs: their latency percentile curves (all responses, corrected) overlaid.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::percentiles::{axes, curve};
use super::{ChartResult, PALETTE, RESPONSES, SIZE, err, legend, merged, register_font};
use crate::stats::results::Results;

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, runs: &[(String, &Results)]) -> ChartResult {
    area.fill(&WHITE).map_err(err)?;
    let curves: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|(label, r)| merged(r, None, &RESPONSES, true).map(|h| (label.clone(), curve(&h))))
        .collect();
    let y_max = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.1))
        .fold(0.001f64, f64::max)
        * 1.1;
    let mut chart = axes(
        area,
        "Latency by percentile, all responses, corrected — comparison".into(),
        y_max,
    )?;
    for (i, (label, pts)) in curves.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// The comparison chart as SVG.
pub fn svg(runs: &[(String, &Results)]) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&area, runs)?;
        area.present().map_err(err)?;
    }
    Ok(out)
}

/// Writes the comparison chart as PNG.
pub fn png(runs: &[(String, &Results)], path: &Path) -> ChartResult {
    register_font();
    let area = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&area, runs)?;
    area.present().map_err(err)
}
