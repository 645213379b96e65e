//! Flags laid over a scenario's settings, checked the way the scenario's own values are: one
//! path from the command line and the scenario file to the settings a command runs with.

use std::path::Path;

use crate::cli::{KeyArgs, LoadOverrides, MintArgs, PolicyArgs, TokenArgs};
use crate::error::{ExitCode, exit};
use crate::model::{Model, Stage};
use crate::scenario::resolve::{self, KeySource, Settings};
use crate::scenario::run::{DEFAULT_DURATION, RunSettings, check_url, rate};
use crate::scenario::{Loaded, ScenarioError};

/// A scenario or a flag that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// The scenario file, or a value in it, is wrong.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A flag's value, or its combination with the scenario, is wrong; the message names the flag.
    #[error("{0}")]
    Flag(String),
}

impl ExitCode for FlagError {
    fn exit_code(&self) -> i32 {
        exit::BAD_INPUT
    }
}

fn flag(message: impl Into<String>) -> FlagError {
    FlagError::Flag(message.into())
}

/// Settings from a read scenario, with the key, policy and token flags laid over them.
pub fn settings_of(loaded: &Loaded, src: &crate::cli::SourceArgs) -> Result<Settings, FlagError> {
    // A key flag replaces the scenario's key source, which then need not exist here (a pod
    // mounts the keys elsewhere than the scenario names).
    let replaced;
    let loaded = if has_key_source(&src.keys) {
        let mut l = loaded.clone();
        let k = &mut l.scenario.keys;
        k.generate = None;
        k.secret_file = None;
        k.secret_env = None;
        k.private_key_file = None;
        k.private_key_env = None;
        k.public_key_file = None;
        k.jwks_file = None;
        k.dir = None;
        replaced = l;
        &replaced
    } else {
        loaded
    };
    let mut s = Settings::from_scenario(loaded)?;
    apply_key_args(&mut s, &src.keys)?;
    apply_policy_args(&mut s, &src.policy)?;
    apply_token_args(&mut s, &src.tokens)?;
    Ok(s)
}

/// Settings from an optional scenario, with key and policy flags laid over them.
pub fn settings(scenario: Option<&Path>, keys: &KeyArgs, policy: &PolicyArgs) -> Result<Settings, FlagError> {
    let mut s = match scenario {
        Some(path) => Settings::from_scenario(&Loaded::read(path)?)?,
        None => Settings::default(),
    };
    apply_key_args(&mut s, keys)?;
    apply_policy_args(&mut s, policy)?;
    Ok(s)
}

/// Whether the flags name a key source.
fn has_key_source(k: &KeyArgs) -> bool {
    k.generate_keys
        || k.secret_file.is_some()
        || k.secret_env.is_some()
        || k.private_key_file.is_some()
        || k.private_key_env.is_some()
        || k.public_key_file.is_some()
        || k.jwks_file.is_some()
        || k.keys_dir.is_some()
}

fn apply_key_args(s: &mut Settings, k: &KeyArgs) -> Result<(), FlagError> {
    if let Some(a) = k.alg {
        s.keys.alg = Some(a);
    }
    let mut sources: Vec<(&str, KeySource)> = Vec::new();
    if k.generate_keys {
        sources.push(("--generate-keys", KeySource::Generate));
    }
    if let Some(p) = &k.secret_file {
        sources.push(("--secret-file", KeySource::SecretFile(p.clone())));
    }
    if let Some(v) = &k.secret_env {
        sources.push(("--secret-env", KeySource::SecretEnv(v.clone())));
    }
    if let Some(p) = &k.private_key_file {
        sources.push(("--private-key-file", KeySource::PrivateKeyFile(p.clone())));
    }
    if let Some(v) = &k.private_key_env {
        sources.push(("--private-key-env", KeySource::PrivateKeyEnv(v.clone())));
    }
    if let Some(p) = &k.public_key_file {
        sources.push(("--public-key-file", KeySource::PublicKeyFile(p.clone())));
    }
    if let Some(p) = &k.jwks_file {
        sources.push(("--jwks-file", KeySource::Jwks(p.clone())));
    }
    if let Some(p) = &k.keys_dir {
        sources.push(("--keys-dir", KeySource::Dir(p.clone())));
    }
    if sources.len() > 1 {
        let names: Vec<&str> = sources.iter().map(|s| s.0).collect();
        return Err(flag(format!(
            "choose one key source, not {}",
            names.join(" and ")
        )));
    }
    if let Some((_, src)) = sources.pop() {
        s.keys.source = src;
        s.keys.kid = None;
    }
    if let Some(kid) = &k.kid {
        s.keys.kid = Some(kid.clone());
    }
    if let Some(n) = k.key_count {
        if n == 0 {
            return Err(flag("--key-count: must be at least 1"));
        }
        s.keys.count = n;
    }
    Ok(())
}

