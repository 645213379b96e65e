//! Thresholds: `[scope.][uncorrected.]metric` against a condition such as `< 20ms`, `== 0`,
//! `< 0.1%` or `> 1900/s`, evaluated against a run's results. The scope is a token class; no
//! scope means the whole measured run. Latency is corrected unless `uncorrected.` is named.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::stats::recorder::Percentiles;
use crate::stats::results::{Results, Totals};
use crate::token::classes::TokenClass;

/// What a metric measures, which decides how its limit is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Microseconds; limits read like `20ms`, `850us`, `1s`.
    Micros,
    /// A plain count.
    Count,
    /// A share; limits read like `0.1%` or `0.001`.
    Ratio,
    /// Requests per second; limits read like `1900/s` or `1900`.
    PerSecond,
}

const LATENCY: [&str; 11] = [
    "p99.99", "p99.9", "p50", "p75", "p90", "p95", "p99", "max", "min", "mean", "stddev",
];
const COUNTS: [&str; 10] = [
    "false_accepts",
    "false_rejects",
    "transport_errors",
    "unexpected_status",
    "accepted",
    "rejected",
    "completed",
    "count",
    "scheduled",
    "cancelled",
];
const RATIOS: [&str; 5] = [
    "error_rate",
    "false_accept_rate",
    "false_reject_rate",
    "unexpected_status_rate",
    "transport_error_rate",
];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => (a - b).abs() < 1e-9,
            Op::Ne => (a - b).abs() >= 1e-9,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written: `valid.p99`.
    pub name: String,
    /// As written: `< 20ms`.
    pub condition: String,
    pub scope: Option<TokenClass>,
    pub uncorrected: bool,
    pub metric: String,
    pub unit: Unit,
    pub op: Op,
    /// In the metric's unit (µs for latency, a fraction for ratios).
    pub limit: f64,
}

/// One threshold's verdict, as results.json holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub name: String,
    pub condition: String,
    pub unit: Unit,
    /// The measured value in `unit`; `null` when there was nothing to measure.
    pub value: Option<f64>,
    pub limit: f64,
    pub passed: bool,
    /// Why it failed when there was nothing to measure.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// Parses a threshold written in one piece, as flags take it: `p99 < 20ms`.
pub fn parse_one(text: &str) -> Result<Threshold, String> {
    let at = text
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| format!("'{text}': expected METRIC OP LIMIT, such as 'p99 < 20ms'"))?;
    parse(&text[..at], &text[at..])
}

/// Parses `name = condition`.
pub fn parse(name: &str, condition: &str) -> Result<Threshold, String> {
    let key = name.trim();
    let (metric, unit) = LATENCY
        .iter()
        .map(|m| (*m, Unit::Micros))
        .chain(COUNTS.iter().map(|m| (*m, Unit::Count)))
        .chain(RATIOS.iter().map(|m| (*m, Unit::Ratio)))
        .chain([("throughput", Unit::PerSecond)])
        .find(|(m, _)| key == *m || key.ends_with(&format!(".{m}")))
        .ok_or_else(|| {
            format!(
                "'{key}': unknown metric; expected one of {}, {}, {} or throughput, optionally scoped by a token \
                 class (valid.p99) and for latency marked uncorrected (uncorrected.p99)",
                LATENCY.join(", "),
                COUNTS.join(", "),
                RATIOS.join(", ")
            )
        })?;
    let mut prefix = key[..key.len() - metric.len()].trim_end_matches('.');
    let mut uncorrected = false;
    if let Some(p) = prefix.strip_suffix("uncorrected") {
        if unit != Unit::Micros {
            return Err(format!("'{key}': only latency metrics can be uncorrected"));
        }
        uncorrected = true;
        prefix = p.trim_end_matches('.');
    }
    let scope = if prefix.is_empty() {
        None
    } else {
        Some(
            prefix
                .parse::<TokenClass>()
                .map_err(|e| format!("'{key}': {e}"))?,
        )
    };
    if scope.is_some() && (metric == "throughput" || metric == "scheduled" || metric == "cancelled") {
        return Err(format!(
            "'{key}': {metric} is measured for the whole run, not per class"
        ));
    }
    let c = condition.trim();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| c.strip_prefix(s).map(|r| (*op, r.trim())))
    .ok_or_else(|| {
        format!("'{c}': a condition starts with <, <=, >, >=, == or != (for example \"< 20ms\")")
    })?;
    let limit = parse_limit(rest, unit).map_err(|e| format!("'{c}': {e}"))?;
    Ok(Threshold {
        name: key.to_string(),
        condition: format!("{} {rest}", op.as_str()),
        scope,
        uncorrected,
        metric: metric.to_string(),
        unit,
        op,
        limit,
    })
}

