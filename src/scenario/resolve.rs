//! From scenario sections (and flags that override them) to typed settings: keys, policy and
//! the mint configuration. Scenario values are checked here, with their line and column.

use std::collections::BTreeMap;

use jsonwebtoken::Algorithm;

use super::{CountValue, Loaded, NowValue, ScenarioError};
use crate::model::alg;
use crate::token::claims::ClaimTemplate;
use crate::token::classes::TokenClass;
pub use crate::token::keys::KeySource;
use crate::token::keys::{self, KeyError, KeyMaterial};
use crate::token::mint::MintConfig;
use crate::token::policy::Policy;
use crate::units;

/// Typed `[keys]` settings.
#[derive(Debug, Clone)]
pub struct KeySettings {
    pub alg: Option<Algorithm>,
    pub source: KeySource,
    pub kid: Option<String>,
    pub count: u32,
    pub rsa_bits: Option<usize>,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            alg: None,
            source: KeySource::Generate,
            kid: None,
            count: 1,
            rsa_bits: None,
        }
    }
}

/// Typed `[verifier]` settings; unset values take the policy defaults.
#[derive(Debug, Clone, Default)]
pub struct PolicySettings {
    pub algorithms: Option<Vec<Algorithm>>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub leeway: Option<u64>,
    pub check_nbf: Option<bool>,
    pub required_claims: Option<Vec<String>>,
    /// `Some(None)`: no size limit.
    pub max_token_size: Option<Option<usize>>,
    /// The rate limit the target declares on verified tokens.
    pub rate_limit: Option<crate::model::RateLimit>,
    pub required_scope: Option<String>,
    pub scope_claim: Option<crate::token::policy::ScopeClaim>,
}

/// Typed `[tokens]` settings.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub count: u64,
    /// Whether `count` was given (a stream without one never repeats a token).
    pub count_given: bool,
    /// Mint tokens while the run goes (`tokens.source = "stream"`) instead of all before it.
    pub stream: bool,
    pub seed: u64,
    pub now: Option<i64>,
    pub ttl: u64,
    pub nbf_offset: Option<i64>,
    pub iat: bool,
    pub jti: bool,
    pub size: Option<usize>,
    pub claims: BTreeMap<String, serde_json::Value>,
    pub mix: Vec<(TokenClass, f64)>,
}

/// The default mix: mostly valid tokens with the common attacks that fit every algorithm.
pub const DEFAULT_MIX: [(TokenClass, f64); 9] = [
    (TokenClass::Valid, 90.0),
    (TokenClass::Expired, 2.0),
    (TokenClass::BadSignature, 2.0),
    (TokenClass::TamperedPayload, 1.0),
    (TokenClass::AlgNone, 1.0),
    (TokenClass::NullSignature, 1.0),
    (TokenClass::MissingExp, 1.0),
    (TokenClass::Malformed, 1.0),
    (TokenClass::WrongSegmentCount, 1.0),
];

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            count: 10_000,
            count_given: false,
            stream: false,
            seed: 1,
            now: None,
            ttl: 900,
            nbf_offset: None,
            iat: true,
            jti: true,
            size: None,
            claims: BTreeMap::from([("sub".to_string(), serde_json::Value::from("user-{i}"))]),
            mix: DEFAULT_MIX.to_vec(),
        }
    }
}

/// All settings a scenario (plus flags) gives for minting and verifying.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub name: Option<String>,
    pub keys: KeySettings,
    pub verifier: PolicySettings,
    pub tokens: TokenSettings,
}

/// Checks a scope: one RFC 6749 scope-token (printable ASCII, no space, quote or backslash).
pub fn check_scope(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not one scope: printable ASCII without spaces, quotes or backslashes, up to 256 characters"
        ))
    }
}

/// `verifier.rate_limit`, with its key and burst (which need it).
fn rate_limit(
    l: &Loaded,
    v: &super::VerifierSection,
) -> Result<Option<crate::model::RateLimit>, ScenarioError> {
    let Some(r) = &v.rate_limit else {
        if let Some(k) = &v.rate_limit_key {
            return Err(l.error(k, "verifier.rate_limit_key", "needs verifier.rate_limit"));
        }
        if let Some(b) = &v.rate_limit_burst {
            return Err(l.error(b, "verifier.rate_limit_burst", "needs verifier.rate_limit"));
        }
        return Ok(None);
    };
    let rate: crate::model::Rate = r
        .get_ref()
        .parse()
        .map_err(|e| l.error(r, "verifier.rate_limit", e))?;
    let key = match &v.rate_limit_key {
        Some(k) => k
            .get_ref()
            .parse()
            .map_err(|e| l.error(k, "verifier.rate_limit_key", e))?,
        None => crate::model::LimitKey::Sub,
    };
    let burst = match &v.rate_limit_burst {
        Some(b) if !(1..=i64::from(u32::MAX)).contains(b.get_ref()) => {
            return Err(l.error(b, "verifier.rate_limit_burst", "must be at least 1"));
        }
        Some(b) => Some(*b.get_ref() as u32),
        None => None,
    };
    Ok(Some(crate::model::RateLimit::new(rate, key, burst)))
}