fn apply_policy_args(s: &mut Settings, p: &PolicyArgs) -> Result<(), FlagError> {
    let v = &mut s.verifier;
    if let Some(algs) = &p.algorithms {
        v.algorithms = Some(algs.clone());
    }
    if p.audience.is_some() {
        v.audience = p.audience.clone();
    }
    if p.issuer.is_some() {
        v.issuer = p.issuer.clone();
    }
    if p.leeway.is_some() {
        v.leeway = p.leeway;
    }
    if p.check_nbf {
        v.check_nbf = Some(true);
    }
    if p.no_check_nbf {
        v.check_nbf = Some(false);
    }
    if let Some(rc) = &p.required_claims {
        for c in rc {
            if !["exp", "nbf", "iss", "aud", "sub"].contains(&c.as_str()) {
                return Err(flag(format!(
                    "--required-claims: unknown claim '{c}'; expected exp, nbf, iss, aud or sub"
                )));
            }
        }
        v.required_claims = Some(rc.clone());
    }
    if let Some(m) = p.max_token_size {
        if m > crate::token::batch::MAX_TOKEN_BYTES {
            return Err(flag(
                "--max-token-size: must be a number of bytes up to 1048576, or 0 for no limit",
            ));
        }
        v.max_token_size = Some(if m == 0 { None } else { Some(m) });
    }
    if let Some(sc) = &p.required_scope {
        crate::scenario::resolve::check_scope(sc).map_err(|e| flag(format!("--required-scope: {e}")))?;
        v.required_scope = Some(sc.clone());
    }
    if let Some(c) = &p.scope_claim {
        v.scope_claim = Some(c.parse().map_err(|e| flag(format!("--scope-claim: {e}")))?);
    }
    Ok(())
}

/// Lays `mint`'s token flags over the settings.
pub fn apply_mint_args(s: &mut Settings, a: &MintArgs) -> Result<(), FlagError> {
    apply_token_args(s, &a.tokens())?;
    if let Some(seed) = a.seed {
        s.tokens.seed = seed;
    }
    if a.no_iat {
        s.tokens.iat = false;
    }
    if a.no_jti {
        s.tokens.jti = false;
    }
    Ok(())
}

/// Lays the token flags over the settings.
pub fn apply_token_args(s: &mut Settings, a: &TokenArgs) -> Result<(), FlagError> {
    let t = &mut s.tokens;
    if a.stream {
        t.stream = true;
    }
    match a.count {
        Some(crate::cli::UNBOUNDED) if !t.stream => {
            return Err(flag(
                "--count unbounded: needs --stream (or tokens.source = \"stream\"); a batch is minted before the run",
            ));
        }
        Some(crate::cli::UNBOUNDED) => t.count_given = false,
        Some(n) => {
            t.count = resolve::check_count(n).map_err(|e| flag(format!("--count: {e}")))?;
            t.count_given = true;
        }
        None => {}
    }
    if let Some(now) = &a.now {
        t.now = Some(resolve::parse_now(now).map_err(|e| flag(format!("--now: {e}")))?);
    }
    if let Some(ttl) = a.ttl {
        if ttl == 0 {
            return Err(flag("--ttl: must be at least 1s"));
        }
        t.ttl = ttl;
    }
    if let Some(nbf) = &a.nbf {
        t.nbf_offset = Some(resolve::parse_offset(nbf).map_err(|e| flag(format!("--nbf: {e}")))?);
    }
    for c in &a.claims {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| flag(format!("--claim '{c}': expected KEY=VALUE")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v));
        t.claims.insert(k.to_string(), value);
    }
    if let Some(mix) = &a.mix {
        let mut pairs = Vec::new();
        for item in mix {
            let (name, w) = item
                .split_once('=')
                .ok_or_else(|| flag(format!("--mix '{item}': expected CLASS=WEIGHT")))?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| flag(format!("--mix '{item}': the weight must be a number")))?;
            pairs.push((name.trim(), w));
        }
        t.mix = resolve::parse_mix_pairs(pairs).map_err(|e| flag(format!("--mix: {e}")))?;
    }
    if let Some(size) = a.size {
        t.size = Some(resolve::check_size(size).map_err(|e| flag(format!("--size: {e}")))?);
    }
    Ok(())
}