fn parse_limit(text: &str, unit: Unit) -> Result<f64, String> {
    let number = |t: &str| -> Result<f64, String> {
        let v: f64 = t
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("'{t}' is not a number"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("'{t}' must be a non-negative number"));
        }
        Ok(v)
    };
    match unit {
        Unit::Micros => {
            for (suffix, scale) in [("µs", 1.0), ("us", 1.0), ("ms", 1e3), ("s", 1e6)] {
                if let Some(n) = text.strip_suffix(suffix) {
                    return Ok(number(n)? * scale);
                }
            }
            Err("a latency limit needs a unit: us, ms or s (for example 20ms)".into())
        }
        Unit::Count => {
            let v = number(text)?;
            if v.fract() != 0.0 {
                return Err("a count limit is a whole number".into());
            }
            Ok(v)
        }
        Unit::Ratio => match text.strip_suffix('%') {
            Some(n) => Ok(number(n)? / 100.0),
            None => {
                let v = number(text)?;
                if v > 1.0 {
                    return Err("a rate is a fraction up to 1, or a percentage such as 0.1%".into());
                }
                Ok(v)
            }
        },
        Unit::PerSecond => number(text.strip_suffix("/s").unwrap_or(text)),
    }
}

fn latency(p: &Percentiles, metric: &str) -> Option<f64> {
    if p.count == 0 {
        return None;
    }
    Some(match metric {
        "p50" => p.p50 as f64,
        "p75" => p.p75 as f64,
        "p90" => p.p90 as f64,
        "p95" => p.p95 as f64,
        "p99" => p.p99 as f64,
        "p99.9" => p.p99_9 as f64,
        "p99.99" => p.p99_99 as f64,
        "max" => p.max as f64,
        "min" => p.min as f64,
        "mean" => p.mean,
        "stddev" => p.stddev,
        _ => return None,
    })
}

fn from_totals(t: &Totals, metric: &str) -> Option<f64> {
    let answered = t.completed + t.transport_errors;
    // A rate with nothing in its denominator (false accepts among valid tokens) is zero, as
    // long as anything was measured at all.
    let ratio = |n: u64, d: u64| {
        if d > 0 {
            Some(n as f64 / d as f64)
        } else {
            (answered + t.scheduled > 0).then_some(0.0)
        }
    };
    let v = match metric {
        "false_accepts" => t.false_accepts,
        "false_rejects" => t.false_rejects,
        "transport_errors" => t.transport_errors,
        "unexpected_status" => t.unexpected_status,
        "accepted" => t.accepted,
        "rejected" => t.rejected,
        "completed" => t.completed,
        "count" => answered,
        "scheduled" => t.scheduled,
        "cancelled" => t.cancelled,
        "error_rate" => {
            return ratio(
                t.transport_errors + t.unexpected_status + t.cancelled,
                t.scheduled.max(answered),
            );
        }
        "false_accept_rate" => return ratio(t.false_accepts, t.false_accepts + t.correct_rejects),
        "false_reject_rate" => return ratio(t.false_rejects, t.false_rejects + t.correct_accepts),
        "unexpected_status_rate" => return ratio(t.unexpected_status, answered),
        "transport_error_rate" => return ratio(t.transport_errors, answered),
        "throughput" => return Some(t.throughput_rps),
        _ => return None,
    };
    Some(v as f64)
}

impl Threshold {
    /// The measured value, or why there is none.
    pub fn measure(&self, r: &Results) -> Result<f64, String> {
        let missing = || match self.scope {
            Some(c) => format!("no measured requests of class {c}"),
            None => "no measured requests".to_string(),
        };
        match self.scope {
            None if self.unit == Unit::Micros => {
                let p = if self.uncorrected {
                    &r.latency_us.uncorrected
                } else {
                    &r.latency_us.corrected
                };
                latency(p, &self.metric).ok_or_else(missing)
            }
            None => from_totals(&r.totals, &self.metric).ok_or_else(missing),
            Some(class) => {
                let c = r.classes.get(class.name()).ok_or_else(missing)?;
                if self.unit == Unit::Micros {
                    let m = if self.uncorrected {
                        &c.latency_us.uncorrected
                    } else {
                        &c.latency_us.corrected
                    };
                    return m
                        .get("all")
                        .and_then(|p| latency(p, &self.metric))
                        .ok_or_else(missing);
                }
                let get =
                    |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
                let t = Totals {
                    completed: get(&c.outcomes, "accepted")
                        + get(&c.outcomes, "rejected")
                        + get(&c.outcomes, "unexpected_status"),
                    accepted: get(&c.outcomes, "accepted"),
                    rejected: get(&c.outcomes, "rejected"),
                    unexpected_status: get(&c.outcomes, "unexpected_status"),
                    transport_errors: get(&c.outcomes, "transport_error"),
                    correct_accepts: get(&c.verdicts, "correct_accept"),
                    correct_rejects: get(&c.verdicts, "correct_reject"),
                    false_accepts: get(&c.verdicts, "false_accept"),
                    false_rejects: get(&c.verdicts, "false_reject"),
                    ..Totals::default()
                };
                from_totals(&t, &self.metric).ok_or_else(missing)
            }
        }
    }

