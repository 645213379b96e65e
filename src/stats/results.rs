//! results.json: the versioned, documented record of a run (schema in `schema/results.schema.json`).
//! Every figure names what it measures; the histograms themselves are kept (HdrHistogram V2 +
//! DEFLATE, base64) so runs can be merged and re-rendered exactly.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::replay::classify::{ErrorKind, Outcome};
use crate::stats::recorder::{ClassTally, Percentiles, Recorder, Sample, Tally, histogram};
use crate::stats::timeline::Point;

/// The results format version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub meta: Meta,
    /// The scenario as run (keys appear as kid and fingerprint only).
    pub scenario: serde_json::Value,
    pub totals: Totals,
    /// Latency over every measured response (transport errors excluded).
    pub latency_us: Latency,
    /// Open model: how late scheduled requests left.
    pub schedule: Option<Schedule>,
    pub warmup: Phase,
    pub classes: BTreeMap<String, ClassResult>,
    pub status_codes: BTreeMap<String, u64>,
    pub transport_errors: BTreeMap<String, u64>,
    pub timeline: Vec<Point>,
    pub samples: Vec<Sample>,
    /// Threshold verdicts (empty when the scenario sets none).
    pub thresholds: Vec<crate::gate::thresholds::Verdict>,
    /// `class/outcome/corrected|uncorrected` -> base64 of HdrHistogram V2 + DEFLATE.
    pub histograms: BTreeMap<String, String>,
}

/// Run metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub tool_version: String,
    pub scenario: String,
    pub started: String,
    pub ended: String,
    pub interrupted: bool,
    /// Why a failing threshold stopped the run early (`abort_on_fail`), if it did.
    #[serde(default)]
    pub aborted: Option<String>,
    pub cores: usize,
    pub threads: usize,
    pub model: String,
    pub transport: String,
    pub http: String,
    pub target_url: String,
    pub embedded: bool,
    pub connections_opened: u64,
    /// Distinct tokens available to the run.
    pub tokens: u64,
    /// The batch ran out and requests started again from its first token.
    pub batch_wrapped: bool,
}

/// Totals over the measured phase (after warmup). `scheduled = completed + transport_errors +
/// cancelled` always holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub scheduled: u64,
    pub sent: u64,
    /// Responses with a status (accepted + rejected + unexpected_status).
    pub completed: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub unexpected_status: u64,
    pub transport_errors: u64,
    /// Scheduled but without an outcome: never sent before the stop, or cut off in flight.
    pub cancelled: u64,
    pub not_sent: u64,
    pub aborted_in_flight: u64,
    pub correct_accepts: u64,
    pub correct_rejects: u64,
    pub false_accepts: u64,
    pub false_rejects: u64,
    pub reused_tokens: u64,
    /// Wall time of the measured phase.
    pub duration_s: f64,
    /// Completed responses per second of the measured phase.
    pub throughput_rps: f64,
}

/// The warmup phase: counted, kept out of every other figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub duration_s: f64,
    pub scheduled: u64,
    pub sent: u64,
    pub completed: u64,
    pub transport_errors: u64,
    pub false_accepts: u64,
    pub false_rejects: u64,
}

/// Corrected (from the intended send time) and uncorrected (from the actual send) latency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub corrected: Percentiles,
    pub uncorrected: Percentiles,
}

/// How late scheduled requests left, open model only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Delay between intended and actual send, every sent request.
    pub lag_us: Percentiles,
    /// Requests that left more than `late_after_ms` late.
    pub late: u64,
    pub late_after_ms: u64,
}

/// One token class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub count: u64,
    /// `accepted` + rejected etc.
    pub outcomes: BTreeMap<String, u64>,
    pub verdicts: BTreeMap<String, u64>,
    /// Per outcome, plus `all` over the responses (transport errors excluded).
    pub latency_us: ClassLatency,
}

/// Latency of one class, corrected and uncorrected, per outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassLatency {
    pub corrected: BTreeMap<String, Percentiles>,
    pub uncorrected: BTreeMap<String, Percentiles>,
}

/// Encodes a histogram as base64 of its V2 + DEFLATE serialization.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing to memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Decodes a histogram written by [`encode_histogram`].
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("bad histogram: {e:?}"))
}

fn responses(t: &ClassTally, corrected: bool) -> Option<Histogram<u64>> {
    let hs = if corrected { &t.corrected } else { &t.uncorrected };
    let mut all: Option<Histogram<u64>> = None;
    for h in hs[..3].iter().flatten() {
        all.get_or_insert_with(histogram).add(h).expect("same bounds");
    }
    all
}

/// Counts of one phase.
pub fn totals(t: &Tally, scheduled: u64, duration_s: f64) -> Totals {
    let o = t.outcomes();
    let v = t.verdicts();
    let completed = o[0] + o[1] + o[2];
    Totals {
        scheduled,
        sent: t.sent,
        completed,
        accepted: o[0],
        rejected: o[1],
        unexpected_status: o[2],
        transport_errors: o[3],
        cancelled: t.not_sent + t.aborted,
        not_sent: t.not_sent,
        aborted_in_flight: t.aborted,
        correct_accepts: v[0],
        correct_rejects: v[1],
        false_accepts: v[2],
        false_rejects: v[3],
        reused_tokens: t.reused,
        duration_s,
        throughput_rps: if duration_s > 0.0 {
            completed as f64 / duration_s
        } else {
            0.0
        },
    }
}

/// Builds the per-class results, the overall latency and the encoded histograms.
pub fn classes(rec: &Recorder) -> (BTreeMap<String, ClassResult>, Latency, BTreeMap<String, String>) {
    let mut out = BTreeMap::new();
    let mut hists = BTreeMap::new();
    let (mut all_c, mut all_u) = (histogram(), histogram());
    for (class, t) in &rec.main.classes {
        let mut r = ClassResult {
            count: t.count(),
            ..ClassResult::default()
        };
        for o in Outcome::ALL {
            let n = t.outcomes[o as usize];
            if n > 0 {
                r.outcomes.insert(o.name().into(), n);
            }
        }
        for (i, v) in crate::replay::classify::Verdict::ALL.iter().enumerate() {
            if t.verdicts[i] > 0 {
                r.verdicts.insert(v.name().to_string(), t.verdicts[i]);
            }
        }
        for (corrected, map, kind) in [
            (true, &mut r.latency_us.corrected, "corrected"),
            (false, &mut r.latency_us.uncorrected, "uncorrected"),
        ] {
            let hs = if corrected { &t.corrected } else { &t.uncorrected };
            for o in Outcome::ALL {
                if let Some(h) = &hs[o as usize] {
                    map.insert(o.name().into(), Percentiles::of(h));
                    hists.insert(
                        format!("{}/{}/{kind}", class.name(), o.name()),
                        encode_histogram(h),
                    );
                }
            }
            if let Some(all) = responses(t, corrected) {
                map.insert("all".into(), Percentiles::of(&all));
                if corrected {
                    all_c.add(&all).expect("same bounds");
                } else {
                    all_u.add(&all).expect("same bounds");
                }
            }
        }
        out.insert(class.name().to_string(), r);
    }
    let latency = Latency {
        corrected: Percentiles::of(&all_c),
        uncorrected: Percentiles::of(&all_u),
    };
    (out, latency, hists)
}

/// Status codes and error kinds as string-keyed maps.
pub fn codes(t: &Tally) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    (
        t.status_codes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        t.errors
            .iter()
            .map(|(k, v): (&ErrorKind, &u64)| (k.name().to_string(), *v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip() {
        let mut h = histogram();
        for v in [1u64, 10, 100, 1000, 123_456] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
    }
}
