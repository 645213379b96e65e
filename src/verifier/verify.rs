//! Token verification as a careful API does it, with every key parsed once.
//!
//! Order of checks: size, structure, header, algorithm allow-list, `crit`, key by kid,
//! signature, then claims (required, exp, nbf, iss, aud). The first failure is the reason.

use std::collections::HashMap;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use crate::model::alg;
use crate::token::keys::{self, KeyMaterial, Secret};
use crate::token::policy::Policy;

/// Why a token was rejected. `as_str` is the machine-readable reason the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    MissingToken,
    TokenTooLarge,
    Malformed,
    AlgNotAllowed,
    UnknownCrit,
    UnknownKid,
    BadSignature,
    MissingClaim,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// Verified, but its `jti` is on the revocation list.
    Revoked,
}

impl Reason {
    /// Every reason, for metrics.
    pub const ALL: [Reason; 13] = [
        Reason::MissingToken,
        Reason::TokenTooLarge,
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::UnknownCrit,
        Reason::UnknownKid,
        Reason::BadSignature,
        Reason::MissingClaim,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::Revoked,
    ];

    /// The reason named `name` (`expired`, ...).
    pub fn parse(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The short reason name (`expired`, `bad_signature`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::TokenTooLarge => "token_too_large",
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownCrit => "unknown_crit",
            Reason::UnknownKid => "unknown_kid",
            Reason::BadSignature => "bad_signature",
            Reason::MissingClaim => "missing_claim",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::Revoked => "revoked",
        }
    }

    /// A sentence for `WWW-Authenticate`'s `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Reason::MissingToken => "no token was presented",
            Reason::TokenTooLarge => "the token is larger than allowed",
            Reason::Malformed => "the token is not a well-formed JWS",
            Reason::AlgNotAllowed => "the token's algorithm is not allowed",
            Reason::UnknownCrit => "the token marks a header extension as critical that is not understood",
            Reason::UnknownKid => "the token's key id is not known",
            Reason::BadSignature => "the signature does not verify",
            Reason::MissingClaim => "a required claim is missing",
            Reason::Expired => "the token has expired",
            Reason::NotYetValid => "the token is not valid yet",
            Reason::WrongIssuer => "the token's issuer is not trusted",
            Reason::WrongAudience => "the token is not meant for this audience",
            Reason::Revoked => "the token has been revoked",
        }
    }
}

/// What a verified token tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub sub: Option<String>,
    pub kid: Option<String>,
    pub exp: Option<i64>,
    /// The scopes the token carries, from the policy's scope claim.
    pub scopes: Vec<String>,
    /// Its `jti`, when it has a string one.
    pub jti: Option<String>,
}

