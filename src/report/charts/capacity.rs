//! The capacity search: achieved against offered rate (top) and corrected p50/p99 against
//! offered rate (bottom), per search, with the latency SLO and each answer marked.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ALARM, ChartResult, FONT, PALETTE, SIZE, err, legend, register_font, tidy};
use crate::capacity::{Answer, Step};

/// One search to draw: its label, steps and answer.
pub struct Drawn<'a> {
    pub label: &'a str,
    pub steps: &'a [Step],
    pub answer: &'a Answer,
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    runs: &[Drawn],
    slo_ms: Option<f64>,
) -> ChartResult {
    area.fill(&WHITE).map_err(err)?;
    let (top, bottom) = area.split_vertically(320);
    let x_max = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.offered_rps))
        .fold(1.0f64, f64::max)
        * 1.1;
    let y_max = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.achieved_rps))
        .fold(x_max, f64::max);
    let mut c = ChartBuilder::on(&top)
        .caption(title, (FONT, 18))
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    c.configure_mesh()
        .y_desc("achieved requests/s")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    c.draw_series(DashedLineSeries::new(
        vec![(0.0, 0.0), (x_max, x_max)],
        6,
        4,
        BLACK.mix(0.4).stroke_width(1),
    ))
    .map_err(err)?
    .label("achieved = offered")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (i, r) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<&Step> = r.steps.iter().collect();
        pts.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
        c.draw_series(LineSeries::new(
            pts.iter().map(|s| (s.offered_rps, s.achieved_rps)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(match r.answer.capacity_rps {
            Some(a) => format!("{}: capacity {a:.0}/s", r.label),
            None => format!("{}: no rate met the SLO", r.label),
        })
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
        c.draw_series(pts.iter().map(|s| {
            let style = if s.passed { color.filled() } else { ALARM.filled() };
            Circle::new((s.offered_rps, s.achieved_rps), 4, style)
        }))
        .map_err(err)?;
        if let Some(a) = r.answer.capacity_rps {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(a, 0.0), (a, y_max)],
                color.stroke_width(2),
            )))
            .map_err(err)?;
        }
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft)?;

    let lat_max = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.p99_us as f64 / 1000.0))
        .chain(slo_ms)
        .fold(0.001f64, f64::max)
        * 1.15;
    let mut l = ChartBuilder::on(&bottom)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..lat_max)
        .map_err(err)?;
    l.configure_mesh()
        .x_desc("offered requests/s (red points failed)")
        .y_desc("latency (ms, corrected)")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    if let Some(slo) = slo_ms {
        l.draw_series(DashedLineSeries::new(
            vec![(0.0, slo), (x_max, slo)],
            8,
            4,
            ALARM.stroke_width(2),
        ))
        .map_err(err)?
        .label("p99 SLO")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ALARM.stroke_width(2)));
    }
    for (i, r) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<&Step> = r.steps.iter().collect();
        pts.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
        l.draw_series(LineSeries::new(
            pts.iter().map(|s| (s.offered_rps, s.p99_us as f64 / 1000.0)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(format!("{} p99", r.label))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        l.draw_series(DashedLineSeries::new(
            pts.iter()
                .map(|s| (s.offered_rps, s.p50_us as f64 / 1000.0))
                .collect::<Vec<_>>(),
            5,
            3,
            color.stroke_width(1),
        ))
        .map_err(err)?
        .label(format!("{} p50", r.label))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
    }
    legend(&mut l, SeriesLabelPosition::UpperLeft)
}

/// The chart as SVG.
pub fn svg(title: &str, runs: &[Drawn], slo_ms: Option<f64>) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&area, title, runs, slo_ms)?;
        area.present().map_err(err)?;
    }
    Ok(out)
}

/// Writes the chart as PNG.
pub fn png(title: &str, runs: &[Drawn], slo_ms: Option<f64>, path: &Path) -> ChartResult {
    register_font();
    let area = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&area, title, runs, slo_ms)?;
    area.present().map_err(err)
}
