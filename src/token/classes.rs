//! Token classes: how each valid or deliberately broken token is crafted, and what a verifier
//! enforcing the declared policy must answer.

use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::model::Deserved;
use crate::model::alg::{self, Family};
use crate::token::policy::Policy;

macro_rules! classes {
    ($( $variant:ident = $name:literal, $reason:literal, $how:literal; )*) => {
        /// A kind of token in a batch. Every class but `valid`, `aud_array_with_other`,
        /// `whitespace_json` and `exp_huge` must be rejected (some only at some times: see
        /// [`Expect`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum TokenClass { $( $variant, )* }

        impl TokenClass {
            /// Every class, in the order reports list them.
            pub const ALL: &'static [TokenClass] = &[ $( TokenClass::$variant, )* ];

            /// The class's name in scenario files, batch files and reports.
            pub fn name(self) -> &'static str {
                match self { $( TokenClass::$variant => $name, )* }
            }

            /// The reason the reference verifier gives when it rejects this class.
            pub fn reason(self) -> &'static str {
                match self { $( TokenClass::$variant => $reason, )* }
            }

            /// How a token of this class is made.
            pub fn how(self) -> &'static str {
                match self { $( TokenClass::$variant => $how, )* }
            }
        }
    };
}

classes! {
    Valid = "valid", "",
        "Signed with the configured key; claims satisfy the policy. Accepted until exp + leeway.";
    Expired = "expired", "expired",
        "exp lies one hour beyond the leeway in the past (iat = exp - ttl).";
    NotYetValid = "not_yet_valid", "not_yet_valid",
        "nbf lies one hour beyond the leeway in the future; needs check_nbf. Accepted once nbf - leeway has passed.";
    BadSignature = "bad_signature", "bad_signature",
        "A correct signature with its first byte flipped.";
    TamperedPayload = "tampered_payload", "bad_signature",
        "Signed, then the payload is replaced (sub becomes \"admin\", a role is added) keeping the old signature.";
    AlgNone = "alg_none", "alg_not_allowed",
        "Header alg is none, None, NONE or nOnE; the signature segment is empty.";
    NullSignature = "null_signature", "bad_signature",
        "The real header and payload with an empty signature segment.";
    AlgConfusion = "alg_confusion", "alg_not_allowed",
        "HS256 keyed with the verifier's public key PEM (asymmetric algorithms only).";
    UnknownKid = "unknown_kid", "unknown_kid",
        "Signed with a key the verifier does not know, under a kid it does not have.";
    WrongAudience = "wrong_audience", "wrong_audience",
        "aud names another API; needs verifier.audience.";
    WrongIssuer = "wrong_issuer", "wrong_issuer",
        "iss names another issuer; needs verifier.issuer.";
    InsufficientScope = "insufficient_scope", "insufficient_scope",
        "Valid in every way, but its scope claim lacks verifier.required_scope (it holds only \"jwtstorm:no-such-scope\"); needs verifier.required_scope. Refused 403 (RFC 6750 insufficient_scope) while valid, 401 once expired.";
    Revoked = "revoked", "revoked",
        "Valid in every way, but its jti is on the revocation list (revoked.txt, written beside the batch and in the results folder, served by [idp]). Also the class of valid tokens revoked during the run (load.revoke) and replayed after.";
    RecentlyExpired = "recently_expired", "expired",
        "exp lies 1 to 60 s in the past: within a leeway of a minute or more it is still accepted (until exp + leeway), so verifiers with different leeways answer it differently.";
    AudArrayWithOther = "aud_array_with_other", "",
        "A valid token whose aud is an array holding another API and the expected audience (RFC 7519 4.1.3: accepted if any value identifies the verifier); needs verifier.audience. Accepted until exp + leeway.";
    AudEmptyArray = "aud_empty_array", "wrong_audience",
        "aud is an empty array: present, so it must name the verifier, and names nothing; needs verifier.audience.";
    ExpString = "exp_string", "malformed",
        "exp is a numeric string (\"1767225600\"), not a NumericDate number (RFC 7519 2).";
    NbfString = "nbf_string", "malformed",
        "nbf is a numeric string, not a NumericDate number; needs check_nbf.";
    WhitespaceJson = "whitespace_json", "",
        "A valid token whose header and payload JSON hold spaces and newlines (RFC 8259 allows them; the signature covers the text as sent). Accepted until exp + leeway.";
    ExpHuge = "exp_huge", "",
        "A valid token with exp = 2^53 + 1, beyond what a double holds exactly (a far future: accepted by a verifier that reads integers as integers).";
    DuplicateClaim = "duplicate_claim", "malformed",
        "The payload names exp twice: valid then expired (RFC 7519 4: refuse duplicates, or take the last, expired: refused either way), or expired then valid (either answer: a parser taking the last accepts; the reference verifier refuses).";
    NestedJwt = "nested_jwt", "malformed",
        "Signed with the real key, cty JWT, the payload a whole valid token instead of a claims object (a nested JWT a JWS verifier must not take for claims).";
    KidPathTraversal = "kid_path_traversal", "unknown_kid",
        "kid is ../../../../../../dev/null and the token is signed HMAC with an empty key: a verifier that reads its key from a file named by kid verifies it. HMAC algorithms only.";
    KidSqlInjection = "kid_sql_injection", "unknown_kid",
        "kid is ' UNION SELECT 'k' -- and the token is signed HMAC with the key k: a verifier that looks kid up in SQL unescaped verifies it. HMAC algorithms only.";
    NoncanonicalBase64 = "noncanonical_base64", "malformed",
        "A valid token whose payload segment's last character has its unused low bits set (the bytes decode the same), signed as sent. Either answer: RFC 4648 3.5 lets a decoder refuse it (the reference verifier and jsonwebtoken refuse).";
    ExpNull = "exp_null", "missing_claim",
        "exp is null: no NumericDate, so the required exp is missing; needs exp among the required claims (the default).";
    SubNotString = "sub_not_string", "",
        "A valid token whose sub is a number, not a StringOrURI (RFC 7519 4.1.2). Either answer (the reference verifier accepts).";
    JtiNotString = "jti_not_string", "",
        "A valid token whose jti is a number, not a string (RFC 7519 4.1.7: a case-sensitive string). Either answer (the reference verifier accepts).";
    TypMismatch = "typ_mismatch", "",
        "A valid token whose header typ is at+jwt (RFC 9068 access-token typing) where JWT is used. Either answer unless the verifier checks typ (the reference verifier does not: accepts).";
    B64False = "b64_false", "",
        "A valid token whose header carries b64: false (RFC 7797) without listing it in crit, signed over the usual encoded payload. Either answer: RFC 7797 6 requires crit, and a verifier that knows nothing of b64 ignores it (the reference verifier accepts; jsonwebtoken refuses).";
    PaddedBase64 = "padded_base64", "malformed",
        "A valid token whose payload segment carries = padding (RFC 7515 2: base64url with the padding omitted), signed as sent.";
    Utf8Bom = "utf8_bom", "malformed",
        "A valid token whose header JSON starts with a UTF-8 byte order mark. Either answer: RFC 8259 8.1 lets a parser ignore it or refuse it (the reference verifier refuses: malformed).";
    IatInFuture = "iat_in_future", "",
        "A valid token issued an hour from now (iat, and exp after it). Either answer: RFC 7519 does not say iat must lie in the past (the reference verifier accepts).";
    ExpFloat = "exp_float", "",
        "A valid token whose exp has a fraction (1767225600.5). Either answer: a NumericDate may be fractional, but libraries that read an integer refuse it (the reference verifier and jsonwebtoken accept).";
    DuplicateHeaderAlg = "duplicate_header_alg", "malformed",
        "The header names alg twice, first none, then the real one, signed with the real key. Either answer: RFC 7515 4 lets a parser refuse duplicates or take the last (the reference verifier refuses: malformed).";
    TrailingSegment = "trailing_segment", "malformed",
        "A valid token with a trailing dot: an empty fourth segment (RFC 7515 7.1: a JWS has exactly three).";
    SignatureNotBase64 = "signature_not_base64", "malformed",
        "A valid token whose signature segment starts with '+', a character outside base64url (RFC 7515 2: base64url without padding).";
    JweCompact = "jwe_compact", "malformed",
        "A five-segment JWE (alg dir, enc A256GCM) where a JWS is expected: random key, IV, ciphertext and tag.";
    WeakSecret = "weak_secret", "bad_signature",
        "Signed HMAC with a common weak secret (\"secret\", \"password\", ...) under the real kid; HMAC algorithms only: a verifier holding a strong key rejects it.";
    EmptySecret = "empty_secret", "bad_signature",
        "Signed HMAC with an empty secret under the real kid; HMAC algorithms only.";
    MissingExp = "missing_exp", "missing_claim",
        "No exp claim; needs exp among the required claims (the default).";
    Malformed = "malformed", "malformed",
        "Three segments that do not decode: bad base64url, a header that is not JSON, or a payload that is not an object.";
    WrongSegmentCount = "wrong_segment_count", "malformed",
        "Two, four or five dot-separated segments.";
    Oversized = "oversized", "token_too_large",
        "A properly signed token padded to beyond verifier.max_token_size.";
    EmbeddedJwk = "embedded_jwk", "bad_signature",
        "Signed with an attacker's key whose public JWK rides in the header (asymmetric algorithms only).";
    UnknownCrit = "unknown_crit", "unknown_crit",
        "Properly signed, but the header marks an extension the verifier does not understand as crit.";
    PsychicSignature = "psychic_signature", "bad_signature",
        "An all-zero ECDSA signature, r = s = 0 (CVE-2022-21449; ES256 and ES384 only).";
    JkuInjection = "jku_injection", "bad_signature",
        "Signed with an attacker's key; the header's jku points at the attacker's JWKS on jwtstorm's identity provider (needs [idp]; asymmetric algorithms only). A verifier that fetches it is forgeable (and makes requests where a token tells it to).";
    X5uInjection = "x5u_injection", "bad_signature",
        "Signed with an attacker's key; the header's x5u points at the attacker's self-signed certificate on jwtstorm's identity provider (needs [idp]; asymmetric algorithms only).";
    RetiredKey = "retired_key", "unknown_kid",
        "A valid token signed with a key the identity provider has retired, sent after its retirement (made by [idp] rotation, not by the mix): a verifier that still accepts it trusts a withdrawn key.";
}

