//! Baseline comparison that does not cry wolf. Each metric's baseline and current value, the
//! change and its confidence interval, the samples behind each, and a verdict:
//!
//! - **regression** only when the change exceeds the relative tolerance *and* the absolute
//!   floor, both runs hold enough samples for the statistic, and the interval of the change at
//!   the stated confidence lies wholly on the worse side (beyond what jwtstorm's own lateness
//!   explains, for latency);
//! - **improvement**, the mirror image;
//! - **not enough data** when a run holds too few samples (never a regression);
//! - **no significant change** otherwise.
//!
//! Percentile intervals come from the order statistics of the stored HdrHistograms, widened by
//! how clustered slow requests are across the per-second blocks of the timeline; throughput
//! is a quasi-Poisson rate ratio, shares (error rate, false accepts) a Newcombe interval.
//! Several baselines are pooled, and their run-to-run spread (a prediction interval) widens
//! every interval: the noise a single run cannot see. Runs that are not comparable (another
//! scenario, algorithm, rate, tool version or core count) are refused unless forced.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{Judgement, Metric, Outcome, Unit};
use crate::stats::inference::{self, Interval};
use crate::stats::recorder::histogram;
use crate::stats::results::{Results, WAKE_HISTOGRAM, decode_histogram};

/// The absolute floor of a latency change by default: four back-to-back runs of
/// `scenarios/ci-gate.toml` on a 2-core machine with nothing beside them gave p99s from 226 to
/// 453 µs, each steady within its run; noise between runs that one baseline cannot show.
pub const DEFAULT_FLOOR_US: f64 = 500.0;
/// The confidence of every interval by default.
pub const DEFAULT_CONFIDENCE: f64 = 0.99;
/// Samples (responses, scheduled requests) each run needs before a count, share or rate is
/// compared.
pub const MIN_COUNT_SAMPLES: u64 = 100;

/// How a metric is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is worse (latency), compared as a relative change.
    LowerIsBetter,
    /// Lower is worse (throughput), compared as a relative change.
    HigherIsBetter,
    /// Higher is worse, compared as an absolute change in a share (error rate).
    ShareLowerIsBetter,
    /// A correctness count (false accepts, false rejects): one where there were none is a
    /// regression; otherwise a significant rise in its share.
    CountMustNotRise,
}

/// A compared metric's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Regression,
    Improvement,
    NoSignificantChange,
    NotEnoughData,
}

impl Finding {
    /// The verdict in words.
    pub fn words(self) -> &'static str {
        match self {
            Finding::Regression => "regression",
            Finding::Improvement => "improvement",
            Finding::NoSignificantChange => "no significant change",
            Finding::NotEnoughData => "not enough data",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// The samples behind a compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples {
    /// In the baseline (all baselines together).
    pub baseline: u64,
    pub current: u64,
    /// What each run needs before the metric is compared.
    pub needed: u64,
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `all` or a token class.
    pub scope: String,
    pub metric: Metric,
    /// The unit of `baseline`, `current` and `min_change`.
    pub unit: Unit,
    pub baseline: f64,
    pub current: f64,
    /// Relative change (absolute for shares); `null` when the baseline is zero.
    pub change: Option<f64>,
    /// The confidence interval of `change`; `null` when there is not enough data.
    pub change_interval: Option<Interval>,
    /// The confidence of `change_interval`.
    pub confidence: f64,
    /// The allowed change (relative, or absolute for shares).
    pub tolerance: f64,
    /// The absolute floor: a smaller change is never a regression (in `unit`).
    pub min_change: f64,
    /// Latency: how much later jwtstorm itself sent in the current run than in the baseline at
    /// this percentile (µs); that part of a change is not held against the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_lateness_us: Option<f64>,
    pub samples: Samples,
    pub direction: Direction,
    pub verdict: Finding,
    /// Why, in one sentence.
    pub why: String,
}

impl Comparison {
    /// Whether this metric regressed.
    pub fn regressed(&self) -> bool {
        self.verdict == Finding::Regression
    }

    /// The change for people: `+12.3%`, `+0.120 pp`, or `-`.
    pub fn change_text(&self) -> String {
        match self.change {
            Some(x) => self.scaled(x),
            None => "-".into(),
        }
    }

    /// The interval of the change for people: `[+3.1%, +20.4%]`, or `-`.
    pub fn interval_text(&self) -> String {
        match self.change_interval {
            Some(i) => format!("[{}, {}]", self.scaled(i.lo), self.scaled(i.hi)),
            None => "-".into(),
        }
    }

    fn scaled(&self, x: f64) -> String {
        if !x.is_finite() {
            return if x > 0.0 { "+inf".into() } else { "-inf".into() };
        }
        match self.direction {
            Direction::ShareLowerIsBetter => format!("{:+.3} pp", x * 100.0),
            _ => format!("{:+.1}%", x * 100.0),
        }
    }
}

/// Which token classes have their latency compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Classes {
    /// `valid` only: a class with 2% of the traffic has a p99 from a handful of requests.
    #[default]
    Valid,
    All,
    Only(Vec<String>),
}

impl Classes {
    fn includes(&self, class: &str) -> bool {
        match self {
            Classes::Valid => class == "valid",
            Classes::All => true,
            Classes::Only(list) => list.iter().any(|c| c == class),
        }
    }
}

impl FromStr for Classes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "all" {
            return Ok(Classes::All);
        }
        let list: Vec<String> = s
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if list.is_empty() {
            return Err("expected 'all' or a comma-separated list of token classes".into());
        }
        for c in &list {
            c.parse::<crate::token::classes::TokenClass>()
                .map_err(|_| format!("'{c}' is not a token class"))?;
        }
        Ok(Classes::Only(list))
    }
}

/// How runs are compared.
#[derive(Debug, Clone)]
pub struct Options {
    /// Allowed change per metric (missing ones take [`default_tolerances`]).
    pub tolerances: BTreeMap<Metric, f64>,
    /// Absolute floors per metric, in the metric's unit (latency default
    /// [`DEFAULT_FLOOR_US`], others none).
    pub min_change: BTreeMap<Metric, f64>,
    pub confidence: f64,
    pub classes: Classes,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerances: default_tolerances(),
            min_change: BTreeMap::new(),
            confidence: DEFAULT_CONFIDENCE,
            classes: Classes::default(),
        }
    }
}

impl Options {
    fn tolerance(&self, m: Metric) -> f64 {
        self.tolerances
            .get(&m)
            .copied()
            .or_else(|| default_tolerances().get(&m).copied())
            .unwrap_or(0.0)
    }

