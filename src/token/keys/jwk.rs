//! JSON Web Keys (RFC 7517) and key sets as jwtstorm reads and writes them, and the kid derived
//! from a key's thumbprint.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::model::alg::{self};

/// A JSON Web Key as jwtstorm reads and writes it (RFC 7517). `k` is only ever set in memory or
/// in a private (0600) key set, never in a public JWKS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// Private members (RSA d, p, q, dp, dq, qi; EC and OKP d): read, never published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
}

/// A JWK Set (`{"keys": [...]}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// RFC 7638 thumbprint (SHA-256, base64url) over the required members.
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s(&self.e), s(&self.n)),
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s(&self.crv), s(&self.x)),
            _ => format!(r#"{{"k":"{}","kty":"oct"}}"#, s(&self.k)),
        };
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// The same JWK with no secret member, for publishing.
    pub fn public(&self) -> Jwk {
        Jwk {
            k: None,
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            ..self.clone()
        }
    }
}

pub(super) fn b64(bytes: &[u8]) -> Option<String> {
    Some(B64.encode(bytes))
}

/// A short kid derived from the algorithm and fingerprint, stable for the same key.
pub fn derive_kid(alg: Algorithm, fingerprint: &str) -> String {
    format!(
        "{}-{}",
        alg::name(alg).to_ascii_lowercase(),
        &fingerprint[..12.min(fingerprint.len())]
    )
}