    /// Evaluates the threshold against a run.
    pub fn evaluate(&self, r: &Results) -> Verdict {
        let measured = self.measure(r);
        Verdict {
            name: self.name.clone(),
            condition: self.condition.clone(),
            unit: self.unit,
            value: measured.as_ref().ok().copied(),
            limit: self.limit,
            passed: measured.as_ref().is_ok_and(|v| self.op.holds(*v, self.limit)),
            note: measured.err(),
        }
    }
}

impl Threshold {
    /// Evaluates the threshold on the running totals of a run still in progress (everything
    /// sent so far, warmup included). `None` when it cannot be judged mid-run: per-class and
    /// uncorrected latency, throughput and schedule counts are judged at the end only.
    pub fn evaluate_live(&self, so_far: &crate::stats::timeline::Second) -> Option<Verdict> {
        if self.scope.is_some()
            || self.uncorrected
            || matches!(
                self.metric.as_str(),
                "throughput" | "scheduled" | "cancelled" | "count"
            )
        {
            return None;
        }
        let o = so_far.outcomes;
        let value = if self.unit == Unit::Micros {
            latency(&Percentiles::of(&so_far.latency), &self.metric)
        } else {
            let t = Totals {
                scheduled: so_far.sent,
                sent: so_far.sent,
                completed: o[0] + o[1] + o[2],
                accepted: o[0],
                rejected: o[1],
                unexpected_status: o[2],
                transport_errors: o[3],
                false_accepts: so_far.false_accepts,
                false_rejects: so_far.false_rejects,
                // Judged against every answer so far: correct ones are the rest of each side.
                correct_accepts: o[0].saturating_sub(so_far.false_accepts),
                correct_rejects: o[1].saturating_sub(so_far.false_rejects),
                ..Totals::default()
            };
            from_totals(&t, &self.metric)
        }?;
        Some(Verdict {
            name: self.name.clone(),
            condition: self.condition.clone(),
            unit: self.unit,
            value: Some(value),
            limit: self.limit,
            passed: self.op.holds(value, self.limit),
            note: None,
        })
    }
}

/// A value in a unit, for people: `1.87ms`, `0.012%`, `1998.4/s`, `3`.
pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Micros => crate::report::micros(v.round() as u64),
        Unit::Count => format!("{v:.0}"),
        Unit::Ratio => format!("{}%", trim(v * 100.0)),
        Unit::PerSecond => format!("{:.1}/s", v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.value {
            Some(v) => format_value(v, self.unit),
            None => self.note.clone().unwrap_or_else(|| "no value".into()),
        };
        write!(
            f,
            "{} {} {}: {value}",
            if self.passed { "pass" } else { "FAIL" },
            self.name,
            self.condition
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let t = parse("valid.p99.9", "< 50ms").unwrap();
        assert_eq!(
            (t.scope, t.metric.as_str(), t.limit, t.op),
            (Some(TokenClass::Valid), "p99.9", 50_000.0, Op::Lt)
        );
        let t = parse("uncorrected.p99", "<= 850us").unwrap();
        assert!(t.uncorrected && t.scope.is_none());
        assert_eq!(t.limit, 850.0);
        let t = parse("expired.uncorrected.max", "< 1s").unwrap();
        assert_eq!((t.scope, t.limit), (Some(TokenClass::Expired), 1e6));
        assert_eq!(parse("error_rate", "< 0.1%").unwrap().limit, 0.001);
        assert_eq!(parse("throughput", "> 1900/s").unwrap().limit, 1900.0);
        assert_eq!(parse("false_accepts", "== 0").unwrap().op, Op::Eq);
        assert_eq!(parse("alg_none.false_accepts", "!= 3").unwrap().op, Op::Ne);
    }

    #[test]
    fn malformed_thresholds_say_why() {
        let cases = [
            ("p99", "20ms", "a condition starts with"),
            ("p99", "< 20", "needs a unit"),
            ("p98", "< 20ms", "unknown metric"),
            ("nosuch.p99", "< 20ms", "unknown token class"),
            ("uncorrected.false_accepts", "== 0", "only latency"),
            ("valid.throughput", "> 5", "whole run"),
            ("error_rate", "< 5", "fraction up to 1"),
            ("false_accepts", "< 1.5", "whole number"),
        ];
        for (k, c, want) in cases {
            let e = parse(k, c).unwrap_err();
            assert!(e.contains(want), "{k} = {c}: {e}");
        }
    }

    #[test]
    fn operators_compare() {
        assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0) && Op::Ge.holds(2.0, 2.0));
        assert!(Op::Gt.holds(3.0, 2.0) && Op::Eq.holds(0.0, 0.0) && Op::Ne.holds(1.0, 0.0));
        assert_eq!(format_value(0.00012, Unit::Ratio), "0.012%");
        assert_eq!(format_value(1870.0, Unit::Micros), "1.87ms");
    }
}
