//! A verifier differential: one batch (the same tokens in the same order) sent to every
//! target, each through a session of its own (its headers, placement and reason source), every
//! answer kept per token, then compared token by token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use super::{Prepared, Session, SessionError};
use crate::scenario::diff::{DiffSettings, DiffTarget};
use crate::scenario::resolve::KeySource;
use crate::stats::diff::{
    self, Answer, AnswerLog, DiffClass, DiffMeta, DiffPattern, DiffReport, DiffSample, SampleAnswer,
};
use crate::token::classes::TokenClass;

/// The most tokens a differential sends (each target keeps an answer per token).
pub const MAX_TOKENS: u64 = 10_000_000;

fn invalid(m: impl Into<String>) -> SessionError {
    SessionError::Invalid(m.into())
}

/// The scenario as one target gets it.
fn for_target(base: &Prepared, t: &DiffTarget) -> Prepared {
    let mut p = base.clone();
    let target = &mut p.run.target;
    target.url = Some(t.url.clone());
    target.embedded = false;
    for (k, v) in &t.headers {
        target.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        target.headers.push((k.clone(), v.clone()));
    }
    if let Some(token) = &t.token {
        target.token = token.clone();
    }
    if t.reason_header.is_some() {
        target.reason_header.clone_from(&t.reason_header);
    }
    if t.reason_json.is_some() {
        target.reason_json.clone_from(&t.reason_json);
    }
    p
}

/// What one target did.
struct TargetRun {
    target: DiffTarget,
    log: Arc<AnswerLog>,
    finished: Option<crate::replay::engine::Finished>,
}

/// Checks what a differential cannot do, before anything is minted or sent.
pub fn check(p: &Prepared) -> Result<(), SessionError> {
    if p.run.idp.is_some() {
        return Err(invalid(
            "diff sends one batch to every target, but [idp] makes keys and signatures of its own per run: remove [idp]",
        ));
    }
    if p.run.batch.is_none() && p.settings.keys.source == KeySource::Generate {
        return Err(invalid(
            "diff targets cannot know freshly generated keys; name the keys they trust in [keys] (dir, secret_file, \
             secret_env, private_key_file, jwks_file)",
        ));
    }
    let l = &p.run.load;
    if l.reuse > 0.0 || l.pool.is_some() || !l.revoke.is_empty() {
        return Err(invalid(
            "diff sends every token once to every target: remove load.reuse, load.pool and load.revoke",
        ));
    }
    if p.run.batch.is_none() && p.settings.tokens.count > MAX_TOKENS {
        return Err(invalid(format!(
            "diff keeps every target's answer to every token: at most {MAX_TOKENS} tokens, not {}",
            p.settings.tokens.count
        )));
    }
    Ok(())
}

/// Sends the batch to every target (at once or one after another) and compares the answers.
pub fn run(p: &Prepared, d: &DiffSettings, interrupt: &AtomicBool) -> Result<DiffReport, SessionError> {
    check(p)?;
    let started = SystemTime::now();
    let mut base = p.clone();
    // The same tokens for every target: minted once each from the same clock, before the run.
    base.settings.tokens.stream = false;
    base.settings.tokens.now.get_or_insert_with(super::unix_now);
    base.run.load.warmup = std::time::Duration::ZERO;
    let mut sessions = Vec::new();
    for t in &d.targets {
        let mut s = Session::start(for_target(&base, t), interrupt)?;
        let log = Arc::new(AnswerLog::new(s.store.len()));
        s.answers = Some(log.clone());
        sessions.push((t.clone(), s, log));
    }
    let len = sessions[0].1.store.len();
    if sessions.iter().any(|(_, s, _)| s.store.len() != len) {
        return Err(invalid(
            "the targets' batches differ in length (the token placement changed what was minted)",
        ));
    }
    let mut load = base.run.load.clone();
    let len64 = len as u64;
    load.requests = Some(load.requests.map_or(len64, |r| r.min(len64)));
    let replay = |s: &Session| s.replay(&load, interrupt, false, false).map(|(f, _)| f);
    let mut runs: Vec<TargetRun> = Vec::new();
    if d.parallel {
        let results: Vec<Result<crate::replay::engine::Finished, SessionError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = sessions
                    .iter()
                    .map(|(_, s, _)| scope.spawn(move || replay(s)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(invalid("a target's replay panicked")))
                    })
                    .collect()
            });
        for ((t, _, log), r) in sessions.iter().zip(results) {
            runs.push(TargetRun {
                target: t.clone(),
                log: log.clone(),
                finished: Some(r?),
            });
        }
    } else {
        for (t, s, log) in &sessions {
            let finished = if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                None
            } else {
                Some(replay(s)?)
            };
            runs.push(TargetRun {
                target: t.clone(),
                log: log.clone(),
                finished,
            });
        }
    }
    let first = &sessions[0].1;
    let report = compare(p, d, first, &runs, started, interrupt);
    for (_, s, _) in &mut sessions {
        s.stop();
    }
    Ok(report)
}

/// The samples' token text: the raw token (test tokens are evidence, not secrets).
fn raw_token(s: &Session, i: usize) -> String {
    let value = s.store.value(i);
    let raw = s.fmt.raw(&value).unwrap_or_else(|| value.to_vec());
    String::from_utf8_lossy(&raw).into_owned()
}