/// Lays the identity provider flags over `[idp]` (creating it when a flag asks for one).
fn apply_idp_overrides(run: &mut RunSettings, o: &LoadOverrides) -> Result<(), FlagError> {
    use crate::scenario::idp::{IdpSettings, Rotation};
    let any = o.rotation.is_some()
        || o.rotate_at.is_some()
        || o.idp_listen.is_some()
        || o.idp_max_age.is_some()
        || o.retired_share.is_some();
    if !any {
        return Ok(());
    }
    let idp = run.idp.get_or_insert_with(IdpSettings::default);
    if let Some(l) = &o.idp_listen {
        idp.listen = l.parse().map_err(|e| {
            flag(format!(
                "--idp-listen '{l}': {e} (expected IP:PORT, such as 127.0.0.1:0)"
            ))
        })?;
    }
    if let Some(m) = o.idp_max_age {
        idp.max_age = m;
        if !run.jwks_cache.max_age_given {
            run.jwks_cache.max_age = m;
        }
    }
    if let Some(share) = o.retired_share {
        if !(0.0..=1.0).contains(&share) {
            return Err(flag("--retired-share: must be between 0 and 100%"));
        }
        idp.retired_share = share;
    }
    if let Some(p) = &o.rotation {
        p.parse::<crate::token::rotation::Preset>()
            .map_err(|e| flag(format!("--rotation: {e}")))?;
        let at = match &idp.rotation {
            Rotation::Preset { at, .. } => *at,
            _ => crate::scenario::idp::DEFAULT_ROTATE_AT,
        };
        idp.rotation = Rotation::Preset {
            preset: p.clone(),
            at,
        };
        if idp.kids.len() < 2 {
            idp.kids = vec!["k1".into(), "k2".into()];
        }
    }
    if let Some(at) = o.rotate_at {
        match &mut idp.rotation {
            Rotation::Preset { at: a, .. } => *a = at,
            _ => {
                return Err(flag(
                    "--rotate-at: needs a rotation preset (--rotation or idp.rotation)",
                ));
            }
        }
    }
    Ok(())
}

