//! Answers by token class: stacked bars of accepted, rejected, unexpected status and transport
//! error per class, false accepts and rejects in the alarm colour with their counts; beside it,
//! status codes and error kinds.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ALARM, ChartResult, FONT, PALETTE, caption, err, legend, tidy};
use crate::stats::results::Results;

/// Half the height of a bar, in rows.
const BAR: f64 = 0.35;

/// The label of row `v` when `v` is a whole row number.
fn label_at(labels: &[String], v: f64) -> String {
    if (v - v.round()).abs() > 1e-6 || v < -1e-6 {
        return String::new();
    }
    labels.get(v.round() as usize).cloned().unwrap_or_default()
}

const OUTCOMES: [(&str, usize); 6] = [
    ("accepted", 2),
    ("rejected", 0),
    ("forbidden", 5),
    ("limited", 7),
    ("unexpected_status", 1),
    ("transport_error", 6),
];

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
    let (left, right) = area.split_horizontally(680);
    let classes: Vec<(&String, &crate::stats::results::ClassResult)> = r.classes.iter().collect();
    let n = classes.len().max(1) as i32;
    let x_max = classes.iter().map(|(_, c)| c.count).max().unwrap_or(1) as f64 * 1.25;
    let names: Vec<String> = classes.iter().map(|(k, _)| (*k).clone()).collect();
    let mut c = ChartBuilder::on(&left)
        .caption(caption(r, "Answers by token class"), (FONT, 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..x_max, -0.5f64..(n as f64 - 0.5))
        .map_err(err)?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|v| label_at(&names, *v))
        .x_label_formatter(&tidy)
        .x_desc("requests")
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    // Forbidden and limited answers are drawn (and named in the legend) only when there are any.
    let present = |name: &str| {
        classes
            .iter()
            .any(|(_, cr)| cr.outcomes.get(name).is_some_and(|n| *n > 0))
    };
    for (name, palette) in OUTCOMES {
        if matches!(name, "forbidden" | "limited") && !present(name) {
            continue;
        }
        let color = PALETTE[palette];
        c.draw_series(classes.iter().enumerate().map(|(i, (_, cr))| {
            let before: u64 = OUTCOMES
                .iter()
                .take_while(|(o, _)| *o != name)
                .map(|(o, _)| cr.outcomes.get(*o).copied().unwrap_or(0))
                .sum();
            let v = cr.outcomes.get(name).copied().unwrap_or(0);
            let i = i as f64;
            Rectangle::new(
                [(before as f64, i - BAR), ((before + v) as f64, i + BAR)],
                color.mix(0.85).filled(),
            )
        }))
        .map_err(err)?
        .label(name.replace('_', " "))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    // False answers: a red marker and count beside the bar.
    for (i, (_, cr)) in classes.iter().enumerate() {
        let fa = cr.verdicts.get("false_accept").copied().unwrap_or(0);
        let fr = cr.verdicts.get("false_reject").copied().unwrap_or(0);
        if fa + fr == 0 {
            continue;
        }
        let mut text = Vec::new();
        if fa > 0 {
            text.push(format!("{fa} FALSE ACCEPT"));
        }
        if fr > 0 {
            text.push(format!("{fr} false reject"));
        }
        c.draw_series(std::iter::once(Text::new(
            text.join(", "),
            (cr.count as f64 * 1.01, i as f64 + 0.1),
            (FONT, 12).into_font().style(FontStyle::Bold).color(&ALARM),
        )))
        .map_err(err)?;
    }
    legend(&mut c, SeriesLabelPosition::LowerRight)?;

    // Status codes and error kinds.
    let mut rows: Vec<(String, u64, RGBColor)> = r
        .status_codes
        .iter()
        .map(|(k, v)| (format!("HTTP {k}"), *v, PALETTE[3]))
        .collect();
    rows.extend(
        r.transport_errors
            .iter()
            .map(|(k, v)| (k.replace('_', " "), *v, PALETTE[6])),
    );
    let m = rows.len().max(1) as i32;
    let v_max = rows.iter().map(|r| r.1).max().unwrap_or(1) as f64 * 1.3;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut s = ChartBuilder::on(&right)
        .caption("Status codes and errors", (FONT, 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..v_max, -0.5f64..(m as f64 - 0.5))
        .map_err(err)?;
    s.configure_mesh()
        .disable_y_mesh()
        .y_labels(m as usize)
        .x_labels(3)
        .y_label_formatter(&|v| label_at(&labels, *v))
        .x_label_formatter(&tidy)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    s.draw_series(rows.iter().enumerate().map(|(i, (_, v, color))| {
        let i = i as f64;
        Rectangle::new([(0.0, i - BAR), (*v as f64, i + BAR)], color.mix(0.8).filled())
    }))
    .map_err(err)?;
    Ok(())
}