impl Verified {
    /// The scopes of a scope claim's value (none without one).
    pub fn scopes_of(claim: Option<&Value>) -> Vec<String> {
        claim
            .map(|v| {
                crate::token::policy::ScopeClaim::scopes(v)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[allow(clippy::large_enum_variant)] // one per key, built once; inline keeps the hot path free of a pointer chase
enum VerifyKey {
    Hmac(hmac::Key),
    Public(ParsedPublicKey),
}

struct Entry {
    alg: Algorithm,
    kid: String,
    key: VerifyKey,
}

/// A verifier for one policy and key set, built once and shared across requests.
pub struct Verifier {
    policy: Policy,
    keys: Vec<Entry>,
    by_kid: HashMap<String, Vec<usize>>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    crit: Option<Value>,
}

/// The header members that point at a key elsewhere (`jku`, `x5u`), with `alg` and `kid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRefs {
    pub alg: Option<Algorithm>,
    pub kid: Option<String>,
    pub jku: Option<String>,
    pub x5u: Option<String>,
}

/// Reads a token's header for the members that point at a key; `None` when it does not decode.
pub fn header_refs(token: &[u8]) -> Option<HeaderRefs> {
    #[derive(Deserialize)]
    struct Refs {
        alg: Option<String>,
        kid: Option<String>,
        jku: Option<String>,
        x5u: Option<String>,
    }
    let h64 = token.split(|b| *b == b'.').next()?;
    let r: Refs = serde_json::from_slice(&B64.decode(h64).ok()?).ok()?;
    Some(HeaderRefs {
        alg: r.alg.as_deref().and_then(|a| alg::parse(a).ok()),
        kid: r.kid,
        jku: r.jku,
        x5u: r.x5u,
    })
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    jti: Option<Value>,
}

impl Verifier {
    /// Builds a verifier; every key must fit one of its algorithms.
    pub fn new(policy: Policy, keys: &[KeyMaterial]) -> Result<Self, String> {
        Self::with_keys(policy, keys, false)
    }

    /// [`Verifier::new`], and with `allow_empty` a verifier without keys (a fetched key set may
    /// be empty: it then rejects every token as signed by an unknown key).
    pub fn with_keys(policy: Policy, keys: &[KeyMaterial], allow_empty: bool) -> Result<Self, String> {
        if policy.algorithms.is_empty() {
            return Err("verifier.algorithms: at least one algorithm must be allowed".into());
        }
        let mut entries = Vec::with_capacity(keys.len());
        let mut by_kid: HashMap<String, Vec<usize>> = HashMap::new();
        for k in keys {
            let key = match &k.secret {
                Secret::Hmac(s) => VerifyKey::Hmac(hmac::Key::new(keys::hmac_alg(k.alg), s)),
                _ => {
                    let bytes = keys::verification_key_bytes(k.alg, &k.jwk)
                        .map_err(|e| format!("key '{}': {e}", k.kid))?;
                    let parsed = ParsedPublicKey::new(keys::verification_alg(k.alg), bytes)
                        .map_err(|e| format!("key '{}': unusable public key ({e})", k.kid))?;
                    VerifyKey::Public(parsed)
                }
            };
            by_kid.entry(k.kid.clone()).or_default().push(entries.len());
            entries.push(Entry {
                alg: k.alg,
                kid: k.kid.clone(),
                key,
            });
        }
        if entries.is_empty() && !allow_empty {
            return Err("the verifier has no keys".into());
        }
        Ok(Verifier {
            policy,
            keys: entries,
            by_kid,
        })
    }

    /// The policy this verifier enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Verifies `token` at Unix time `now`.
    pub fn verify(&self, token: &[u8], now: i64) -> Result<Verified, Reason> {
        if token.is_empty() {
            return Err(Reason::MissingToken);
        }
        if let Some(max) = self.policy.max_token_size
            && token.len() > max
        {
            return Err(Reason::TokenTooLarge);
        }
        let mut parts = token.splitn(4, |b| *b == b'.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reason::Malformed);
        };
        let header_bytes = B64.decode(h64).map_err(|_| Reason::Malformed)?;
        let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| Reason::Malformed)?;
        let alg = header
            .alg
            .as_deref()
            .and_then(|a| alg::parse(a).ok())
            .filter(|a| self.policy.algorithms.contains(a))
            .ok_or(Reason::AlgNotAllowed)?;
        if header.crit.is_some() {
            return Err(Reason::UnknownCrit);
        }
        let signature = B64.decode(s64).map_err(|_| Reason::Malformed)?;
        let message = &token[..h64.len() + 1 + p64.len()];
        let candidates: Vec<&Entry> = match header.kid.as_deref() {
            Some(kid) => self
                .by_kid
                .get(kid)
                .map(|ix| {
                    ix.iter()
                        .map(|i| &self.keys[*i])
                        .filter(|e| e.alg == alg)
                        .collect()
                })
                .unwrap_or_default(),
            None => self.keys.iter().filter(|e| e.alg == alg).collect(),
        };
        if candidates.is_empty() {
            return Err(Reason::UnknownKid);
        }
        let entry = candidates
            .into_iter()
            .find(|e| match &e.key {
                VerifyKey::Hmac(k) => hmac::verify(k, message, &signature).is_ok(),
                VerifyKey::Public(k) => k.verify_sig(message, &signature).is_ok(),
            })
            .ok_or(Reason::BadSignature)?;
        let payload = B64.decode(p64).map_err(|_| Reason::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| Reason::Malformed)?;
        self.check_claims(&claims, now)?;
        let scope = match self.policy.scope_claim {
            crate::token::policy::ScopeClaim::Scope => claims.scope.as_ref(),
            crate::token::policy::ScopeClaim::Scp => claims.scp.as_ref(),
        };
        Ok(Verified {
            sub: claims.sub.as_ref().and_then(Value::as_str).map(str::to_owned),
            kid: Some(entry.kid.clone()),
            exp: claims.exp.as_ref().and_then(Value::as_i64),
            scopes: Verified::scopes_of(scope),
            jti: claims.jti.as_ref().and_then(Value::as_str).map(str::to_owned),
        })
    }

    fn check_claims(&self, c: &Claims, now: i64) -> Result<(), Reason> {
        let p = &self.policy;
        let present = |name: &str| match name {
            "exp" => c.exp.is_some(),
            "nbf" => c.nbf.is_some(),
            "iss" => c.iss.is_some(),
            "aud" => c.aud.is_some(),
            "sub" => c.sub.is_some(),
            _ => true,
        };
        for name in ["exp", "nbf", "iss", "aud", "sub"] {
            if p.requires(name) && !present(name) {
                return Err(Reason::MissingClaim);
            }
        }
        let leeway = p.leeway as i64;
        // RFC 7519 4.1.4: the current time must be before exp (plus the leeway).
        if let Some(exp) = &c.exp
            && now >= numeric_date(exp)?.saturating_add(leeway)
        {
            return Err(Reason::Expired);
        }
        // RFC 7519 4.1.5: not before nbf (less the leeway).
        if p.check_nbf
            && let Some(nbf) = &c.nbf
            && now < numeric_date(nbf)?.saturating_sub(leeway)
        {
            return Err(Reason::NotYetValid);
        }
        if let Some(want) = &p.issuer
            && c.iss.as_ref().and_then(Value::as_str) != Some(want.as_str())
        {
            return Err(Reason::WrongIssuer);
        }
        match (&c.aud, &p.audience) {
            (None, _) => {}
            (Some(aud), Some(want)) => {
                let ok = match aud {
                    Value::String(s) => s == want,
                    Value::Array(items) => items.iter().any(|v| v.as_str() == Some(want.as_str())),
                    _ => false,
                };
                if !ok {
                    return Err(Reason::WrongAudience);
                }
            }
            // RFC 7519 4.1.3: a principal that does not identify itself with a value in a
            // present `aud` must reject the token.
            (Some(_), None) => return Err(Reason::WrongAudience),
        }
        Ok(())
    }
}

fn numeric_date(v: &Value) -> Result<i64, Reason> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or(Reason::Malformed),
        _ => Err(Reason::Malformed),
    }
}
