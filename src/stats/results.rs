//! results.json: the versioned, documented record of a run (schema in `schema/results.schema.json`).
//! Every figure names what it measures; the histograms themselves are kept (HdrHistogram V2 +
//! DEFLATE, base64) so runs can be merged and re-rendered exactly.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::model::{ErrorKind, Judgement, Metric, Outcome, Unit};
use crate::stats::recorder::{ClassTally, Percentiles, Recorder, Sample, Tally, histogram};
use crate::stats::timeline::Point;

/// The results format version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read '{}'", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{}:{}: not a jwtstorm results file: {error}", path.display(), error.line(), error.column())]
    Format {
        path: std::path::PathBuf,
        error: serde_json::Error,
    },
    #[error(
        "'{}': results schema version {found} is not supported (this jwtstorm reads version {SCHEMA_VERSION})",
        path.display()
    )]
    Version { path: std::path::PathBuf, found: u32 },
}

impl crate::error::ExitCode for ReadError {
    fn exit_code(&self) -> i32 {
        crate::error::exit::BAD_INPUT
    }
}

impl Results {
    /// Reads and checks a results file.
    pub fn read(path: &std::path::Path) -> Result<Results, ReadError> {
        let text = crate::files::read_capped_text(path, crate::files::RESULTS_CAP).map_err(|source| {
            ReadError::Io {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let r: Results = serde_json::from_str(&text).map_err(|error| ReadError::Format {
            path: path.to_path_buf(),
            error,
        })?;
        if r.schema_version != SCHEMA_VERSION {
            return Err(ReadError::Version {
                path: path.to_path_buf(),
                found: r.schema_version,
            });
        }
        Ok(r)
    }
}

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
    pub thresholds: Vec<Verdict>,
    /// `class/outcome/corrected|uncorrected` (and `schedule/lag`, `schedule/wake`, open model) -> base64 of
    /// HdrHistogram V2 + DEFLATE.
    pub histograms: BTreeMap<String, String>,
    /// The streaming token source, when the run used one (`tokens.source = "stream"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamReport>,
    /// jwtstorm as the identity provider (`[idp]`): its key set, rotation and every fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<IdpReport>,
    /// A run spread over several processes: one segment's results (`run --segment`), or
    /// their merge (`jwtstorm merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
    /// Rate limiting: limited answers' `Retry-After`, and the target's limiter observed per
    /// subject against a declared limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::stats::limits::RateLimitReport>,
    /// Several endpoints (`[[target.endpoints]]`): each one's answers and latency, measured
    /// phase, in the scenario's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointResult>,
    /// The revocation list, and each revocation during the run with the target's lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::stats::revocations::RevocationReport>,
}

/// Which share of a run spread over several processes these results are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// The segments the run was split into.
    pub segments: u64,
    /// This segment's number (0 to segments - 1); `null` for a merge.
    pub segment: Option<u64>,
    /// SHA-256 (hex) of the scenario as run: segments of one run share it.
    pub scenario_hash: String,
    /// The common start every segment waited for (RFC 3339), when one was given.
    pub start_at: Option<String>,
    /// How long after the common start the segment began (a merge: the latest).
    pub joined_late_ms: f64,
    /// Requests due before the segment began: counted as not sent (a merge: their sum).
    pub missed: u64,
    /// The thresholds, judged on the merged results only (a segment's share would not meet
    /// a count meant for the whole run).
    pub thresholds: Vec<ThresholdSpec>,
    /// Whether a run with no valid token accepted fails (`[gate] require_accepts`).
    pub require_accepts: bool,
    /// A merge: the segments merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<u64>,
    /// A merge: the segments that were missing (`--allow-missing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u64>,
    /// A merge of fewer segments than the run had: its totals are not the whole run's.
    #[serde(default)]
    pub partial: bool,
}

/// A threshold as written in the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdSpec {
    pub name: String,
    pub condition: String,
}

/// What the identity provider served and what the target did with its keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdpReport {
    /// `http://ADDR` of the listener.
    pub url: String,
    /// `Cache-Control: max-age` of the key set, seconds.
    pub max_age_s: f64,
    /// The rotation preset, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Share of requests that kept sending the latest retired key's tokens.
    pub retired_share: f64,
    /// The schedule, on the run's clock.
    pub events: Vec<IdpEvent>,
    pub keys: Vec<KeyReport>,
    /// Every fetch of the listener (also those not kept).
    pub fetches_total: u64,
    /// Fetches of the key set (`/.well-known/jwks.json`), of them answered 304.
    pub jwks_fetches: u64,
    pub not_modified: u64,
    /// Fetches of the attacker's documents: a verifier followed a token's `jku` or `x5u`
    /// header (a server-side request forgery, whatever it then answered).
    pub attacker_fetches: u64,
    /// The first fetches, in order (at most 10,000).
    pub fetches: Vec<crate::idp::Fetch>,
    /// `valid` tokens of keys that took over signing during the run, rejected: the outage a
    /// rotation caused (also counted among the false rejects).
    pub rotation_false_rejects: u64,
    /// Tokens of retired keys accepted (also counted among the false accepts).
    pub stale_key_accepts: u64,
    /// Whether the target's fetches follow the pattern a careful verifier's do.
    pub checks: Vec<IdpCheck>,
}

