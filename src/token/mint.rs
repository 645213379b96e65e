//! The minter: turns a token index into one labelled token, with every signer, header and
//! attacker key prepared once. Pure per index, so parallel minting is deterministic.

use std::io::Write as _;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;

use super::claims::ClaimTemplate;
use super::classes::{Expect, TokenClass};
use super::keys::{KeyMaterial, Signer};
use super::rng::{self, TokenRng};
use crate::model::alg;
use crate::token::policy::Policy;

/// Everything that decides a batch's contents.
#[derive(Debug, Clone)]
pub struct MintConfig {
    pub alg: Algorithm,
    /// Signing keys; token `i` is signed with key `i % keys.len()` (kid rotation).
    pub keys: Vec<KeyMaterial>,
    pub policy: Policy,
    pub count: u64,
    pub seed: u64,
    /// The minting clock, Unix seconds (pin it for reproducible batches).
    pub now: i64,
    /// Lifetime of a valid token: `exp = iat + ttl`.
    pub ttl: u64,
    /// When set, valid tokens carry `nbf = now + offset` (seconds, may be negative).
    pub nbf_offset: Option<i64>,
    /// Whether tokens carry `iat`.
    pub iat: bool,
    /// Whether tokens carry a unique `jti`.
    pub jti: bool,
    pub claims: ClaimTemplate,
    /// Class weights; classes absent or at zero are not minted.
    pub mix: Vec<(TokenClass, f64)>,
    /// Pad tokens with a `pad` claim to about this many bytes.
    pub size: Option<usize>,
    /// jwtstorm's identity provider, which `jku_injection` and `x5u_injection` tokens point at.
    pub idp: Option<IdpRef>,
}

/// What header-injection tokens need from the identity provider: its base URL and the attacker
/// key whose key set and certificate it serves.
#[derive(Debug, Clone)]
pub struct IdpRef {
    pub url: String,
    pub attacker: KeyMaterial,
}

/// Why a batch cannot be minted as configured. Messages name the setting.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("tokens.count: must be at least 1")]
    ZeroCount,
    #[error("tokens.mix: {0}")]
    Mix(String),
    #[error("keys: {0}")]
    Keys(String),
    #[error("tokens: {0}")]
    Times(String),
    #[error("tokens.claims: {0}")]
    Claims(String),
}

struct PreparedKey {
    signer: Signer,
    sig_len: usize,
    header: Vec<u8>,
    crit_header: Vec<u8>,
    embedded_header: Vec<u8>,
    confusion: Option<(hmac::Key, Vec<u8>)>,
    /// Headers naming this key's kid but pointing (`jku`, `x5u`) at the attacker's documents.
    jku_header: Vec<u8>,
    x5u_header: Vec<u8>,
    /// The header with `cty: JWT` (a nested token).
    nested_header: Vec<u8>,
}

/// Whether a kid goes into the header (an empty one is left out).
fn key_has_kid(kid: &str) -> bool {
    !kid.is_empty()
}

/// A prepared minter for one configuration.
pub struct Minter {
    cfg: MintConfig,
    keys: Vec<PreparedKey>,
    attacker: Signer,
    unknown_kid_header: Vec<u8>,
    none_headers: Vec<Vec<u8>>,
    /// Cumulative weights and their classes.
    cumulative: Vec<(f64, TokenClass)>,
    tamper_claim: &'static str,
    /// HMAC only: signers of common weak secrets, and of the empty one.
    weak: Vec<Signer>,
    empty: Option<Signer>,
    /// HMAC only: the key `k` of `kid_sql_injection`, and the two kids' headers.
    sql: Option<Signer>,
    kid_traversal_header: Vec<u8>,
    kid_sql_header: Vec<u8>,
}

/// The kid of `kid_path_traversal` tokens.
pub const TRAVERSAL_KID: &str = "../../../../../../dev/null";
/// The kid of `kid_sql_injection` tokens (they are signed with the key `k` it selects).
pub const SQL_KID: &str = "' UNION SELECT 'k' -- ";

/// The weak secrets `weak_secret` tokens are signed with: the ones tutorials and leaked
/// configurations use most.
pub const WEAK_SECRETS: [&str; 6] = [
    "secret",
    "password",
    "changeme",
    "your-256-bit-secret",
    "jwt_secret",
    "123456",
];

fn b64_json(v: &serde_json::Value) -> Vec<u8> {
    B64.encode(serde_json::to_vec(v).expect("json")).into_bytes()
}