impl fmt::Display for TokenClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TokenClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TokenClass::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = TokenClass::ALL.iter().map(|c| c.name()).collect();
                format!("unknown token class '{s}'; expected one of {}", names.join(", "))
            })
    }
}

impl TokenClass {
    /// Whether the specs leave this class's answer to the implementation (`expect = either`).
    pub fn either(self) -> bool {
        matches!(
            self,
            TokenClass::Utf8Bom
                | TokenClass::IatInFuture
                | TokenClass::ExpFloat
                | TokenClass::DuplicateHeaderAlg
                | TokenClass::NoncanonicalBase64
                | TokenClass::JtiNotString
                | TokenClass::SubNotString
                | TokenClass::TypMismatch
                | TokenClass::B64False
        )
    }

    /// Whether a correct verifier accepts this class (at minting time).
    pub fn should_accept(self) -> bool {
        matches!(
            self,
            TokenClass::Valid
                | TokenClass::AudArrayWithOther
                | TokenClass::WhitespaceJson
                | TokenClass::ExpHuge
        )
    }

    /// Why this class cannot be made for `alg` under `policy`, if it cannot.
    pub fn inapplicable(self, alg: Algorithm, policy: &Policy) -> Option<String> {
        let family = alg::family(alg);
        let name = alg::name(alg);
        match self {
            TokenClass::RetiredKey => Some(format!(
                "{self} is made by an [idp] rotation that retires a key (its retired_share), not by the mix"
            )),
            TokenClass::AlgConfusion
            | TokenClass::EmbeddedJwk
            | TokenClass::JkuInjection
            | TokenClass::X5uInjection
                if family == Family::Hmac =>
            {
                Some(format!("{self} needs an asymmetric algorithm, not {name}"))
            }
            TokenClass::AlgConfusion if policy.algorithms.iter().any(|a| alg::family(*a) == Family::Hmac) => {
                Some(format!(
                    "{self} is accepted by design when verifier.algorithms allows HMAC; remove HS* from verifier.algorithms"
                ))
            }
            TokenClass::WeakSecret
            | TokenClass::EmptySecret
            | TokenClass::KidPathTraversal
            | TokenClass::KidSqlInjection
                if family != Family::Hmac =>
            {
                Some(format!(
                    "{self} needs an HMAC algorithm (HS256, HS384, HS512), not {name}"
                ))
            }
            TokenClass::PsychicSignature if family != Family::Ec => {
                Some(format!("{self} needs ES256 or ES384, not {name}"))
            }
            TokenClass::NotYetValid if !policy.check_nbf => {
                Some(format!("{self} needs verifier.check_nbf = true"))
            }
            TokenClass::WrongAudience | TokenClass::AudArrayWithOther | TokenClass::AudEmptyArray
                if policy.audience.is_none() =>
            {
                Some(format!("{self} needs verifier.audience"))
            }
            TokenClass::NbfString if !policy.check_nbf => {
                Some(format!("{self} needs verifier.check_nbf = true"))
            }
            TokenClass::WrongIssuer if policy.issuer.is_none() => {
                Some(format!("{self} needs verifier.issuer"))
            }
            TokenClass::InsufficientScope if policy.required_scope.is_none() => {
                Some(format!("{self} needs verifier.required_scope"))
            }
            TokenClass::MissingExp | TokenClass::ExpNull if !policy.requires("exp") => {
                Some(format!("{self} needs \"exp\" in verifier.required_claims"))
            }
            TokenClass::Oversized if policy.max_token_size.is_none() => {
                Some(format!("{self} needs verifier.max_token_size"))
            }
            _ => None,
        }
    }
}

