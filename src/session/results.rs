//! A replay's results as results.json holds them: totals, per-class figures and histograms from
//! the merged recorder, and the scenario as run with every secret left out.

use crate::model::{Model, alg};
use crate::replay::engine::Finished;
use crate::scenario::resolve::KeySource;
use crate::scenario::run::LoadSettings;
use crate::stats::recorder::{LATE_AFTER, Percentiles};
use crate::stats::results::{self, Meta, Phase, Results, Schedule, StreamReport};
use crate::token::keys::KeyMaterial;

use super::Prepared;
use super::idp::IdpRun;
use crate::stats::results::{IdpCheck, IdpEvent, IdpReport, KeyReport};

/// The scenario as run, with secrets left out: keys by kid and fingerprint, header values
/// redacted.
fn scenario_as_run(
    p: &Prepared,
    load: &LoadSettings,
    keys: &[KeyMaterial],
    alg: jsonwebtoken::Algorithm,
    url: &str,
) -> serde_json::Value {
    let mut target = serde_json::to_value(&p.run.target).unwrap_or_default();
    if let Some(obj) = target.as_object_mut() {
        obj.insert("url".into(), url.into());
        obj.insert(
            "headers".into(),
            p.run
                .target
                .headers
                .iter()
                .map(|(k, _)| (k.clone(), serde_json::Value::from("<redacted>")))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
    }
    let source = match &p.settings.keys.source {
        KeySource::Generate => "generated".to_string(),
        KeySource::SecretFile(f) => format!("secret_file {}", f.display()),
        KeySource::SecretEnv(v) => format!("secret_env {v}"),
        KeySource::PrivateKeyFile(f) => format!("private_key_file {}", f.display()),
        KeySource::PrivateKeyEnv(v) => format!("private_key_env {v}"),
        KeySource::PublicKeyFile(f) => format!("public_key_file {}", f.display()),
        KeySource::Jwks(f) => format!("jwks_file {}", f.display()),
        KeySource::Dir(d) => format!("dir {}", d.display()),
    };
    let t = &p.settings.tokens;
    serde_json::json!({
        "name": p.name,
        "file": p.loaded.path.display().to_string(),
        "keys": {
            "alg": alg::name(alg),
            "source": source,
            "keys": keys.iter().map(|k| serde_json::json!({"kid": k.kid, "fingerprint": k.fingerprint})).collect::<Vec<_>>(),
        },
        "verifier": p.settings.policy(alg),
        "tokens": match &p.run.batch {
            Some(b) => serde_json::json!({
                "batch": b.display().to_string(),
                "source": if t.stream { "stream" } else { "batch" },
            }),
            None => serde_json::json!({
                "source": if t.stream { "stream" } else { "batch" },
                // A stream without a count never repeats a token.
                "count": (!t.stream || t.count_given).then_some(t.count),
                "seed": t.seed, "ttl_s": t.ttl, "nbf_offset_s": t.nbf_offset,
                "size": t.size, "claims": t.claims,
                "mix": t.mix.iter().map(|(c, w)| (c.name().to_string(), *w)).collect::<std::collections::BTreeMap<_, _>>(),
            }),
        },
        "target": target,
        "load": load,
    })
}

/// Milliseconds of a schedule time.
fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// What the identity provider served, the answers per key, and the checks of the target's
/// fetch pattern.
fn idp_report(run: &IdpRun, rec: &crate::stats::recorder::Recorder, p: &Prepared, run_ms: f64) -> IdpReport {
    use crate::idp::Document;
    let sch = &run.schedule;
    let fetches = run.log.fetches(sch.clock());
    let jwks: Vec<&crate::idp::Fetch> = fetches.iter().filter(|f| f.document == Document::Jwks).collect();
    let mut keys = Vec::new();
    for (slot, key) in sch.keys().iter().enumerate() {
        let w = &sch.windows()[slot];
        let r = rec.keys.get(slot).cloned().unwrap_or_default();
        let to_ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
        let incoming = sch.incoming(slot);
        let rotation_gap_ms = if incoming {
            r.first_sent_us
                .zip(r.first_accept_us)
                .map(|(s, a)| a.saturating_sub(s) as f64 / 1000.0)
        } else {
            None
        };
        let removal_window_ms = w.retired.and_then(|ret| {
            r.first_retired_reject_us
                .map(|rj| (rj as f64 / 1000.0 - ms(ret) as f64).max(0.0))
        });
        keys.push(KeyReport {
            kid: key.kid.clone(),
            fingerprint: key.fingerprint.clone(),
            published_ms: w.published.map(ms),
            signs_from_ms: w.signs_from.map(ms),
            signs_until_ms: w.signs_until.map(ms),
            retired_ms: w.retired.map(ms),
            sent: r.sent,
            accepted: r.accepted,
            rejected: r.rejected,
            false_rejects: r.false_rejects,
            stale_accepts: r.stale_accepts,
            first_sent_ms: to_ms(r.first_sent_us),
            first_accept_ms: to_ms(r.first_accept_us),
            last_false_reject_ms: to_ms(r.last_false_reject_us),
            rotation_gap_ms,
            first_retired_reject_ms: to_ms(r.first_retired_reject_us),
            last_stale_accept_ms: to_ms(r.last_stale_accept_us),
            removal_window_ms,
            per_second: r.per_second.clone(),
        });
    }
    let rotation_false_rejects = keys
        .iter()
        .enumerate()
        .filter(|(slot, _)| sch.incoming(*slot))
        .map(|(_, k)| k.false_rejects)
        .sum();
    let stale_key_accepts = keys.iter().map(|k| k.stale_accepts).sum();
    let attacker_fetches = fetches
        .iter()
        .filter(|f| matches!(f.document, Document::AttackerJwks | Document::AttackerCert))
        .count() as u64;
    // The checks of the fetch pattern.
    let mut checks = Vec::new();
    let during: Vec<i64> = jwks
        .iter()
        .filter(|f| f.at_ms >= 0 && (f.at_ms as f64) <= run_ms)
        .map(|f| f.at_ms)
        .collect();
    for (slot, k) in keys.iter().enumerate() {
        if !sch.incoming(slot) {
            continue;
        }
        let Some(first) = k.first_sent_ms else { continue };
        let published = k.published_ms.unwrap_or(0) as f64;
        // The target had the key if it fetched a set holding it before the first token came.
        let had = during
            .iter()
            .find(|&&t| t as f64 >= published && (t as f64) < first);
        let until = k.first_accept_ms.unwrap_or(run_ms);
        let refetch = during
            .iter()
            .find(|&&t| t as f64 >= first - 1.0 && t as f64 <= until + 1.0);
        let (passed, detail) = match (had, refetch) {
            (Some(t), _) if k.false_rejects == 0 => (
                true,
                format!(
                    "the target fetched the set holding {} at {t} ms, before its first token",
                    k.kid
                ),
            ),
            (_, Some(t)) => (
                true,
                format!(
                    "the target refetched the key set {:.0} ms after the first {} token",
                    (*t as f64 - first).max(0.0),
                    k.kid
                ),
            ),
            _ => (
                false,
                format!(
                    "no fetch between the first {} token and {}",
                    k.kid,
                    if k.first_accept_ms.is_some() {
                        "its first accept"
                    } else {
                        "the end"
                    }
                ),
            ),
        };
        checks.push(IdpCheck {
            name: format!("refetch_on_new_kid.{}", k.kid),
            passed,
            detail,
        });
    }
    let expected_age = if p.run.target.embedded {
        p.run.jwks_cache.max_age
    } else {
        run.settings.max_age
    };
    let age_ms = ms(expected_age) as f64;
    if run_ms > age_ms + 2000.0 && !during.is_empty() {
        let mut points = vec![0i64];
        points.extend(during.iter().copied());
        points.push(run_ms as i64);
        let longest = points.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0) as f64;
        checks.push(IdpCheck {
            name: "refetch_at_max_age".into(),
            passed: longest <= age_ms + 1500.0,
            detail: format!(
                "the longest time without a fetch was {:.1} s against a max-age of {:.1} s",
                longest / 1000.0,
                age_ms / 1000.0
            ),
        });
    }
    let mut per_second = std::collections::BTreeMap::<i64, u64>::new();
    for t in &during {
        *per_second.entry(t.div_euclid(1000)).or_default() += 1;
    }
    let (busiest, most) = per_second
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or((0, 0), |(s, n)| (*s, *n));
    checks.push(IdpCheck {
        name: "coalesced_fetches".into(),
        passed: most <= 2,
        detail: format!("at most {most} fetch(es) of the key set in one second (second {busiest})"),
    });
    checks.push(IdpCheck {
        name: "no_header_key_fetches".into(),
        passed: attacker_fetches == 0,
        detail: if attacker_fetches == 0 {
            "the target never fetched a key a token's jku or x5u header named".into()
        } else {
            format!(
                "the target fetched the attacker's documents {attacker_fetches} time(s): it follows jku/x5u headers (server-side request forgery)"
            )
        },
    });
    IdpReport {
        url: run.url.clone(),
        max_age_s: run.settings.max_age.as_secs_f64(),
        preset: match &run.settings.rotation {
            crate::scenario::idp::Rotation::Preset { preset, .. } => Some(preset.clone()),
            _ => None,
        },
        retired_share: if sch.is_fixed() { 0.0 } else { sch.retired_share() },
        events: sch
            .events()
            .iter()
            .map(|e| IdpEvent {
                at_ms: ms(e.at),
                action: e.action.name().into(),
                kid: e.kid.clone(),
            })
            .collect(),
        keys,
        fetches_total: run.log.total(),
        jwks_fetches: jwks.len() as u64,
        not_modified: jwks.iter().filter(|f| f.status == 304).count() as u64,
        attacker_fetches,
        fetches,
        rotation_false_rejects,
        stale_key_accepts,
        checks,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn results_of(
    p: &Prepared,
    load: &LoadSettings,
    f: &Finished,
    url: &str,
    cores: usize,
    tokens: u64,
    keys: &[KeyMaterial],
    alg: jsonwebtoken::Algorithm,
    idp: Option<&IdpRun>,
    revocations: Option<&crate::replay::revoke::ListSink>,
) -> Results {
    let rec = &f.recorder;
    let revocation = revocation_report(p, load, f, idp, revocations);
    let warmup = load.warmup.min(f.window);
    let measured_s = (f.window.saturating_sub(warmup)).as_secs_f64();
    let mut totals = results::totals(&rec.main, f.scheduled, measured_s);
    let idp = idp.map(|i| idp_report(i, rec, p, f.elapsed.as_secs_f64() * 1000.0));
    if let Some(r) = &idp {
        totals.stale_key_accepts = r.stale_key_accepts;
        totals.rotation_false_rejects = r.rotation_false_rejects;
    }
    let wt = results::totals(&rec.warmup, f.warmup_scheduled, warmup.as_secs_f64());
    let (classes, latency, mut histograms) = results::classes(rec);
    let open = load.model == Model::Open;
    if open && !rec.lag.is_empty() {
        histograms.insert(results::LAG_HISTOGRAM.into(), results::encode_histogram(&rec.lag));
    }
    if open && !rec.wake.is_empty() {
        histograms.insert(
            results::WAKE_HISTOGRAM.into(),
            results::encode_histogram(&rec.wake),
        );
    }
    let rate_limit = crate::stats::limits::RateLimitReport::of(
        &rec.limits,
        p.settings.verifier.rate_limit,
        load.respect_retry_after,
    );
    for (key, h) in [
        (results::RETRY_AFTER_HISTOGRAM, &rec.limits.retry_after_ms),
        (results::EARLY_HISTOGRAM, &rec.limits.early_by_ms),
    ] {
        if !h.is_empty() {
            histograms.insert(key.into(), results::encode_histogram(h));
        }
    }
    if let Some(r) = &rate_limit {
        totals.over_limit = r.over_limit;
    }
    let endpoints: Vec<results::EndpointResult> = p
        .run
        .target
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let t = rec.endpoints.get(i).cloned().unwrap_or_default();
            if let Some(h) = &t.corrected {
                histograms.insert(results::endpoint_histogram(i), results::encode_histogram(h));
            }
            results::EndpointResult {
                method: e.method.clone(),
                path: e.path.clone(),
                weight: e.weight,
                required_scope: e.required_scope.clone(),
                count: t.outcomes.total(),
                outcomes: crate::model::Outcome::ALL
                    .iter()
                    .filter(|o| t.outcomes[**o] > 0)
                    .map(|o| (o.name().to_string(), t.outcomes[*o]))
                    .collect(),
                verdicts: crate::model::Judgement::ALL
                    .iter()
                    .filter(|j| t.verdicts[**j] > 0)
                    .map(|j| (j.name().to_string(), t.verdicts[*j]))
                    .collect(),
                latency_us: t.corrected.as_ref().map(Percentiles::of).unwrap_or_default(),
            }
        })
        .collect();
    totals.revoked_accepts = classes
        .get(crate::token::classes::TokenClass::Revoked.name())
        .map_or(0, |c| c.outcome(crate::model::Outcome::Accepted));
    let (status_codes, transport_errors) = results::codes(&rec.main);
    let ended = f.started + f.elapsed;
    let scenario = scenario_as_run(p, load, keys, alg, url);
    let seg = p.run.segment;
    let fleet = (!seg.is_whole()).then(|| results::Fleet {
        segments: seg.count,
        segment: Some(seg.index),
        scenario_hash: results::scenario_hash(&scenario),
        start_at: p
            .run
            .start_at
            .map(|t| humantime::format_rfc3339_millis(t).to_string()),
        joined_late_ms: f.joined_late.as_secs_f64() * 1000.0,
        missed: f.missed,
        thresholds: p
            .run
            .thresholds
            .iter()
            .map(|t| results::ThresholdSpec {
                name: t.name.clone(),
                condition: t.condition.clone(),
            })
            .collect(),
        require_accepts: p.run.require_accepts,
        ..results::Fleet::default()
    });
    Results {
        schema_version: results::SCHEMA_VERSION,
        meta: Meta {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            scenario: p.name.clone(),
            started: humantime::format_rfc3339_millis(f.started).to_string(),
            ended: humantime::format_rfc3339_millis(ended).to_string(),
            interrupted: f.interrupted,
            aborted: f.aborted.clone(),
            cores,
            threads: f.threads,
            model: load.model.name().into(),
            transport: p.run.target.transport.name().into(),
            http: p.run.target.http.name().into(),
            target_url: url.into(),
            embedded: p.run.target.embedded,
            connections_opened: f.connections_opened,
            tokens,
            batch_wrapped: f.wrapped,
        },
        scenario,
        totals,
        latency_us: latency,
        schedule: open.then(|| Schedule {
            lag_us: Percentiles::of(&rec.lag),
            late: rec.late,
            late_after_ms: LATE_AFTER.as_millis() as u64,
            wake_us: (!rec.wake.is_empty()).then(|| Percentiles::of(&rec.wake)),
        }),
        warmup: Phase {
            duration_s: warmup.as_secs_f64(),
            scheduled: wt.scheduled,
            sent: wt.sent,
            completed: wt.completed,
            transport_errors: wt.transport_errors,
            false_accepts: wt.false_accepts,
            false_rejects: wt.false_rejects,
        },
        classes,
        status_codes,
        transport_errors,
        timeline: f.timeline.clone(),
        samples: rec.samples.clone(),
        thresholds: Vec::new(),
        histograms,
        stream: f.stream.map(|st| StreamReport {
            from: if p.run.batch.is_some() { "batch" } else { "mint" }.into(),
            lead: st.lead,
            taken: st.taken,
            mint_bound: rec.mint_bound,
            longest_wait_us: rec.mint_wait_max.as_micros() as u64,
        }),
        idp,
        fleet,
        rate_limit,
        endpoints,
        revocation,
    }
}

/// The revocation list and what each revocation during the run did.
fn revocation_report(
    p: &Prepared,
    load: &LoadSettings,
    f: &Finished,
    idp: Option<&IdpRun>,
    list: Option<&crate::replay::revoke::ListSink>,
) -> Option<crate::stats::revocations::RevocationReport> {
    use crate::stats::revocations::{RevocationEvent, RevocationReport};
    let list = list?;
    // A fleet's segments each keep their own list; the merge names the first.
    let _ = p.run.segment;
    Some(RevocationReport {
        list: list.path().display().to_string(),
        url: idp.map(|i| i.revocation_url()),
        initial: list.initial(),
        entries: list.len(),
        events: load
            .revoke
            .iter()
            .enumerate()
            .map(|(i, planned)| {
                RevocationEvent::of(
                    planned,
                    f.revocations.get(i).and_then(|x| x.as_ref()),
                    f.recorder.revocations.events.get(i),
                )
            })
            .collect(),
    })
}