/// Parses a mix given as `class=weight` pairs.
pub fn parse_mix_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<Vec<(TokenClass, f64)>, String> {
    let mut out: Vec<(TokenClass, f64)> = Vec::new();
    for (name, weight) in pairs {
        let class: TokenClass = name.parse()?;
        if !weight.is_finite() || weight < 0.0 {
            return Err(format!(
                "weight of {class} must be a non-negative number, got {weight}"
            ));
        }
        out.retain(|(c, _)| *c != class);
        out.push((class, weight));
    }
    if out.iter().all(|(_, w)| *w == 0.0) {
        return Err("all weights are zero; give at least one class a positive weight".into());
    }
    Ok(out)
}

pub use crate::units::MAX_NOW;

/// The most tokens one batch holds: a hundred million (a few GiB in memory, an hour or more of
/// RSA signing). Longer runs reuse or reorder tokens.
pub const MAX_COUNT: u64 = 100_000_000;

/// Checks a token count: 1 to [`MAX_COUNT`].
pub fn check_count(n: u64) -> Result<u64, String> {
    if !(1..=MAX_COUNT).contains(&n) {
        return Err(format!("must be between 1 and {MAX_COUNT}, got {n}"));
    }
    Ok(n)
}

/// Checks a padded token size: 1 byte to 1 MiB.
pub fn check_size(n: usize) -> Result<usize, String> {
    let max = crate::token::batch::MAX_TOKEN_BYTES;
    if !(1..=max).contains(&n) {
        return Err(format!("must be between 1 and {max} bytes"));
    }
    Ok(n)
}

/// Checks a minting clock given as Unix seconds.
pub fn check_now(n: i64) -> Result<i64, String> {
    if !(0..=MAX_NOW).contains(&n) {
        return Err(format!(
            "{n} is outside 1970-01-01 to 9999-12-31 (Unix seconds 0 to {MAX_NOW})"
        ));
    }
    Ok(n)
}

/// Parses the minting clock: Unix seconds or an RFC 3339 time, from 1970 to 9999.
pub fn parse_now(text: &str) -> Result<i64, String> {
    if let Ok(n) = text.trim().parse::<i64>() {
        return check_now(n);
    }
    let t = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!("invalid time '{text}' ({e}); expected Unix seconds or RFC 3339 like 2026-01-01T00:00:00Z")
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64))
}

/// Parses a signed offset such as `-30s` or `5m`.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let secs = units::parse_duration(rest)?.as_secs() as i64;
    Ok(if neg { -secs } else { secs })
}

