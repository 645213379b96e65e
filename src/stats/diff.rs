//! A verifier differential (`jwtstorm diff`): every target's answer to every token of one
//! batch, kept per token, and what `diff.json` says of them: per class and target the counts of
//! each answer, the patterns of disagreement per class and variant, samples, and each target's
//! latency per class.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};

use serde::{Deserialize, Serialize};

use crate::model::Outcome;

/// The version of `diff.json`'s layout.
pub const SCHEMA_VERSION: u32 = 1;
/// The most distinct stated reasons kept per target; further ones are kept as "other".
pub const MAX_REASONS: usize = 250;
/// Sample tokens kept per class and pattern.
pub const SAMPLES_PER_PATTERN: usize = 3;

/// One target's answer to each token, by the token's index in the batch.
#[derive(Debug)]
pub struct AnswerLog {
    /// 0: no answer; otherwise the outcome's index + 1.
    outcomes: Vec<AtomicU8>,
    statuses: Vec<AtomicU16>,
    /// 0: no reason; otherwise an index + 1 into `reasons`.
    reason_ids: Vec<AtomicU16>,
    reasons: Mutex<Vec<String>>,
}

/// One recorded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub reason: Option<String>,
}

impl AnswerLog {
    /// A log for `tokens` tokens.
    pub fn new(tokens: usize) -> AnswerLog {
        AnswerLog {
            outcomes: (0..tokens).map(|_| AtomicU8::new(0)).collect(),
            statuses: (0..tokens).map(|_| AtomicU16::new(0)).collect(),
            reason_ids: (0..tokens).map(|_| AtomicU16::new(0)).collect(),
            reasons: Mutex::new(Vec::new()),
        }
    }

    /// Records the answer to token `index` (an index beyond the log is ignored).
    pub fn record(&self, index: u64, outcome: Outcome, status: Option<u16>, reason: Option<&str>) {
        let Ok(i) = usize::try_from(index) else { return };
        let Some(slot) = self.outcomes.get(i) else { return };
        let code = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0) as u8 + 1;
        slot.store(code, Ordering::Relaxed);
        self.statuses[i].store(status.unwrap_or(0), Ordering::Relaxed);
        let id = reason.map_or(0, |r| self.intern(r));
        self.reason_ids[i].store(id, Ordering::Relaxed);
    }

    fn intern(&self, reason: &str) -> u16 {
        let Ok(mut known) = self.reasons.lock() else {
            return 0;
        };
        if let Some(p) = known.iter().position(|r| r == reason) {
            return p as u16 + 1;
        }
        if known.len() >= MAX_REASONS {
            return match known.iter().position(|r| r == "other") {
                Some(p) => p as u16 + 1,
                None => {
                    known.push("other".into());
                    known.len() as u16
                }
            };
        }
        known.push(reason.chars().take(100).collect());
        known.len() as u16
    }

    /// The answer to token `i`, if it got one.
    pub fn get(&self, i: usize) -> Option<Answer> {
        let code = self.outcomes.get(i)?.load(Ordering::Relaxed);
        let outcome = *Outcome::ALL.get(usize::from(code).checked_sub(1)?)?;
        let status = self.statuses[i].load(Ordering::Relaxed);
        let rid = self.reason_ids[i].load(Ordering::Relaxed);
        let reason = (rid > 0)
            .then(|| self.reasons.lock().ok()?.get(usize::from(rid) - 1).cloned())
            .flatten();
        Some(Answer {
            outcome,
            status: (status > 0).then_some(status),
            reason,
        })
    }

    /// How many tokens got an answer.
    pub fn answered(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|o| o.load(Ordering::Relaxed) > 0)
            .count() as u64
    }

    /// How many tokens it holds room for.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether it holds room for none.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }
}

/// Whether an answer is a verifier's opinion of the token: accepted, rejected, forbidden or an
/// unexpected status. A limited answer or a transport error says nothing about the token.
pub fn is_opinion(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Accepted | Outcome::Rejected | Outcome::Forbidden | Outcome::UnexpectedStatus
    )
}

/// `diff.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    pub schema_version: u32,
    pub meta: DiffMeta,
    pub targets: Vec<DiffTarget>,
    /// Tokens every target gave an opinion on whose answers differ.
    pub disagreements: u64,
    /// Tokens some target gave no opinion on (not sent, limited, a transport error).
    pub undecided: u64,
    pub classes: BTreeMap<String, DiffClass>,
    pub samples: Vec<DiffSample>,
    #[serde(default)]
    pub thresholds: Vec<DiffVerdict>,
}

/// What was compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffMeta {
    pub tool_version: String,
    pub scenario: String,
    pub started: String,
    pub ended: String,
    pub tokens: u64,
    pub alg: String,
    pub model: String,
    pub parallel: bool,
    pub interrupted: bool,
}

/// One target and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffTarget {
    pub name: String,
    pub url: String,
    /// Tokens it answered (a status or a transport error).
    pub answered: u64,
    /// Tokens it was never sent (the run ended first).
    pub not_sent: u64,
    pub duration_s: f64,
    /// Its corrected latency per class: p50 and p99 in µs over the answers with a status.
    pub latency_us: BTreeMap<String, ClassLatency>,
}

/// A class's latency at one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassLatency {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
}

/// One class across the targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffClass {
    pub tokens: u64,
    /// Per target, its answers by outcome.
    pub answers: BTreeMap<String, BTreeMap<String, u64>>,
    pub disagreements: u64,
    pub undecided: u64,
    /// The ways the targets disagreed, most tokens first.
    pub patterns: Vec<DiffPattern>,
}

/// One way the targets disagreed on tokens of a class (and variant).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffPattern {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Each target's answer (outcome, with the stated reason where one was read).
    pub answers: BTreeMap<String, String>,
    pub tokens: u64,
}

/// A token the targets disagreed on, decoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffSample {
    pub class: String,
    /// What is special about tokens of the class: how they are made.
    pub about: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub index: u64,
    pub token: String,
    /// The header and payload JSON, when they decode.
    pub header: Option<serde_json::Value>,
    pub payload: Option<serde_json::Value>,
    pub answers: BTreeMap<String, SampleAnswer>,
}

/// A target's answer to a sample token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleAnswer {
    pub outcome: String,
    pub status: Option<u16>,
    pub reason: Option<String>,
}

/// A threshold on disagreements and its verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffVerdict {
    pub name: String,
    pub condition: String,
    pub value: u64,
    pub passed: bool,
}

/// How a target's answer reads in a pattern: the outcome, and the reason after a colon.
pub fn answer_text(a: &Answer) -> String {
    match &a.reason {
        Some(r) => format!("{}:{r}", a.outcome.name()),
        None => a.outcome.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_per_token_with_reasons_interned() {
        let log = AnswerLog::new(4);
        log.record(0, Outcome::Accepted, Some(200), None);
        log.record(2, Outcome::Rejected, Some(401), Some("expired"));
        log.record(3, Outcome::Rejected, Some(401), Some("expired"));
        log.record(99, Outcome::Rejected, Some(401), None);
        assert_eq!(log.get(0).unwrap().outcome, Outcome::Accepted);
        assert_eq!(log.get(1), None);
        let a = log.get(3).unwrap();
        assert_eq!((a.status, a.reason.as_deref()), (Some(401), Some("expired")));
        assert_eq!(answer_text(&a), "rejected:expired");
        assert_eq!(log.reasons.lock().unwrap().len(), 1);
        assert!(is_opinion(Outcome::UnexpectedStatus) && !is_opinion(Outcome::Limited));
    }
}
