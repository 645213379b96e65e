//! Rate limits as a run sees them: the `Retry-After` values of limited answers, whether the next
//! request of a limited caller waited as told, and, against a declared limit, per subject and
//! second how many requests were sent, accepted and limited, so a report can say where the
//! target's limiter really cuts in and whether anyone got through above it.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{Outcome, RateLimit};
use crate::stats::recorder::{Percentiles, histogram};

/// Subjects followed second by second; requests of further subjects are counted, not followed
/// (a batch that gives every token its own `sub` cannot grow the results without bound).
pub const MAX_SUBJECTS: usize = 64;
/// Seconds followed per subject: the check covers the first hour of a run.
pub const LIMIT_SECONDS: usize = 3600;
/// The subject of a token that has none (or whose payload cannot be read).
pub const NO_SUBJECT: &str = "(no sub)";
/// The one subject of a global limit.
pub const GLOBAL: &str = "(global)";
/// Slack allowed above a declared limit before a subject counts as over it: this share of a
/// second's worth of requests plus one, for the network delay between jwtstorm's clock and the
/// limiter's.
pub const SLACK_SECONDS: f64 = 0.1;

/// Sent, accepted and limited requests of one subject in one second of the run.
pub type Row = [u64; 3];

/// What one worker (and, merged, the run) saw of rate limiting. Warmup included: a limiter
/// counts every request.
#[derive(Debug, Clone)]
pub struct LimitTally {
    /// `Retry-After` of limited answers, in milliseconds.
    pub retry_after_ms: Histogram<u64>,
    /// Limited answers without a (readable) `Retry-After`.
    pub without_retry_after: u64,
    /// Open model, `respect_retry_after`: the next request of a limited caller sent before its
    /// `Retry-After` ran out, and by how much (ms); and those sent after it.
    pub early: u64,
    pub early_by_ms: Histogram<u64>,
    pub obeyed: u64,
    /// Closed model, `respect_retry_after`: pauses taken and their total length.
    pub waits: u64,
    pub waited: Duration,
    /// Per followed subject, one row per second since the run's start.
    pub subjects: BTreeMap<String, Vec<Row>>,
    /// Requests of subjects beyond [`MAX_SUBJECTS`], or sent after [`LIMIT_SECONDS`].
    pub untracked: u64,
}