    fn floor(&self, m: Metric) -> f64 {
        self.min_change
            .get(&m)
            .copied()
            .unwrap_or(if m.is_latency() { DEFAULT_FLOOR_US } else { 0.0 })
    }
}

/// The comparison of a run with one or more baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// How many baseline runs were pooled.
    pub baselines: usize,
    pub confidence: f64,
    pub comparisons: Vec<Comparison>,
    /// Why the runs are not strictly comparable (empty when they are).
    pub differences: Vec<String>,
    /// Notes: unstable runs, jwtstorm's own lateness, old files without per-second histograms.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether any metric regressed.
    pub fn regressed(&self) -> bool {
        self.comparisons.iter().any(Comparison::regressed)
    }

    /// What the run was compared with: `the baseline` or `5 pooled baselines`.
    pub fn against(&self) -> String {
        if self.baselines == 1 {
            "the baseline".to_string()
        } else {
            format!("{} pooled baselines", self.baselines)
        }
    }

    /// The verdicts counted, in words.
    pub fn tally(&self) -> String {
        let [reg, imp, same, thin] = self.counts();
        format!(
            "{reg} regression(s), {imp} improvement(s), {same} without significant change, {thin} without enough data; {:.0}% intervals",
            self.confidence * 100.0
        )
    }

    /// How many metrics have each verdict: regression, improvement, no change, not enough data.
    pub fn counts(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for c in &self.comparisons {
            n[c.verdict as usize] += 1;
        }
        n
    }
}

/// Default tolerances: latency percentiles relative, throughput relative, error rate absolute.
pub fn default_tolerances() -> BTreeMap<Metric, f64> {
    BTreeMap::from([
        (Metric::P50, 0.10),
        (Metric::P90, 0.10),
        (Metric::P99, 0.15),
        (Metric::P99_9, 0.25),
        (Metric::Throughput, 0.05),
        (Metric::ErrorRate, 0.001),
    ])
}

fn metric_named(k: &str, what: &str) -> Result<Metric, String> {
    k.parse::<Metric>()
        .ok()
        .filter(|m| default_tolerances().contains_key(m))
        .ok_or_else(|| {
            format!(
                "'{k}': {what} apply to {}",
                default_tolerances()
                    .keys()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Parses `--max-regression METRIC=SHARE` (`p99=10%`, `error_rate=0.5%`).
pub fn parse_tolerance(text: &str) -> Result<(Metric, f64), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected METRIC=PERCENT, such as p99=10%"))?;
    let metric = metric_named(k.trim(), "tolerances")?;
    let v = crate::units::parse_percent(v)?;
    if !(0.0..10.0).contains(&v) {
        return Err(format!("'{text}': the tolerance must be a positive share"));
    }
    Ok((metric, v))
}

/// Parses `--min-change METRIC=VALUE` (`p99=1ms`, `throughput=20/s`, `error_rate=0.05%`).
pub fn parse_min_change(text: &str) -> Result<(Metric, f64), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected METRIC=VALUE, such as p99=1ms"))?;
    let metric = metric_named(k.trim(), "floors")?;
    let value = match metric.unit() {
        Unit::Micros => crate::units::parse_duration(v)?.as_secs_f64() * 1e6,
        Unit::PerSecond => crate::units::parse_rate(v)?,
        _ => crate::units::parse_percent(v)?,
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("'{text}': the floor must not be negative"));
    }
    Ok((metric, value))
}

/// Parses `--confidence` (`99%`, `0.95`): between 50% and 99.99%.
pub fn parse_confidence(text: &str) -> Result<f64, String> {
    let c = crate::units::parse_percent(text)?;
    if !(0.5..=0.9999).contains(&c) {
        return Err(format!(
            "'{text}': the confidence must lie between 50% and 99.99%"
        ));
    }
    Ok(c)
}

/// Why two runs are not comparable.
pub fn differences(base: &Results, cur: &Results) -> Vec<String> {
    let mut d = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{what}: {a} vs {b}"));
        }
    };
    check("scenario", base.meta.scenario.clone(), cur.meta.scenario.clone());
    check("model", base.meta.model.clone(), cur.meta.model.clone());
    check(
        "algorithm",
        base.scenario["keys"]["alg"].to_string(),
        cur.scenario["keys"]["alg"].to_string(),
    );
    check(
        "rate",
        base.scenario["load"]["stages"].to_string(),
        cur.scenario["load"]["stages"].to_string(),
    );
    check(
        "concurrency",
        base.scenario["load"]["concurrency"].to_string(),
        cur.scenario["load"]["concurrency"].to_string(),
    );
    check(
        "tool version",
        base.meta.tool_version.clone(),
        cur.meta.tool_version.clone(),
    );
    check("cores", base.meta.cores.to_string(), cur.meta.cores.to_string());
    d
}

/// Flags a run whose per-second throughput varied by more than `limit` (coefficient of
/// variation over the measured whole seconds).
pub fn instability(label: &str, r: &Results, limit: f64) -> Option<String> {
    let xs: Vec<f64> = full_seconds(r).map(|p| p.completed as f64).collect();
    if xs.len() < 3 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    let cv = var.sqrt() / mean;
    (cv > limit).then(|| {
        format!(
            "the {label} run was unstable: its throughput varied by {:.0}% (standard deviation over mean, per second); treat its verdicts with care",
            cv * 100.0
        )
    })
}

/// The measured whole seconds of a run's timeline (after warmup, before the last partial one).
fn full_seconds(r: &Results) -> impl Iterator<Item = &crate::stats::timeline::Point> {
    let warm = r.warmup.duration_s.ceil() as u32;
    let end = (r.warmup.duration_s + r.totals.duration_s).floor() as u32;
    r.timeline
        .iter()
        .filter(move |p| p.second >= warm && p.second < end)
}

/// A run's histograms, decoded once.
struct Run<'a> {
    r: &'a Results,
    /// Corrected latency of the responses, per class (transport errors excluded).
    classes: BTreeMap<String, Histogram<u64>>,
    wake: Option<Histogram<u64>>,
    /// Corrected latency of each measured second (two significant digits).
    blocks: Vec<Histogram<u64>>,
}