/// Lays flags over the scenario's run settings, checking them the way the scenario is checked.
pub fn apply_overrides(run: &mut RunSettings, o: &LoadOverrides) -> Result<(), FlagError> {
    apply_idp_overrides(run, o)?;
    if let Some(u) = &o.url {
        check_url(u).map_err(|e| flag(format!("--url: {e}")))?;
        run.target.url = Some(u.clone());
        run.target.embedded = false;
    }
    if let Some(n) = o.concurrency {
        if n == 0 || n > 100_000 {
            return Err(flag("--concurrency: must be between 1 and 100000"));
        }
        run.load.concurrency = n;
    }
    if let Some(n) = o.requests {
        if n == 0 {
            return Err(flag("--requests: must be at least 1"));
        }
        run.load.requests = Some(n);
    }
    if let Some(t) = o.threads {
        if t > 1024 {
            return Err(flag("--threads: must be between 0 (automatic) and 1024"));
        }
        run.load.threads = t;
    }
    if let Some(r) = o.rate {
        rate(r, false).map_err(|e| flag(format!("--rate: {e}")))?;
        let d = o.duration.or(run.load.duration).unwrap_or(DEFAULT_DURATION);
        run.load.model = Model::Open;
        run.load.stages = vec![Stage {
            duration: d,
            rate: r,
            ramp: false,
        }];
        run.load.duration = Some(d);
    } else if let Some(d) = o.duration {
        if d.is_zero() {
            return Err(flag("--duration: must be longer than 0s"));
        }
        if run.load.model == Model::Open {
            if run.load.stages.len() > 1 {
                return Err(flag(
                    "--duration: the scenario's schedule has stages; change their durations in the scenario, \
                     or give --rate as well",
                ));
            }
            run.load.stages[0].duration = d;
        }
        run.load.duration = Some(d);
    }
    if let Some(w) = o.warmup {
        run.load.warmup = w;
    }
    if let Some(d) = run.load.duration
        && run.load.warmup >= d
    {
        return Err(flag(format!(
            "the warmup ({}) must be shorter than the run ({})",
            crate::text::format_duration(run.load.warmup),
            crate::text::format_duration(d)
        )));
    }
    for t in &o.thresholds {
        let parsed = crate::gate::thresholds::parse_one(t).map_err(|e| flag(format!("--threshold {e}")))?;
        run.thresholds.retain(|x| x.name != parsed.name);
        run.thresholds.push(parsed);
    }
    if let Some(t) = o.transport {
        run.target.transport = t;
    }
    if let Some(d) = o.abort_on_fail {
        run.abort_after = Some(d);
    }
    if let Some(h) = o.http {
        run.target.http = h;
    }
    if o.allow_no_accepts {
        run.require_accepts = false;
    }
    let t = &mut run.target;
    for h in &o.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| flag(format!("-H '{h}': expected 'Name: value'")))?;
        let (name, value) = (name.trim(), value.trim());
        crate::scenario::target::check_header(name, value).map_err(|e| flag(format!("-H: {e}")))?;
        t.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        t.headers.push((name.to_string(), value.to_string()));
    }
    if let Some(m) = &o.method {
        t.method = crate::scenario::target::check_method(m).map_err(|e| flag(format!("--method: {e}")))?;
    }
    if let Some(b) = &o.body {
        t.body = b.as_bytes().to_vec();
    }
    if let Some(p) = &o.body_file {
        t.body = crate::files::read_capped(p, crate::files::TEXT_CAP)
            .map_err(|e| flag(format!("--body-file '{}': {e}", p.display())))?;
    }
    t.body_bytes = t.body.len();
    if let Some(p) = &o.token_in {
        t.token = p.clone();
    }
    if let Some(d) = o.timeout {
        if d.is_zero() {
            return Err(flag("--timeout: must be longer than 0s"));
        }
        t.timeout = d;
    }
    if let Some(d) = o.connect_timeout {
        if d.is_zero() {
            return Err(flag("--connect-timeout: must be longer than 0s"));
        }
        t.connect_timeout = d;
    }
    if let Some(p) = &o.ca_file {
        if !p.is_file() {
            return Err(flag(format!("--ca-file: no such file '{}'", p.display())));
        }
        t.ca_file = Some(p.clone());
    }
    if o.insecure {
        t.insecure = true;
    }
    if let Some(h) = &o.reason_header {
        if hyper::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
            return Err(flag(format!("--reason-header: '{h}' is not a header name")));
        }
        t.reason_header = Some(h.to_ascii_lowercase());
    }
    Ok(())
}

