//! Timeline: responses per second against the target rate, errors per second, and p50/p99
//! (corrected) per second, with stage boundaries and the warmup shaded.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ALARM, ChartResult, FONT, PALETTE, caption, err, legend, ms, tidy};
use crate::stats::results::Results;

/// Stage boundaries (seconds) and the target rate per second, from the scenario as run.
pub fn schedule(r: &Results) -> (Vec<f64>, Vec<(f64, f64)>) {
    let mut bounds = Vec::new();
    let mut target = Vec::new();
    let Some(stages) = r.scenario["load"]["stages"].as_array() else {
        return (bounds, target);
    };
    let mut t = 0.0;
    let mut prev = stages.first().and_then(|s| s["rate"].as_f64()).unwrap_or(0.0);
    for s in stages {
        let d = s["duration"].as_f64().unwrap_or(0.0);
        let rate = s["rate"].as_f64().unwrap_or(0.0);
        let from = if s["ramp"].as_bool().unwrap_or(false) {
            prev
        } else {
            rate
        };
        target.push((t, from));
        target.push((t + d, rate));
        t += d;
        bounds.push(t);
        prev = rate;
    }
    bounds.pop();
    (bounds, target)
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
    let (top, bottom) = area.split_vertically(SIZE_TOP);
    let pts = &r.timeline;
    let end = pts.last().map_or(1.0, |p| p.second as f64 + 1.0).max(1.0);
    let (bounds, target) = schedule(r);
    let warm = r.warmup.duration_s;
    let rate_max = pts
        .iter()
        .map(|p| p.completed as f64)
        .chain(target.iter().map(|t| t.1))
        .fold(1.0f64, f64::max)
        * 1.15;
    let mut c = ChartBuilder::on(&top)
        .caption(caption(r, "Timeline"), (FONT, 18))
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..rate_max)
        .map_err(err)?;
    c.configure_mesh()
        .y_desc("requests/s")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    if warm > 0.0 {
        c.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (warm, rate_max)],
            BLACK.mix(0.07).filled(),
        )))
        .map_err(err)?
        .label("warmup (not in the statistics)")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], BLACK.mix(0.15).filled()));
    }
    for b in &bounds {
        c.draw_series(DashedLineSeries::new(
            vec![(*b, 0.0), (*b, rate_max)],
            4,
            4,
            BLACK.mix(0.5).stroke_width(1),
        ))
        .map_err(err)?;
    }
    if !target.is_empty() {
        c.draw_series(DashedLineSeries::new(target.clone(), 8, 4, BLACK.stroke_width(2)))
            .map_err(err)?
            .label("target rate")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    let achieved: Vec<(f64, f64)> = pts
        .iter()
        .map(|p| (p.second as f64 + 0.5, p.completed as f64))
        .collect();
    c.draw_series(LineSeries::new(achieved, PALETTE[0].stroke_width(2)))
        .map_err(err)?
        .label("responses/s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0].stroke_width(2)));
    c.draw_series(
        pts.iter()
            .filter(|p| p.transport_errors + p.unexpected_status > 0)
            .map(|p| {
                let x = p.second as f64;
                Rectangle::new(
                    [
                        (x + 0.2, 0.0),
                        (x + 0.8, (p.transport_errors + p.unexpected_status) as f64),
                    ],
                    ALARM.mix(0.7).filled(),
                )
            }),
    )
    .map_err(err)?
    .label("errors/s (transport + unexpected status)")
    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], ALARM.filled()));
    // Limited answers per second, when the target gave any: where its rate limiter cut in.
    if pts.iter().any(|p| p.limited > 0) {
        let limited: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (p.second as f64 + 0.5, p.limited as f64))
            .collect();
        c.draw_series(LineSeries::new(limited, PALETTE[7].stroke_width(2)))
            .map_err(err)?
            .label("limited/s (429)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[7].stroke_width(2)));
    }
    super::jwks_fetch_ticks(&mut c, r, end, rate_max)?;
    legend(&mut c, SeriesLabelPosition::LowerRight)?;

    let lat_max = pts.iter().map(|p| ms(p.p99_us)).fold(0.001f64, f64::max) * 1.15;
    let mut l = ChartBuilder::on(&bottom)
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..lat_max)
        .map_err(err)?;
    l.configure_mesh()
        .x_desc("seconds since start")
        .y_desc("latency (ms, corrected)")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    for (i, (label, f)) in [
        (
            "p50",
            (|p: &crate::stats::timeline::Point| p.p50_us) as fn(&_) -> u64,
        ),
        ("p99", |p| p.p99_us),
    ]
    .into_iter()
    .enumerate()
    {
        let color = PALETTE[i + 1];
        let line: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.completed > 0)
            .map(|p| (p.second as f64 + 0.5, ms(f(p))))
            .collect();
        l.draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut l, SeriesLabelPosition::UpperRight)
}

/// Height of the throughput panel.
const SIZE_TOP: u32 = 340;