impl<'a> Run<'a> {
    fn of(r: &'a Results) -> Result<Run<'a>, String> {
        let mut classes: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
        let mut wake = None;
        for (key, text) in &r.histograms {
            let bad = |e: String| format!("histogram '{key}': {e}");
            if key == WAKE_HISTOGRAM {
                // Into the standard bounds, so pooling cannot fail later.
                let mut h = histogram();
                h.add(decode_histogram(text).map_err(bad)?)
                    .map_err(|e| bad(format!("{e:?}")))?;
                wake = Some(h);
                continue;
            }
            let mut parts = key.split('/');
            let (Some(class), Some(outcome), Some("corrected"), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if outcome == Outcome::TransportError.name() {
                continue;
            }
            let h = decode_histogram(text).map_err(bad)?;
            classes
                .entry(class.to_string())
                .or_insert_with(histogram)
                .add(&h)
                .map_err(|e| bad(format!("{e:?}")))?;
        }
        let warm = r.warmup.duration_s.ceil() as u32;
        let mut blocks = Vec::new();
        for p in r.timeline.iter().filter(|p| p.second >= warm) {
            if let Some(text) = &p.latency_histogram {
                blocks.push(
                    decode_histogram(text)
                        .map_err(|e| format!("timeline second {}: histogram: {e}", p.second))?,
                );
            }
        }
        Ok(Run {
            r,
            classes,
            wake,
            blocks,
        })
    }

    fn latency(&self, scope: &str) -> Option<Histogram<u64>> {
        let mut out: Option<Histogram<u64>> = None;
        for (class, h) in &self.classes {
            if scope == "all" || scope == class {
                out.get_or_insert_with(histogram).add(h).expect("same bounds");
            }
        }
        out
    }
}

/// Several runs taken as one.
struct Pool<'a> {
    runs: Vec<Run<'a>>,
}

impl Pool<'_> {
    fn latency(&self, scope: &str) -> Option<Histogram<u64>> {
        let mut out: Option<Histogram<u64>> = None;
        for h in self.runs.iter().filter_map(|r| r.latency(scope)) {
            out.get_or_insert_with(histogram).add(&h).expect("same bounds");
        }
        out
    }

    fn wake(&self) -> Option<Histogram<u64>> {
        let mut out: Option<Histogram<u64>> = None;
        for r in &self.runs {
            // A baseline without the histogram (closed model, older file) leaves it unknown.
            let h = r.wake.as_ref()?;
            out.get_or_insert_with(histogram).add(h).expect("same bounds");
        }
        out
    }

    /// How clustered the samples above percentile `p` are across the per-second blocks.
    fn dispersion(&self, p: f64) -> f64 {
        let blocks: Vec<&Histogram<u64>> = self.runs.iter().flat_map(|r| &r.blocks).collect();
        if blocks.len() < 2 {
            return 1.0;
        }
        let mut all =
            Histogram::<u64>::new_with_bounds(1, crate::stats::recorder::MAX_US, 2).expect("static bounds");
        for b in &blocks {
            if all.add(*b).is_err() {
                return 1.0;
            }
        }
        let threshold = inference::quantile(&all, p);
        let counts: Vec<(u64, u64)> = blocks
            .iter()
            .map(|b| (b.len(), b.len() - b.count_between(0, threshold)))
            .collect();
        inference::binomial_dispersion(&counts)
    }

    /// Per-second counts of the measured whole seconds, for a rate's dispersion.
    fn per_second(&self, f: impl Fn(&crate::stats::timeline::Point) -> u64) -> Vec<u64> {
        self.runs
            .iter()
            .flat_map(|r| full_seconds(r.r).map(&f).collect::<Vec<_>>())
            .collect()
    }

    /// Per-second (responses, hits) blocks, for a share's dispersion.
    fn per_second_share(&self, f: impl Fn(&crate::stats::timeline::Point) -> u64) -> Vec<(u64, u64)> {
        self.runs
            .iter()
            .flat_map(|r| {
                full_seconds(r.r)
                    .map(|p| (p.completed.saturating_add(p.transport_errors), f(p)))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn has_blocks(&self) -> bool {
        self.runs.iter().all(|r| !r.blocks.is_empty())
    }
}

fn quantile_of(m: Metric) -> f64 {
    match m {
        Metric::P50 => 0.5,
        Metric::P90 => 0.9,
        Metric::P99 => 0.99,
        Metric::P99_9 => 0.999,
        other => unreachable!("{other} is not a compared percentile"),
    }
}

/// Widens an interval of `d` to the prediction half-width `h` the baselines' spread gives.
fn widen(i: Interval, d: f64, h: Option<f64>) -> Interval {
    match h {
        Some(h) => Interval {
            lo: i.lo.min(d - h),
            hi: i.hi.max(d + h),
        },
        None => i,
    }
}

/// The verdict of a rate or share: `worse` is the change towards worse (positive is worse),
/// `size` the same in the floor's unit, `i` the interval of `worse`; `shown` and `tolerance`
/// are the change and the tolerance as people read them.
#[allow(clippy::too_many_arguments)]
fn decide(
    worse: f64,
    size: f64,
    i: Interval,
    tol: f64,
    floor: f64,
    shown: &str,
    tolerance: &str,
    confidence: f64,
) -> (Finding, String) {
    let level = format!("{:.0}%", confidence * 100.0);
    if worse > tol && size > floor && i.lo > 0.0 {
        (
            Finding::Regression,
            format!(
                "{shown}, beyond the {tolerance} tolerance and outside the {level} interval of no change"
            ),
        )
    } else if -worse > tol && -size > floor && i.hi < 0.0 {
        (Finding::Improvement, shown.to_string())
    } else if worse.abs() <= tol {
        (
            Finding::NoSignificantChange,
            format!("within the {tolerance} tolerance"),
        )
    } else {
        (
            Finding::NoSignificantChange,
            format!("the {level} interval of the change includes no change"),
        )
    }
}

/// What every compared metric starts from: its figures, no interval yet, no verdict.
struct Start<'s> {
    scope: &'s str,
    metric: Metric,
    unit: Unit,
    direction: Direction,
    values: (f64, f64),
    change: Option<f64>,
    tolerance: f64,
    floor: f64,
    samples: Samples,
}

impl Start<'_> {
    fn comparison(self, confidence: f64) -> Comparison {
        Comparison {
            scope: self.scope.to_string(),
            metric: self.metric,
            unit: self.unit,
            baseline: self.values.0,
            current: self.values.1,
            change: self.change,
            change_interval: None,
            confidence,
            tolerance: self.tolerance,
            min_change: self.floor,
            own_lateness_us: None,
            samples: self.samples,
            direction: self.direction,
            verdict: Finding::NoSignificantChange,
            why: String::new(),
        }
    }
}

struct Ctx<'a, 'b> {
    base: &'b Pool<'a>,
    cur: &'b Pool<'a>,
    o: &'b Options,
    z: f64,
}

impl Ctx<'_, '_> {
    fn not_enough(&self, c: &mut Comparison, what: &str) {
        let s = c.samples;
        let (run, n) = if s.baseline < s.needed {
            ("baseline", s.baseline)
        } else {
            ("current run", s.current)
        };
        c.verdict = Finding::NotEnoughData;
        c.why = format!(
            "{what} needs {} samples in each run; the {run} has {}",
            crate::text::thousands(s.needed),
            crate::text::thousands(n)
        );
    }

