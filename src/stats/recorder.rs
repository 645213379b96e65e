//! Per-worker recording: counts and HdrHistograms per token class and outcome, corrected and
//! uncorrected, plus the send lag of scheduled requests. Workers record into their own
//! [`Recorder`]; the aggregator merges them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::model::{ErrorKind, Judgement, Metric, OUTCOMES, Outcome, PerJudgement, PerOutcome};
use crate::token::classes::TokenClass;

/// Highest latency a histogram tracks, in microseconds (one hour); longer values saturate.
pub const MAX_US: u64 = 3_600_000_000;
/// Significant digits of the main histograms.
pub const SIGFIG: u8 = 3;
/// Requests sent this much after their intended time count as late.
pub const LATE_AFTER: Duration = Duration::from_millis(5);
/// Response bodies kept per (class, outcome, status) as samples.
pub const SAMPLES_PER_KIND: usize = 3;
/// Bytes kept of a sample body.
pub const SAMPLE_BYTES: usize = 512;

/// A new microsecond histogram with the standard bounds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, SIGFIG).expect("static histogram bounds are valid")
}

/// Microseconds in `d`, at least 1 (the histogram's lowest value).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

/// Distinct stated reasons kept per class; a target that puts ids in its reasons cannot grow
/// the results without bound.
pub const MAX_REASONS: usize = 32;

fn add_reason(map: &mut BTreeMap<String, u64>, reason: &str, n: u64) {
    let key = if map.contains_key(reason) || map.len() < MAX_REASONS {
        reason
    } else {
        "other"
    };
    *map.entry(key.to_string()).or_default() += n;
}

/// Counts and latencies of one token class.
#[derive(Debug, Clone, Default)]
pub struct ClassTally {
    pub outcomes: PerOutcome<u64>,
    pub verdicts: PerJudgement,
    /// The target's stated reasons for rejections (reason-aware judging), at most
    /// [`MAX_REASONS`] distinct, the rest as `other`.
    pub reasons: BTreeMap<String, u64>,
    /// Latency from the intended send time, per outcome.
    pub corrected: [Option<Histogram<u64>>; OUTCOMES],
    /// Latency from the actual send, per outcome.
    pub uncorrected: [Option<Histogram<u64>>; OUTCOMES],
}

impl ClassTally {
    fn merge(&mut self, other: &ClassTally) {
        for i in 0..OUTCOMES {
            for (mine, theirs) in [
                (&mut self.corrected[i], &other.corrected[i]),
                (&mut self.uncorrected[i], &other.uncorrected[i]),
            ] {
                if let Some(h) = theirs {
                    mine.get_or_insert_with(histogram).add(h).expect("same bounds");
                }
            }
        }
        self.outcomes.add(&other.outcomes);
        self.verdicts.add(&other.verdicts);
        for (r, n) in &other.reasons {
            add_reason(&mut self.reasons, r, *n);
        }
    }

    /// Requests of this class with an outcome.
    pub fn count(&self) -> u64 {
        self.outcomes.total()
    }
}

/// Everything counted for one phase (warmup or measured).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub classes: BTreeMap<TokenClass, ClassTally>,
    pub status_codes: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Requests that left (or tried to: a failed connect counts).
    pub sent: u64,
    /// Sent requests that replayed a token already used.
    pub reused: u64,
    /// Sent requests still in flight when the run was cut short.
    pub aborted: u64,
    /// Requests due before the run ended that never left (set when the run ends).
    pub not_sent: u64,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        for (c, t) in &other.classes {
            self.classes.entry(*c).or_default().merge(t);
        }
        for (s, n) in &other.status_codes {
            *self.status_codes.entry(*s).or_default() += n;
        }
        for (k, n) in &other.errors {
            *self.errors.entry(*k).or_default() += n;
        }
        self.sent += other.sent;
        self.reused += other.reused;
        self.aborted += other.aborted;
        self.not_sent += other.not_sent;
    }

    /// Requests with an outcome, by outcome.
    pub fn outcomes(&self) -> PerOutcome<u64> {
        let mut o = PerOutcome::default();
        for t in self.classes.values() {
            o.add(&t.outcomes);
        }
        o
    }

    /// Requests with an outcome, by verdict.
    pub fn verdicts(&self) -> PerJudgement {
        let mut v = PerJudgement::default();
        for t in self.classes.values() {
            v.add(&t.verdicts);
        }
        v
    }
}