impl TokenClass {
    /// Which variant of its class a token is, read from the token itself: the `alg_none`
    /// spelling, the `malformed` kind, the segment count. `None` for classes without variants.
    pub fn variant(self, token: &str) -> Option<String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = token.split('.').collect();
        let json =
            |seg: &str| -> Option<serde_json::Value> { serde_json::from_slice(&b64.decode(seg).ok()?).ok() };
        match self {
            TokenClass::AlgNone => {
                let alg = json(parts.first()?)?.get("alg")?.as_str()?.to_string();
                Some(format!("alg \"{alg}\""))
            }
            TokenClass::Malformed => Some(
                match (b64.decode(parts.first()?), parts.get(1).and_then(|p| json(p))) {
                    (Err(_), _) => "the header is not base64url",
                    (Ok(h), _) if serde_json::from_slice::<serde_json::Value>(&h).is_err() => {
                        "the header is not JSON"
                    }
                    (_, Some(p)) if !p.is_object() => "the payload is not an object",
                    _ => "malformed",
                }
                .to_string(),
            ),
            TokenClass::WrongSegmentCount => Some(format!("{} segments", parts.len())),
            TokenClass::DuplicateClaim => {
                let payload = b64.decode(parts.get(1)?).ok()?;
                let text = String::from_utf8(payload).ok()?;
                let exps: Vec<i64> = text
                    .match_indices("\"exp\":")
                    .filter_map(|(at, key)| {
                        let rest = &text[at + key.len()..];
                        let end = rest.find([',', '}']).unwrap_or(rest.len());
                        rest[..end].trim().parse().ok()
                    })
                    .collect();
                match exps.as_slice() {
                    [a, b] if a > b => Some("valid, then expired".into()),
                    [_, _] => Some("expired, then valid".into()),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The answer a correct verifier must give a token, possibly depending on the time it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Rejected whenever it is sent.
    Reject,
    /// The specs leave it to the implementation: accepted or refused, both right.
    Either,
    /// Accepted when `from <= now < until` (Unix seconds; either end may be open), else rejected.
    AcceptWithin { from: Option<i64>, until: Option<i64> },
    /// A good token without the right: refused with 403 (forbidden) when `from <= now < until`,
    /// rejected (401) outside that window.
    ForbidWithin { from: Option<i64>, until: Option<i64> },
}

impl Expect {
    /// Whether a correct verifier accepts the token at Unix time `now`.
    pub fn accepts_at(self, now: i64) -> bool {
        match self {
            Expect::Reject | Expect::Either | Expect::ForbidWithin { .. } => false,
            Expect::AcceptWithin { from, until } => within(from, until, now),
        }
    }

    /// The answer a correct verifier owes the token at Unix time `now`.
    pub fn deserved_at(self, now: i64) -> Deserved {
        match self {
            Expect::Reject => Deserved::Reject,
            Expect::Either => Deserved::Either,
            Expect::AcceptWithin { from, until } if within(from, until, now) => Deserved::Accept,
            Expect::ForbidWithin { from, until } if within(from, until, now) => Deserved::Forbid,
            _ => Deserved::Reject,
        }
    }

    /// The window, for a windowed expectation.
    fn window(self) -> Option<(Option<i64>, Option<i64>)> {
        match self {
            Expect::Reject | Expect::Either => None,
            Expect::AcceptWithin { from, until } | Expect::ForbidWithin { from, until } => {
                Some((from, until))
            }
        }
    }

    /// Whether Unix time `now` (with its fraction) lies within `guard` seconds' band centred on
    /// a boundary of the window: a verifier that reads the clock a moment later, or in whole
    /// seconds, may then rightly give either answer.
    pub fn near_boundary(self, now: f64, guard: f64) -> bool {
        match self.window() {
            None => false,
            Some((from, until)) => [from, until]
                .into_iter()
                .flatten()
                .any(|b| (now - b as f64).abs() < guard / 2.0),
        }
    }

    /// Whether the answer depends on when the token is sent.
    pub fn time_bound(self) -> bool {
        matches!(self.window(), Some((from, until)) if from.is_some() || until.is_some())
    }
}

fn within(from: Option<i64>, until: Option<i64>, now: i64) -> bool {
    from.is_none_or(|f| now >= f) && until.is_none_or(|u| now < u)
}

impl fmt::Display for Expect {
    /// `reject`, `accept`, `accept@FROM..UNTIL` (either bound may be empty), `forbid` or
    /// `forbid@FROM..UNTIL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, from, until) = match *self {
            Expect::Reject => return f.write_str("reject"),
            Expect::Either => return f.write_str("either"),
            Expect::AcceptWithin { from, until } => ("accept", from, until),
            Expect::ForbidWithin { from, until } => ("forbid", from, until),
        };
        match (from, until) {
            (None, None) => f.write_str(word),
            (from, until) => {
                write!(f, "{word}@")?;
                if let Some(v) = from {
                    write!(f, "{v}")?;
                }
                f.write_str("..")?;
                if let Some(v) = until {
                    write!(f, "{v}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for Expect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid expectation '{s}'; expected reject, either, accept, accept@FROM..UNTIL, forbid or forbid@FROM..UNTIL"
            )
        };
        let (word, window) = match s.split_once('@') {
            Some((w, rest)) => (w, Some(rest)),
            None => (s, None),
        };
        let (from, until) = match window {
            None => (None, None),
            Some(w) => {
                let (a, b) = w.split_once("..").ok_or_else(bad)?;
                let num = |t: &str| -> Result<Option<i64>, String> {
                    if t.is_empty() {
                        Ok(None)
                    } else {
                        t.parse().map(Some).map_err(|_| bad())
                    }
                };
                (num(a)?, num(b)?)
            }
        };
        match word {
            "reject" if window.is_none() => Ok(Expect::Reject),
            "either" if window.is_none() => Ok(Expect::Either),
            "accept" => Ok(Expect::AcceptWithin { from, until }),
            "forbid" => Ok(Expect::ForbidWithin { from, until }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_read_from_the_token() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let none = format!("{}.{}.", b64("{\"alg\":\"nOnE\"}"), b64("{}"));
        assert_eq!(
            TokenClass::AlgNone.variant(&none).as_deref(),
            Some("alg \"nOnE\"")
        );
        assert_eq!(
            TokenClass::Malformed
                .variant("eyJ%%not-base64url%%.e30.c2ln")
                .as_deref(),
            Some("the header is not base64url")
        );
        assert_eq!(
            TokenClass::WrongSegmentCount.variant("a.b").as_deref(),
            Some("2 segments")
        );
        assert_eq!(TokenClass::Valid.variant("a.b.c"), None);
    }

    #[test]
    fn names_round_trip() {
        for c in TokenClass::ALL {
            assert_eq!(c.name().parse::<TokenClass>().unwrap(), *c);
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.name()));
            assert!(c.should_accept() || c.either() || !c.reason().is_empty());
        }
        assert!("nope".parse::<TokenClass>().is_err());
    }

    #[test]
    fn expectations_round_trip_and_apply() {
        for e in [
            Expect::Reject,
            Expect::Either,
            Expect::AcceptWithin {
                from: None,
                until: None,
            },
            Expect::AcceptWithin {
                from: None,
                until: Some(100),
            },
            Expect::AcceptWithin {
                from: Some(50),
                until: Some(100),
            },
        ] {
            assert_eq!(e.to_string().parse::<Expect>().unwrap(), e);
        }
        let w = Expect::AcceptWithin {
            from: Some(50),
            until: Some(100),
        };
        assert!(!w.accepts_at(49) && w.accepts_at(50) && w.accepts_at(99) && !w.accepts_at(100));
        assert!(!Expect::Reject.accepts_at(0));
        assert!("accept@x..".parse::<Expect>().is_err());
        assert!("reject@1..2".parse::<Expect>().is_err());
        let f = Expect::ForbidWithin {
            from: None,
            until: Some(100),
        };
        assert_eq!(f.to_string(), "forbid@..100");
        assert_eq!("forbid@..100".parse::<Expect>().unwrap(), f);
        assert_eq!("forbid".parse::<Expect>().unwrap().to_string(), "forbid");
        assert!(!f.accepts_at(50) && f.time_bound());
        assert_eq!(f.deserved_at(50), Deserved::Forbid);
        assert_eq!(f.deserved_at(100), Deserved::Reject);
        assert_eq!(w.deserved_at(60), Deserved::Accept);
        assert!(f.near_boundary(100.2, 1.0));
    }
}