fn decode_segment(seg: Option<&str>) -> Option<serde_json::Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg?)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A way of disagreeing: the class, its variant, and each target's answer.
type PatternKey = (TokenClass, Option<String>, BTreeMap<String, String>);

/// Compares the answers token by token.
fn compare(
    p: &Prepared,
    d: &DiffSettings,
    first: &Session,
    runs: &[TargetRun],
    started: SystemTime,
    interrupt: &AtomicBool,
) -> DiffReport {
    let len = first.store.len();
    let mut classes: BTreeMap<String, DiffClass> = BTreeMap::new();
    let mut patterns: BTreeMap<PatternKey, (u64, Vec<usize>)> = BTreeMap::new();
    let (mut disagreements, mut undecided) = (0u64, 0u64);
    for i in 0..len {
        let class = first.store.label(i).0;
        let c = classes.entry(class.name().to_string()).or_default();
        c.tokens += 1;
        let answers: Vec<Option<Answer>> = runs.iter().map(|r| r.log.get(i)).collect();
        for (r, a) in runs.iter().zip(&answers) {
            let key = a.as_ref().map_or("not_sent", |a| a.outcome.name());
            *c.answers
                .entry(r.target.name.clone())
                .or_default()
                .entry(key.to_string())
                .or_default() += 1;
        }
        if answers
            .iter()
            .any(|a| a.as_ref().is_none_or(|a| !diff::is_opinion(a.outcome)))
        {
            c.undecided += 1;
            undecided += 1;
            continue;
        }
        let outcomes: Vec<_> = answers.iter().flatten().map(|a| a.outcome).collect();
        if outcomes.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        c.disagreements += 1;
        disagreements += 1;
        let token = raw_token(first, i);
        let variant = class.variant(&token);
        let key: BTreeMap<String, String> = runs
            .iter()
            .zip(&answers)
            .map(|(r, a)| {
                (
                    r.target.name.clone(),
                    a.as_ref().map_or(String::new(), diff::answer_text),
                )
            })
            .collect();
        let e = patterns.entry((class, variant, key)).or_default();
        e.0 += 1;
        if e.1.len() < diff::SAMPLES_PER_PATTERN {
            e.1.push(i);
        }
    }
    let mut samples = Vec::new();
    let mut by_class: BTreeMap<String, Vec<DiffPattern>> = BTreeMap::new();
    for ((class, variant, answers), (tokens, kept)) in patterns {
        for i in kept {
            let token = raw_token(first, i);
            let mut parts = token.split('.');
            samples.push(DiffSample {
                class: class.name().into(),
                about: class.how().into(),
                variant: variant.clone(),
                index: first.store.batch_index(i),
                header: decode_segment(parts.next()),
                payload: decode_segment(parts.next()),
                token,
                answers: runs
                    .iter()
                    .filter_map(|r| {
                        let a = r.log.get(i)?;
                        Some((
                            r.target.name.clone(),
                            SampleAnswer {
                                outcome: a.outcome.name().into(),
                                status: a.status,
                                reason: a.reason,
                            },
                        ))
                    })
                    .collect(),
            });
        }
        by_class
            .entry(class.name().to_string())
            .or_default()
            .push(DiffPattern {
                variant,
                answers,
                tokens,
            });
    }
    for (name, mut list) in by_class {
        list.sort_by_key(|p| std::cmp::Reverse(p.tokens));
        if let Some(c) = classes.get_mut(&name) {
            c.patterns = list;
        }
    }
    let targets = runs
        .iter()
        .map(|r| {
            let (latency_us, duration_s) = match &r.finished {
                Some(f) => {
                    let (per_class, _, _) = crate::stats::results::classes(&f.recorder);
                    let lat = per_class
                        .iter()
                        .filter_map(|(name, c)| {
                            let all = c.latency_us.corrected.get("all")?;
                            Some((
                                name.clone(),
                                diff::ClassLatency {
                                    count: all.count,
                                    p50: all.p50,
                                    p99: all.p99,
                                },
                            ))
                        })
                        .collect();
                    (lat, f.elapsed.as_secs_f64())
                }
                None => (BTreeMap::new(), 0.0),
            };
            let answered = r.log.answered();
            diff::DiffTarget {
                name: r.target.name.clone(),
                url: r.target.url.clone(),
                answered,
                not_sent: len as u64 - answered,
                duration_s,
                latency_us,
            }
        })
        .collect();
    let mut report = DiffReport {
        schema_version: diff::SCHEMA_VERSION,
        meta: DiffMeta {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            scenario: p.name.clone(),
            started: humantime::format_rfc3339_millis(started).to_string(),
            ended: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            tokens: len as u64,
            alg: crate::model::alg::name(first.alg).into(),
            model: p.run.load.model.name().into(),
            parallel: d.parallel,
            interrupted: interrupt.load(std::sync::atomic::Ordering::Relaxed),
        },
        targets,
        disagreements,
        undecided,
        classes,
        samples,
        thresholds: Vec::new(),
    };
    report.thresholds = d.thresholds.iter().map(|t| t.evaluate(&report)).collect();
    report
}