/// One kept response body, for a report to show what went wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub class: TokenClass,
    pub outcome: Outcome,
    pub verdict: Judgement,
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    /// The first bytes of the body, lossily decoded.
    pub body: String,
    /// The token's index in the batch (absent in files written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The token as sent (test tokens are evidence, not secrets), up to 4 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Which variant of its class the token is (the `alg_none` spelling, the `malformed` kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// One finished request, as the engine reports it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub class: TokenClass,
    pub outcome: Outcome,
    pub verdict: Judgement,
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    /// From the intended send time to the end (equal to `uncorrected` in the closed model).
    pub corrected: Duration,
    /// From the actual send to the end.
    pub uncorrected: Duration,
    pub warmup: bool,
}

/// A worker's recorder.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub main: Tally,
    pub warmup: Tally,
    /// How long after their intended time scheduled requests left (open model).
    pub lag: Histogram<u64>,
    /// Measured scheduled requests whose connection was idle, waiting for their time: how
    /// late they left anyway. This is jwtstorm's own lateness (timer, CPU), which a target
    /// cannot cause; the gate discounts it.
    pub wake: Histogram<u64>,
    /// Scheduled requests that left more than [`LATE_AFTER`] after their intended time.
    pub late: u64,
    /// Measured requests whose token (streaming source) was ready only after they were due.
    pub mint_bound: u64,
    /// The longest such wait.
    pub mint_wait_max: Duration,
    pub samples: Vec<Sample>,
    sample_counts: BTreeMap<(TokenClass, Outcome, Option<u16>, Option<ErrorKind>), usize>,
    /// Per key of a rotating key set (by slot): the answers to the tokens it signed.
    pub keys: Vec<KeyRecord>,
    /// Rate limiting: `Retry-After` values and, against a declared limit, per subject.
    pub limits: crate::stats::limits::LimitTally,
    /// Answers to tokens revoked during the run, per revocation.
    pub revocations: crate::stats::revocations::RevocationTally,
    /// Per endpoint (several endpoints only), measured phase: answers and corrected latency.
    pub endpoints: Vec<EndpointTally>,
}

/// One endpoint's measured answers.
#[derive(Debug, Clone, Default)]
pub struct EndpointTally {
    pub outcomes: PerOutcome<u64>,
    pub verdicts: PerJudgement,
    /// Corrected latency of the answers with a status.
    pub corrected: Option<Histogram<u64>>,
}

/// The answers to the `valid` and `retired_key` tokens one key of a rotating set signed, warmup
/// included (a rotation runs on the run's clock). Times are when the request left, in
/// microseconds since the run began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRecord {
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// `valid` tokens rejected.
    pub false_rejects: u64,
    /// `retired_key` tokens accepted.
    pub stale_accepts: u64,
    /// The first `valid` token of the key.
    pub first_sent_us: Option<u64>,
    /// The first `valid` token accepted.
    pub first_accept_us: Option<u64>,
    pub last_false_reject_us: Option<u64>,
    /// The first `retired_key` token rejected.
    pub first_retired_reject_us: Option<u64>,
    /// The last `retired_key` token accepted.
    pub last_stale_accept_us: Option<u64>,
    /// Accepted and rejected answers per second of sending.
    pub per_second: Vec<[u64; 2]>,
}

