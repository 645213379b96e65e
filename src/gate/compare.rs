//! Baseline comparison: each metric's baseline and current value, the change, and a verdict
//! against a tolerance, overall and per token class. Runs that are not comparable (another
//! scenario, algorithm, rate, tool version or core count) are refused unless forced; a run
//! whose throughput wandered is flagged as unstable beside the verdicts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Judgement, Metric};
use crate::stats::results::{ClassResult, Results};

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
    /// Any increase is a regression (false accepts, false rejects).
    CountMustNotRise,
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `all` or a token class.
    pub scope: String,
    pub metric: Metric,
    pub baseline: f64,
    pub current: f64,
    /// Relative change (or absolute, for shares); `null` when the baseline is zero.
    pub change: Option<f64>,
    /// The allowed regression (relative, or absolute for shares).
    pub tolerance: f64,
    pub direction: Direction,
    /// `regression`, `improvement` or `ok`.
    pub verdict: String,
}

impl Comparison {
    /// Whether this metric regressed.
    pub fn regressed(&self) -> bool {
        self.verdict == "regression"
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub comparisons: Vec<Comparison>,
    /// Why the runs are not strictly comparable (empty when they are).
    pub differences: Vec<String>,
    /// Notes on unstable runs.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether any metric regressed.
    pub fn regressed(&self) -> bool {
        self.comparisons.iter().any(Comparison::regressed)
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

/// Parses `--max-regression METRIC=SHARE` (`p99=10%`, `error_rate=0.5%`).
pub fn parse_tolerance(text: &str) -> Result<(Metric, f64), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected METRIC=PERCENT, such as p99=10%"))?;
    let k = k.trim();
    let metric = k
        .parse::<Metric>()
        .ok()
        .filter(|m| default_tolerances().contains_key(m));
    let Some(metric) = metric else {
        return Err(format!(
            "'{k}': tolerances apply to {}",
            default_tolerances()
                .keys()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let v = crate::units::parse_percent(v)?;
    if !(0.0..10.0).contains(&v) {
        return Err(format!("'{text}': the tolerance must be a positive share"));
    }
    Ok((metric, v))
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
    let warm = r.warmup.duration_s.ceil() as u32;
    let last = r.timeline.last().map_or(0, |p| p.second);
    let xs: Vec<f64> = r
        .timeline
        .iter()
        .filter(|p| p.second >= warm && p.second < last)
        .map(|p| p.completed as f64)
        .collect();
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

fn judge(
    scope: &str,
    metric: Metric,
    base: f64,
    cur: f64,
    tolerance: f64,
    direction: Direction,
) -> Comparison {
    let (change, worse, better) = match direction {
        Direction::LowerIsBetter | Direction::HigherIsBetter => {
            let change = (base > 0.0).then(|| (cur - base) / base);
            let c = change.unwrap_or(if cur > 0.0 { f64::INFINITY } else { 0.0 });
            let (worse, better) = if direction == Direction::LowerIsBetter {
                (c > tolerance, c < -tolerance)
            } else {
                (c < -tolerance, c > tolerance)
            };
            (change, worse, better)
        }
        Direction::ShareLowerIsBetter => {
            let c = cur - base;
            (Some(c), c > tolerance, c < -tolerance)
        }
        Direction::CountMustNotRise => {
            let change = (base > 0.0).then(|| (cur - base) / base);
            (change, cur > base, cur < base)
        }
    };
    Comparison {
        scope: scope.to_string(),
        metric,
        baseline: base,
        current: cur,
        change,
        tolerance,
        direction,
        verdict: if worse {
            "regression"
        } else if better {
            "improvement"
        } else {
            "ok"
        }
        .into(),
    }
}

/// Compares `cur` against `base` with the given tolerances (missing ones take the defaults).
pub fn compare(base: &Results, cur: &Results, tolerances: &BTreeMap<Metric, f64>) -> Report {
    let tol = |m: Metric| {
        tolerances
            .get(&m)
            .copied()
            .unwrap_or_else(|| default_tolerances()[&m])
    };
    // Latency of an empty run reads as zero, as the percentiles themselves do.
    let latency = |p: &crate::stats::recorder::Percentiles, m: Metric| p.value(m).unwrap_or(0.0);
    let total = |r: &Results, m: Metric| r.totals.value(m).unwrap_or(0.0);
    let mut out = Vec::new();
    for m in [Metric::P50, Metric::P90, Metric::P99, Metric::P99_9] {
        out.push(judge(
            "all",
            m,
            latency(&base.latency_us.corrected, m),
            latency(&cur.latency_us.corrected, m),
            tol(m),
            Direction::LowerIsBetter,
        ));
    }
    out.push(judge(
        "all",
        Metric::Throughput,
        base.totals.throughput_rps,
        cur.totals.throughput_rps,
        tol(Metric::Throughput),
        Direction::HigherIsBetter,
    ));
    out.push(judge(
        "all",
        Metric::ErrorRate,
        base.totals.error_rate(),
        cur.totals.error_rate(),
        tol(Metric::ErrorRate),
        Direction::ShareLowerIsBetter,
    ));
    for m in [Metric::FalseAccepts, Metric::FalseRejects] {
        out.push(judge(
            "all",
            m,
            total(base, m),
            total(cur, m),
            0.0,
            Direction::CountMustNotRise,
        ));
    }
    for (class, bc) in &base.classes {
        let Some(cc) = cur.classes.get(class) else {
            continue;
        };
        if let (Some(b), Some(c)) = (
            bc.latency_us.corrected.get("all"),
            cc.latency_us.corrected.get("all"),
        ) {
            for m in [Metric::P50, Metric::P99] {
                out.push(judge(
                    class,
                    m,
                    latency(b, m),
                    latency(c, m),
                    tol(m),
                    Direction::LowerIsBetter,
                ));
            }
        }
        let fa = |c: &ClassResult| c.judged(Judgement::FalseAccept) as f64;
        out.push(judge(
            class,
            Metric::FalseAccepts,
            fa(bc),
            fa(cc),
            0.0,
            Direction::CountMustNotRise,
        ));
    }
    let notes = [("baseline", base), ("current", cur)]
        .into_iter()
        .filter_map(|(l, r)| instability(l, r, 0.10))
        .collect();
    Report {
        comparisons: out,
        differences: differences(base, cur),
        notes,
    }
}

/// A value of `metric` for people.
pub fn show(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{:.3}%", v * 100.0),
        m => crate::text::format_value(v, m.unit()),
    }
}

/// The comparison as a Markdown table.
pub fn markdown(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::from("## Comparison with the baseline\n\n");
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
        "| scope | metric | baseline | current | change | tolerance | verdict |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---|");
    for c in &r.comparisons {
        let change = match (c.direction, c.change) {
            (Direction::ShareLowerIsBetter, Some(x)) => format!("{:+.3} pp", x * 100.0),
            (_, Some(x)) => format!("{:+.1}%", x * 100.0),
            (_, None) => "-".into(),
        };
        let tolerance = match c.direction {
            Direction::CountMustNotRise => "no rise".to_string(),
            Direction::ShareLowerIsBetter => format!("{:.3} pp", c.tolerance * 100.0),
            _ => format!("{:.0}%", c.tolerance * 100.0),
        };
        let verdict = if c.regressed() {
            "**REGRESSION**".to_string()
        } else {
            c.verdict.clone()
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {change} | {tolerance} | {verdict} |",
            c.scope,
            c.metric,
            show(c.metric, c.baseline),
            show(c.metric, c.current)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_direction_and_tolerance() {
        let j = |b, c, d| judge("all", Metric::P99, b, c, 0.1, d).verdict;
        assert_eq!(j(100.0, 109.0, Direction::LowerIsBetter), "ok");
        assert_eq!(j(100.0, 111.0, Direction::LowerIsBetter), "regression");
        assert_eq!(j(100.0, 80.0, Direction::LowerIsBetter), "improvement");
        assert_eq!(j(100.0, 85.0, Direction::HigherIsBetter), "regression");
        assert_eq!(j(100.0, 120.0, Direction::HigherIsBetter), "improvement");
        assert_eq!(
            judge(
                "all",
                Metric::ErrorRate,
                0.0,
                0.0005,
                0.001,
                Direction::ShareLowerIsBetter
            )
            .verdict,
            "ok"
        );
        assert_eq!(
            judge(
                "all",
                Metric::ErrorRate,
                0.0,
                0.002,
                0.001,
                Direction::ShareLowerIsBetter
            )
            .verdict,
            "regression"
        );
        assert_eq!(
            judge(
                "all",
                Metric::FalseAccepts,
                0.0,
                1.0,
                0.0,
                Direction::CountMustNotRise
            )
            .verdict,
            "regression"
        );
        assert_eq!(
            judge(
                "all",
                Metric::FalseAccepts,
                2.0,
                2.0,
                0.0,
                Direction::CountMustNotRise
            )
            .verdict,
            "ok"
        );
        assert_eq!(parse_tolerance("p99=10%").unwrap(), (Metric::P99, 0.1));
        assert!(parse_tolerance("p42=1%").is_err());
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
        r.timeline = timeline(|s| 500 + u64::from(s % 2) * 20);
        assert_eq!(instability("current", &r, 0.10), None, "4% variation is steady");
        r.timeline = timeline(|s| if s % 2 == 0 { 100 } else { 900 });
        let note = instability("current", &r, 0.10).unwrap();
        assert!(note.starts_with("the current run was unstable"), "{note}");
    }
}
