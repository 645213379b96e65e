//! Thresholds: `[scope.][uncorrected.]metric` against a condition such as `< 20ms`, `== 0`,
//! `< 0.1%` or `> 1900/s`, evaluated against a run's results. The scope is a token class; no
//! scope means the whole measured run. Latency is corrected unless `uncorrected.` is named.

use serde::{Deserialize, Serialize};

use crate::model::{Metric, Unit};
use crate::stats::recorder::Percentiles;
use crate::stats::results::{Results, Verdict};
use crate::stats::timeline::Second;
use crate::token::classes::TokenClass;

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
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => (a - b).abs() < 1e-9,
            Op::Ne => (a - b).abs() >= 1e-9,
        }
    }

    pub fn as_str(self) -> &'static str {
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

/// A condition's operator and the rest after it (`"< 20ms"` is `(Lt, "20ms")`).
pub fn split_op(condition: &str) -> Option<(Op, &str)> {
    [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| condition.trim().strip_prefix(s).map(|r| (*op, r.trim())))
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
    pub metric: Metric,
    pub unit: Unit,
    pub op: Op,
    /// In the metric's unit (µs for latency, a fraction for ratios).
    pub limit: f64,
}

/// The default check a gate always makes: when valid tokens were sent and not one was accepted
/// (the accept path never exercised: every key, audience or clock wrong), a failing verdict;
/// `None` otherwise. `[gate] require_accepts = false` or `--allow-no-accepts` turns it off.
pub fn accept_path_unexercised(r: &Results) -> Option<Verdict> {
    use crate::model::{Judgement, Outcome};
    let valid = r.classes.get(TokenClass::Valid.name())?;
    let sent = valid.outcome(Outcome::Accepted)
        + valid.outcome(Outcome::Rejected)
        + valid.outcome(Outcome::Forbidden);
    let accepted = valid.judged(Judgement::CorrectAccept);
    (sent > 0 && accepted == 0 && r.totals.correct_accepts == 0).then(|| Verdict {
        name: "valid.correct_accepts".into(),
        condition: "> 0".into(),
        unit: Unit::Count,
        value: Some(0.0),
        limit: 0.0,
        passed: false,
        note: Some(format!(
            "{sent} valid token(s) were answered and none was accepted: the accept path was never \
             exercised (turn this check off with [gate] require_accepts = false or --allow-no-accepts)"
        )),
    })
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
    // The longest metric name the key ends with (`p99.9` before `p99`), after a dot or alone.
    let metric = Metric::ALL
        .into_iter()
        .filter(|m| key == m.name() || key.ends_with(&format!(".{}", m.name())))
        .max_by_key(|m| m.name().len())
        .ok_or_else(|| {
            format!(
                "'{key}': unknown metric; expected one of {}, {}, {} or throughput, optionally scoped by a token \
                 class (valid.p99) and for latency marked uncorrected (uncorrected.p99)",
                Metric::names_of(Unit::Micros).join(", "),
                Metric::names_of(Unit::Count).join(", "),
                Metric::names_of(Unit::Ratio).join(", ")
            )
        })?;
    let unit = metric.unit();
    let mut prefix = key[..key.len() - metric.name().len()].trim_end_matches('.');
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
    if scope.is_some() && metric.whole_run_only() {
        return Err(format!(
            "'{key}': {metric} is measured for the whole run, not per class"
        ));
    }
    let c = condition.trim();
    let (op, rest) = split_op(c).ok_or_else(|| {
        format!("'{c}': a condition starts with <, <=, >, >=, == or != (for example \"< 20ms\")")
    })?;
    let limit = parse_limit(rest, unit).map_err(|e| format!("'{c}': {e}"))?;
    Ok(Threshold {
        name: key.to_string(),
        condition: format!("{} {rest}", op.as_str()),
        scope,
        uncorrected,
        metric,
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
                p.value(self.metric).ok_or_else(missing)
            }
            None => r.totals.value(self.metric).ok_or_else(missing),
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
                        .and_then(|p| p.value(self.metric))
                        .ok_or_else(missing);
                }
                c.totals().value(self.metric).ok_or_else(missing)
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
    pub fn evaluate_live(&self, so_far: &Second) -> Option<Verdict> {
        if self.scope.is_some()
            || self.uncorrected
            || self.metric.whole_run_only()
            || self.metric == Metric::Count
        {
            return None;
        }
        let value = if self.unit == Unit::Micros {
            Percentiles::of(&so_far.latency).value(self.metric)
        } else {
            so_far.totals().value(self.metric)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let t = parse("valid.p99.9", "< 50ms").unwrap();
        assert_eq!(
            (t.scope, t.metric.name(), t.limit, t.op),
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
    }
}