/// Seconds of per-key history kept (a longer run adds its later answers to the last second).
pub const KEY_SECONDS: usize = 24 * 3600;

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl KeyRecord {
    /// Records one answer to a token of this key sent `at_us` into the run.
    pub fn record(&mut self, class: TokenClass, outcome: Outcome, at_us: u64) {
        if !matches!(class, TokenClass::Valid | TokenClass::RetiredKey) {
            return;
        }
        self.sent += 1;
        let retired = class == TokenClass::RetiredKey;
        if !retired {
            self.first_sent_us = earliest(self.first_sent_us, Some(at_us));
        }
        let column = match outcome {
            Outcome::Accepted => 0,
            Outcome::Rejected | Outcome::Forbidden => 1,
            _ => return,
        };
        let second = ((at_us / 1_000_000) as usize).min(KEY_SECONDS - 1);
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, [0, 0]);
        }
        self.per_second[second][column] += 1;
        match (outcome, retired) {
            (Outcome::Accepted, false) => {
                self.accepted += 1;
                self.first_accept_us = earliest(self.first_accept_us, Some(at_us));
            }
            (Outcome::Rejected | Outcome::Forbidden, false) => {
                self.rejected += 1;
                self.false_rejects += 1;
                self.last_false_reject_us = self.last_false_reject_us.max(Some(at_us));
            }
            (Outcome::Accepted, true) => {
                self.accepted += 1;
                self.stale_accepts += 1;
                self.last_stale_accept_us = self.last_stale_accept_us.max(Some(at_us));
            }
            _ => {
                self.rejected += 1;
                self.first_retired_reject_us = earliest(self.first_retired_reject_us, Some(at_us));
            }
        }
    }

    fn merge(&mut self, o: &KeyRecord) {
        self.sent += o.sent;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.false_rejects += o.false_rejects;
        self.stale_accepts += o.stale_accepts;
        self.first_sent_us = earliest(self.first_sent_us, o.first_sent_us);
        self.first_accept_us = earliest(self.first_accept_us, o.first_accept_us);
        self.last_false_reject_us = self.last_false_reject_us.max(o.last_false_reject_us);
        self.first_retired_reject_us = earliest(self.first_retired_reject_us, o.first_retired_reject_us);
        self.last_stale_accept_us = self.last_stale_accept_us.max(o.last_stale_accept_us);
        if self.per_second.len() < o.per_second.len() {
            self.per_second.resize(o.per_second.len(), [0, 0]);
        }
        for (m, t) in self.per_second.iter_mut().zip(&o.per_second) {
            m[0] += t[0];
            m[1] += t[1];
        }
    }
}

impl Recorder {
    /// Records an answer to a token signed by key `slot` of a rotating set.
    pub fn key_answer(&mut self, slot: usize, class: TokenClass, outcome: Outcome, at_us: u64) {
        if self.keys.len() <= slot {
            self.keys.resize(slot + 1, KeyRecord::default());
        }
        self.keys[slot].record(class, outcome, at_us);
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            main: Tally::default(),
            warmup: Tally::default(),
            lag: histogram(),
            wake: histogram(),
            late: 0,
            mint_bound: 0,
            mint_wait_max: Duration::ZERO,
            samples: Vec::new(),
            sample_counts: BTreeMap::new(),
            keys: Vec::new(),
            limits: Default::default(),
            revocations: Default::default(),
            endpoints: Vec::new(),
        }
    }
}

impl Recorder {
    /// Records a finished request at endpoint `route` (measured phase only).
    pub fn endpoint(&mut self, route: usize, e: &Exchange) {
        if e.warmup {
            return;
        }
        if self.endpoints.len() <= route {
            self.endpoints.resize(route + 1, EndpointTally::default());
        }
        let t = &mut self.endpoints[route];
        t.outcomes[e.outcome] += 1;
        t.verdicts[e.verdict] += 1;
        if e.outcome.has_status() {
            t.corrected
                .get_or_insert_with(histogram)
                .saturating_record(micros(e.corrected));
        }
    }

    /// Notes that a request left, `lag` after its intended time; `waited` when its connection
    /// was idle until then.
    pub fn sent(&mut self, lag: Option<Duration>, waited: bool, reused: bool, warmup: bool) {
        let tally = if warmup { &mut self.warmup } else { &mut self.main };
        tally.sent += 1;
        tally.reused += reused as u64;
        if let Some(lag) = lag {
            self.lag.saturating_record(lag.as_micros() as u64);
            if waited && !warmup {
                self.wake.saturating_record(micros(lag));
            }
            if lag > LATE_AFTER {
                self.late += 1;
            }
        }
    }

