//! Merging the results of a run's segments into the results of the whole run, exactly: every
//! histogram is added bucket by bucket (the merged p99 is the p99 of the union of all requests,
//! not an average of p99s), every count is summed, the timelines are added by wall-clock
//! second, and throughput is recomputed over the common window.
//!
//! [`Merger`] takes one segment at a time and keeps only the running sums, so a merge of a
//! thousand segments holds one file and the sums in memory, never the thousand files.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::recorder::{Percentiles, SAMPLES_PER_KIND, Sample, histogram};
use super::results::{
    ClassResult, Fleet, LAG_HISTOGRAM, Latency, Results, Schedule, WAKE_HISTOGRAM, decode_histogram,
    encode_histogram,
};
use super::timeline::Point;
use crate::model::Outcome;
use crate::stats::recorder::MAX_US;

/// Why a results file cannot be merged with the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("'{path}' is not a segment of a run (it was not run with --segment)")]
    NotASegment { path: String },
    #[error("'{path}' is segment {segment} of a different run: its {what} differs from '{first}'s")]
    Different {
        path: String,
        first: String,
        segment: u64,
        what: &'static str,
    },
    #[error("'{path}' and '{other}' are both segment {segment}")]
    Duplicate {
        path: String,
        other: String,
        segment: u64,
    },
    #[error("'{path}': {what}")]
    Bad { path: String, what: String },
}

/// The sums of one token class.
#[derive(Default)]
struct ClassSums {
    count: u64,
    outcomes: BTreeMap<String, u64>,
    verdicts: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
}

/// One wall-clock second of the merged timeline.
#[derive(Default)]
struct SecondSums {
    point: Point,
    latency: Option<Histogram<u64>>,
}

/// The identity every segment of one run shares, from the first one added.
struct Identity {
    path: String,
    hash: String,
    segments: u64,
    start_at: Option<String>,
    model: String,
    tool_version: String,
}

/// One segment's results with its histograms decoded: the costly part of a merge, which
/// [`Decoded::of`] does apart (in parallel) from [`Merger::add`].
pub struct Decoded {
    path: String,
    /// Without the encoded histograms and timeline histograms.
    results: Results,
    histograms: Vec<(String, Histogram<u64>)>,
    points: Vec<(Point, Option<Histogram<u64>>)>,
    /// Unix seconds of `meta.started`.
    start: f64,
}

impl Decoded {
    /// Decodes the histograms of `r`, read from `path`.
    pub fn of(path: &str, mut r: Results) -> Result<Decoded, MergeError> {
        let bad = |what: String| MergeError::Bad {
            path: path.into(),
            what,
        };
        let start = unix(&r.meta.started)
            .ok_or_else(|| bad(format!("meta.started '{}' is not a time", r.meta.started)))?;
        let mut histograms = Vec::with_capacity(r.histograms.len());
        for (key, text) in std::mem::take(&mut r.histograms) {
            let h = decode_histogram(&text).map_err(|e| bad(format!("histograms.\"{key}\": {e}")))?;
            histograms.push((key, h));
        }
        let mut points = Vec::with_capacity(r.timeline.len());
        for mut p in std::mem::take(&mut r.timeline) {
            let h = match p.latency_histogram.take() {
                Some(t) => Some(
                    decode_histogram(&t).map_err(|e| bad(format!("timeline second {}: {e}", p.second)))?,
                ),
                None => None,
            };
            points.push((p, h));
        }
        Ok(Decoded {
            path: path.into(),
            results: r,
            histograms,
            points,
            start,
        })
    }
}

