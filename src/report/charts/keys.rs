//! Answers per key of a rotating key set: accepted and rejected tokens per second for each kid
//! (rejected with markers), the schedule's publish, sign_with and retire as labelled vertical
//! lines, and every fetch of the key set as a tick along the top.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ALARM, ChartResult, FONT, PALETTE, caption, err, legend, tidy};
use crate::stats::results::Results;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
    let Some(idp) = &r.idp else {
        return Ok(());
    };
    let seconds = idp
        .keys
        .iter()
        .map(|k| k.per_second.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let top = idp
        .keys
        .iter()
        .flat_map(|k| k.per_second.iter().flat_map(|s| s.iter().copied()))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.3;
    let x_max = seconds as f64;
    let mut c = ChartBuilder::on(area)
        .caption(caption(r, "Answers per key"), (FONT, 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..top)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("seconds since the run began")
        .y_desc("answers per second")
        .x_label_formatter(&tidy)
        .y_label_formatter(&tidy)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    for (i, k) in idp.keys.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Each second's count sits at the middle of its second.
        let accepted: Vec<(f64, f64)> = k
            .per_second
            .iter()
            .enumerate()
            .map(|(s, v)| (s as f64 + 0.5, v[0] as f64))
            .collect();
        let rejected: Vec<(f64, f64)> = k
            .per_second
            .iter()
            .enumerate()
            .map(|(s, v)| (s as f64 + 0.5, v[1] as f64))
            .collect();
        c.draw_series(LineSeries::new(accepted, color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} accepted", k.kid))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        if k.rejected > 0 {
            c.draw_series(LineSeries::new(rejected.clone(), color.mix(0.6).stroke_width(1)))
                .map_err(err)?;
            c.draw_series(
                rejected
                    .iter()
                    .filter(|p| p.1 > 0.0)
                    .map(|p| Cross::new(*p, 4, color.stroke_width(2))),
            )
            .map_err(err)?
            .label(format!("{} rejected", k.kid))
            .legend(move |(x, y)| Cross::new((x + 9, y), 4, color.stroke_width(2)));
        }
    }
    // The schedule; events at one moment share a line and a label.
    let mut moments: Vec<(u64, String, bool)> = Vec::new();
    for e in &idp.events {
        let text = format!("{} {}", e.action, e.kid);
        match moments.last_mut() {
            Some(m) if m.0 == e.at_ms => {
                m.1 = format!("{}, {text}", m.1);
                m.2 |= e.action == "retire";
            }
            _ => moments.push((e.at_ms, text, e.action == "retire")),
        }
    }
    for (at, text, retire) in moments {
        let x = at as f64 / 1000.0;
        if x > x_max {
            continue;
        }
        let color = if retire { ALARM } else { BLACK };
        c.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, top * 0.9)],
            color.stroke_width(1),
        )))
        .map_err(err)?;
        c.draw_series(std::iter::once(Text::new(
            text,
            (x, top * 0.93),
            (FONT, 11).into_font().color(&color),
        )))
        .map_err(err)?;
    }
    super::jwks_fetch_ticks(&mut c, r, x_max, top)?;
    legend(&mut c, SeriesLabelPosition::MiddleRight)
}
