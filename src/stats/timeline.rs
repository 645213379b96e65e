//! The per-second timeline: requests sent and completed in each second of the run, by outcome,
//! with that second's corrected p50 and p99. Workers keep the seconds still open; the
//! aggregator merges them and closes seconds once no more data can arrive.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{Judgement, Outcome, PerOutcome};
use crate::stats::recorder::MAX_US;
use crate::stats::results::{Totals, encode_histogram};

/// One second's counts while it is open.
#[derive(Debug, Clone)]
pub struct Second {
    pub sent: u64,
    pub outcomes: PerOutcome<u64>,
    pub false_accepts: u64,
    pub false_rejects: u64,
    /// Requests sent in this second whose token (streaming source) was ready only after they
    /// were due.
    pub mint_bound: u64,
    /// Corrected latency of the requests that completed in this second.
    pub latency: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            sent: 0,
            outcomes: PerOutcome::default(),
            false_accepts: 0,
            false_rejects: 0,
            mint_bound: 0,
            latency: Histogram::new_with_bounds(1, MAX_US, 2).expect("static bounds"),
        }
    }
}

impl Second {
    /// The counts so far as totals, for judging a run still in progress: every request sent
    /// counts as scheduled, and the correct answers are the rest of each side.
    pub fn totals(&self) -> Totals {
        let o = &self.outcomes;
        Totals {
            scheduled: self.sent,
            sent: self.sent,
            completed: o.completed(),
            accepted: o[Outcome::Accepted],
            rejected: o[Outcome::Rejected],
            forbidden: o[Outcome::Forbidden],
            limited: o[Outcome::Limited],
            unexpected_status: o[Outcome::UnexpectedStatus],
            transport_errors: o[Outcome::TransportError],
            false_accepts: self.false_accepts,
            false_rejects: self.false_rejects,
            correct_accepts: o[Outcome::Accepted].saturating_sub(self.false_accepts),
            correct_rejects: (o[Outcome::Rejected] + o[Outcome::Forbidden])
                .saturating_sub(self.false_rejects),
            ..Totals::default()
        }
    }

    /// Adds another worker's counts for the same second (or a running total).
    pub fn merge(&mut self, o: &Second) {
        self.sent += o.sent;
        self.outcomes.add(&o.outcomes);
        self.false_accepts += o.false_accepts;
        self.false_rejects += o.false_rejects;
        self.mint_bound += o.mint_bound;
        self.latency.add(&o.latency).expect("same bounds");
    }
}

/// A closed second, as results.json holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the start of the run.
    pub second: u32,
    pub sent: u64,
    pub completed: u64,
    pub accepted: u64,
    pub rejected: u64,
    #[serde(default)]
    pub forbidden: u64,
    #[serde(default)]
    pub limited: u64,
    pub unexpected_status: u64,
    pub transport_errors: u64,
    pub false_accepts: u64,
    pub false_rejects: u64,
    /// Corrected latency percentiles of requests completed in this second (µs; 0 if none).
    pub p50_us: u64,
    pub p99_us: u64,
    /// That second's corrected latency histogram (two significant digits; base64 of V2 +
    /// DEFLATE), for the gate's estimate of how clustered slow requests are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
}

/// Open seconds, keyed by second index.
#[derive(Debug, Clone, Default)]
pub struct Seconds {
    pub open: BTreeMap<u32, Second>,
}

impl Seconds {
    /// Counts a send in `second`.
    pub fn sent(&mut self, second: u32) {
        self.open.entry(second).or_default().sent += 1;
    }

    /// Counts a request in `second` that waited for its token.
    pub fn mint_bound(&mut self, second: u32) {
        self.open.entry(second).or_default().mint_bound += 1;
    }

    /// Counts a completion in `second`.
    pub fn completed(&mut self, second: u32, outcome: Outcome, verdict: Judgement, corrected_us: u64) {
        let s = self.open.entry(second).or_default();
        s.outcomes[outcome] += 1;
        match verdict {
            Judgement::FalseAccept => s.false_accepts += 1,
            Judgement::FalseReject => s.false_rejects += 1,
            _ => {}
        }
        if outcome != Outcome::TransportError {
            s.latency.saturating_record(corrected_us.max(1));
        }
    }

    /// Takes the seconds before `current` (all of them when `None`).
    pub fn take_before(&mut self, current: Option<u32>) -> Vec<(u32, Second)> {
        match current {
            None => std::mem::take(&mut self.open).into_iter().collect(),
            Some(c) => {
                let keep = self.open.split_off(&c);
                std::mem::replace(&mut self.open, keep).into_iter().collect()
            }
        }
    }

    /// Merges seconds from a worker.
    pub fn merge(&mut self, seconds: Vec<(u32, Second)>) {
        for (k, s) in seconds {
            self.open.entry(k).or_default().merge(&s);
        }
    }

    /// Closes the seconds before `current` (all when `None`) into points.
    pub fn close(&mut self, current: Option<u32>) -> Vec<Point> {
        self.take_before(current)
            .into_iter()
            .map(|(second, s)| point(second, &s))
            .collect()
    }
}

fn point(second: u32, s: &Second) -> Point {
    let q = |q: f64| {
        if s.latency.is_empty() {
            0
        } else {
            s.latency.value_at_quantile(q)
        }
    };
    Point {
        second,
        sent: s.sent,
        completed: s.outcomes.total(),
        accepted: s.outcomes[Outcome::Accepted],
        rejected: s.outcomes[Outcome::Rejected],
        forbidden: s.outcomes[Outcome::Forbidden],
        limited: s.outcomes[Outcome::Limited],
        unexpected_status: s.outcomes[Outcome::UnexpectedStatus],
        transport_errors: s.outcomes[Outcome::TransportError],
        false_accepts: s.false_accepts,
        false_rejects: s.false_rejects,
        p50_us: q(0.5),
        p99_us: q(0.99),
        latency_histogram: (!s.latency.is_empty()).then(|| encode_histogram(&s.latency)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_closes_in_order() {
        let mut a = Seconds::default();
        let mut b = Seconds::default();
        a.sent(0);
        a.completed(0, Outcome::Accepted, Judgement::CorrectAccept, 1000);
        b.sent(1);
        b.completed(1, Outcome::Accepted, Judgement::FalseAccept, 5000);
        b.sent(2);
        let mut agg = Seconds::default();
        agg.merge(a.take_before(None));
        agg.merge(b.take_before(Some(2)));
        assert_eq!(b.open.len(), 1);
        let pts = agg.close(None);
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].second, 0);
        assert_eq!(pts[1].false_accepts, 1);
        assert!(pts[1].p99_us >= 4900);
    }
}