/// The running merge of a run's segments.
#[derive(Default)]
pub struct Merger {
    identity: Option<Identity>,
    /// The first segment without its bulk (histograms, timeline, samples): the template of
    /// the merged results.
    template: Option<Results>,
    seen: BTreeMap<u64, String>,
    /// Wall-clock start of each segment (Unix seconds), and where its measured window ends.
    starts: Vec<f64>,
    ends: Vec<f64>,
    warmup_ends: Vec<f64>,
    totals: super::results::Totals,
    warmup: super::results::Phase,
    late: u64,
    classes: BTreeMap<String, ClassSums>,
    histograms: BTreeMap<String, Histogram<u64>>,
    status_codes: BTreeMap<String, u64>,
    transport_errors: BTreeMap<String, u64>,
    /// Keyed by Unix second.
    seconds: BTreeMap<i64, SecondSums>,
    samples: Vec<Sample>,
    sample_kinds: BTreeMap<(String, String, Option<u16>), usize>,
    stream: Option<super::results::StreamReport>,
    joined_late_ms: f64,
    missed: u64,
    meta: MetaSums,
    rate_limit: Option<LimitSums>,
    endpoints: Vec<super::results::EndpointResult>,
    revocation: Option<crate::stats::revocations::RevocationReport>,
}

/// Adds one segment's revocations: counts add up; each segment revokes its own tokens at the
/// same moment of the run, so the merged lag is the slowest segment's (the target followed
/// every list only then), and the last stale accept the latest.
fn merge_revocation(
    into: &mut Option<crate::stats::revocations::RevocationReport>,
    rv: &crate::stats::revocations::RevocationReport,
) {
    let Some(m) = into else {
        *into = Some(rv.clone());
        return;
    };
    m.entries += rv.entries.saturating_sub(rv.initial);
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    for (i, e) in rv.events.iter().enumerate() {
        if i >= crate::stats::revocations::MAX_EVENTS {
            break;
        }
        if m.events.len() <= i {
            m.events.push(e.clone());
            continue;
        }
        let a = &mut m.events[i];
        a.fired_at_s = match (a.fired_at_s, e.fired_at_s) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.revoked += e.revoked;
        a.without_jti += e.without_jti;
        a.capped |= e.capped;
        a.replays += e.replays;
        a.accepted += e.accepted;
        a.rejected += e.rejected;
        a.other += e.other;
        a.lag_s = max(a.lag_s, e.lag_s);
        a.last_accept_after_s = max(a.last_accept_after_s, e.last_accept_after_s);
    }
}

/// The rate-limit counts of the segments so far; each subject's seconds keyed by Unix second.
#[derive(Default)]
struct LimitSums {
    report: crate::stats::limits::RateLimitReport,
    subjects: BTreeMap<String, BTreeMap<i64, crate::stats::limits::Row>>,
}

#[derive(Default)]
struct MetaSums {
    started: Option<(f64, String)>,
    ended: Option<(f64, String)>,
    interrupted: bool,
    aborted: Option<String>,
    cores: usize,
    threads: usize,
    connections: u64,
    tokens: u64,
    wrapped: bool,
}