impl Settings {
    /// Reads a scenario's `[keys]`, `[verifier]` and `[tokens]` into typed settings.
    pub fn from_scenario(l: &Loaded) -> Result<Self, ScenarioError> {
        let sc = &l.scenario;
        let mut s = Settings {
            name: sc.name.clone(),
            ..Settings::default()
        };

        // [keys]
        let k = &sc.keys;
        if let Some(a) = &k.alg {
            s.keys.alg = Some(alg::parse(a.get_ref()).map_err(|e| l.error(a, "keys.alg", e))?);
        }
        let mut sources = Vec::new();
        if k.generate == Some(true) {
            sources.push(("generate", KeySource::Generate, None));
        }
        let file_sources = [
            (&k.secret_file, "secret_file"),
            (&k.private_key_file, "private_key_file"),
            (&k.public_key_file, "public_key_file"),
            (&k.jwks_file, "jwks_file"),
            (&k.dir, "dir"),
        ];
        for (value, key) in file_sources {
            if let Some(v) = value {
                let p = l.relative(v.get_ref());
                // Checked here, so the error names the scenario, the line and the key.
                let fits = if key == "dir" { p.is_dir() } else { p.is_file() };
                if !fits {
                    let what = match (p.exists(), key == "dir") {
                        (false, true) => format!("no such folder '{}'", p.display()),
                        (false, false) => format!("no such file '{}'", p.display()),
                        (true, true) => format!("'{}' is not a folder", p.display()),
                        (true, false) => format!("'{}' is not a regular file", p.display()),
                    };
                    return Err(l.error(v, &format!("keys.{key}"), what));
                }
                let src = match key {
                    "secret_file" => KeySource::SecretFile(p),
                    "private_key_file" => KeySource::PrivateKeyFile(p),
                    "public_key_file" => KeySource::PublicKeyFile(p),
                    "jwks_file" => KeySource::Jwks(p),
                    _ => KeySource::Dir(p),
                };
                sources.push((key, src, Some(v.span().start)));
            }
        }
        for (value, key) in [
            (&k.secret_env, "secret_env"),
            (&k.private_key_env, "private_key_env"),
        ] {
            if let Some(v) = value {
                let src = if key == "secret_env" {
                    KeySource::SecretEnv(v.get_ref().clone())
                } else {
                    KeySource::PrivateKeyEnv(v.get_ref().clone())
                };
                sources.push((key, src, Some(v.span().start)));
            }
        }
        if sources.len() > 1 {
            let names: Vec<&str> = sources.iter().map(|s| s.0).collect();
            let at = sources[1]
                .2
                .map_or_else(|| l.path.display().to_string(), |o| l.at(o));
            return Err(ScenarioError {
                location: at,
                message: format!("keys: choose one key source, not {}", names.join(" and ")),
            });
        }
        if let Some((_, src, _)) = sources.pop() {
            s.keys.source = src;
        }
        s.keys.kid = k.kid.as_ref().map(|v| v.get_ref().clone());
        if let Some(c) = &k.count {
            if *c.get_ref() == 0 {
                return Err(l.error(c, "keys.count", "must be at least 1"));
            }
            s.keys.count = *c.get_ref();
        }
        if let Some(b) = &k.rsa_bits {
            if ![2048, 3072, 4096, 8192].contains(b.get_ref()) {
                return Err(l.error(b, "keys.rsa_bits", "must be 2048, 3072, 4096 or 8192"));
            }
            s.keys.rsa_bits = Some(*b.get_ref());
        }

        // [verifier]
        let v = &sc.verifier;
        if let Some(algs) = &v.algorithms {
            let parsed: Result<Vec<Algorithm>, String> =
                algs.get_ref().iter().map(|a| alg::parse(a)).collect();
            let parsed = parsed.map_err(|e| l.error(algs, "verifier.algorithms", e))?;
            if parsed.is_empty() {
                return Err(l.error(algs, "verifier.algorithms", "allow at least one algorithm"));
            }
            s.verifier.algorithms = Some(parsed);
        }
        s.verifier.audience = v.audience.clone();
        s.verifier.issuer = v.issuer.clone();
        if let Some(le) = &v.leeway {
            s.verifier.leeway = Some(
                units::parse_duration(le.get_ref())
                    .map_err(|e| l.error(le, "verifier.leeway", e))?
                    .as_secs(),
            );
        }
        s.verifier.check_nbf = v.check_nbf;
        if let Some(rc) = &v.required_claims {
            for c in rc.get_ref() {
                if !["exp", "nbf", "iss", "aud", "sub"].contains(&c.as_str()) {
                    return Err(l.error(
                        rc,
                        "verifier.required_claims",
                        format!("unknown claim '{c}'; expected exp, nbf, iss, aud or sub"),
                    ));
                }
            }
            s.verifier.required_claims = Some(rc.get_ref().clone());
        }
        if let Some(m) = &v.max_token_size {
            let n = *m.get_ref();
            if n < 0 || n as u64 > crate::token::batch::MAX_TOKEN_BYTES as u64 {
                return Err(l.error(
                    m,
                    "verifier.max_token_size",
                    "must be a number of bytes up to 1048576, or 0 for no limit",
                ));
            }
            s.verifier.max_token_size = Some(if n == 0 { None } else { Some(n as usize) });
        }
        s.verifier.rate_limit = rate_limit(l, v)?;
        if let Some(sc) = &v.required_scope {
            check_scope(sc.get_ref()).map_err(|e| l.error(sc, "verifier.required_scope", e))?;
            s.verifier.required_scope = Some(sc.get_ref().clone());
        }
        if let Some(c) = &v.scope_claim {
            s.verifier.scope_claim = Some(
                c.get_ref()
                    .parse()
                    .map_err(|e| l.error(c, "verifier.scope_claim", e))?,
            );
        }

        // [tokens]
        let t = &sc.tokens;
        if let Some(src) = &t.source {
            s.tokens.stream = match src.get_ref().as_str() {
                "stream" => true,
                "batch" => false,
                other => {
                    return Err(l.error(
                        src,
                        "tokens.source",
                        format!("'{other}': expected \"batch\" (mint all before the run) or \"stream\" (mint as it goes)"),
                    ));
                }
            };
        }
        if let Some(c) = &t.count {
            let n = match c.get_ref() {
                CountValue::Text(text) if text.trim() == "unbounded" => {
                    if !s.tokens.stream {
                        return Err(l.error(
                            c,
                            "tokens.count",
                            "\"unbounded\" needs tokens.source = \"stream\" (a batch is minted before the run)",
                        ));
                    }
                    None
                }
                CountValue::Int(n) if *n >= 0 => Some(Ok(*n as u64)),
                CountValue::Int(n) => Some(Err(format!("must be positive, got {n}"))),
                CountValue::Text(s) => Some(units::parse_count(s)),
            };
            if let Some(n) = n {
                let n = n.map_err(|e| l.error(c, "tokens.count", e))?;
                s.tokens.count = check_count(n).map_err(|e| l.error(c, "tokens.count", e))?;
                s.tokens.count_given = true;
            }
        }
        if let Some(seed) = t.seed {
            s.tokens.seed = seed;
        }
        if let Some(now) = &t.now {
            s.tokens.now = Some(match now.get_ref() {
                NowValue::Unix(n) => check_now(*n).map_err(|e| l.error(now, "tokens.now", e))?,
                NowValue::Text(text) => parse_now(text).map_err(|e| l.error(now, "tokens.now", e))?,
            });
        }
        if let Some(ttl) = &t.ttl {
            let d = units::parse_duration(ttl.get_ref()).map_err(|e| l.error(ttl, "tokens.ttl", e))?;
            if d.as_secs() == 0 {
                return Err(l.error(ttl, "tokens.ttl", "must be at least 1s"));
            }
            s.tokens.ttl = d.as_secs();
        }
        if let Some(nbf) = &t.nbf {
            s.tokens.nbf_offset =
                Some(parse_offset(nbf.get_ref()).map_err(|e| l.error(nbf, "tokens.nbf", e))?);
        }
        if let Some(iat) = t.iat {
            s.tokens.iat = iat;
        }
        if let Some(jti) = t.jti {
            s.tokens.jti = jti;
        }
        if let Some(size) = &t.size {
            let n = usize::try_from(*size.get_ref()).unwrap_or(0);
            s.tokens.size = Some(check_size(n).map_err(|e| l.error(size, "tokens.size", e))?);
        }
        if let Some(claims) = &t.claims {
            let json =
                serde_json::to_value(claims.get_ref()).map_err(|e| l.error(claims, "tokens.claims", e))?;
            s.tokens.claims =
                serde_json::from_value(json).map_err(|e| l.error(claims, "tokens.claims", e))?;
            crate::token::claims::ClaimTemplate::compile(s.tokens.claims.clone())
                .map_err(|e| l.error(claims, "tokens.claims", e))?;
        }
        if let Some(mix) = &t.mix {
            let mut pairs = Vec::new();
            for (name, w) in mix.get_ref() {
                let weight = match w {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    _ => {
                        return Err(l.error(
                            mix,
                            "tokens.mix",
                            format!("weight of '{name}' must be a number"),
                        ));
                    }
                };
                pairs.push((name.as_str(), weight));
            }
            s.tokens.mix = parse_mix_pairs(pairs).map_err(|e| l.error(mix, "tokens.mix", e))?;
            // A class the policy cannot judge, said where the mix is (a key set folder names its
            // algorithm, so that case is checked when its keys are loaded).
            if !matches!(s.keys.source, KeySource::Dir(_)) {
                let alg = s.alg();
                let policy = s.policy(alg);
                for (class, w) in &s.tokens.mix {
                    if *w > 0.0
                        && let Some(why) = class.inapplicable(alg, &policy)
                    {
                        return Err(l.error(mix, "tokens.mix", why));
                    }
                }
            }
        }
        Ok(s)
    }

