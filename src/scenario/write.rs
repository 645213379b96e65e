//! The scenario a file and flags make, written back as TOML (`run --print-scenario`), so a
//! one-off command becomes a file. Keys and secrets appear by reference only: a path or an
//! environment variable's name, never their content.

use std::time::Duration;

use toml::{Table, Value};

use super::resolve::{KeySource, Settings};
use super::run::RunSettings;
use crate::model::{Model, StatusSet, alg};

/// `5s`, or `1500ms` when the duration has a fraction of a second.
fn dur(d: Duration) -> Value {
    Value::String(if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    })
}

fn path(p: &std::path::Path) -> Value {
    Value::String(
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
    )
}

fn json_to_toml(v: &serde_json::Value) -> Option<Value> {
    Value::try_from(v).ok()
}

fn statuses(s: &StatusSet) -> Option<Value> {
    match s {
        // An emptied default (it yielded to a named set) comes back the same way.
        StatusSet::Any2xx => None,
        StatusSet::List(l) if l.is_empty() => None,
        StatusSet::List(l) => Some(Value::Array(
            l.iter().map(|c| Value::Integer(i64::from(*c))).collect(),
        )),
    }
}

/// The scenario as TOML text.
pub fn to_toml(name: &str, s: &Settings, run: &RunSettings) -> String {
    let mut doc = Table::new();
    doc.insert("name".into(), Value::String(name.into()));

    let mut keys = Table::new();
    if let Some(a) = s.keys.alg {
        keys.insert("alg".into(), Value::String(alg::name(a).into()));
    }
    let (key, value) = match &s.keys.source {
        KeySource::Generate => ("generate", Value::Boolean(true)),
        KeySource::SecretFile(p) => ("secret_file", path(p)),
        KeySource::SecretEnv(v) => ("secret_env", Value::String(v.clone())),
        KeySource::PrivateKeyFile(p) => ("private_key_file", path(p)),
        KeySource::PrivateKeyEnv(v) => ("private_key_env", Value::String(v.clone())),
        KeySource::PublicKeyFile(p) => ("public_key_file", path(p)),
        KeySource::Jwks(p) => ("jwks_file", path(p)),
        KeySource::Dir(p) => ("dir", path(p)),
    };
    keys.insert(key.into(), value);
    if s.keys.source == KeySource::Generate {
        keys.insert("count".into(), Value::Integer(i64::from(s.keys.count)));
        if let Some(b) = s.keys.rsa_bits {
            keys.insert("rsa_bits".into(), Value::Integer(b as i64));
        }
    }
    if let Some(k) = &s.keys.kid {
        keys.insert("kid".into(), Value::String(k.clone()));
    }
    doc.insert("keys".into(), Value::Table(keys));

    let mut verifier = Table::new();
    let v = &s.verifier;
    if let Some(a) = &v.algorithms {
        let names = a.iter().map(|x| Value::String(alg::name(*x).into())).collect();
        verifier.insert("algorithms".into(), Value::Array(names));
    }
    for (k, val) in [("audience", &v.audience), ("issuer", &v.issuer)] {
        if let Some(x) = val {
            verifier.insert(k.into(), Value::String(x.clone()));
        }
    }
    if let Some(l) = v.leeway {
        verifier.insert("leeway".into(), dur(Duration::from_secs(l)));
    }
    if let Some(c) = v.check_nbf {
        verifier.insert("check_nbf".into(), Value::Boolean(c));
    }
    if let Some(r) = &v.required_claims {
        verifier.insert(
            "required_claims".into(),
            Value::Array(r.iter().map(|c| Value::String(c.clone())).collect()),
        );
    }
    if let Some(m) = v.max_token_size {
        verifier.insert("max_token_size".into(), Value::Integer(m.unwrap_or(0) as i64));
    }
    if let Some(sc) = &v.required_scope {
        verifier.insert("required_scope".into(), Value::String(sc.clone()));
    }
    if let Some(c) = v.scope_claim {
        verifier.insert("scope_claim".into(), Value::String(c.name().into()));
    }
    if let Some(r) = &v.rate_limit {
        verifier.insert("rate_limit".into(), Value::String(r.rate.to_string()));
        verifier.insert("rate_limit_key".into(), Value::String(r.key.name().into()));
        verifier.insert("rate_limit_burst".into(), Value::Integer(i64::from(r.burst)));
    }
    if run.revocation_poll != crate::verifier::revocation::DEFAULT_POLL {
        verifier.insert("revocation_poll".into(), dur(run.revocation_poll));
    }
    doc.insert("verifier".into(), Value::Table(verifier));

    let mut tokens = Table::new();
    let t = &s.tokens;
    if t.stream {
        tokens.insert("source".into(), Value::String("stream".into()));
    }
    match &run.batch {
        Some(b) => {
            tokens.insert("batch".into(), path(b));
        }
        None => {
            if t.stream && !t.count_given {
                tokens.insert("count".into(), Value::String("unbounded".into()));
            } else {
                tokens.insert("count".into(), Value::Integer(t.count as i64));
            }
            tokens.insert("seed".into(), Value::Integer(t.seed as i64));
            if let Some(n) = t.now {
                tokens.insert("now".into(), Value::Integer(n));
            }
            tokens.insert("ttl".into(), dur(Duration::from_secs(t.ttl)));
            if let Some(o) = t.nbf_offset {
                let d = dur(Duration::from_secs(o.unsigned_abs()));
                let text = format!("{}{}", if o < 0 { "-" } else { "" }, d.as_str().unwrap_or("0s"));
                tokens.insert("nbf".into(), Value::String(text));
            }
            tokens.insert("iat".into(), Value::Boolean(t.iat));
            tokens.insert("jti".into(), Value::Boolean(t.jti));
            if let Some(n) = t.size {
                tokens.insert("size".into(), Value::Integer(n as i64));
            }
            let claims: Table = t
                .claims
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect();
            if !claims.is_empty() {
                tokens.insert("claims".into(), Value::Table(claims));
            }
            let mix: Table = t
                .mix
                .iter()
                .map(|(c, w)| (c.name().to_string(), Value::Float(*w)))
                .collect();
            tokens.insert("mix".into(), Value::Table(mix));
        }
    }
    doc.insert("tokens".into(), Value::Table(tokens));

    let mut target = Table::new();
    let tg = &run.target;
    match &tg.url {
        Some(u) if !tg.embedded => target.insert("url".into(), Value::String(u.clone())),
        _ => target.insert("embedded".into(), Value::Boolean(true)),
    };
    target.insert("method".into(), Value::String(tg.method.clone()));
    target.insert("token".into(), Value::String(tg.token.to_string()));
    if !tg.headers.is_empty() {
        let h: Table = tg
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        target.insert("headers".into(), Value::Table(h));
    }
    if !tg.body.is_empty()
        && let Ok(text) = std::str::from_utf8(&tg.body)
    {
        target.insert("body".into(), Value::String(text.into()));
    }
    for (k, set) in [
        ("accept", &tg.accept),
        ("reject", &tg.reject),
        ("forbidden", &tg.forbidden),
        ("limited", &tg.limited),
    ] {
        if let Some(v) = statuses(set) {
            target.insert(k.into(), v);
        }
    }
    if !tg.endpoints.is_empty() {
        let eps = tg
            .endpoints
            .iter()
            .map(|e| {
                let mut t = Table::new();
                t.insert("path".into(), Value::String(e.path.clone()));
                t.insert("method".into(), Value::String(e.method.clone()));
                t.insert("weight".into(), Value::Float(e.weight));
                if let Some(sc) = &e.required_scope {
                    t.insert("required_scope".into(), Value::String(sc.clone()));
                }
                Value::Table(t)
            })
            .collect();
        target.insert("endpoints".into(), Value::Array(eps));
    }
    target.insert("timeout".into(), dur(tg.timeout));
    target.insert("connect_timeout".into(), dur(tg.connect_timeout));
    target.insert("http".into(), Value::String(tg.http.name().into()));
    target.insert("transport".into(), Value::String(tg.transport.name().into()));
    target.insert("max_body".into(), Value::Integer(tg.max_body as i64));
    for (k, p) in [
        ("ca_file", &tg.ca_file),
        ("client_cert_file", &tg.client_cert_file),
        ("client_key_file", &tg.client_key_file),
    ] {
        if let Some(p) = p {
            target.insert(k.into(), path(p));
        }
    }
    if tg.insecure {
        target.insert("insecure".into(), Value::Boolean(true));
    }
    target.insert("boundary_guard".into(), dur(tg.boundary_guard));
    if let Some(h) = &tg.reason_header {
        target.insert("reason_header".into(), Value::String(h.clone()));
    }
    if let Some(j) = &tg.reason_json {
        target.insert("reason_json".into(), Value::String(j.clone()));
    }
    if !tg.reason_synonyms.is_empty() {
        let r: Table = tg
            .reason_synonyms
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        target.insert("reasons".into(), Value::Table(r));
    }
    doc.insert("target".into(), Value::Table(target));

    let mut load = Table::new();
    let l = &run.load;
    load.insert("model".into(), Value::String(l.model.name().into()));
    if l.model == Model::Open {
        let stages = l
            .stages
            .iter()
            .map(|st| {
                let mut t = Table::new();
                t.insert("duration".into(), dur(st.duration));
                t.insert("rate".into(), Value::Float(st.rate));
                if st.ramp {
                    t.insert("ramp".into(), Value::Boolean(true));
                }
                Value::Table(t)
            })
            .collect();
        load.insert("stages".into(), Value::Array(stages));
    } else if let Some(d) = l.duration {
        load.insert("duration".into(), dur(d));
    }
    load.insert("concurrency".into(), Value::Integer(l.concurrency as i64));
    if let Some(n) = l.requests {
        load.insert("requests".into(), Value::Integer(n as i64));
    }
    load.insert("warmup".into(), dur(l.warmup));
    load.insert("threads".into(), Value::Integer(l.threads as i64));
    load.insert(
        "order".into(),
        Value::String(format!("{:?}", l.order).to_ascii_lowercase()),
    );
    load.insert("seed".into(), Value::Integer(l.seed as i64));
    load.insert("reuse".into(), Value::Float(l.reuse));
    if let Some(p) = l.pool {
        load.insert("pool".into(), Value::Integer(p as i64));
    }
    load.insert("grace".into(), dur(l.grace));
    if l.respect_retry_after {
        load.insert("respect_retry_after".into(), Value::Boolean(true));
    }
    if !l.revoke.is_empty() {
        let events = l
            .revoke
            .iter()
            .map(|r| {
                let mut t = Table::new();
                t.insert("at".into(), dur(r.at));
                t.insert("share".into(), Value::Float(r.share));
                t.insert("replay".into(), Value::Float(r.replay));
                Value::Table(t)
            })
            .collect();
        load.insert("revoke".into(), Value::Array(events));
    }
    doc.insert("load".into(), Value::Table(load));

    let mut report = Table::new();
    report.insert("dir".into(), Value::String(run.report.dir.display().to_string()));
    let formats = run
        .report
        .formats
        .iter()
        .map(|f| Value::String(format!("{f:?}").to_ascii_lowercase()))
        .collect();
    report.insert("formats".into(), Value::Array(formats));
    doc.insert("report".into(), Value::Table(report));

    if !run.thresholds.is_empty() {
        let t: Table = run
            .thresholds
            .iter()
            .map(|t| (t.name.clone(), Value::String(t.condition.clone())))
            .collect();
        doc.insert("thresholds".into(), Value::Table(t));
    }
    let mut gate = Table::new();
    if let Some(a) = run.abort_after {
        gate.insert("abort_on_fail".into(), Value::Boolean(true));
        gate.insert("abort_after".into(), dur(a));
    }
    gate.insert("require_accepts".into(), Value::Boolean(run.require_accepts));
    doc.insert("gate".into(), Value::Table(gate));

    if let Some(i) = &run.idp {
        use super::idp::Rotation;
        let mut idp = Table::new();
        idp.insert("listen".into(), Value::String(i.listen.to_string()));
        if let Some(iss) = &i.issuer {
            idp.insert("issuer".into(), Value::String(iss.clone()));
        }
        idp.insert("max_age".into(), dur(i.max_age));
        if !i.kids.is_empty() {
            idp.insert(
                "keys".into(),
                Value::Array(i.kids.iter().map(|k| Value::String(k.clone())).collect()),
            );
        }
        match &i.rotation {
            Rotation::None => {}
            Rotation::Preset { preset, at } => {
                idp.insert("rotation".into(), Value::String(preset.clone()));
                idp.insert("rotate_at".into(), dur(*at));
            }
            Rotation::Events(events) => {
                let list = events
                    .iter()
                    .map(|e| {
                        let mut t = Table::new();
                        t.insert("at".into(), dur(e.at));
                        t.insert(e.action.name().into(), Value::String(e.kid.clone()));
                        Value::Table(t)
                    })
                    .collect();
                idp.insert("rotation".into(), Value::Array(list));
            }
        }
        idp.insert("retired_share".into(), Value::Float(i.retired_share));
        doc.insert("idp".into(), Value::Table(idp));
        if let Some(Value::Table(v)) = doc.get_mut("verifier") {
            if run.jwks_cache.max_age_given {
                v.insert("jwks_max_age".into(), dur(run.jwks_cache.max_age));
            }
            v.insert("jwks_cooldown".into(), dur(run.jwks_cache.cooldown));
        }
    }

    format!(
        "# Written by jwtstorm {} (run --print-scenario). Keys appear by reference only.\n{}",
        env!("CARGO_PKG_VERSION"),
        toml::to_string(&doc).unwrap_or_default()
    )
}
