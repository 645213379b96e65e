//! Latency histogram: counts per latency bucket on a log latency axis, accepted and rejected
//! side by side, so a fast-reject path and a full-verify path show as two humps. Service time
//! (uncorrected), since the shape of the verifier's work is the point here.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ChartResult, FONT, PALETTE, caption, err, legend, merged, tidy};
use crate::stats::results::Results;

/// Buckets per decade of latency.
const PER_DECADE: f64 = 10.0;

/// Counts per bucket: bucket k covers [10^(k/10), 10^((k+1)/10)) microseconds.
pub fn buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<(i32, u64)> {
    let mut out: std::collections::BTreeMap<i32, u64> = std::collections::BTreeMap::new();
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to()).max(1) as f64;
        let k = (value.log10() * PER_DECADE).floor() as i32;
        *out.entry(k).or_default() += v.count_at_value();
    }
    out.into_iter().collect()
}

fn edge(k: i32) -> f64 {
    10f64.powf(k as f64 / PER_DECADE) / 1000.0
}

/// One outcome's bars: name, colour, counts per bucket.
type Set = (&'static str, RGBColor, Vec<(i32, u64)>);

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
    let sets: Vec<Set> = [
        ("accepted", PALETTE[2]),
        ("rejected", PALETTE[0]),
        ("unexpected_status", PALETTE[1]),
    ]
    .into_iter()
    .filter_map(|(o, c)| merged(r, None, &[o], false).map(|h| (o, c, buckets(&h))))
    .filter(|(_, _, b)| !b.is_empty())
    .collect();
    let lo = sets
        .iter()
        .flat_map(|s| s.2.first())
        .map(|b| b.0)
        .min()
        .unwrap_or(0);
    let hi = sets
        .iter()
        .flat_map(|s| s.2.last())
        .map(|b| b.0)
        .max()
        .unwrap_or(10)
        + 1;
    let y_max = sets
        .iter()
        .flat_map(|s| s.2.iter().map(|b| b.1))
        .max()
        .unwrap_or(1) as f64
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            caption(r, "Latency histogram (uncorrected: from each request's send)"),
            (FONT, 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((edge(lo)..edge(hi)).log_scale(), 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("requests")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let n = sets.len().max(1) as f64;
    for (i, (name, color, bucket)) in sets.iter().enumerate() {
        let color = *color;
        chart
            .draw_series(bucket.iter().map(|(k, count)| {
                // Each bucket is split in n slots on the log axis, one per outcome.
                let a = *k as f64 + i as f64 / n;
                let b = a + 1.0 / n;
                let x0 = 10f64.powf(a / PER_DECADE) / 1000.0;
                let x1 = 10f64.powf(b / PER_DECADE) / 1000.0;
                Rectangle::new([(x0, 0.0), (x1, *count as f64)], color.mix(0.8).filled())
            }))
            .map_err(err)?
            .label(format!(
                "{name} ({} requests)",
                bucket.iter().map(|b| b.1).sum::<u64>()
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