/// One scheduled change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpEvent {
    pub at_ms: u64,
    /// `publish`, `sign_with` or `retire`.
    pub action: String,
    pub kid: String,
}

/// One key of the set: its schedule and the answers to its tokens (warmup included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyReport {
    pub kid: String,
    pub fingerprint: String,
    pub published_ms: Option<u64>,
    pub signs_from_ms: Option<u64>,
    pub signs_until_ms: Option<u64>,
    pub retired_ms: Option<u64>,
    /// `valid` and `retired_key` tokens of this key sent, and their answers.
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// `valid` tokens of this key rejected.
    pub false_rejects: u64,
    /// `retired_key` tokens of this key accepted.
    pub stale_accepts: u64,
    /// Times (ms since the run began) the first `valid` token left, the first was accepted, the
    /// last was rejected.
    pub first_sent_ms: Option<f64>,
    pub first_accept_ms: Option<f64>,
    pub last_false_reject_ms: Option<f64>,
    /// A key that took over signing: from its first token to its first accept (`null` when it
    /// was never accepted, or never took over).
    pub rotation_gap_ms: Option<f64>,
    /// A retired key: from its retirement to the first rejection of one of its tokens, and the
    /// last accept of one.
    pub first_retired_reject_ms: Option<f64>,
    pub last_stale_accept_ms: Option<f64>,
    pub removal_window_ms: Option<f64>,
    /// `[accepted, rejected]` per second of sending.
    pub per_second: Vec<[u64; 2]>,
}

/// One check of the target's fetch pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpCheck {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}
/// What the streaming token source did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// `mint` (tokens minted during the run) or `batch` (a batch file read as it goes).
    pub from: String,
    /// Tokens kept ready ahead of the requests.
    pub lead: u64,
    /// Fresh tokens handed to requests (warmup included).
    pub taken: u64,
    /// Measured requests whose token was ready only after they were due: the run was
    /// mint-bound for them (they are measured from their intended time, like any late send).
    pub mint_bound: u64,
    /// The longest of those waits, in microseconds.
    pub longest_wait_us: u64,
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

impl Verdict {
    /// The measured value for people, or why there is none.
    pub fn measured(&self) -> String {
        match self.value {
            Some(v) => crate::text::format_value(v, self.unit),
            None => self.note.clone().unwrap_or_else(|| "no value".into()),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            if self.passed { "pass" } else { "FAIL" },
            self.name,
            self.condition,
            self.measured()
        )
    }
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
    /// Responses with a status (accepted + rejected + forbidden + limited + unexpected_status).
    pub completed: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Answers in `target.forbidden` (403 by default: a good token without the scope).
    #[serde(default)]
    pub forbidden: u64,
    /// Answers in `target.limited` (429 by default: over a rate limit). Neither accepted nor
    /// rejected, neither false nor an error.
    #[serde(default)]
    pub limited: u64,
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
    /// Answers to time-bound tokens sent within the guard band around their boundary: either
    /// answer is right (absent in files written before it was counted).
    #[serde(default)]
    pub boundary: u64,
    /// Tokens rejected, as they should be, for another reason than their class's (reason-aware
    /// judging only).
    #[serde(default)]
    pub rejected_other_reason: u64,
    /// Tokens of keys the identity provider retired, accepted (`[idp]` rotation only).
    #[serde(default)]
    pub stale_key_accepts: u64,
    /// `valid` tokens of keys that took over signing during the run, rejected.
    #[serde(default)]
    pub rotation_false_rejects: u64,
    /// Subjects that got more accepted than the declared rate limit allows.
    #[serde(default)]
    pub over_limit: u64,
    /// Tokens on the revocation list when sent (class `revoked`), accepted.
    #[serde(default)]
    pub revoked_accepts: u64,
    pub reused_tokens: u64,
    /// Wall time of the measured phase.
    pub duration_s: f64,
    /// Completed responses per second of the measured phase.
    pub throughput_rps: f64,
}

impl Totals {
    /// Every answered request: with a status or with a transport error.
    pub fn answered(&self) -> u64 {
        self.completed + self.transport_errors
    }

    /// Transport errors, unexpected statuses and cancelled requests over the scheduled ones.
    pub fn error_rate(&self) -> f64 {
        let n = self.transport_errors + self.unexpected_status + self.cancelled;
        n as f64 / self.scheduled.max(self.answered()).max(1) as f64
    }

