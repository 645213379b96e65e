//! Latency by percentile, HdrHistogram style: percentile on a log axis (50% ... 99.999%),
//! latency up, one colour per token class, corrected solid and uncorrected dashed, max marked.

use plotters::coord::Shift;
use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{ChartResult, FONT, PALETTE, RESPONSES, caption, err, legend, merged, ms, tidy};
use crate::stats::results::Results;

/// Most classes drawn (the largest by count), besides "all".
const MAX_CLASSES: usize = 5;
/// The axis ends at 99.999%.
const X_MAX: f64 = 1e5;

/// Points (1/(1-q), latency ms) along the distribution, and the max.
pub fn curve(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let steps = 200;
    for i in 0..=steps {
        // q from 0 to 1 - 1e-5, evenly spaced on the log axis.
        let x = 10f64.powf(5.0 * i as f64 / steps as f64);
        let q = 1.0 - 1.0 / x;
        pts.push((x, ms(h.value_at_quantile(q))));
    }
    pts
}

/// One class's curves: label, corrected, uncorrected, max (ms).
pub type Series = (String, Vec<(f64, f64)>, Vec<(f64, f64)>, f64);

/// The series drawn: label, corrected curve, uncorrected curve, max.
pub fn series(r: &Results) -> Vec<Series> {
    let mut out = Vec::new();
    let mut push = |label: String, class: Option<&str>| {
        if let (Some(c), Some(u)) = (
            merged(r, class, &RESPONSES, true),
            merged(r, class, &RESPONSES, false),
        ) {
            out.push((label, curve(&c), curve(&u), ms(c.max())));
        }
    };
    push("all".into(), None);
    let mut classes: Vec<(&String, u64)> = r.classes.iter().map(|(k, c)| (k, c.count)).collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (name, _) in classes.into_iter().take(MAX_CLASSES) {
        push(name.clone(), Some(name));
    }
    out
}

/// Label for a point on the percentile axis.
pub fn percentile_label(x: &f64) -> String {
    let p = (1.0 - 1.0 / x) * 100.0;
    match p {
        p if p < 0.5 => "0%".into(),
        p if p < 99.0 => format!("{p:.0}%"),
        p if p < 99.95 => format!("{p:.1}%"),
        p if p < 99.995 => format!("{p:.2}%"),
        p => format!("{p:.3}%"),
    }
}

/// The percentile chart's coordinates: a log percentile axis, latency in ms.
pub type Axes = Cartesian2d<WithKeyPoints<LogCoord<f64>>, RangedCoordf64>;

/// The percentile axes (0% ... 99.999% on a log axis, latency in ms) with their mesh drawn.
pub fn axes<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    title: String,
    y_max: f64,
) -> Result<ChartContext<'a, DB, Axes>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(15)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (1f64..X_MAX)
                .log_scale()
                .with_key_points(vec![1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5]),
            0f64..y_max,
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
    let series = series(r);
    let y_max = series.iter().map(|s| s.3).fold(0.0f64, f64::max).max(0.001) * 1.1;
    let mut chart = axes(
        area,
        caption(r, "Latency by percentile (corrected solid, uncorrected dashed)"),
        y_max,
    )?;
    for (i, (label, corrected, uncorrected, max)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let width = if i == 0 { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(corrected.clone(), color.stroke_width(width)))
            .map_err(err)?
            .label(format!("{label} (max {max:.2} ms)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
        chart
            .draw_series(DashedLineSeries::new(
                uncorrected.clone(),
                6,
                4,
                color.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Circle::new((X_MAX, *max), 4, color.filled())))
            .map_err(err)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