    /// The algorithm: as set, or taken from a key set directory, or HS256.
    pub fn alg(&self) -> Algorithm {
        self.keys.alg.unwrap_or(Algorithm::HS256)
    }

    /// The verifier policy these settings describe.
    pub fn policy(&self, alg: Algorithm) -> Policy {
        let v = &self.verifier;
        let mut p = Policy::for_alg(alg);
        if let Some(a) = &v.algorithms {
            p.algorithms = a.clone();
        }
        p.audience = v.audience.clone();
        p.issuer = v.issuer.clone();
        if let Some(l) = v.leeway {
            p.leeway = l;
        }
        if let Some(c) = v.check_nbf {
            p.check_nbf = c;
        }
        if let Some(r) = &v.required_claims {
            p.required_claims = r.clone();
        }
        if let Some(m) = v.max_token_size {
            p.max_token_size = m;
        }
        p.required_scope = v.required_scope.clone();
        if let Some(c) = v.scope_claim {
            p.scope_claim = c;
        }
        p
    }

    /// The mint configuration for these settings; every key must be able to sign.
    pub fn mint_config(&self, alg: Algorithm, keys: Vec<KeyMaterial>) -> Result<MintConfig, String> {
        let s = self;
        if let Some(k) = keys.iter().find(|k| !k.can_sign()) {
            return Err(format!(
                "key '{}' is public only; minting needs a private key or an HMAC secret",
                k.kid
            ));
        }
        let t = &s.tokens;
        let claims = ClaimTemplate::compile(t.claims.clone()).map_err(|e| format!("tokens.claims: {e}"))?;
        let now = t.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        Ok(MintConfig {
            alg,
            keys,
            policy: s.policy(alg),
            count: t.count,
            seed: t.seed,
            now,
            ttl: t.ttl,
            nbf_offset: t.nbf_offset,
            iat: t.iat,
            jti: t.jti,
            claims,
            mix: t.mix.clone(),
            size: t.size,
            idp: None,
        })
    }

