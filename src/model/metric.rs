//! The metrics a run is judged by. Thresholds, baseline comparison and the capacity search name
//! the same [`Metric`]s; each knows its [`Unit`], so a limit is read and a value shown one way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a metric measures, which decides how its limit is written and its value shown.
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

/// One measurable figure of a run (or of one token class in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    P50,
    P75,
    P90,
    P95,
    P99,
    P99_9,
    P99_99,
    Max,
    Min,
    Mean,
    Stddev,
    FalseAccepts,
    FalseRejects,
    TransportErrors,
    UnexpectedStatus,
    Accepted,
    Rejected,
    /// Answers in `target.forbidden` (403).
    Forbidden,
    /// Answers in `target.limited` (429).
    Limited,
    Completed,
    /// Every answered request: completed plus transport errors.
    Count,
    Scheduled,
    Cancelled,
    /// Tokens rejected for another reason than their class's (reason-aware judging).
    WrongReason,
    /// Transport errors, unexpected statuses and cancelled requests over the scheduled ones.
    ErrorRate,
    /// False accepts over every answer to a token that should be rejected.
    FalseAcceptRate,
    /// False rejects over every answer to a token that should be accepted.
    FalseRejectRate,
    UnexpectedStatusRate,
    /// Limited answers over every answered request.
    LimitedRate,
    TransportErrorRate,
    /// Responses per second over the measured window.
    Throughput,
    /// Tokens of keys the identity provider retired, accepted.
    StaleKeyAccepts,
    /// `valid` tokens of a key that took over signing, rejected (the rotation's outage).
    RotationFalseRejects,
    /// Subjects that got more accepted than the declared rate limit allows.
    OverLimit,
    /// Tokens on the revocation list when sent (class `revoked`), accepted.
    RevokedAccepts,
}

impl Metric {
    /// Every metric, latency first.
    pub const ALL: [Metric; 35] = [
        Metric::P50,
        Metric::P75,
        Metric::P90,
        Metric::P95,
        Metric::P99,
        Metric::P99_9,
        Metric::P99_99,
        Metric::Max,
        Metric::Min,
        Metric::Mean,
        Metric::Stddev,
        Metric::FalseAccepts,
        Metric::FalseRejects,
        Metric::TransportErrors,
        Metric::UnexpectedStatus,
        Metric::Accepted,
        Metric::Rejected,
        Metric::Forbidden,
        Metric::Limited,
        Metric::Completed,
        Metric::Count,
        Metric::Scheduled,
        Metric::Cancelled,
        Metric::WrongReason,
        Metric::ErrorRate,
        Metric::FalseAcceptRate,
        Metric::FalseRejectRate,
        Metric::UnexpectedStatusRate,
        Metric::LimitedRate,
        Metric::TransportErrorRate,
        Metric::Throughput,
        Metric::StaleKeyAccepts,
        Metric::OverLimit,
        Metric::RotationFalseRejects,
        Metric::RevokedAccepts,
    ];

    /// The name thresholds, tolerances and results use: `p99.9`, `error_rate`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P75 => "p75",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::P99_9 => "p99.9",
            Metric::P99_99 => "p99.99",
            Metric::Max => "max",
            Metric::Min => "min",
            Metric::Mean => "mean",
            Metric::Stddev => "stddev",
            Metric::FalseAccepts => "false_accepts",
            Metric::FalseRejects => "false_rejects",
            Metric::TransportErrors => "transport_errors",
            Metric::UnexpectedStatus => "unexpected_status",
            Metric::Accepted => "accepted",
            Metric::Rejected => "rejected",
            Metric::Forbidden => "forbidden",
            Metric::Limited => "limited",
            Metric::Completed => "completed",
            Metric::Count => "count",
            Metric::Scheduled => "scheduled",
            Metric::Cancelled => "cancelled",
            Metric::WrongReason => "wrong_reason",
            Metric::ErrorRate => "error_rate",
            Metric::FalseAcceptRate => "false_accept_rate",
            Metric::FalseRejectRate => "false_reject_rate",
            Metric::UnexpectedStatusRate => "unexpected_status_rate",
            Metric::LimitedRate => "limited_rate",
            Metric::TransportErrorRate => "transport_error_rate",
            Metric::Throughput => "throughput",
            Metric::StaleKeyAccepts => "stale_key_accepts",
            Metric::OverLimit => "over_limit",
            Metric::RotationFalseRejects => "rotation_false_rejects",
            Metric::RevokedAccepts => "revoked_accepts",
        }
    }

    /// The metric's unit.
    pub fn unit(self) -> Unit {
        match self {
            Metric::P50
            | Metric::P75
            | Metric::P90
            | Metric::P95
            | Metric::P99
            | Metric::P99_9
            | Metric::P99_99
            | Metric::Max
            | Metric::Min
            | Metric::Mean
            | Metric::Stddev => Unit::Micros,
            Metric::ErrorRate
            | Metric::FalseAcceptRate
            | Metric::FalseRejectRate
            | Metric::UnexpectedStatusRate
            | Metric::LimitedRate
            | Metric::TransportErrorRate => Unit::Ratio,
            Metric::Throughput => Unit::PerSecond,
            _ => Unit::Count,
        }
    }

    /// Whether it is a latency statistic (and so has a corrected and an uncorrected form).
    pub fn is_latency(self) -> bool {
        self.unit() == Unit::Micros
    }

    /// Whether it describes the whole run only, never one token class.
    pub fn whole_run_only(self) -> bool {
        matches!(
            self,
            Metric::Throughput
                | Metric::Scheduled
                | Metric::Cancelled
                | Metric::StaleKeyAccepts
                | Metric::RotationFalseRejects
                | Metric::OverLimit
                | Metric::RevokedAccepts
        )
    }

    /// The names of every metric of one unit, for error messages.
    pub fn names_of(unit: Unit) -> Vec<&'static str> {
        Metric::ALL
            .iter()
            .filter(|m| m.unit() == unit)
            .map(|m| m.name())
            .collect()
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("'{s}' is not a metric"))
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_serializes_as_itself() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
            let back: Metric = serde_json::from_value(serde_json::Value::from(m.name())).unwrap();
            assert_eq!(back, m);
        }
        assert!("p42".parse::<Metric>().is_err());
        assert_eq!(Metric::names_of(Unit::PerSecond), ["throughput"]);
        assert!(Metric::P99_9.is_latency() && !Metric::ErrorRate.is_latency());
    }
}