impl Default for LimitTally {
    fn default() -> Self {
        LimitTally {
            retry_after_ms: histogram(),
            without_retry_after: 0,
            early: 0,
            early_by_ms: histogram(),
            obeyed: 0,
            waits: 0,
            waited: Duration::ZERO,
            subjects: BTreeMap::new(),
            untracked: 0,
        }
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl LimitTally {
    /// Notes a limited answer and what its `Retry-After` said.
    pub fn limited(&mut self, retry_after: Option<Duration>) {
        match retry_after {
            Some(d) => self.retry_after_ms.saturating_record(ms(d)),
            None => self.without_retry_after += 1,
        }
    }

    /// Notes when a limited caller's next request left against when it was told to: `early`
    /// is how much too soon, zero when it waited long enough.
    pub fn next_after_limit(&mut self, early: Duration) {
        if early.is_zero() {
            self.obeyed += 1;
        } else {
            self.early += 1;
            self.early_by_ms.saturating_record(ms(early));
        }
    }

    /// Notes a pause a connection took as `Retry-After` asked (closed model).
    pub fn waited(&mut self, d: Duration) {
        self.waits += 1;
        self.waited += d;
    }

    /// Counts the answer to a request of `subject` sent in `second` of the run.
    pub fn answer(&mut self, subject: &str, second: u32, outcome: Outcome) {
        let second = second as usize;
        if second >= LIMIT_SECONDS
            || (!self.subjects.contains_key(subject) && self.subjects.len() >= MAX_SUBJECTS)
        {
            self.untracked += 1;
            return;
        }
        let rows = self.subjects.entry(subject.to_string()).or_default();
        if rows.len() <= second {
            rows.resize(second + 1, [0; 3]);
        }
        let row = &mut rows[second];
        row[0] += 1;
        match outcome {
            Outcome::Accepted => row[1] += 1,
            Outcome::Limited => row[2] += 1,
            _ => {}
        }
    }

    /// Whether anything about limits was seen.
    pub fn is_empty(&self) -> bool {
        self.retry_after_ms.is_empty()
            && self.without_retry_after == 0
            && self.early + self.obeyed + self.waits + self.untracked == 0
            && self.subjects.is_empty()
    }

    /// Adds another worker's tally.
    pub fn merge(&mut self, o: &LimitTally) {
        self.retry_after_ms.add(&o.retry_after_ms).expect("same bounds");
        self.without_retry_after += o.without_retry_after;
        self.early += o.early;
        self.early_by_ms.add(&o.early_by_ms).expect("same bounds");
        self.obeyed += o.obeyed;
        self.waits += o.waits;
        self.waited += o.waited;
        self.untracked += o.untracked;
        for (s, rows) in &o.subjects {
            if !self.subjects.contains_key(s) && self.subjects.len() >= MAX_SUBJECTS {
                self.untracked += rows.iter().map(|r| r[0]).sum::<u64>();
                continue;
            }
            add_rows(self.subjects.entry(s.clone()).or_default(), rows);
        }
    }
}

/// Adds `theirs` to `mine`, second by second.
pub fn add_rows(mine: &mut Vec<Row>, theirs: &[Row]) {
    if mine.len() < theirs.len() {
        mine.resize(theirs.len(), [0; 3]);
    }
    for (m, t) in mine.iter_mut().zip(theirs) {
        for k in 0..3 {
            m[k] += t[k];
        }
    }
}

/// results.json `rate_limit`: what the run saw of the target's rate limiting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitReport {
    /// The limit the scenario declares the target enforces (`[verifier] rate_limit`).
    pub declared: Option<RateLimit>,
    pub respect_retry_after: bool,
    /// Limited answers with and without a `Retry-After`, and what it said (ms).
    pub with_retry_after: u64,
    pub without_retry_after: u64,
    pub retry_after_ms: Percentiles,
    /// Open model with `respect_retry_after`: a limited caller's next request, sent before its
    /// `Retry-After` ran out (`early`, and by how much) or after (`obeyed`). The schedule is
    /// never delayed.
    pub early: u64,
    pub obeyed: u64,
    pub early_by_ms: Percentiles,
    /// Closed model with `respect_retry_after`: pauses taken as told, and their total.
    pub waits: u64,
    pub waited_ms: u64,
    /// Per subject (a declared limit only): the limiter as observed.
    pub subjects: Vec<SubjectReport>,
    /// Requests not followed per subject: beyond 64 subjects or after the first hour.
    pub untracked_requests: u64,
    /// Subjects that got more accepted than the declared limit allows (a full bucket, then the
    /// rate, with a tenth of a second's slack).
    pub over_limit: u64,
}

/// One subject's requests against the declared limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectReport {
    pub subject: String,
    pub sent: u64,
    pub accepted: u64,
    pub limited: u64,
    /// The most accepted in one second of sending.
    pub peak_accepted_per_s: u64,
    /// The lowest rate sent in a second in which limited answers came: where the limiter cut in.
    pub limited_from_per_s: Option<u64>,
    /// The limiter's effective threshold: the median accepted per second over the seconds in
    /// which this subject was limited (the bucket empty, so the rate alone lets requests in).
    pub effective_per_s: Option<f64>,
    /// The most the declared limit lets through over the seconds this subject sent in.
    pub allowed: f64,
    pub over_limit: bool,
    /// Per second since the run's start: sent, accepted, limited.
    pub seconds: Vec<Row>,
}

impl RateLimitReport {
    /// The report of a run's tally; `None` when the run saw nothing of limits and declared
    /// none.
    pub fn of(t: &LimitTally, declared: Option<RateLimit>, respect: bool) -> Option<RateLimitReport> {
        if t.is_empty() && declared.is_none() && !respect {
            return None;
        }
        let subjects: Vec<SubjectReport> = match declared {
            Some(limit) => t
                .subjects
                .iter()
                .map(|(s, rows)| subject(s, rows, &limit))
                .collect(),
            None => Vec::new(),
        };
        Some(RateLimitReport {
            declared,
            respect_retry_after: respect,
            with_retry_after: t.retry_after_ms.len(),
            without_retry_after: t.without_retry_after,
            retry_after_ms: Percentiles::of(&t.retry_after_ms),
            early: t.early,
            obeyed: t.obeyed,
            early_by_ms: Percentiles::of(&t.early_by_ms),
            waits: t.waits,
            waited_ms: t.waited.as_millis() as u64,
            over_limit: subjects.iter().filter(|s| s.over_limit).count() as u64,
            subjects,
            untracked_requests: t.untracked,
        })
    }
}

/// One subject's rows judged against `limit`.
pub fn subject(name: &str, rows: &[Row], limit: &RateLimit) -> SubjectReport {
    let total = |k: usize| rows.iter().map(|r| r[k]).sum::<u64>();
    let active: Vec<usize> = (0..rows.len()).filter(|i| rows[*i][0] > 0).collect();
    let span = match (active.first(), active.last()) {
        (Some(a), Some(b)) => (b - a + 1) as f64,
        _ => 0.0,
    };
    let slack = limit.rate.per_second * SLACK_SECONDS + 1.0;
    let allowed = if span > 0.0 { limit.allows_over(span) } else { 0.0 };
    let accepted = total(1);
    let per_second_over = rows.iter().any(|r| r[1] as f64 > limit.allows_over(1.0) + slack);
    let mut limited_seconds: Vec<u64> = rows.iter().filter(|r| r[2] > 0).map(|r| r[1]).collect();
    limited_seconds.sort_unstable();
    let effective = match limited_seconds.len() {
        0 => None,
        n if n % 2 == 1 => Some(limited_seconds[n / 2] as f64),
        n => Some((limited_seconds[n / 2 - 1] + limited_seconds[n / 2]) as f64 / 2.0),
    };
    SubjectReport {
        subject: name.to_string(),
        sent: total(0),
        accepted,
        limited: total(2),
        peak_accepted_per_s: rows.iter().map(|r| r[1]).max().unwrap_or(0),
        limited_from_per_s: rows.iter().filter(|r| r[2] > 0).map(|r| r[0]).min(),
        effective_per_s: effective,
        allowed,
        over_limit: span > 0.0 && (accepted as f64 > allowed + slack || per_second_over),
        seconds: rows.to_vec(),
    }
}

