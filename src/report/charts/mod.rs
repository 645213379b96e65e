//! Charts, one file per chart, each drawn once for any plotters backend and written as SVG and
//! PNG. PNG text uses DejaVu Sans embedded in the binary, so rendering needs no system fonts.

pub mod capacity;
pub mod compare;
pub mod histogram;
pub mod keys;
pub mod percentiles;
pub mod rejections;
pub mod timeline;

use std::path::Path;
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::recorder::histogram;
use crate::stats::results::{Results, decode_histogram};

/// The font every chart names; registered from the embedded file for bitmap output.
pub const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font once: PNG draws with it, and both backends measure text with it.
pub fn register_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BYTES);
    });
}

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (1000, 600);

/// A chart error, as text (plotters' errors are generic over the backend).
pub type ChartResult = Result<(), String>;

/// Maps any plotters drawing error to text.
pub fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

/// The charts of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Percentiles,
    Histogram,
    Timeline,
    Rejections,
    /// Only for runs with a rotating identity provider (`[idp]`).
    Keys,
}

impl Chart {
    /// Every chart of one run, in report order.
    pub const ALL: [Chart; 4] = [
        Chart::Percentiles,
        Chart::Histogram,
        Chart::Timeline,
        Chart::Rejections,
    ];

    /// The file stem and the title.
    /// The charts of a run: every one of [`Chart::ALL`], and the keys chart when an identity
    /// provider served the keys.
    pub fn of(r: &Results) -> Vec<Chart> {
        let mut v = Chart::ALL.to_vec();
        if r.idp.is_some() {
            v.push(Chart::Keys);
        }
        v
    }

    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Chart::Percentiles => ("latency-percentiles", "Latency by percentile"),
            Chart::Histogram => ("latency-histogram", "Latency histogram"),
            Chart::Timeline => ("timeline", "Timeline"),
            Chart::Rejections => ("rejections", "Answers by token class"),
            Chart::Keys => ("keys", "Answers per key"),
        }
    }

    fn draw<DB: DrawingBackend>(self, area: &DrawingArea<DB, Shift>, r: &Results) -> ChartResult {
        area.fill(&WHITE).map_err(err)?;
        match self {
            Chart::Percentiles => percentiles::draw(area, r),
            Chart::Histogram => histogram::draw(area, r),
            Chart::Timeline => timeline::draw(area, r),
            Chart::Rejections => rejections::draw(area, r),
            Chart::Keys => keys::draw(area, r),
        }
    }

    /// The chart as an SVG document.
    pub fn svg(self, r: &Results) -> Result<String, String> {
        register_font();
        let mut out = String::new();
        {
            let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            self.draw(&area, r)?;
            area.present().map_err(err)?;
        }
        Ok(out)
    }

    /// Writes the chart as a PNG file.
    pub fn png(self, r: &Results, path: &Path) -> ChartResult {
        register_font();
        let area = BitMapBackend::new(path, SIZE).into_drawing_area();
        self.draw(&area, r)?;
        area.present().map_err(err)
    }
}

/// The caption under every title: scenario and start time.
pub fn caption(r: &Results, title: &str) -> String {
    format!("{title} — {} — {}", r.meta.scenario, r.meta.started)
}

/// Colours for series, in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];
/// The alarm colour for false accepts and rejects.
pub const ALARM: RGBColor = RGBColor(214, 39, 40);

/// The merged histogram of `class` (or every class with `None`) for the response outcomes
/// (every outcome with a status), corrected or not.
pub fn merged(
    r: &Results,
    class: Option<&str>,
    outcomes: &[&str],
    corrected: bool,
) -> Option<Histogram<u64>> {
    let kind = if corrected { "corrected" } else { "uncorrected" };
    let mut out: Option<Histogram<u64>> = None;
    for (key, text) in &r.histograms {
        let mut parts = key.split('/');
        let (Some(c), Some(o), Some(k)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if k != kind || !outcomes.contains(&o) || class.is_some_and(|want| want != c) {
            continue;
        }
        if let Ok(h) = decode_histogram(text) {
            let _ = out.get_or_insert_with(histogram).add(&h);
        }
    }
    out
}

/// The outcomes that carry a response.
pub const RESPONSES: [&str; 5] = [
    "accepted",
    "rejected",
    "forbidden",
    "limited",
    "unexpected_status",
];

/// Milliseconds from microseconds.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// An axis number without float noise: `0.3`, `1200`, `2.5k`.
pub fn tidy(v: &f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 || (v.fract() == 0.0) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The identity provider's key-set fetches (`[idp]`) as ticks along the top of a chart whose
/// x axis is seconds since the run began, up to `end`; the y axis ends at `top`.
pub fn jwks_fetch_ticks<'a, DB: DrawingBackend + 'a>(
    c: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    r: &Results,
    end: f64,
    top: f64,
) -> ChartResult {
    let Some(idp) = &r.idp else {
        return Ok(());
    };
    let fetches: Vec<f64> = idp
        .fetches
        .iter()
        .filter(|f| f.document == crate::idp::Document::Jwks && f.at_ms >= 0)
        .map(|f| f.at_ms as f64 / 1000.0)
        .filter(|x| *x <= end)
        .collect();
    let grey = RGBColor(90, 90, 90);
    c.draw_series(
        fetches
            .iter()
            .map(|x| PathElement::new(vec![(*x, top * 0.96), (*x, top)], grey.stroke_width(2))),
    )
    .map_err(err)?
    .label(format!("JWKS fetch ({})", fetches.len()))
    .legend(move |(x, y)| PathElement::new(vec![(x + 8, y - 5), (x + 8, y + 5)], grey.stroke_width(2)));
    Ok(())
}

/// Draws the series legend of a chart at `pos`.
pub fn legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, pos: SeriesLabelPosition) -> ChartResult
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .draw()
        .map_err(err)
}