    /// The value of a count, rate or throughput metric; `None` for latency, and for a rate
    /// when nothing at all was measured. A rate with an empty denominator (false accepts among
    /// valid tokens only) is zero as long as anything was measured.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        let answered = self.answered();
        let ratio = |n: u64, d: u64| {
            if d > 0 {
                Some(n as f64 / d as f64)
            } else {
                (answered + self.scheduled > 0).then_some(0.0)
            }
        };
        let v = match metric {
            Metric::FalseAccepts => self.false_accepts,
            Metric::FalseRejects => self.false_rejects,
            Metric::TransportErrors => self.transport_errors,
            Metric::UnexpectedStatus => self.unexpected_status,
            Metric::Accepted => self.accepted,
            Metric::Rejected => self.rejected,
            Metric::Forbidden => self.forbidden,
            Metric::Limited => self.limited,
            Metric::Completed => self.completed,
            Metric::Count => answered,
            Metric::Scheduled => self.scheduled,
            Metric::Cancelled => self.cancelled,
            Metric::WrongReason => self.rejected_other_reason,
            Metric::StaleKeyAccepts => self.stale_key_accepts,
            Metric::RotationFalseRejects => self.rotation_false_rejects,
            Metric::OverLimit => self.over_limit,
            Metric::RevokedAccepts => self.revoked_accepts,
            Metric::ErrorRate => return (answered + self.scheduled > 0).then(|| self.error_rate()),
            Metric::FalseAcceptRate => {
                return ratio(self.false_accepts, self.false_accepts + self.correct_rejects);
            }
            Metric::FalseRejectRate => {
                return ratio(self.false_rejects, self.false_rejects + self.correct_accepts);
            }
            Metric::UnexpectedStatusRate => return ratio(self.unexpected_status, answered),
            Metric::LimitedRate => return ratio(self.limited, answered),
            Metric::TransportErrorRate => return ratio(self.transport_errors, answered),
            Metric::Throughput => return Some(self.throughput_rps),
            _ => return None,
        };
        Some(v as f64)
    }
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
    /// jwtstorm's own lateness: the lag of measured requests whose connection sat idle until
    /// their time (so no busy target held them back). Histogram `schedule/wake`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_us: Option<Percentiles>,
}

/// One endpoint's answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointResult {
    pub method: String,
    pub path: String,
    pub weight: f64,
    pub required_scope: Option<String>,
    pub count: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub verdicts: BTreeMap<String, u64>,
    /// Corrected latency of the answers with a status (histogram `endpoints/N/corrected`).
    pub latency_us: Percentiles,
}

impl EndpointResult {
    /// Requests here with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome.name()).copied().unwrap_or(0)
    }

    /// Requests here judged `judgement`.
    pub fn judged(&self, judgement: Judgement) -> u64 {
        self.verdicts.get(judgement.name()).copied().unwrap_or(0)
    }
}

/// The key of endpoint `i`'s corrected latency in [`Results::histograms`].
pub fn endpoint_histogram(i: usize) -> String {
    format!("endpoints/{i}/corrected")
}

/// One token class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    pub count: u64,
    /// `accepted` + rejected etc.
    pub outcomes: BTreeMap<String, u64>,
    pub verdicts: BTreeMap<String, u64>,
    /// The target's stated rejection reasons, in jwtstorm's words (reason-aware judging only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, u64>,
    /// Per outcome, plus `all` over the responses (transport errors excluded).
    pub latency_us: ClassLatency,
}

impl ClassResult {
    /// Requests of this class with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(outcome.name()).copied().unwrap_or(0)
    }

    /// Requests of this class judged `judgement`.
    pub fn judged(&self, judgement: Judgement) -> u64 {
        self.verdicts.get(judgement.name()).copied().unwrap_or(0)
    }

    /// The class's counts as totals (no schedule: classes are counted by answer).
    pub fn totals(&self) -> Totals {
        Totals {
            completed: Outcome::ALL
                .iter()
                .filter(|o| o.has_status())
                .map(|o| self.outcome(*o))
                .sum(),
            accepted: self.outcome(Outcome::Accepted),
            rejected: self.outcome(Outcome::Rejected),
            forbidden: self.outcome(Outcome::Forbidden),
            limited: self.outcome(Outcome::Limited),
            unexpected_status: self.outcome(Outcome::UnexpectedStatus),
            transport_errors: self.outcome(Outcome::TransportError),
            correct_accepts: self.judged(Judgement::CorrectAccept),
            correct_rejects: self.judged(Judgement::CorrectReject),
            false_accepts: self.judged(Judgement::FalseAccept),
            false_rejects: self.judged(Judgement::FalseReject),
            rejected_other_reason: self.judged(Judgement::RejectedOtherReason),
            ..Totals::default()
        }
    }

    /// What a correct verifier had to answer for this class, from its judgements: `accept`,
    /// `reject`, `depends on time` (a time-bound class crossing its window) or `-`.
    pub fn expected(&self) -> &'static str {
        let accept = self.judged(Judgement::CorrectAccept) + self.judged(Judgement::FalseReject);
        let reject = self.judged(Judgement::CorrectReject) + self.judged(Judgement::FalseAccept);
        match (accept > 0, reject > 0) {
            (true, false) => "accept",
            (false, true) => "reject",
            (true, true) => "depends on time",
            (false, false) if self.judged(Judgement::Either) > 0 => "either",
            (false, false) => "-",
        }
    }
}