    fn latency(&self, scope: &str, m: Metric) -> Option<Comparison> {
        let (hb, hc) = (self.base.latency(scope)?, self.cur.latency(scope)?);
        let p = quantile_of(m);
        let needed = inference::samples_needed(p);
        let (b, c) = (
            inference::quantile(&hb, p) as f64,
            inference::quantile(&hc, p) as f64,
        );
        let tol = self.o.tolerance(m);
        let floor = self
            .o
            .floor(m)
            .max(2.0 * inference::resolution(&hb, b as u64) as f64);
        let mut out = Start {
            scope,
            metric: m,
            unit: Unit::Micros,
            direction: Direction::LowerIsBetter,
            values: (b, c),
            change: (b > 0.0).then(|| (c - b) / b),
            tolerance: tol,
            floor,
            samples: Samples {
                baseline: hb.len(),
                current: hc.len(),
                needed,
            },
        }
        .comparison(self.o.confidence);
        if hb.len() < needed || hc.len() < needed {
            self.not_enough(&mut out, m.name());
            return Some(out);
        }
        let ib = inference::quantile_interval(&hb, p, self.z, self.base.dispersion(p));
        let ic = inference::quantile_interval(&hc, p, self.z, self.cur.dispersion(p));
        let d = c - b;
        let spread = {
            let values: Vec<f64> = self
                .base
                .runs
                .iter()
                .filter_map(|r| r.latency(scope))
                .map(|h| inference::quantile(&h, p) as f64)
                .collect();
            (values.len() == self.base.runs.len())
                .then(|| inference::prediction_half_width(&values, self.o.confidence))
                .flatten()
        };
        let i = widen(inference::mover(b, ib, c, ic), d, spread);
        // jwtstorm's own lateness at this percentile, when both runs recorded it.
        let shift = match (self.base.wake(), self.cur.runs[0].wake.as_ref()) {
            (Some(wb), Some(wc)) => {
                (inference::quantile(wc, p) as f64 - inference::quantile(&wb, p) as f64).max(0.0)
            }
            _ => 0.0,
        };
        if shift > 0.0 {
            out.own_lateness_us = Some(shift);
        }
        if b > 0.0 {
            out.change_interval = Some(i.scaled(1.0 / b));
        }
        let attributable = d - shift;
        let show = |v: f64| crate::text::format_value(v, Unit::Micros);
        let level = format!("{:.0}%", self.o.confidence * 100.0);
        (out.verdict, out.why) = if d > 0.0 {
            if d <= floor {
                (
                    Finding::NoSignificantChange,
                    format!("+{} is within the {} floor", show(d), show(floor)),
                )
            } else if attributable <= floor {
                (
                    Finding::NoSignificantChange,
                    format!(
                        "+{} of the +{} is jwtstorm's own lateness; the rest is within the {} floor",
                        show(shift),
                        show(d),
                        show(floor)
                    ),
                )
            } else if attributable <= tol * b {
                (
                    Finding::NoSignificantChange,
                    format!("within the {:.0}% tolerance", tol * 100.0),
                )
            } else if i.lo <= shift {
                (
                    Finding::NoSignificantChange,
                    format!("the {level} interval of the change includes no change"),
                )
            } else {
                (
                    Finding::Regression,
                    format!(
                        "+{}, beyond the {:.0}% tolerance and the {} floor, and outside the {level} interval of no change",
                        show(attributable),
                        tol * 100.0,
                        show(floor)
                    ),
                )
            }
        } else if -d > floor && -d > tol * b && i.hi < 0.0 {
            (
                Finding::Improvement,
                format!(
                    "-{}, beyond the tolerance, the floor and the {level} interval",
                    show(-d)
                ),
            )
        } else {
            (Finding::NoSignificantChange, "no significant change".into())
        };
        Some(out)
    }

    fn throughput(&self) -> Comparison {
        let m = Metric::Throughput;
        let sum = |p: &Pool| {
            p.runs.iter().fold((0u64, 0.0f64), |(n, t), r| {
                (n.saturating_add(r.r.totals.completed), t + r.r.totals.duration_s)
            })
        };
        let ((nb, tb), (nc, tc)) = (sum(self.base), sum(self.cur));
        let rate = |n: u64, t: f64| if t > 0.0 { n as f64 / t } else { 0.0 };
        let (b, c) = (rate(nb, tb), rate(nc, tc));
        let tol = self.o.tolerance(m);
        let floor = self.o.floor(m);
        let mut out = Start {
            scope: "all",
            metric: m,
            unit: Unit::PerSecond,
            direction: Direction::HigherIsBetter,
            values: (b, c),
            change: (b > 0.0).then(|| (c - b) / b),
            tolerance: tol,
            floor,
            samples: Samples {
                baseline: nb,
                current: nc,
                needed: MIN_COUNT_SAMPLES,
            },
        }
        .comparison(self.o.confidence);
        let phi_b = inference::poisson_dispersion(&self.base.per_second(|p| p.completed));
        let phi_c = inference::poisson_dispersion(&self.cur.per_second(|p| p.completed));
        let Some((r, i)) = (nb >= MIN_COUNT_SAMPLES && nc >= MIN_COUNT_SAMPLES)
            .then(|| inference::rate_ratio(nb, tb, phi_b, nc, tc, phi_c, self.z))
            .flatten()
        else {
            self.not_enough(&mut out, "throughput");
            return out;
        };
        // On the log scale, where a rate ratio is symmetric.
        let values: Vec<f64> = self
            .base
            .runs
            .iter()
            .filter(|r| r.r.totals.throughput_rps > 0.0)
            .map(|r| r.r.totals.throughput_rps.ln())
            .collect();
        let spread = (values.len() == self.base.runs.len())
            .then(|| inference::prediction_half_width(&values, self.o.confidence))
            .flatten();
        let li = widen(
            Interval {
                lo: i.lo.ln(),
                hi: i.hi.ln(),
            },
            r.ln(),
            spread,
        );
        let i = Interval {
            lo: li.lo.exp() - 1.0,
            hi: li.hi.exp() - 1.0,
        };
        out.change_interval = Some(i);
        let change = r - 1.0;
        (out.verdict, out.why) = decide(
            -change,
            b - c,
            Interval { lo: -i.hi, hi: -i.lo },
            tol,
            floor,
            &format!("{:+.1}%", change * 100.0),
            &format!("{:.0}%", tol * 100.0),
            self.o.confidence,
        );
        out
    }