    /// The distinct tokens of a stream before it wraps: the count when one was given.
    pub fn stream_count(&self) -> Option<u64> {
        self.tokens.count_given.then_some(self.tokens.count)
    }

    /// Loads or generates the keys. Returns the algorithm (a key set directory may name it) and
    /// the keys, in rotation order.
    pub fn load_keys(&self) -> Result<(Algorithm, Vec<KeyMaterial>), KeyError> {
        let k = &self.keys;
        keys::load(&k.source, k.alg, k.kid.as_deref(), k.count, k.rsa_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(text: &str) -> Result<Settings, ScenarioError> {
        let l = Loaded::parse(Path::new("t.toml"), text.to_string())?;
        Settings::from_scenario(&l)
    }

    #[test]
    fn reads_sections() {
        let s = settings(
            "[keys]\nalg = \"RS256\"\ngenerate = true\n[verifier]\naudience = \"a\"\nleeway = \"30s\"\n\
             [tokens]\ncount = \"10k\"\nttl = \"5m\"\nnbf = \"-10s\"\nmix = { valid = 3, expired = 1.5 }\n",
        )
        .unwrap();
        assert_eq!(s.alg(), Algorithm::RS256);
        assert_eq!(s.tokens.count, 10_000);
        assert_eq!(s.tokens.ttl, 300);
        assert_eq!(s.tokens.nbf_offset, Some(-10));
        assert_eq!(s.policy(Algorithm::RS256).leeway, 30);
        assert_eq!(
            s.tokens.mix,
            vec![(TokenClass::Expired, 1.5), (TokenClass::Valid, 3.0)]
        );
    }

    #[test]
    fn value_errors_point_at_the_value() {
        let e = settings("[keys]\nalg = \"HS999\"\n").unwrap_err();
        assert_eq!(e.location, "t.toml:2:7");
        assert!(
            e.message.starts_with("keys.alg: unknown algorithm 'HS999'"),
            "{}",
            e.message
        );
        let e = settings("[tokens]\n\nttl = \"soon\"\n").unwrap_err();
        assert_eq!(e.location, "t.toml:3:7");
        let e = settings("[tokens]\nmix = { valid = 0 }\n").unwrap_err();
        assert!(e.message.contains("all weights are zero"), "{}", e.message);
        let e = settings("[tokens]\nmix = { valid = -1 }\n").unwrap_err();
        assert!(e.message.contains("non-negative"), "{}", e.message);
        let e = settings("[tokens]\ncount = 0\n").unwrap_err();
        assert!(e.message.contains("tokens.count"), "{}", e.message);
        let e = settings("[keys]\ngenerate = true\nsecret_env = \"X\"\n").unwrap_err();
        assert!(e.message.contains("choose one key source"), "{}", e.message);
    }

    #[test]
    fn offsets_and_clock() {
        assert_eq!(parse_offset("-30s").unwrap(), -30);
        assert_eq!(parse_offset("+1m").unwrap(), 60);
        assert_eq!(parse_now("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_now("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600);
        assert!(parse_now("yesterday").is_err());
    }
}