/// Latency of one class, corrected and uncorrected, per outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassLatency {
    pub corrected: BTreeMap<String, Percentiles>,
    pub uncorrected: BTreeMap<String, Percentiles>,
}

/// The key of jwtstorm's own send lateness in [`Results::histograms`].
pub const WAKE_HISTOGRAM: &str = "schedule/wake";
/// The key of the send lag of every sent request (open model) in [`Results::histograms`].
pub const LAG_HISTOGRAM: &str = "schedule/lag";
/// The key of limited answers' `Retry-After` (milliseconds) in [`Results::histograms`].
pub const RETRY_AFTER_HISTOGRAM: &str = "limits/retry_after_ms";
/// The key of how much too soon limited callers sent again (milliseconds).
pub const EARLY_HISTOGRAM: &str = "limits/early_by_ms";

/// SHA-256 (hex) of the scenario as run, as results.json holds it: segments of one run have
/// the same.
pub fn scenario_hash(scenario: &serde_json::Value) -> String {
    let text = serde_json::to_string(scenario).unwrap_or_default();
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    let h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("bad histogram: {e:?}"))?;
    // Every histogram jwtstorm writes is bounded by MAX_US; one with larger values (a crafted
    // file) could not be added to the histograms it is merged into.
    if h.max() > crate::stats::recorder::MAX_US {
        return Err(format!(
            "bad histogram: it holds {} but values are at most {}",
            h.max(),
            crate::stats::recorder::MAX_US
        ));
    }
    Ok(h)
}

fn responses(t: &ClassTally, corrected: bool) -> Option<Histogram<u64>> {
    let hs = if corrected { &t.corrected } else { &t.uncorrected };
    let mut all: Option<Histogram<u64>> = None;
    // Every outcome with a status: transport errors (last) have no response.
    for h in hs[..crate::model::OUTCOMES - 1].iter().flatten() {
        all.get_or_insert_with(histogram).add(h).expect("same bounds");
    }
    all
}

/// Counts of one phase.
pub fn totals(t: &Tally, scheduled: u64, duration_s: f64) -> Totals {
    let o = t.outcomes();
    let v = t.verdicts();
    let completed = o.completed();
    Totals {
        scheduled,
        sent: t.sent,
        completed,
        accepted: o[Outcome::Accepted],
        rejected: o[Outcome::Rejected],
        forbidden: o[Outcome::Forbidden],
        limited: o[Outcome::Limited],
        unexpected_status: o[Outcome::UnexpectedStatus],
        transport_errors: o[Outcome::TransportError],
        cancelled: t.not_sent + t.aborted,
        not_sent: t.not_sent,
        aborted_in_flight: t.aborted,
        correct_accepts: v[Judgement::CorrectAccept],
        correct_rejects: v[Judgement::CorrectReject],
        false_accepts: v[Judgement::FalseAccept],
        false_rejects: v[Judgement::FalseReject],
        boundary: v[Judgement::Boundary],
        rejected_other_reason: v[Judgement::RejectedOtherReason],
        // Set from the per-key records, which a rotation fills (warmup included).
        stale_key_accepts: 0,
        rotation_false_rejects: 0,
        over_limit: 0,
        revoked_accepts: 0,
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
            reasons: t.reasons.clone(),
            ..ClassResult::default()
        };
        for o in Outcome::ALL {
            let n = t.outcomes[o];
            if n > 0 {
                r.outcomes.insert(o.name().into(), n);
            }
        }
        for j in Judgement::ALL {
            if t.verdicts[j] > 0 {
                r.verdicts.insert(j.name().to_string(), t.verdicts[j]);
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
        // Beyond the bounds every jwtstorm histogram has: refused, so no merge can fail.
        let mut wide = Histogram::<u64>::new_with_bounds(1, 1 << 50, 3).unwrap();
        wide.record(1 << 45).unwrap();
        assert!(decode_histogram(&encode_histogram(&wide)).is_err());
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
    }
}