    /// Notes that a request's token was ready `late_by` after the request was due.
    pub fn mint_bound(&mut self, late_by: Duration, warmup: bool) {
        if !warmup {
            self.mint_bound += 1;
            self.mint_wait_max = self.mint_wait_max.max(late_by);
        }
    }

    /// Notes the reason the target stated for a finished request (measured phase only).
    pub fn reason(&mut self, e: &Exchange, reason: &str) {
        if !e.warmup {
            let t = self.main.classes.entry(e.class).or_default();
            add_reason(&mut t.reasons, reason, 1);
        }
    }

    /// Records a finished request.
    pub fn record(&mut self, e: &Exchange) {
        let tally = if e.warmup {
            &mut self.warmup
        } else {
            &mut self.main
        };
        let t = tally.classes.entry(e.class).or_default();
        t.outcomes[e.outcome] += 1;
        let o = e.outcome as usize;
        t.verdicts[e.verdict] += 1;
        if !e.warmup {
            t.corrected[o]
                .get_or_insert_with(histogram)
                .saturating_record(micros(e.corrected));
            t.uncorrected[o]
                .get_or_insert_with(histogram)
                .saturating_record(micros(e.uncorrected));
        }
        if let Some(s) = e.status {
            *tally.status_codes.entry(s).or_default() += 1;
        }
        if let Some(k) = e.error {
            *tally.errors.entry(k).or_default() += 1;
        }
    }

    /// Whether a body for this exchange should be kept: unexpected outcomes and wrong verdicts,
    /// a few of each kind.
    pub fn wants_sample(&self, e: &Exchange) -> bool {
        let interesting = matches!(e.outcome, Outcome::UnexpectedStatus | Outcome::TransportError)
            || matches!(
                e.verdict,
                Judgement::FalseAccept | Judgement::FalseReject | Judgement::RejectedOtherReason
            );
        interesting
            && self
                .sample_counts
                .get(&(e.class, e.outcome, e.status, e.error))
                .is_none_or(|n| *n < SAMPLES_PER_KIND)
    }

    /// Keeps a sample body for `e` (call when [`Recorder::wants_sample`] said yes).
    pub fn keep_sample(&mut self, e: &Exchange, body: &[u8], index: u64, token: &[u8]) {
        let n = self
            .sample_counts
            .entry((e.class, e.outcome, e.status, e.error))
            .or_default();
        if *n >= SAMPLES_PER_KIND {
            return;
        }
        *n += 1;
        self.samples.push(Sample {
            class: e.class,
            outcome: e.outcome,
            verdict: e.verdict,
            status: e.status,
            error: e.error,
            body: String::from_utf8_lossy(&body[..body.len().min(SAMPLE_BYTES)]).into_owned(),
            index: Some(index),
            // The token starts at its `eyJ` whatever the placement prefixed to it.
            variant: {
                let text = String::from_utf8_lossy(token);
                e.class
                    .variant(text.find("eyJ").map_or(&text[..], |i| &text[i..]))
            },
            token: Some(
                String::from_utf8_lossy(&token[..token.len().min(4096)])
                    .trim_start_matches("Bearer ")
                    .to_string(),
            ),
        });
    }

