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
) -> Results {
    let rec = &f.recorder;
    let warmup = load.warmup.min(f.window);
    let measured_s = (f.window.saturating_sub(warmup)).as_secs_f64();
    let totals = results::totals(&rec.main, f.scheduled, measured_s);
    let wt = results::totals(&rec.warmup, f.warmup_scheduled, warmup.as_secs_f64());
    let (classes, latency, mut histograms) = results::classes(rec);
    let open = load.model == Model::Open;
    if open && !rec.wake.is_empty() {
        histograms.insert(
            results::WAKE_HISTOGRAM.into(),
            results::encode_histogram(&rec.wake),
        );
    }
    let (status_codes, transport_errors) = results::codes(&rec.main);
    let ended = f.started + f.elapsed;
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
        scenario: scenario_as_run(p, load, keys, alg, url),
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
    }
}