fn header_json(alg_name: &str, kid: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    // serde_json's map keeps keys sorted, so headers are byte-stable.
    m.insert("alg".into(), alg_name.into());
    // An empty kid (`--kid ''`) leaves the header without one, for verifiers that refuse a kid
    // they do not expect.
    if !kid.is_empty() {
        m.insert("kid".into(), kid.into());
    }
    m.insert("typ".into(), "JWT".into());
    m
}

impl Minter {
    /// Prepares signers, headers and the attacker key, and checks the mix against the policy.
    pub fn new(cfg: MintConfig) -> Result<Self, MintError> {
        if cfg.count == 0 {
            return Err(MintError::ZeroCount);
        }
        if cfg.count > 100_000_000 || cfg.size.is_some_and(|n| n > super::batch::MAX_TOKEN_BYTES) {
            return Err(MintError::Times(
                "at most 100000000 tokens of at most 1 MiB each".into(),
            ));
        }
        // Every claim is computed from these with plain arithmetic: keep them far from overflow.
        let longest = crate::units::MAX_DURATION.as_secs();
        if !(0..=crate::units::MAX_NOW).contains(&cfg.now) {
            return Err(MintError::Times(format!(
                "the clock {} is outside 1970 to 9999",
                cfg.now
            )));
        }
        if cfg.ttl > longest || cfg.policy.leeway > longest {
            return Err(MintError::Times("ttl and leeway are at most 366 days".into()));
        }
        if cfg.nbf_offset.is_some_and(|o| o.unsigned_abs() > longest) {
            return Err(MintError::Times("the nbf offset is at most 366 days".into()));
        }
        if cfg.policy.required_scope.is_some() && cfg.claims.has(cfg.policy.scope_claim.name()) {
            return Err(MintError::Claims(format!(
                "claim '{}' is set by jwtstorm when verifier.required_scope is set (every token but insufficient_scope carries the required scope); remove it from claims",
                cfg.policy.scope_claim.name()
            )));
        }
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (class, weight) in &cfg.mix {
            if !weight.is_finite() || *weight < 0.0 {
                return Err(MintError::Mix(format!(
                    "weight of {class} must be a non-negative number, got {weight}"
                )));
            }
            if *weight == 0.0 {
                continue;
            }
            if let Some(why) = class.inapplicable(cfg.alg, &cfg.policy) {
                return Err(MintError::Mix(why));
            }
            total += weight;
            cumulative.push((total, *class));
        }
        if cumulative.is_empty() {
            return Err(MintError::Mix(
                "all weights are zero; give at least one class a positive weight".into(),
            ));
        }
        if cfg.keys.is_empty() {
            return Err(MintError::Keys("no signing key".into()));
        }
        let alg_name = alg::name(cfg.alg);
        for class in [TokenClass::JkuInjection, TokenClass::X5uInjection] {
            if cfg.idp.is_none() && cumulative.iter().any(|(_, c)| *c == class) {
                return Err(MintError::Mix(format!(
                    "{class} points at jwtstorm's identity provider: add an [idp] section"
                )));
            }
        }
        let attacker_key = match &cfg.idp {
            Some(idp) => idp.attacker.clone(),
            None => KeyMaterial::generate(cfg.alg, Some(2048)).map_err(|e| MintError::Keys(e.to_string()))?,
        };
        let attacker = Signer::new(&attacker_key).map_err(|e| MintError::Keys(e.to_string()))?;
        let mut keys = Vec::with_capacity(cfg.keys.len());
        for key in &cfg.keys {
            if key.alg != cfg.alg {
                return Err(MintError::Keys(format!(
                    "key '{}' is for {}, but tokens are {alg_name}",
                    key.kid,
                    alg::name(key.alg)
                )));
            }
            let signer = Signer::new(key).map_err(|e| MintError::Keys(e.to_string()))?;
            let mut probe = Vec::new();
            signer.sign_into(b"probe", &mut probe);
            let base = header_json(alg_name, &key.kid);
            let mut crit = base.clone();
            crit.insert("crit".into(), serde_json::json!(["x-jwtstorm-ext"]));
            crit.insert("x-jwtstorm-ext".into(), true.into());
            let mut embedded = base.clone();
            embedded.insert(
                "jwk".into(),
                serde_json::to_value(attacker_key.jwk.public()).expect("jwk"),
            );
            let confusion = key.public_pem().map(|pem| {
                let h = header_json("HS256", &key.kid);
                (
                    hmac::Key::new(hmac::HMAC_SHA256, pem.as_bytes()),
                    b64_json(&h.into()),
                )
            });
            let mut jku = base.clone();
            let mut x5u = base.clone();
            if let Some(idp) = &cfg.idp {
                jku.insert(
                    "jku".into(),
                    format!("{}{}", idp.url, crate::token::ATTACKER_JWKS_PATH).into(),
                );
                x5u.insert(
                    "x5u".into(),
                    format!("{}{}", idp.url, crate::token::ATTACKER_CERT_PATH).into(),
                );
            }
            let mut nested = base.clone();
            nested.insert("cty".into(), "JWT".into());
            keys.push(PreparedKey {
                nested_header: b64_json(&nested.into()),
                jku_header: b64_json(&jku.into()),
                x5u_header: b64_json(&x5u.into()),
                signer,
                sig_len: probe.len(),
                header: b64_json(&base.into()),
                crit_header: b64_json(&crit.into()),
                embedded_header: b64_json(&embedded.into()),
                confusion,
            });
        }
        let unknown_kid = format!("jwtstorm-unknown-{:016x}", rng::mix64(cfg.seed ^ 0x756e6b));
        let none_headers = ["none", "None", "NONE", "nOnE"]
            .iter()
            .map(|n| b64_json(&serde_json::json!({"alg": n, "typ": "JWT"})))
            .collect();
        let tamper_claim = if cfg.claims.has("admin") {
            "is_admin"
        } else {
            "admin"
        };
        let mac = |secret: &[u8]| Signer::Hmac(hmac::Key::new(super::keys::hmac_alg(cfg.alg), secret));
        let hmac_family = alg::family(cfg.alg) == alg::Family::Hmac;
        let (weak, empty, sql) = if hmac_family {
            (
                WEAK_SECRETS.iter().map(|s| mac(s.as_bytes())).collect(),
                Some(mac(b"")),
                Some(mac(b"k")),
            )
        } else {
            (Vec::new(), None, None)
        };
        Ok(Minter {
            weak,
            empty,
            sql,
            kid_traversal_header: b64_json(&header_json(alg_name, TRAVERSAL_KID).into()),
            kid_sql_header: b64_json(&header_json(alg_name, SQL_KID).into()),
            unknown_kid_header: b64_json(&header_json(alg_name, &unknown_kid).into()),
            cfg,
            keys,
            attacker,
            none_headers,
            cumulative,
            tamper_claim,
        })
    }