    fn share(
        &self,
        scope: &str,
        m: Metric,
        counts: impl Fn(&Results) -> (u64, u64),
        per_second: Option<&dyn Fn(&crate::stats::timeline::Point) -> u64>,
    ) -> Comparison {
        let sum = |p: &Pool| {
            p.runs.iter().fold((0u64, 0u64), |(x, n), r| {
                let (a, b) = counts(r.r);
                (x.saturating_add(a), n.saturating_add(b))
            })
        };
        let ((xb, nb), (xc, nc)) = (sum(self.base), sum(self.cur));
        let share = |x: u64, n: u64| x as f64 / n.max(1) as f64;
        let (pb, pc) = (share(xb, nb), share(xc, nc));
        let count = m != Metric::ErrorRate;
        let k = self.base.runs.len() as f64;
        let tol = if count { 0.0 } else { self.o.tolerance(m) };
        let floor = if count { 0.0 } else { self.o.floor(m) };
        let mut out = Start {
            scope,
            metric: m,
            unit: if count { Unit::Count } else { Unit::Ratio },
            direction: if count {
                Direction::CountMustNotRise
            } else {
                Direction::ShareLowerIsBetter
            },
            // Counts per run: the baselines' mean.
            values: if count {
                (xb as f64 / k, xc as f64)
            } else {
                (pb, pc)
            },
            change: if count {
                (pb > 0.0).then(|| (pc - pb) / pb)
            } else {
                Some(pc - pb)
            },
            tolerance: tol,
            floor,
            samples: Samples {
                baseline: nb,
                current: nc,
                needed: if count { 1 } else { MIN_COUNT_SAMPLES },
            },
        }
        .comparison(self.o.confidence);
        if count && xb == 0 && xc > 0 {
            out.verdict = Finding::Regression;
            out.why = format!("{xc} where the baseline had none");
            return out;
        }
        if count && xb == 0 && xc == 0 {
            out.why = "none in either run".into();
            return out;
        }
        if nb < out.samples.needed || nc < out.samples.needed {
            self.not_enough(&mut out, m.name());
            return out;
        }
        let (phi_b, phi_c) = match per_second {
            Some(f) => (
                inference::binomial_dispersion(&self.base.per_second_share(f)),
                inference::binomial_dispersion(&self.cur.per_second_share(f)),
            ),
            None => (1.0, 1.0),
        };
        let d = pc - pb;
        let i = inference::share_difference(xb, nb, phi_b, xc, nc, phi_c, self.z);
        let i = if count {
            i
        } else {
            let values: Vec<f64> = self
                .base
                .runs
                .iter()
                .map(|r| {
                    let (x, n) = counts(r.r);
                    share(x, n)
                })
                .collect();
            widen(i, d, inference::prediction_half_width(&values, self.o.confidence))
        };
        let level = format!("{:.0}%", self.o.confidence * 100.0);
        if count {
            out.change_interval = (pb > 0.0).then(|| i.scaled(1.0 / pb));
            (out.verdict, out.why) = if i.lo > 0.0 {
                (
                    Finding::Regression,
                    format!(
                        "its share rose from {:.4}% to {:.4}%, outside the {level} interval of no change",
                        pb * 100.0,
                        pc * 100.0
                    ),
                )
            } else if i.hi < 0.0 {
                (
                    Finding::Improvement,
                    format!("its share fell from {:.4}% to {:.4}%", pb * 100.0, pc * 100.0),
                )
            } else {
                (
                    Finding::NoSignificantChange,
                    format!("the {level} interval of the change includes no change"),
                )
            };
        } else {
            out.change_interval = Some(i);
            (out.verdict, out.why) = decide(
                d,
                d,
                i,
                tol,
                floor,
                &format!("{:+.3} pp", d * 100.0),
                &format!("{:.3} pp", tol * 100.0),
                self.o.confidence,
            );
        }
        out
    }
}

/// A run whose histograms cannot be read: `run` is the baseline's index, `None` the current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRun {
    pub run: Option<usize>,
    pub why: String,
}

/// Compares `current` with the pooled `baselines` (at least one).
pub fn compare(baselines: &[&Results], current: &Results, o: &Options) -> Result<Report, BadRun> {
    assert!(!baselines.is_empty(), "compare needs a baseline");
    let base = Pool {
        runs: baselines
            .iter()
            .enumerate()
            .map(|(i, r)| Run::of(r).map_err(|why| BadRun { run: Some(i), why }))
            .collect::<Result<_, _>>()?,
    };
    let cur = Pool {
        runs: vec![Run::of(current).map_err(|why| BadRun { run: None, why })?],
    };
    let ctx = Ctx {
        base: &base,
        cur: &cur,
        o,
        z: inference::z(o.confidence),
    };
    let percentiles = [Metric::P50, Metric::P90, Metric::P99, Metric::P99_9];
    let mut out = Vec::new();
    out.extend(percentiles.iter().filter_map(|m| ctx.latency("all", *m)));
    out.push(ctx.throughput());
    out.push(ctx.share(
        "all",
        Metric::ErrorRate,
        |r| {
            let t = &r.totals;
            (
                t.transport_errors
                    .saturating_add(t.unexpected_status)
                    .saturating_add(t.cancelled),
                t.scheduled.max(t.answered()),
            )
        },
        Some(&|p| p.transport_errors.saturating_add(p.unexpected_status)),
    ));
    for m in [Metric::FalseAccepts, Metric::FalseRejects] {
        out.push(ctx.share(
            "all",
            m,
            |r| (r.totals.value(m).unwrap_or(0.0) as u64, r.totals.answered()),
            None,
        ));
    }
    // Classes: latency only where asked; correctness counts for every class both runs have.
    let mut classes: Vec<&String> = current.classes.keys().collect();
    classes.retain(|c| baselines.iter().all(|b| b.classes.contains_key(*c)));
    for class in classes {
        if o.classes.includes(class) {
            out.extend(percentiles.iter().filter_map(|m| ctx.latency(class, *m)));
        }
        let expects = |j: [Judgement; 2]| {
            baselines
                .iter()
                .chain([&current])
                .any(|r| j.iter().any(|j| r.classes[class].judged(*j) > 0))
        };
        for (m, j, judgements) in [
            (
                Metric::FalseAccepts,
                Judgement::FalseAccept,
                [Judgement::CorrectReject, Judgement::FalseAccept],
            ),
            (
                Metric::FalseRejects,
                Judgement::FalseReject,
                [Judgement::CorrectAccept, Judgement::FalseReject],
            ),
        ] {
            if expects(judgements) {
                out.push(ctx.share(
                    class,
                    m,
                    |r| r.classes.get(class).map_or((0, 0), |c| (c.judged(j), c.count)),
                    None,
                ));
            }
        }
    }
    let mut notes: Vec<String> = baselines
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let label = if baselines.len() == 1 {
                "baseline".to_string()
            } else {
                format!("baseline {}", i + 1)
            };
            instability(&label, r, 0.10)
        })
        .chain(instability("current", current, 0.10))
        .collect();
    if !base.has_blocks() || !cur.has_blocks() {
        notes.push(
            "a run has no per-second histograms (written by an older jwtstorm): its intervals assume independent samples".into(),
        );
    }
    if let (Some(wb), Some(wc)) = (base.wake(), cur.runs[0].wake.as_ref()) {
        let (b, c) = (inference::quantile(&wb, 0.99), inference::quantile(wc, 0.99));
        if c > b + DEFAULT_FLOOR_US as u64 / 5 {
            notes.push(format!(
                "jwtstorm itself sent late in the current run (its own p99 lateness {} against {} in the baseline): the machine was busy; that part of each latency change is not held against the target",
                crate::text::format_value(c as f64, Unit::Micros),
                crate::text::format_value(b as f64, Unit::Micros)
            ));
        }
    }
    let mut differences = Vec::new();
    for b in baselines {
        for d in self::differences(b, current) {
            if !differences.contains(&d) {
                differences.push(d);
            }
        }
    }
    Ok(Report {
        baselines: baselines.len(),
        confidence: o.confidence,
        comparisons: out,
        differences,
        notes,
    })
}