/// The longest `--start-at` may lie ahead: a run is bounded in time, its wait included.
pub const MAX_START_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Lays the fleet flags over the run: the segment (`--segment I/N`, `JWTSTORM_SEGMENT`, or
/// `--segments N` with the index from `job_index`, a Kubernetes Indexed Job's
/// `JOB_COMPLETION_INDEX`) and the common start (`--start-at`), read against `now`.
pub fn apply_fleet(
    run: &mut RunSettings,
    f: &crate::cli::FleetArgs,
    job_index: Option<&str>,
    now: std::time::SystemTime,
) -> Result<(), FlagError> {
    use crate::model::Segment;
    let segment = match (f.segment, f.segments) {
        (Some(s), _) => s,
        (None, Some(n)) => {
            let Some(text) = job_index else {
                return Err(flag(
                    "--segments: the segment's index comes from JOB_COMPLETION_INDEX (set in the pods of a \
                     Kubernetes Indexed Job), which is not set; give --segment I/N instead",
                ));
            };
            let index: u64 = text
                .trim()
                .parse()
                .map_err(|_| flag(format!("JOB_COMPLETION_INDEX: '{text}' is not a whole number")))?;
            Segment::new(index, n).map_err(|e| flag(format!("--segments with JOB_COMPLETION_INDEX: {e}")))?
        }
        (None, None) => Segment::WHOLE,
    };
    if !segment.is_whole() {
        if run.target.embedded {
            return Err(flag(format!(
                "--segment {segment}: the segments of a run share one target, but each would start its own embedded \
                 verifier; give the target with --url (or target.url), such as a `jwtstorm serve` started once"
            )));
        }
        if run.idp.is_some() {
            return Err(flag(format!(
                "--segment {segment}: [idp] cannot be split over segments (each would serve its own key set, \
                 and a target follows one issuer); run the identity provider test from one process"
            )));
        }
        if run.load.concurrency < segment.count as usize {
            return Err(flag(format!(
                "--segment {segment}: load.concurrency {} gives some segments no connection; it must be at \
                 least the number of segments ({})",
                run.load.concurrency, segment.count
            )));
        }
    }
    run.segment = segment;
    if let Some(text) = &f.start_at {
        let at = start_time(text, now).map_err(|e| flag(format!("--start-at: {e}")))?;
        if at.duration_since(now).is_ok_and(|d| d > MAX_START_WAIT) {
            return Err(flag(format!(
                "--start-at: '{text}' is more than {} from now",
                crate::text::format_duration(MAX_START_WAIT)
            )));
        }
        run.start_at = Some(at);
    }
    Ok(())
}

/// `+30s` (from `now`), or an RFC 3339 time: `2026-12-02T10:00:00Z`, with fractions of a second
/// and a `+01:00` offset allowed.
pub fn start_time(text: &str, now: std::time::SystemTime) -> Result<std::time::SystemTime, String> {
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('+') {
        return Ok(now + crate::units::parse_duration(rel)?);
    }
    let bad = || format!("'{t}': expected an RFC 3339 time such as 2026-12-02T10:00:00Z, or +30s from now");
    // The offset: `Z`, or `+HH:MM` / `-HH:MM` after the time of day.
    let (base, offset_s) = if let Some(b) = t.strip_suffix(['Z', 'z']) {
        (b.to_string(), 0i64)
    } else {
        let at = t.rfind(['+', '-']).filter(|&i| i > 10).ok_or_else(bad)?;
        let (b, off) = t.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (b.to_string(), sign * (h * 3600 + m * 60))
    };
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).map_err(|_| bad())?;
    let shifted = if offset_s >= 0 {
        utc.checked_sub(std::time::Duration::from_secs(offset_s as u64))
    } else {
        utc.checked_add(std::time::Duration::from_secs((-offset_s) as u64))
    };
    shifted.ok_or_else(bad)
}