/// Unix seconds of an RFC 3339 time results.json wrote.
fn unix(text: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

fn add_map(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

impl Merger {
    /// A merge with nothing in it yet.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// The segments added so far.
    pub fn segments(&self) -> Vec<u64> {
        self.seen.keys().copied().collect()
    }

    /// The fleet's size, once a segment is in.
    pub fn fleet_size(&self) -> Option<u64> {
        self.identity.as_ref().map(|i| i.segments)
    }

    /// Adds one segment's results; refuses one of another run, a segment already added, and a
    /// file that is not a segment.
    pub fn add(&mut self, d: Decoded) -> Result<(), MergeError> {
        let Decoded {
            path,
            results: r,
            histograms: decoded,
            points,
            start,
        } = d;
        let path = path.as_str();
        let Some(fleet) = r.fleet.clone().filter(|f| f.segment.is_some()) else {
            return Err(MergeError::NotASegment { path: path.into() });
        };
        let segment = fleet.segment.unwrap_or(0);
        if super::results::scenario_hash(&r.scenario) != fleet.scenario_hash {
            return Err(MergeError::Bad {
                path: path.into(),
                what: "its scenario does not match the hash recorded with it (was the file edited?)".into(),
            });
        }
        match &self.identity {
            None => {
                self.identity = Some(Identity {
                    path: path.into(),
                    hash: fleet.scenario_hash.clone(),
                    segments: fleet.segments,
                    start_at: fleet.start_at.clone(),
                    model: r.meta.model.clone(),
                    tool_version: r.meta.tool_version.clone(),
                })
            }
            Some(id) => {
                let differs = |what: &'static str| MergeError::Different {
                    path: path.into(),
                    first: id.path.clone(),
                    segment,
                    what,
                };
                if id.hash != fleet.scenario_hash {
                    return Err(differs("scenario (hash)"));
                }
                if id.segments != fleet.segments {
                    return Err(differs("number of segments"));
                }
                if id.start_at != fleet.start_at {
                    return Err(differs("common start (--start-at)"));
                }
                if id.model != r.meta.model {
                    return Err(differs("load model"));
                }
                if id.tool_version != r.meta.tool_version {
                    return Err(differs("jwtstorm version"));
                }
            }
        }
        if segment >= fleet.segments {
            return Err(MergeError::Bad {
                path: path.into(),
                what: format!("segment {segment} of {} does not exist", fleet.segments),
            });
        }
        if let Some(other) = self.seen.get(&segment) {
            return Err(MergeError::Duplicate {
                path: path.into(),
                other: other.clone(),
                segment,
            });
        }
        let bad = |what: String| MergeError::Bad {
            path: path.into(),
            what,
        };
        self.seen.insert(segment, path.into());
        for (i, e) in r.endpoints.iter().enumerate() {
            if self.endpoints.len() <= i {
                self.endpoints.push(super::results::EndpointResult {
                    count: 0,
                    outcomes: BTreeMap::new(),
                    verdicts: BTreeMap::new(),
                    ..e.clone()
                });
            }
            let m = &mut self.endpoints[i];
            m.count += e.count;
            add_map(&mut m.outcomes, &e.outcomes);
            add_map(&mut m.verdicts, &e.verdicts);
        }
        if let Some(rv) = &r.revocation {
            merge_revocation(&mut self.revocation, rv);
        }
        if let Some(rl) = &r.rate_limit {
            let sums = self.rate_limit.get_or_insert_with(|| LimitSums {
                report: crate::stats::limits::RateLimitReport {
                    declared: rl.declared,
                    respect_retry_after: rl.respect_retry_after,
                    ..Default::default()
                },
                subjects: BTreeMap::new(),
            });
            let m = &mut sums.report;
            m.with_retry_after += rl.with_retry_after;
            m.without_retry_after += rl.without_retry_after;
            m.early += rl.early;
            m.obeyed += rl.obeyed;
            m.waits += rl.waits;
            m.waited_ms += rl.waited_ms;
            m.untracked_requests += rl.untracked_requests;
            let base = start.floor() as i64;
            for sub in &rl.subjects {
                let rows = sums.subjects.entry(sub.subject.clone()).or_default();
                // At most the first hour, as a run records it: a file cannot make the merge
                // allocate more.
                for (i, row) in sub
                    .seconds
                    .iter()
                    .take(crate::stats::limits::LIMIT_SECONDS)
                    .enumerate()
                {
                    let mine = rows.entry(base + i as i64).or_default();
                    for k in 0..3 {
                        mine[k] += row[k];
                    }
                }
            }
        }
        for (key, h) in decoded {
            match self.histograms.get_mut(&key) {
                Some(mine) => mine
                    .add(&h)
                    .map_err(|e| bad(format!("histogram '{key}': {e:?}")))?,
                None => {
                    let mut mine = histogram();
                    mine.add(&h)
                        .map_err(|e| bad(format!("histogram '{key}': {e:?}")))?;
                    self.histograms.insert(key, mine);
                }
            }
        }
        // Seconds of the timeline are seconds since the segment's start: by wall clock, a
        // segment's second k is the merged run's Unix second floor(start) + k (with a common
        // start every segment's seconds line up exactly).
        let base = start.floor() as i64;
        for (p, h) in &points {
            let s = self.seconds.entry(base + i64::from(p.second)).or_default();
            let q = &mut s.point;
            q.sent += p.sent;
            q.completed += p.completed;
            q.accepted += p.accepted;
            q.rejected += p.rejected;
            q.forbidden += p.forbidden;
            q.limited += p.limited;
            q.unexpected_status += p.unexpected_status;
            q.transport_errors += p.transport_errors;
            q.false_accepts += p.false_accepts;
            q.false_rejects += p.false_rejects;
            if let Some(h) = h {
                s.latency
                    .get_or_insert_with(|| Histogram::new_with_bounds(1, MAX_US, 2).expect("static bounds"))
                    .add(h)
                    .map_err(|e| bad(format!("timeline second {}: {e:?}", p.second)))?;
            }
        }
        let t = &r.totals;
        let m = &mut self.totals;
        m.scheduled += t.scheduled;
        m.sent += t.sent;
        m.completed += t.completed;
        m.accepted += t.accepted;
        m.rejected += t.rejected;
        m.forbidden += t.forbidden;
        m.limited += t.limited;
        m.unexpected_status += t.unexpected_status;
        m.transport_errors += t.transport_errors;
        m.cancelled += t.cancelled;
        m.not_sent += t.not_sent;
        m.aborted_in_flight += t.aborted_in_flight;
        m.correct_accepts += t.correct_accepts;
        m.correct_rejects += t.correct_rejects;
        m.false_accepts += t.false_accepts;
        m.false_rejects += t.false_rejects;
        m.boundary += t.boundary;
        m.rejected_other_reason += t.rejected_other_reason;
        m.stale_key_accepts += t.stale_key_accepts;
        m.rotation_false_rejects += t.rotation_false_rejects;
        m.over_limit += t.over_limit;
        m.revoked_accepts += t.revoked_accepts;
        m.reused_tokens += t.reused_tokens;
        let w = &mut self.warmup;
        w.duration_s = w.duration_s.max(r.warmup.duration_s);
        w.scheduled += r.warmup.scheduled;
        w.sent += r.warmup.sent;
        w.completed += r.warmup.completed;
        w.transport_errors += r.warmup.transport_errors;
        w.false_accepts += r.warmup.false_accepts;
        w.false_rejects += r.warmup.false_rejects;
        self.starts.push(start);
        self.warmup_ends.push(start + r.warmup.duration_s);
        self.ends.push(start + r.warmup.duration_s + t.duration_s);
        if let Some(s) = &r.schedule {
            self.late += s.late;
        }
        for (name, c) in &r.classes {
            let mine = self.classes.entry(name.clone()).or_default();
            mine.count += c.count;
            add_map(&mut mine.outcomes, &c.outcomes);
            add_map(&mut mine.verdicts, &c.verdicts);
            add_map(&mut mine.reasons, &c.reasons);
        }
        add_map(&mut self.status_codes, &r.status_codes);
        add_map(&mut self.transport_errors, &r.transport_errors);
        for s in &r.samples {
            let kind = (s.class.name().to_string(), s.outcome.name().to_string(), s.status);
            let n = self.sample_kinds.entry(kind).or_default();
            if *n < SAMPLES_PER_KIND {
                *n += 1;
                self.samples.push(s.clone());
            }
        }
        if let Some(st) = &r.stream {
            let mine = self.stream.get_or_insert_with(|| super::results::StreamReport {
                from: st.from.clone(),
                lead: st.lead,
                ..Default::default()
            });
            mine.taken += st.taken;
            mine.mint_bound += st.mint_bound;
            mine.longest_wait_us = mine.longest_wait_us.max(st.longest_wait_us);
        }
        self.joined_late_ms = self.joined_late_ms.max(fleet.joined_late_ms);
        self.missed += fleet.missed;
        let ms = &mut self.meta;
        if ms.started.as_ref().is_none_or(|(t, _)| start < *t) {
            ms.started = Some((start, r.meta.started.clone()));
        }
        let end = unix(&r.meta.ended).unwrap_or(start);
        if ms.ended.as_ref().is_none_or(|(t, _)| end > *t) {
            ms.ended = Some((end, r.meta.ended.clone()));
        }
        ms.interrupted |= r.meta.interrupted;
        if ms.aborted.is_none() {
            ms.aborted = r.meta.aborted.clone().map(|a| format!("segment {segment}: {a}"));
        }
        ms.cores += r.meta.cores;
        ms.threads += r.meta.threads;
        ms.connections += r.meta.connections_opened;
        ms.tokens += r.meta.tokens;
        ms.wrapped |= r.meta.batch_wrapped;
        if self.template.is_none() {
            let mut t = r;
            t.histograms.clear();
            t.timeline.clear();
            t.samples.clear();
            t.classes.clear();
            t.thresholds.clear();
            self.template = Some(t);
        }
        Ok(())
    }

    /// The merged results, with the fleet's bookkeeping; `None` before any segment was added.
    /// Thresholds are left to the caller (the gate judges them).
    pub fn finish(self) -> Option<Results> {
        let mut r = self.template?;
        let id = self.identity?;
        let merged: Vec<u64> = self.seen.keys().copied().collect();
        let missing: Vec<u64> = (0..id.segments).filter(|s| !self.seen.contains_key(s)).collect();
        let first = self.starts.iter().copied().fold(f64::INFINITY, f64::min);
        let measured_from = self.warmup_ends.iter().copied().fold(f64::INFINITY, f64::min);
        let measured_to = self.ends.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut totals = self.totals;
        // The common window: from the earliest measured start to the latest measured end.
        totals.duration_s = (measured_to - measured_from).max(0.0);
        totals.throughput_rps = if totals.duration_s > 0.0 {
            totals.completed as f64 / totals.duration_s
        } else {
            0.0
        };
        r.totals = totals;
        r.warmup = self.warmup;
        // Per class: counts, then latency from the added histograms.
        let mut classes = BTreeMap::new();
        let (mut all_c, mut all_u) = (histogram(), histogram());
        for (name, c) in self.classes {
            let mut out = ClassResult {
                count: c.count,
                outcomes: c.outcomes,
                verdicts: c.verdicts,
                reasons: c.reasons,
                ..ClassResult::default()
            };
            for (kind, map, all) in [
                ("corrected", &mut out.latency_us.corrected, &mut all_c),
                ("uncorrected", &mut out.latency_us.uncorrected, &mut all_u),
            ] {
                let mut responses: Option<Histogram<u64>> = None;
                for o in Outcome::ALL {
                    if let Some(h) = self.histograms.get(&format!("{name}/{}/{kind}", o.name())) {
                        map.insert(o.name().into(), Percentiles::of(h));
                        if o != Outcome::TransportError {
                            responses
                                .get_or_insert_with(histogram)
                                .add(h)
                                .expect("same bounds");
                        }
                    }
                }
                if let Some(h) = responses {
                    map.insert("all".into(), Percentiles::of(&h));
                    all.add(&h).expect("same bounds");
                }
            }
            classes.insert(name, out);
        }
        r.classes = classes;
        r.latency_us = Latency {
            corrected: Percentiles::of(&all_c),
            uncorrected: Percentiles::of(&all_u),
        };
        if let Some(s) = &mut r.schedule {
            *s = Schedule {
                lag_us: self
                    .histograms
                    .get(LAG_HISTOGRAM)
                    .map(Percentiles::of)
                    .unwrap_or_default(),
                late: self.late,
                late_after_ms: s.late_after_ms,
                wake_us: self.histograms.get(WAKE_HISTOGRAM).map(Percentiles::of),
            };
        }
        r.status_codes = self.status_codes;
        r.transport_errors = self.transport_errors;
        let base = first.floor() as i64;
        r.timeline = self
            .seconds
            .into_iter()
            .map(|(unix_s, s)| {
                let mut p = s.point;
                p.second = u32::try_from(unix_s - base).unwrap_or(0);
                if let Some(h) = &s.latency {
                    p.p50_us = h.value_at_quantile(0.5);
                    p.p99_us = h.value_at_quantile(0.99);
                    p.latency_histogram = Some(encode_histogram(h));
                }
                p
            })
            .collect();
        r.samples = self.samples;
        r.rate_limit = self.rate_limit.map(|sums| {
            let mut rl = sums.report;
            let pct = |key: &str| self.histograms.get(key).map(Percentiles::of).unwrap_or_default();
            rl.retry_after_ms = pct(super::results::RETRY_AFTER_HISTOGRAM);
            rl.early_by_ms = pct(super::results::EARLY_HISTOGRAM);
            if let Some(limit) = rl.declared {
                rl.subjects = sums
                    .subjects
                    .iter()
                    .map(|(name, by_second)| {
                        let mut rows = Vec::new();
                        for (unix_s, row) in by_second {
                            // A segment that started more than an hour after the first (only a
                            // crafted file can) is beyond what is followed.
                            let i = usize::try_from(unix_s - base).unwrap_or(0);
                            if i >= crate::stats::limits::LIMIT_SECONDS {
                                rl.untracked_requests += row[0];
                                continue;
                            }
                            if rows.len() <= i {
                                rows.resize(i + 1, [0; 3]);
                            }
                            for k in 0..3 {
                                rows[i][k] += row[k];
                            }
                        }
                        crate::stats::limits::subject(name, &rows, &limit)
                    })
                    .collect();
            }
            rl.over_limit = rl.subjects.iter().filter(|s| s.over_limit).count() as u64;
            rl
        });
        r.totals.over_limit = r.rate_limit.as_ref().map_or(0, |rl| rl.over_limit);
        r.revocation = self.revocation;
        r.endpoints = self.endpoints;
        for (i, e) in r.endpoints.iter_mut().enumerate() {
            e.latency_us = self
                .histograms
                .get(&super::results::endpoint_histogram(i))
                .map(Percentiles::of)
                .unwrap_or_default();
        }
        r.histograms = self
            .histograms
            .iter()
            .map(|(k, h)| (k.clone(), encode_histogram(h)))
            .collect();
        r.stream = self.stream;
        let m = self.meta;
        if let Some((_, s)) = m.started {
            r.meta.started = s;
        }
        if let Some((_, e)) = m.ended {
            r.meta.ended = e;
        }
        r.meta.interrupted = m.interrupted;
        r.meta.aborted = m.aborted;
        r.meta.cores = m.cores;
        r.meta.threads = m.threads;
        r.meta.connections_opened = m.connections;
        r.meta.tokens = m.tokens;
        r.meta.batch_wrapped = m.wrapped;
        let fleet = r.fleet.take().unwrap_or_default();
        r.fleet = Some(Fleet {
            segments: id.segments,
            segment: None,
            scenario_hash: id.hash,
            start_at: id.start_at,
            joined_late_ms: self.joined_late_ms,
            missed: self.missed,
            thresholds: fleet.thresholds,
            require_accepts: fleet.require_accepts,
            partial: !missing.is_empty(),
            merged,
            missing,
        });
        Some(r)
    }
}

/// Segment numbers for people: `3, 7-9`.
pub fn ranges(missing: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < missing.len() {
        let mut j = i;
        while j + 1 < missing.len() && missing[j + 1] == missing[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            missing[i].to_string()
        } else {
            format!("{}-{}", missing[i], missing[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_short() {
        assert_eq!(ranges(&[1, 2, 3, 5, 8, 9]), "1-3, 5, 8-9");
        assert_eq!(ranges(&[]), "");
    }
}