    /// The configuration this minter was built from.
    pub fn config(&self) -> &MintConfig {
        &self.cfg
    }

    fn pick_class(&self, rng: &mut TokenRng) -> TokenClass {
        let total = self.cumulative.last().map_or(0.0, |c| c.0);
        let u = rng.next_f64() * total;
        let i = self.cumulative.partition_point(|(c, _)| *c <= u);
        self.cumulative[i.min(self.cumulative.len() - 1)].1
    }

    /// Appends token `index` to `out` and returns its class and expected answer. `scratch` is a
    /// reusable buffer.
    pub fn mint_into(&self, index: u64, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> (TokenClass, Expect) {
        self.mint_at(index, self.cfg.now, out, scratch)
    }

    /// [`Minter::mint_into`] with the clock `now` (Unix seconds) instead of the configured one:
    /// the same token but for its time claims. A streaming source mints each token when it is
    /// about to be sent. `now` is clamped to the range the configuration was checked for.
    pub fn mint_at(
        &self,
        index: u64,
        now: i64,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> (TokenClass, Expect) {
        let slot = (index % self.keys.len() as u64) as usize;
        self.mint_with(index, now, slot, false, out, scratch)
    }

    /// [`Minter::mint_at`] signed with key `slot` (a rotation schedule's signer) instead of the
    /// kid rotation by index. With `retired`, the token is a `valid` one signed with that key,
    /// labelled `retired_key` (the key was retired: it must be rejected).
    pub fn mint_with(
        &self,
        index: u64,
        now: i64,
        slot: usize,
        retired: bool,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> (TokenClass, Expect) {
        let now = now.clamp(0, crate::units::MAX_NOW);
        let mut rng = TokenRng::new(self.cfg.seed, index);
        let picked = self.pick_class(&mut rng);
        let class = if retired { TokenClass::Valid } else { picked };
        let key = &self.keys[slot.min(self.keys.len() - 1)];
        let (ttl, leeway) = (self.cfg.ttl as i64, self.cfg.policy.leeway as i64);
        let mut times = Times {
            iat: now,
            nbf: self.cfg.nbf_offset.map(|o| now + o),
            exp: Some(now + ttl),
        };
        let mut expect = Expect::Reject;
        let mut claims = Overrides::default();
        match class {
            TokenClass::Valid
            | TokenClass::InsufficientScope
            | TokenClass::AudArrayWithOther
            | TokenClass::WhitespaceJson
            | TokenClass::ExpHuge => {
                if class == TokenClass::ExpHuge {
                    times.exp = Some((1i64 << 53) + 1);
                }
                let from = if self.cfg.policy.check_nbf {
                    times.nbf.map(|n| n - leeway)
                } else {
                    None
                };
                // RFC 7519 4.1.4: valid while now < exp (+ leeway).
                let until = times.exp.map(|e| e + leeway);
                if class == TokenClass::AudArrayWithOther {
                    claims.aud_shape = AudShape::WithOther;
                }
                expect = if class != TokenClass::InsufficientScope {
                    Expect::AcceptWithin { from, until }
                } else {
                    // A good token without the scope: 403 while it is good, 401 after.
                    claims.lacks_scope = true;
                    Expect::ForbidWithin { from, until }
                };
            }
            TokenClass::Expired => {
                let exp = now - leeway - 3600;
                times = Times {
                    iat: exp - ttl,
                    nbf: times.nbf.map(|_| exp - ttl),
                    exp: Some(exp),
                };
            }
            TokenClass::NotYetValid => {
                let nbf = now + leeway + 3600;
                times = Times {
                    iat: now,
                    nbf: Some(nbf),
                    exp: Some(nbf + ttl),
                };
                expect = Expect::AcceptWithin {
                    from: Some(nbf - leeway),
                    until: Some(nbf + ttl + leeway),
                };
            }
            TokenClass::Revoked => claims.revoked = true,
            TokenClass::IatInFuture => {
                times.iat = now + 3600;
                times.exp = Some(times.iat + ttl);
                expect = Expect::Either;
            }
            TokenClass::ExpFloat => {
                claims.exp_fraction = true;
                expect = Expect::Either;
            }
            TokenClass::Utf8Bom
            | TokenClass::DuplicateHeaderAlg
            | TokenClass::NoncanonicalBase64
            | TokenClass::TypMismatch
            | TokenClass::B64False => expect = Expect::Either,
            TokenClass::JtiNotString => {
                claims.jti_number = true;
                expect = Expect::Either;
            }
            TokenClass::SubNotString => {
                claims.sub_number = true;
                expect = Expect::Either;
            }
            TokenClass::ExpNull => claims.exp_null = true,
            TokenClass::AudEmptyArray => claims.aud_shape = AudShape::Empty,
            TokenClass::ExpString => claims.exp_string = true,
            TokenClass::NbfString => {
                claims.nbf_string = true;
                times.nbf.get_or_insert(now);
            }
            TokenClass::RecentlyExpired => {
                // 1 to 60 s back, never exactly the leeway: at exp + leeway itself libraries
                // differ (RFC 7519 says "on or after" expires; some accept the very second).
                let mut back = 1 + rng.below(60) as i64;
                if back == leeway {
                    back = if back > 1 { back - 1 } else { 2 };
                }
                let exp = now - back;
                times = Times {
                    iat: exp - ttl,
                    nbf: times.nbf.map(|_| exp - ttl),
                    exp: Some(exp),
                };
                // Accepted until exp + leeway, like any token; with a leeway under a minute
                // it may already be past that.
                expect = Expect::AcceptWithin {
                    from: None,
                    until: Some(exp + leeway),
                };
            }
            TokenClass::MissingExp => times.exp = None,
            TokenClass::WrongAudience => claims.aud = Some("api://jwtstorm-wrong-audience"),
            TokenClass::WrongIssuer => claims.iss = Some("https://wrong-issuer.jwtstorm.invalid"),
            TokenClass::Oversized => {
                let max = self
                    .cfg
                    .policy
                    .max_token_size
                    .unwrap_or(crate::token::policy::DEFAULT_MAX_TOKEN_SIZE);
                claims.size = Some(max + max / 2 + 1);
            }
            _ => {}
        }
        if claims.size.is_none() {
            claims.size = self.cfg.size;
        }
        let start = out.len();
        // Classes that are a header plus a signature over header.payload, by some key.
        let signed_with: Option<(&[u8], &Signer, bool)> = match class {
            TokenClass::UnknownKid => Some((&self.unknown_kid_header, &self.attacker, false)),
            TokenClass::EmbeddedJwk => Some((&key.embedded_header, &self.attacker, false)),
            TokenClass::UnknownCrit => Some((&key.crit_header, &key.signer, false)),
            TokenClass::JkuInjection => Some((&key.jku_header, &self.attacker, false)),
            TokenClass::X5uInjection => Some((&key.x5u_header, &self.attacker, false)),
            TokenClass::BadSignature => Some((&key.header, &key.signer, true)),
            TokenClass::WeakSecret => {
                let i = rng.below(self.weak.len().max(1) as u64) as usize;
                self.weak.get(i).map(|w| (&key.header[..], w, false))
            }
            TokenClass::EmptySecret => self.empty.as_ref().map(|e| (&key.header[..], e, false)),
            TokenClass::KidPathTraversal => self
                .empty
                .as_ref()
                .map(|e| (&self.kid_traversal_header[..], e, false)),
            TokenClass::KidSqlInjection => self.sql.as_ref().map(|k| (&self.kid_sql_header[..], k, false)),
            TokenClass::Valid
            | TokenClass::InsufficientScope
            | TokenClass::Revoked
            | TokenClass::RecentlyExpired
            | TokenClass::ExpNull
            | TokenClass::JtiNotString
            | TokenClass::SubNotString
            | TokenClass::IatInFuture
            | TokenClass::ExpFloat
            | TokenClass::ExpHuge
            | TokenClass::AudArrayWithOther
            | TokenClass::AudEmptyArray
            | TokenClass::ExpString
            | TokenClass::NbfString
            | TokenClass::TrailingSegment
            | TokenClass::SignatureNotBase64
            | TokenClass::Expired
            | TokenClass::NotYetValid
            | TokenClass::MissingExp
            | TokenClass::WrongAudience
            | TokenClass::WrongIssuer
            | TokenClass::Oversized => Some((&key.header, &key.signer, false)),
            _ => None,
        };
        if let Some((header, signer, flip)) = signed_with {
            self.signing_input(
                header,
                index,
                &mut rng,
                &times,
                &claims,
                key.sig_len,
                out,
                scratch,
            );
            scratch.clear();
            signer.sign_into(&out[start..], scratch);
            if flip && let Some(b) = scratch.first_mut() {
                *b ^= 0x01;
            }
            out.push(b'.');
            let sig_start = out.len();
            push_b64(out, scratch);
            match class {
                TokenClass::TrailingSegment => out.push(b'.'),
                TokenClass::SignatureNotBase64 => out[sig_start] = b'+',
                _ => {}
            }
            if retired {
                return (TokenClass::RetiredKey, Expect::Reject);
            }
            return (class, expect);
        }
        match class {
            TokenClass::AlgNone => {
                let h = &self.none_headers[rng.below(self.none_headers.len() as u64) as usize];
                self.signing_input(h, index, &mut rng, &times, &claims, 0, out, scratch);
                out.push(b'.');
            }
            TokenClass::NullSignature => {
                self.signing_input(&key.header, index, &mut rng, &times, &claims, 0, out, scratch);
                out.push(b'.');
            }
            TokenClass::AlgConfusion => {
                let (mac, header) = key.confusion.as_ref().expect("checked: asymmetric key");
                self.signing_input(header, index, &mut rng, &times, &claims, 32, out, scratch);
                let tag = hmac::sign(mac, &out[start..]);
                out.push(b'.');
                push_b64(out, tag.as_ref());
            }
            TokenClass::PsychicSignature => {
                self.signing_input(
                    &key.header,
                    index,
                    &mut rng,
                    &times,
                    &claims,
                    key.sig_len,
                    out,
                    scratch,
                );
                out.push(b'.');
                push_b64(out, &vec![0u8; key.sig_len]);
            }
            TokenClass::TamperedPayload => {
                // Sign the honest payload, then swap in an escalated one under the same signature.
                scratch.clear();
                self.write_payload(index, &mut rng, &times, &claims, scratch);
                let mut input = Vec::with_capacity(key.header.len() + 2 * scratch.len());
                input.extend_from_slice(&key.header);
                input.push(b'.');
                push_b64(&mut input, scratch);
                let mut sig = Vec::with_capacity(key.sig_len);
                key.signer.sign_into(&input, &mut sig);
                scratch.pop();
                let _ = write!(scratch, ",\"{}\":true}}", self.tamper_claim);
                out.extend_from_slice(&key.header);
                out.push(b'.');
                push_b64(out, scratch);
                out.push(b'.');
                push_b64(out, &sig);
            }
            TokenClass::Malformed => match rng.below(3) {
                0 => {
                    out.extend_from_slice(b"eyJ%%not-base64url%%");
                    out.push(b'.');
                    scratch.clear();
                    self.write_payload(index, &mut rng, &times, &claims, scratch);
                    push_b64(out, scratch);
                    out.extend_from_slice(b".c2lnbmF0dXJl");
                }
                1 => {
                    push_b64(out, b"{\"alg\":\"HS256\",\"typ\":JWT");
                    out.push(b'.');
                    scratch.clear();
                    self.write_payload(index, &mut rng, &times, &claims, scratch);
                    push_b64(out, scratch);
                    out.extend_from_slice(b".c2lnbmF0dXJl");
                }
                _ => {
                    out.extend_from_slice(&key.header);
                    out.push(b'.');
                    push_b64(out, format!("[\"user-{index}\",1,2,3]").as_bytes());
                    let mut sig = Vec::with_capacity(key.sig_len);
                    key.signer.sign_into(&out[start..], &mut sig);
                    out.push(b'.');
                    push_b64(out, &sig);
                }
            },
            TokenClass::WhitespaceJson => {
                let kid =
                    serde_json::Value::from(self.cfg.keys[slot.min(self.cfg.keys.len() - 1)].kid.as_str());
                let header = if key_has_kid(&self.cfg.keys[slot.min(self.cfg.keys.len() - 1)].kid) {
                    format!(
                        "{{\n  \"alg\" : \"{}\",\n  \"kid\" : {kid},\n  \"typ\" : \"JWT\"\n}}",
                        alg::name(self.cfg.alg)
                    )
                } else {
                    format!(
                        "{{\n  \"alg\" : \"{}\",\n  \"typ\" : \"JWT\"\n}}",
                        alg::name(self.cfg.alg)
                    )
                };
                push_b64(out, header.as_bytes());
                out.push(b'.');
                scratch.clear();
                self.write_payload(index, &mut rng, &times, &claims, scratch);
                let mut spaced = Vec::with_capacity(scratch.len() + 8);
                spaced.extend_from_slice(b" {\n  ");
                spaced.extend_from_slice(&scratch[1..scratch.len() - 1]);
                spaced.extend_from_slice(b"\n}\n");
                push_b64(out, &spaced);
                self.sign_and_push(&key.signer, start, out, scratch);
            }
            TokenClass::Utf8Bom
            | TokenClass::DuplicateHeaderAlg
            | TokenClass::TypMismatch
            | TokenClass::B64False => {
                let kid = &self.cfg.keys[slot.min(self.cfg.keys.len() - 1)].kid;
                let mut h = Vec::new();
                if matches!(class, TokenClass::TypMismatch | TokenClass::B64False) {
                    let mut m = header_json(alg::name(self.cfg.alg), kid);
                    if class == TokenClass::TypMismatch {
                        m.insert("typ".into(), "at+jwt".into());
                    } else {
                        m.insert("b64".into(), false.into());
                    }
                    h.extend_from_slice(&serde_json::to_vec(&serde_json::Value::from(m)).expect("json"));
                } else if class == TokenClass::Utf8Bom {
                    h.extend_from_slice(b"\xEF\xBB\xBF");
                    h.extend_from_slice(
                        &serde_json::to_vec(&serde_json::Value::from(header_json(
                            alg::name(self.cfg.alg),
                            kid,
                        )))
                        .expect("json"),
                    );
                } else {
                    // Two alg members, the first none, the last the real one.
                    let real = serde_json::to_string(&serde_json::Value::from(header_json(
                        alg::name(self.cfg.alg),
                        kid,
                    )))
                    .expect("json");
                    h.extend_from_slice(b"{\"alg\":\"none\",");
                    h.extend_from_slice(&real.as_bytes()[1..]);
                }
                push_b64(out, &h);
                out.push(b'.');
                scratch.clear();
                self.write_payload(index, &mut rng, &times, &claims, scratch);
                push_b64(out, scratch);
                self.sign_and_push(&key.signer, start, out, scratch);
            }
            TokenClass::NoncanonicalBase64 | TokenClass::PaddedBase64 => {
                out.extend_from_slice(&key.header);
                out.push(b'.');
                scratch.clear();
                self.write_payload(index, &mut rng, &times, &claims, scratch);
                if scratch.len().is_multiple_of(3) {
                    // A length whose base64 ends short of a whole group (so it has unused bits
                    // and would take padding): one leading space, still the same JSON.
                    scratch.insert(0, b' ');
                }
                push_b64(out, scratch);
                if class == TokenClass::PaddedBase64 {
                    out.extend_from_slice(if scratch.len() % 3 == 1 { b"==" } else { b"=" });
                } else {
                    // Set the lowest unused bit of the last character: the same bytes decode.
                    const ALPHABET: &[u8; 64] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    if let Some(last) = out.last_mut()
                        && let Some(v) = ALPHABET.iter().position(|c| c == last)
                    {
                        *last = ALPHABET[v | 1];
                    }
                }
                self.sign_and_push(&key.signer, start, out, scratch);
            }
            TokenClass::DuplicateClaim => {
                out.extend_from_slice(&key.header);
                out.push(b'.');
                let expired = now - leeway - 3600;
                // Two variants: valid then expired (the last one is expired: refused either way),
                // or expired then valid (a parser that takes the last accepts: either answer).
                let last_valid = rng.below(2) == 1;
                let valid_exp = times.exp;
                if last_valid {
                    times.exp = Some(expired);
                    expect = Expect::Either;
                }
                scratch.clear();
                self.write_payload(index, &mut rng, &times, &claims, scratch);
                scratch.pop();
                let second = if last_valid {
                    valid_exp.unwrap_or(now)
                } else {
                    expired
                };
                let _ = write!(scratch, ",\"exp\":{second}}}");
                push_b64(out, scratch);
                self.sign_and_push(&key.signer, start, out, scratch);
            }
            TokenClass::NestedJwt => {
                // The inner token: a valid one, signed with the same key.
                let mut inner = Vec::with_capacity(512);
                self.signing_input(
                    &key.header,
                    index,
                    &mut rng,
                    &times,
                    &claims,
                    key.sig_len,
                    &mut inner,
                    scratch,
                );
                self.sign_and_push(&key.signer, 0, &mut inner, scratch);
                out.extend_from_slice(&key.nested_header);
                out.push(b'.');
                push_b64(out, &inner);
                self.sign_and_push(&key.signer, start, out, scratch);
            }
            TokenClass::JweCompact => {
                // RFC 7516 compact form: header, an empty encrypted key (dir), IV, ciphertext,
                // tag; random bytes, as only the shape matters to a JWS verifier.
                let header = format!(
                    "{{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":{}}}",
                    serde_json::Value::from(self.cfg.keys[0].kid.as_str())
                );
                push_b64(out, header.as_bytes());
                out.extend_from_slice(b"..");
                let mut random = |n: usize, out: &mut Vec<u8>| {
                    let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                    push_b64(out, &bytes);
                };
                random(12, out);
                out.push(b'.');
                random(64, out);
                out.push(b'.');
                random(16, out);
            }
            TokenClass::WrongSegmentCount => {
                let extra = rng.below(3);
                self.signing_input(&key.header, index, &mut rng, &times, &claims, 0, out, scratch);
                match extra {
                    0 => {} // two segments: header.payload
                    1 => out.extend_from_slice(b".c2ln.ZXh0cmE"),
                    _ => out.extend_from_slice(b".a2V5.aXY.Y3Q"),
                }
            }
            // The signed classes returned above.
            _ => {}
        }
        (class, expect)
    }

    /// Signs `out[start..]` with `signer` and appends `.` and the signature.
    fn sign_and_push(&self, signer: &Signer, start: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        scratch.clear();
        signer.sign_into(&out[start..], scratch);
        out.push(b'.');
        push_b64(out, scratch);
    }

    /// Appends one batch line: `class TAB expect TAB token LF`.
    pub fn mint_line(&self, index: u64, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> TokenClass {
        let line_start = out.len();
        // Reserve the label columns by writing the token first, then rotating it into place.
        let (class, expect) = self.mint_into(index, out, scratch);
        let label = format!("{}\t{}\t", class.name(), expect);
        out.extend_from_slice(label.as_bytes());
        out[line_start..].rotate_right(label.len());
        out.push(b'\n');
        class
    }

    /// Appends `header.payload` (base64url), padding the payload so the whole token comes to
    /// about `claims.size` bytes given a signature of `sig_len` raw bytes.
    #[allow(clippy::too_many_arguments)]
    fn signing_input(
        &self,
        header: &[u8],
        index: u64,
        rng: &mut TokenRng,
        times: &Times,
        claims: &Overrides,
        sig_len: usize,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) {
        scratch.clear();
        self.write_payload(index, rng, times, claims, scratch);
        if let Some(target) = claims.size {
            let sig_b64 = (sig_len * 4).div_ceil(3);
            let room_b64 = target.saturating_sub(header.len() + sig_b64 + 2);
            let room = room_b64 * 3 / 4;
            let overhead = ",\"pad\":\"\"".len();
            if room > scratch.len() + overhead {
                let pad = room - scratch.len() - overhead;
                scratch.pop();
                scratch.extend_from_slice(b",\"pad\":\"");
                scratch.resize(scratch.len() + pad, b'x');
                scratch.extend_from_slice(b"\"}");
            }
        }
        out.extend_from_slice(header);
        out.push(b'.');
        push_b64(out, scratch);
    }

    /// Writes the payload JSON object for token `index`.
    fn write_payload(
        &self,
        index: u64,
        rng: &mut TokenRng,
        times: &Times,
        claims: &Overrides,
        out: &mut Vec<u8>,
    ) {
        let p = &self.cfg.policy;
        out.push(b'{');
        let mut comma = false;
        let mut sep = |out: &mut Vec<u8>| {
            if comma {
                out.push(b',');
            }
            comma = true;
        };
        if let Some(iss) = claims.iss.or(p.issuer.as_deref()) {
            sep(out);
            out.extend_from_slice(b"\"iss\":");
            serde_json::to_writer(&mut *out, iss).expect("json");
        }
        match (claims.aud_shape, claims.aud.or(p.audience.as_deref())) {
            (AudShape::Empty, _) => {
                sep(out);
                out.extend_from_slice(b"\"aud\":[]");
            }
            (AudShape::WithOther, Some(aud)) => {
                sep(out);
                out.extend_from_slice(b"\"aud\":[\"api://jwtstorm-another-api\",");
                serde_json::to_writer(&mut *out, aud).expect("json");
                out.push(b']');
            }
            (_, Some(aud)) => {
                sep(out);
                out.extend_from_slice(b"\"aud\":");
                serde_json::to_writer(&mut *out, aud).expect("json");
            }
            (_, None) => {}
        }
        if self.cfg.iat {
            sep(out);
            let _ = write!(out, "\"iat\":{}", times.iat);
        }
        if let Some(nbf) = times.nbf {
            sep(out);
            if claims.nbf_string {
                let _ = write!(out, "\"nbf\":\"{nbf}\"");
            } else {
                let _ = write!(out, "\"nbf\":{nbf}");
            }
        }
        if claims.exp_null {
            sep(out);
            out.extend_from_slice(b"\"exp\":null");
        } else if let Some(exp) = times.exp {
            sep(out);
            if claims.exp_string {
                let _ = write!(out, "\"exp\":\"{exp}\"");
            } else if claims.exp_fraction {
                let _ = write!(out, "\"exp\":{exp}.5");
            } else {
                let _ = write!(out, "\"exp\":{exp}");
            }
        }
        if claims.jti_number {
            sep(out);
            let _ = write!(out, "\"jti\":{index}");
        } else if claims.revoked {
            // One of the ids the revocation list names from the start.
            sep(out);
            let _ = write!(
                out,
                "\"jti\":\"{}\"",
                crate::token::revocation::jti(self.cfg.seed, index)
            );
        } else if self.cfg.jti {
            sep(out);
            let _ = write!(out, "\"jti\":\"{:016x}\"", rng::jti(self.cfg.seed, index));
        }
        // With a required scope every token carries it, so each class's defect is its own;
        // `insufficient_scope` carries another.
        if let Some(scope) = &p.required_scope {
            sep(out);
            let scopes = if claims.lacks_scope {
                [crate::token::policy::LACKING_SCOPE]
            } else {
                [scope.as_str()]
            };
            p.scope_claim.write(&scopes, out);
        }
        if claims.sub_number {
            // The subject as a number instead of a string (the template's sub left out).
            sep(out);
            let _ = write!(out, "\"sub\":{index}");
        }
        let wrote_any = comma;
        let skip = claims.sub_number.then_some("sub");
        self.cfg.claims.write_except(index, rng, out, wrote_any, skip);
        out.push(b'}');
    }
}

#[derive(Debug, Clone, Copy)]
struct Times {
    iat: i64,
    nbf: Option<i64>,
    exp: Option<i64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Overrides {
    iss: Option<&'static str>,
    aud: Option<&'static str>,
    size: Option<usize>,
    /// Carry a scope other than the required one.
    lacks_scope: bool,
    /// Carry a `jti` the revocation list names.
    revoked: bool,
    aud_shape: AudShape,
    /// Write `exp` (`nbf`) as a numeric string, not a number.
    exp_string: bool,
    nbf_string: bool,
    /// Write `exp` with a fraction of a second.
    exp_fraction: bool,
    /// Write `exp` as null.
    exp_null: bool,
    /// Write `jti` as a number.
    jti_number: bool,
    /// Write `sub` as a number.
    sub_number: bool,
}

/// How `aud` is written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum AudShape {
    /// A string (the policy's audience, or an override).
    #[default]
    One,
    /// `[]`.
    Empty,
    /// `["another API", audience]`.
    WithOther,
}

fn push_b64(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    out.resize(start + (data.len() * 4).div_ceil(3), 0);
    let n = B64
        .encode_slice(data, &mut out[start..])
        .expect("sized for base64");
    out.truncate(start + n);
}