/// The reference verifier's fault, latency and API-check knobs from `serve`'s flags, each
/// checked, every error naming its flag.
pub fn serve_knobs(args: &crate::cli::ServeArgs) -> Result<crate::verifier::knobs::Knobs, String> {
    let delay = match &args.delay {
        Some(d) => Some(d.parse().map_err(|e| format!("--delay: {e}"))?),
        None => None,
    };
    for (flag, rate) in [
        ("--fail-rate", args.fail_rate),
        ("--close-rate", args.close_rate),
        ("--hang-rate", args.hang_rate),
    ] {
        if rate.is_some_and(|r| r > 1.0) {
            return Err(format!("{flag}: must be at most 100%"));
        }
    }
    if args.keepalive_max == Some(0) {
        return Err("--keepalive-max: must be at least 1".to_string());
    }
    if args.max_concurrency == Some(0) {
        return Err("--max-concurrency: must be at least 1".to_string());
    }
    if let (Some(stall), Some(every)) = (args.stall, args.every)
        && stall >= every
    {
        return Err("--stall must be shorter than --every".to_string());
    }
    let mut misreport = Vec::new();
    for m in &args.misreport_reason {
        let pair = m.split_once('=').and_then(|(a, b)| {
            Some((
                crate::verifier::verify::Reason::parse(a.trim())?,
                crate::verifier::verify::Reason::parse(b.trim())?,
            ))
        });
        match pair {
            Some(p) => misreport.push(p),
            None => {
                return Err(format!(
                    "--misreport-reason '{m}': expected FROM=TO, two reasons such as expired=bad_signature"
                ));
            }
        }
    }
    let mut scoped_paths: Vec<(String, Option<String>)> = Vec::new();
    for spec in &args.scopes {
        let parsed = spec.split_once('=').and_then(|(path, scope)| {
            let (path, scope) = (path.trim(), scope.trim());
            (path.starts_with('/') && !path.contains(['?', '#', ' ']))
                .then(|| (path.to_string(), scope.to_string()))
        });
        let Some((path, scope)) = parsed else {
            return Err(format!(
                "--scope '{spec}': expected PATH=SCOPE, a path starting with / and a scope, such as /admin=admin"
            ));
        };
        resolve::check_scope(&scope).map_err(|e| format!("--scope '{spec}': {e}"))?;
        if ["/healthz", "/metrics", "/.well-known/jwks.json"].contains(&path.as_str()) {
            return Err(format!(
                "--scope '{spec}': {path} is one of the server's own routes"
            ));
        }
        if path == args.path || scoped_paths.iter().any(|(p, _)| *p == path) {
            return Err(format!(
                "--scope '{spec}': {path} is already protected (the main path's scope is --required-scope)"
            ));
        }
        scoped_paths.push((path, Some(scope)));
    }
    if args.revocation_poll < crate::verifier::revocation::MIN_POLL {
        return Err(format!(
            "--revocation-poll {:?}: at least {:?}",
            args.revocation_poll,
            crate::verifier::revocation::MIN_POLL
        ));
    }
    if let Some(path) = &args.revocation_list {
        // Read once here so a bad list is a clear error before anything listens.
        crate::token::revocation::read(path).map_err(|e| e.to_string())?;
    }
    Ok(crate::verifier::knobs::Knobs {
        revocation: args
            .revocation_list
            .clone()
            .map(|path| crate::verifier::revocation::ListSource {
                path,
                poll: args.revocation_poll,
            }),
        scoped_paths,
        misreport,
        delay,
        max_concurrency: args.max_concurrency,
        stall: args.stall.zip(args.every),
        fail_rate: args.fail_rate.unwrap_or(0.0),
        close_rate: args.close_rate.unwrap_or(0.0),
        hang_rate: args.hang_rate.unwrap_or(0.0),
        vulnerable: args.vulnerable,
        keepalive_max: args.keepalive_max,
        rate_limit: args
            .rate_limit
            .map(|r| crate::model::RateLimit::new(r, args.rate_limit_key, args.rate_limit_burst)),
    })
}

#[cfg(test)]
mod fleet_tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn start_times_are_read_with_their_offset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(start_time("+30s", now).unwrap(), now + Duration::from_secs(30));
        let z = start_time("2026-12-02T10:00:00Z", now).unwrap();
        assert_eq!(start_time("2026-12-02T11:30:00+01:30", now).unwrap(), z);
        assert_eq!(start_time("2026-12-02T08:00:00-02:00", now).unwrap(), z);
        assert_eq!(
            start_time("2026-12-02T10:00:00.250Z", now).unwrap(),
            z + Duration::from_millis(250)
        );
        assert!(start_time("tomorrow", now).unwrap_err().contains("RFC 3339"));
        assert!(start_time("2026-12-02T10:00:00", now).is_err());
    }

    #[test]
    fn the_segment_comes_from_the_flag_or_the_job_index() {
        let now = SystemTime::now();
        let mut run = RunSettings::default();
        run.target.embedded = false;
        run.load.concurrency = 8;
        let f = crate::cli::FleetArgs {
            segments: Some(4),
            ..Default::default()
        };
        apply_fleet(&mut run, &f, Some("3"), now).unwrap();
        assert_eq!(run.segment.to_string(), "3/4");
        assert!(apply_fleet(&mut run, &f, None, now).is_err());
        assert!(apply_fleet(&mut run, &f, Some("4"), now).is_err());
        run.load.concurrency = 2;
        let e = apply_fleet(&mut run, &f, Some("1"), now).unwrap_err();
        assert!(e.to_string().contains("at least the number of segments"), "{e}");
        let far = crate::cli::FleetArgs {
            start_at: Some("+2h".into()),
            ..Default::default()
        };
        assert!(apply_fleet(&mut run, &far, None, now).is_err());
    }
}