/// A value of `metric` for people.
pub fn show(c: &Comparison, v: f64) -> String {
    match c.unit {
        Unit::Ratio => format!("{:.3}%", v * 100.0),
        Unit::Count if c.baseline.fract() != 0.0 || v.fract() != 0.0 => format!("{v:.1}"),
        u => crate::text::format_value(v, u),
    }
}

/// The comparison for the terminal: one aligned line per metric, the verdict and its reason.
pub fn text(r: &Report, colour: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let reg = r.counts()[0];
    let headline = if reg > 0 { "REGRESSION" } else { "no regression" };
    let headline = if colour && reg > 0 {
        format!("\x1b[1;31m{headline}\x1b[0m")
    } else {
        headline.to_string()
    };
    let _ = writeln!(o, "\ncompared with {}: {headline} ({})", r.against(), r.tally());
    for d in &r.differences {
        let _ = writeln!(o, "  not strictly comparable: {d}");
    }
    for n in &r.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let header = [
        "scope".to_string(),
        "metric".into(),
        "baseline".into(),
        "current".into(),
        "change".into(),
        format!("{:.0}% interval", r.confidence * 100.0),
        "samples".into(),
        "verdict".into(),
    ];
    // Correctness counts that were zero in both runs say one thing together.
    let quiet =
        |c: &Comparison| c.direction == Direction::CountMustNotRise && c.baseline == 0.0 && c.current == 0.0;
    let shown: Vec<&Comparison> = r.comparisons.iter().filter(|c| !quiet(c)).collect();
    let rows: Vec<[String; 8]> = shown
        .iter()
        .map(|c| {
            [
                c.scope.clone(),
                c.metric.to_string(),
                show(c, c.baseline),
                show(c, c.current),
                c.change_text(),
                c.interval_text(),
                format!(
                    "{}/{}",
                    crate::text::thousands(c.samples.baseline),
                    crate::text::thousands(c.samples.current)
                ),
                format!("{}: {}", c.verdict, c.why),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 8], alarm: bool| {
        let mut l = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            l.push(' ');
            match i {
                0 | 1 => {
                    l.push_str(cell);
                    l.push_str(&" ".repeat(pad));
                }
                7 if alarm && colour => l.push_str(&format!("\x1b[1;31m{cell}\x1b[0m")),
                7 => l.push_str(cell),
                _ => {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(cell);
                }
            }
            if i < 7 {
                l.push(' ');
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(o, "{}", line(&header, false));
    for (row, c) in rows.iter().zip(&shown) {
        let _ = writeln!(o, "{}", line(row, c.regressed()));
    }
    let mut scopes: Vec<&str> = r
        .comparisons
        .iter()
        .filter(|c| quiet(c))
        .map(|c| c.scope.as_str())
        .collect();
    scopes.dedup();
    if !scopes.is_empty() {
        let _ = writeln!(
            o,
            "  no false accepts or false rejects in either run: {}",
            scopes.join(", ")
        );
    }
    o
}

/// The comparison as a Markdown table.
pub fn markdown(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::from("## Comparison with the baseline\n\n");
    let headline = if r.regressed() {
        "**REGRESSION**"
    } else {
        "No regression"
    };
    let _ = writeln!(o, "{headline} against {}: {}.\n", r.against(), r.tally());
    for d in &r.differences {
        let _ = writeln!(o, "> not strictly comparable: {d}");
    }
    for n in &r.notes {
        let _ = writeln!(o, "> {n}");
    }
    if !r.differences.is_empty() || !r.notes.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "| scope | metric | baseline | current | change | {:.0}% interval | samples (base / current) | verdict | why |",
        r.confidence * 100.0
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---|---|");
    for c in &r.comparisons {
        let verdict = if c.regressed() {
            "**REGRESSION**".to_string()
        } else {
            c.verdict.words().to_string()
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} / {} | {verdict} | {} |",
            c.scope,
            c.metric,
            show(c, c.baseline),
            show(c, c.current),
            c.change_text(),
            c.interval_text(),
            crate::text::thousands(c.samples.baseline),
            crate::text::thousands(c.samples.current),
            c.why.replace('|', "/")
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_the_flags() {
        assert_eq!(parse_tolerance("p99=10%").unwrap(), (Metric::P99, 0.1));
        assert!(parse_tolerance("p42=1%").is_err());
        assert_eq!(parse_min_change("p99=1ms").unwrap(), (Metric::P99, 1000.0));
        assert_eq!(
            parse_min_change("throughput=20/s").unwrap(),
            (Metric::Throughput, 20.0)
        );
        assert_eq!(
            parse_min_change("error_rate=0.5%").unwrap(),
            (Metric::ErrorRate, 0.005)
        );
        assert!(parse_min_change("p99").is_err());
        assert_eq!(parse_confidence("95%").unwrap(), 0.95);
        assert!(parse_confidence("100%").is_err());
        assert_eq!("all".parse::<Classes>().unwrap(), Classes::All);
        assert_eq!(
            "valid, expired".parse::<Classes>().unwrap(),
            Classes::Only(vec!["valid".into(), "expired".into()])
        );
        assert!("valid,nonsense".parse::<Classes>().is_err());
    }

    const FIXTURE: &str = include_str!("../../tests/fixtures/results.json");

    /// Latency like a verifier's: `floor` plus an exponential tail of mean `tail`, `n` samples
    /// from a fixed seed.
    fn draw(seed: u64, n: usize, floor: f64, tail: f64) -> Vec<u64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                (floor - tail * u.ln()) as u64
            })
            .collect()
    }

    /// A run of `values` (valid tokens, all accepted), `per_second` of them in each second.
    fn synthetic(values: &[u64], per_second: usize) -> Results {
        use crate::stats::results::{ClassResult, Totals, encode_histogram};
        let mut r: Results = serde_json::from_str(FIXTURE).unwrap();
        let n = values.len() as u64;
        let mut h = histogram();
        for v in values {
            h.record(*v).unwrap();
        }
        r.histograms = BTreeMap::from([("valid/accepted/corrected".to_string(), encode_histogram(&h))]);
        let seconds = values.len().div_ceil(per_second);
        r.warmup.duration_s = 0.0;
        r.totals = Totals {
            scheduled: n,
            sent: n,
            completed: n,
            accepted: n,
            correct_accepts: n,
            duration_s: seconds as f64,
            throughput_rps: n as f64 / seconds as f64,
            ..Totals::default()
        };
        r.timeline = values
            .chunks(per_second)
            .enumerate()
            .map(|(i, c)| {
                let mut b = Histogram::<u64>::new_with_bounds(1, crate::stats::recorder::MAX_US, 2).unwrap();
                for v in c {
                    b.record(*v).unwrap();
                }
                crate::stats::timeline::Point {
                    second: i as u32,
                    sent: c.len() as u64,
                    completed: c.len() as u64,
                    accepted: c.len() as u64,
                    latency_histogram: Some(encode_histogram(&b)),
                    ..Default::default()
                }
            })
            .collect();
        r.classes = BTreeMap::from([(
            "valid".to_string(),
            ClassResult {
                count: n,
                outcomes: BTreeMap::from([("accepted".to_string(), n)]),
                verdicts: BTreeMap::from([("correct_accept".to_string(), n)]),
                ..ClassResult::default()
            },
        )]);
        r
    }

    fn verdict(r: &Report, scope: &str, m: Metric) -> Finding {
        r.comparisons
            .iter()
            .find(|c| c.scope == scope && c.metric == m)
            .unwrap_or_else(|| panic!("{scope}/{m} compared"))
            .verdict
    }

    fn judged(base: &[&Results], cur: &Results) -> Report {
        compare(base, cur, &Options::default()).unwrap()
    }

    #[test]
    fn equal_distributions_are_no_regression() {
        // Ten pairs of independent draws from one distribution: nothing is called either way.
        for seed in 0..10 {
            let a = synthetic(&draw(seed, 5000, 2000.0, 300.0), 1000);
            let b = synthetic(&draw(seed + 100, 5000, 2000.0, 300.0), 1000);
            let r = judged(&[&a], &b);
            for c in &r.comparisons {
                assert!(
                    matches!(c.verdict, Finding::NoSignificantChange | Finding::NotEnoughData),
                    "seed {seed}: {} {}: {} ({})",
                    c.scope,
                    c.metric,
                    c.verdict,
                    c.why
                );
            }
            // The interval of each compared percentile holds no change.
            for m in [Metric::P50, Metric::P90, Metric::P99] {
                let c = r
                    .comparisons
                    .iter()
                    .find(|c| c.scope == "all" && c.metric == m)
                    .unwrap();
                let i = c.change_interval.unwrap();
                assert!(i.lo < 0.0 && i.hi > 0.0, "seed {seed} {m}: {i:?}");
            }
        }
    }

    #[test]
    fn a_shifted_distribution_is_a_regression_and_back_an_improvement() {
        let a = synthetic(&draw(1, 5000, 2000.0, 300.0), 1000);
        let b = synthetic(&draw(2, 5000, 3000.0, 300.0), 1000);
        let r = judged(&[&a], &b);
        for m in [Metric::P50, Metric::P90, Metric::P99] {
            assert_eq!(verdict(&r, "all", m), Finding::Regression, "{m}");
            assert_eq!(verdict(&r, "valid", m), Finding::Regression, "{m}");
        }
        assert_eq!(verdict(&r, "all", Metric::P99_9), Finding::NotEnoughData);
        let c = r.comparisons.iter().find(|c| c.metric == Metric::P50).unwrap();
        let i = c.change_interval.unwrap();
        assert!(i.lo > 0.3 && i.hi < 0.6 && c.change.unwrap() > 0.4, "{c:?}");
        assert!(r.regressed());
        let back = judged(&[&b], &a);
        assert_eq!(verdict(&back, "all", Metric::P50), Finding::Improvement);
        assert!(!back.regressed());
    }

    #[test]
    fn a_change_below_the_floor_or_the_tolerance_is_not_a_regression() {
        // +300µs on 2ms: beyond the 10% tolerance, within the 500µs floor.
        let a = synthetic(&draw(1, 5000, 2000.0, 300.0), 1000);
        let b = synthetic(&draw(2, 5000, 2300.0, 300.0), 1000);
        let r = judged(&[&a], &b);
        assert_eq!(verdict(&r, "all", Metric::P50), Finding::NoSignificantChange);
        assert!(!r.regressed());
        // A lower floor makes it one.
        let mut o = Options::default();
        o.min_change.insert(Metric::P50, 100.0);
        let r = compare(&[&a], &b, &o).unwrap();
        assert_eq!(verdict(&r, "all", Metric::P50), Finding::Regression);
        // +600µs on 20ms: beyond the floor, within the 10% tolerance.
        let a = synthetic(&draw(1, 5000, 20_000.0, 300.0), 1000);
        let b = synthetic(&draw(2, 5000, 20_600.0, 300.0), 1000);
        assert_eq!(
            verdict(&judged(&[&a], &b), "all", Metric::P50),
            Finding::NoSignificantChange
        );
    }

    #[test]
    fn too_few_samples_is_not_enough_data() {
        // 500 samples: p50 and p90 are compared, p99 (1,000 needed) and p99.9 are not, even
        // though the current run is far slower.
        let a = synthetic(&draw(1, 500, 2000.0, 300.0), 100);
        let b = synthetic(&draw(2, 500, 2000.0, 3000.0), 100);
        let r = judged(&[&a], &b);
        assert_eq!(verdict(&r, "all", Metric::P99), Finding::NotEnoughData);
        assert_eq!(verdict(&r, "all", Metric::P99_9), Finding::NotEnoughData);
        assert_eq!(verdict(&r, "all", Metric::P90), Finding::Regression);
        let c = r.comparisons.iter().find(|c| c.metric == Metric::P99).unwrap();
        assert_eq!(
            c.samples,
            Samples {
                baseline: 500,
                current: 500,
                needed: 1000
            }
        );
        assert!(c.why.contains("needs 1,000 samples"), "{}", c.why);
        assert_eq!(c.change_interval, None);
    }

    #[test]
    fn clustered_slow_requests_widen_the_interval() {
        // The same 5,000 values twice: once in drawn order, once with the slowest 2% moved into
        // one second. Same histogram, same p99; only the clustering differs.
        let a = synthetic(&draw(1, 5000, 2000.0, 300.0), 1000);
        let v = draw(2, 5000, 2000.0, 300.0);
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(v[*i]));
        let mut moved = v.clone();
        for (k, i) in order[..100].iter().enumerate() {
            moved.swap(*i, 2000 + k);
        }
        let even = synthetic(&v, 1000);
        let clustered = synthetic(&moved, 1000);
        assert_eq!(clustered.histograms, even.histograms);
        let width = |r: &Report| {
            let i = r
                .comparisons
                .iter()
                .find(|c| c.scope == "all" && c.metric == Metric::P99)
                .unwrap()
                .change_interval
                .unwrap();
            i.hi - i.lo
        };
        let (wc, we) = (width(&judged(&[&a], &clustered)), width(&judged(&[&a], &even)));
        assert!(
            wc > 1.5 * we,
            "clustering must widen the p99 interval: {wc} vs {we}"
        );
    }

    #[test]
    fn jwtstorm_s_own_lateness_is_not_held_against_the_target() {
        use crate::stats::results::encode_histogram;
        let a = synthetic(&draw(1, 5000, 2000.0, 300.0), 1000);
        let mut b = synthetic(&draw(2, 5000, 2800.0, 300.0), 1000);
        let wake = |at: u64| {
            let mut h = histogram();
            h.record_n(at, 5000).unwrap();
            encode_histogram(&h)
        };
        let mut a = a;
        a.histograms.insert(WAKE_HISTOGRAM.into(), wake(10));
        b.histograms.insert(WAKE_HISTOGRAM.into(), wake(800));
        let r = judged(&[&a], &b);
        let c = r
            .comparisons
            .iter()
            .find(|c| c.scope == "all" && c.metric == Metric::P50)
            .unwrap();
        assert_eq!(c.verdict, Finding::NoSignificantChange, "{}", c.why);
        assert!(c.why.contains("jwtstorm's own lateness"), "{}", c.why);
        assert!(
            r.notes.iter().any(|n| n.contains("jwtstorm itself sent late")),
            "{:?}",
            r.notes
        );
        // Without the lateness the same change is a regression.
        b.histograms.insert(WAKE_HISTOGRAM.into(), wake(10));
        assert_eq!(
            verdict(&judged(&[&a], &b), "all", Metric::P50),
            Finding::Regression
        );
    }

    #[test]
    fn several_baselines_lend_their_spread() {
        // Baselines whose p50 wanders from run to run by ±600µs: a current run 900µs above the
        // first is within their spread, though a regression against that one alone.
        let bases: Vec<Results> = [2000.0, 2600.0, 3200.0, 2300.0, 2900.0]
            .iter()
            .enumerate()
            .map(|(i, f)| synthetic(&draw(i as u64 + 10, 5000, *f, 300.0), 1000))
            .collect();
        let cur = synthetic(&draw(99, 5000, 3500.0, 300.0), 1000);
        assert_eq!(
            verdict(&judged(&[&bases[0]], &cur), "all", Metric::P50),
            Finding::Regression
        );
        let refs: Vec<&Results> = bases.iter().collect();
        let r = judged(&refs, &cur);
        assert_eq!(r.baselines, 5);
        assert_eq!(verdict(&r, "all", Metric::P50), Finding::NoSignificantChange);
        // A change far beyond their spread is still found.
        let far = synthetic(&draw(98, 5000, 8000.0, 300.0), 1000);
        assert_eq!(
            verdict(&judged(&refs, &far), "all", Metric::P50),
            Finding::Regression
        );
    }

    #[test]
    fn throughput_and_correctness_counts() {
        let v = draw(1, 5000, 2000.0, 300.0);
        let a = synthetic(&v, 1000);
        // The same responses over 5.56 s: 10% fewer per second.
        let mut slow = synthetic(&v, 1000);
        slow.totals.duration_s = 5.0 / 0.9;
        for p in &mut slow.timeline {
            p.completed = 900;
        }
        let r = judged(&[&a], &slow);
        assert_eq!(verdict(&r, "all", Metric::Throughput), Finding::Regression);
        let mut near = synthetic(&v, 1000);
        near.totals.duration_s = 5.0 / 0.99;
        assert_eq!(
            verdict(&judged(&[&a], &near), "all", Metric::Throughput),
            Finding::NoSignificantChange
        );
        // One false reject where there were none is a regression, whatever the statistics.
        let mut bad = synthetic(&v, 1000);
        bad.totals.false_rejects = 1;
        let c = bad.classes.get_mut("valid").unwrap();
        c.verdicts.insert("false_reject".into(), 1);
        let r = judged(&[&a], &bad);
        assert_eq!(verdict(&r, "all", Metric::FalseRejects), Finding::Regression);
        assert_eq!(verdict(&r, "valid", Metric::FalseRejects), Finding::Regression);
        // Errors: 0.1% to 3% of 5,000 is a regression of the error rate.
        let mut errs = synthetic(&v, 1000);
        errs.totals.unexpected_status = 150;
        let r = judged(&[&a], &errs);
        assert_eq!(verdict(&r, "all", Metric::ErrorRate), Finding::Regression);
    }

    #[test]
    fn a_wandering_throughput_is_flagged() {
        let text = include_str!("../../tests/fixtures/results.json");
        let mut r: Results = serde_json::from_str(text).unwrap();
        let template = r.timeline[1].clone();
        let timeline = |f: fn(u32) -> u64| -> Vec<crate::stats::timeline::Point> {
            (0..8u32)
                .map(|second| crate::stats::timeline::Point {
                    second,
                    completed: f(second),
                    ..template.clone()
                })
                .collect()
        };
        r.totals.duration_s = 7.0;
        r.warmup.duration_s = 0.0;
        r.timeline = timeline(|s| 500 + u64::from(s % 2) * 20);
        assert_eq!(instability("current", &r, 0.10), None, "4% variation is steady");
        r.timeline = timeline(|s| if s % 2 == 0 { 100 } else { 900 });
        let note = instability("current", &r, 0.10).unwrap();
        assert!(note.starts_with("the current run was unstable"), "{note}");
    }
}