    /// Adds another worker's recording to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.main.merge(&other.main);
        self.warmup.merge(&other.warmup);
        self.lag.add(&other.lag).expect("same bounds");
        self.wake.add(&other.wake).expect("same bounds");
        self.late += other.late;
        self.mint_bound += other.mint_bound;
        self.mint_wait_max = self.mint_wait_max.max(other.mint_wait_max);
        if self.keys.len() < other.keys.len() {
            self.keys.resize(other.keys.len(), KeyRecord::default());
        }
        for (m, t) in self.keys.iter_mut().zip(&other.keys) {
            m.merge(t);
        }
        self.limits.merge(&other.limits);
        self.revocations.merge(&other.revocations);
        if self.endpoints.len() < other.endpoints.len() {
            self.endpoints
                .resize(other.endpoints.len(), EndpointTally::default());
        }
        for (m, t) in self.endpoints.iter_mut().zip(&other.endpoints) {
            m.outcomes.add(&t.outcomes);
            m.verdicts.add(&t.verdicts);
            if let Some(h) = &t.corrected {
                m.corrected
                    .get_or_insert_with(histogram)
                    .add(h)
                    .expect("same bounds");
            }
        }
        for s in &other.samples {
            let n = self
                .sample_counts
                .entry((s.class, s.outcome, s.status, s.error))
                .or_default();
            if *n < SAMPLES_PER_KIND {
                *n += 1;
                self.samples.push(s.clone());
            }
        }
    }
}

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    #[serde(rename = "p99.9")]
    pub p99_9: u64,
    #[serde(rename = "p99.99")]
    pub p99_99: u64,
    pub max: u64,
    pub stddev: f64,
}

impl Percentiles {
    /// The value of a latency metric in microseconds; `None` for other metrics and when
    /// nothing was measured.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match metric {
            Metric::P50 => self.p50 as f64,
            Metric::P75 => self.p75 as f64,
            Metric::P90 => self.p90 as f64,
            Metric::P95 => self.p95 as f64,
            Metric::P99 => self.p99 as f64,
            Metric::P99_9 => self.p99_9 as f64,
            Metric::P99_99 => self.p99_99 as f64,
            Metric::Max => self.max as f64,
            Metric::Min => self.min as f64,
            Metric::Mean => self.mean,
            Metric::Stddev => self.stddev,
            _ => return None,
        })
    }

    /// Summarizes `h` (all zeros when it is empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.50),
            p75: h.value_at_quantile(0.75),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
            stddev: (h.stdev() * 10.0).round() / 10.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(class: TokenClass, outcome: Outcome, verdict: Judgement, ms: u64) -> Exchange {
        Exchange {
            class,
            outcome,
            verdict,
            status: Some(200),
            error: None,
            corrected: Duration::from_millis(ms * 10),
            uncorrected: Duration::from_millis(ms),
            warmup: false,
        }
    }

    #[test]
    fn records_and_merges() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.record(&ex(
            TokenClass::Valid,
            Outcome::Accepted,
            Judgement::CorrectAccept,
            1,
        ));
        b.record(&ex(
            TokenClass::Valid,
            Outcome::Accepted,
            Judgement::CorrectAccept,
            3,
        ));
        b.record(&ex(
            TokenClass::AlgNone,
            Outcome::Accepted,
            Judgement::FalseAccept,
            2,
        ));
        let mut w = ex(TokenClass::Valid, Outcome::Accepted, Judgement::CorrectAccept, 9);
        w.warmup = true;
        b.record(&w);
        a.merge(&b);
        let valid = &a.main.classes[&TokenClass::Valid];
        assert_eq!(valid.outcomes.0, [2, 0, 0, 0, 0, 0]);
        let c = Percentiles::of(valid.corrected[0].as_ref().unwrap());
        let u = Percentiles::of(valid.uncorrected[0].as_ref().unwrap());
        assert_eq!((c.count, u.count), (2, 2));
        assert!(c.max >= 29_000 && u.max <= 3_010, "{c:?} {u:?}");
        assert_eq!(a.main.verdicts()[Judgement::FalseAccept], 1);
        assert_eq!(a.warmup.outcomes()[Outcome::Accepted], 1);
        assert_eq!(a.main.status_codes[&200], 3);
    }

    #[test]
    fn samples_are_capped_per_kind() {
        let mut r = Recorder::default();
        let e = ex(TokenClass::AlgNone, Outcome::Accepted, Judgement::FalseAccept, 1);
        for _ in 0..10 {
            if r.wants_sample(&e) {
                r.keep_sample(&e, b"welcome", 7, b"Bearer a.b.c");
            }
        }
        assert_eq!(r.samples.len(), SAMPLES_PER_KIND);
        assert!(!r.wants_sample(&ex(
            TokenClass::Valid,
            Outcome::Accepted,
            Judgement::CorrectAccept,
            1
        )));
    }
}