/// The subject of a token as sent (placement prefix and all): its payload's `sub`, as text.
pub fn subject_of(value: &[u8]) -> Option<String> {
    use base64::Engine;
    let start = value.windows(3).position(|w| w == b"eyJ")?;
    let mut parts = value[start..].split(|b| *b == b'.');
    let payload = parts.nth(1)?;
    let end = payload
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
        .unwrap_or(payload.len());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&payload[..end])
        .ok()?;
    #[derive(Deserialize)]
    struct Sub {
        sub: Option<serde_json::Value>,
    }
    let sub = serde_json::from_slice::<Sub>(&bytes).ok()?.sub?;
    Some(match sub {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LimitKey;

    fn limit(spec: &str, burst: Option<u32>) -> RateLimit {
        RateLimit::new(spec.parse().unwrap(), LimitKey::Sub, burst)
    }

    #[test]
    fn a_limiter_at_its_rate_is_found_and_one_above_it_is_caught() {
        // 100/s offered for five seconds to a 50/s limiter with a burst of 50.
        let mut rows = vec![[100, 100, 0]];
        rows.extend([[100, 50, 50]; 4]);
        let s = subject("alice", &rows, &limit("50/s", None));
        assert_eq!((s.sent, s.accepted, s.limited), (500, 300, 200));
        assert_eq!(s.effective_per_s, Some(50.0));
        assert_eq!(s.limited_from_per_s, Some(100));
        assert_eq!(s.peak_accepted_per_s, 100);
        assert_eq!(s.allowed, 300.0);
        assert!(!s.over_limit);
        // The same traffic against a declared 30/s: 300 accepted where 180 were allowed.
        assert!(subject("alice", &rows, &limit("30/s", None)).over_limit);
        // Nothing limited: no threshold observed.
        let s = subject("bob", &[[0, 0, 0], [10, 10, 0]], &limit("50/s", None));
        assert_eq!(
            (s.effective_per_s, s.limited_from_per_s, s.over_limit),
            (None, None, false)
        );
    }

    #[test]
    fn tallies_merge_and_stay_bounded() {
        let mut a = LimitTally::default();
        a.answer("x", 1, Outcome::Accepted);
        a.answer("x", 1, Outcome::Limited);
        a.limited(Some(Duration::from_secs(1)));
        a.limited(None);
        let mut b = LimitTally::default();
        b.answer("x", 3, Outcome::Limited);
        for i in 0..(MAX_SUBJECTS + 5) {
            b.answer(&format!("s{i}"), 0, Outcome::Accepted);
        }
        b.answer("late", LIMIT_SECONDS as u32, Outcome::Accepted);
        a.merge(&b);
        assert_eq!(a.subjects["x"], vec![[0, 0, 0], [2, 1, 1], [0, 0, 0], [1, 0, 1]]);
        assert_eq!(a.subjects.len(), MAX_SUBJECTS);
        assert!(a.untracked >= 6);
        let r = RateLimitReport::of(&a, Some(limit("10/s", None)), false).unwrap();
        assert_eq!((r.with_retry_after, r.without_retry_after), (1, 1));
        assert_eq!(r.retry_after_ms.p50, 1000);
        assert!(RateLimitReport::of(&LimitTally::default(), None, false).is_none());
    }

    #[test]
    fn the_subject_is_read_from_the_token_as_sent() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64("{\"alg\":\"HS256\"}"),
            b64("{\"sub\":\"alice\",\"exp\":1}")
        );
        assert_eq!(
            subject_of(format!("Bearer {token}").as_bytes()).as_deref(),
            Some("alice")
        );
        assert_eq!(
            subject_of(format!("/p?access_token={token}&x=1").as_bytes()).as_deref(),
            Some("alice")
        );
        let numeric = format!("{}.{}.", b64("{\"alg\":\"none\"}"), b64("{\"sub\":42}"));
        assert_eq!(subject_of(numeric.as_bytes()).as_deref(), Some("42"));
        assert_eq!(subject_of(b"Bearer not-a-token"), None);
    }
}
