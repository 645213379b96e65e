//! Key material: generation, loading from files, environment variables and JWKS, public JWKs,
//! fingerprints, and signers built once per key.
//!
//! Secrets never leave this module in printable form: [`KeyMaterial`]'s `Debug` shows only the
//! algorithm, kid and fingerprint.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, VerificationAlgorithm,
};
use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use super::alg::{self, Family};

/// Why key material could not be made or loaded. Every message names its source.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
    #[error("reading {source_name}: {err}")]
    Io {
        source_name: String,
        err: std::io::Error,
    },
}

impl KeyError {
    fn invalid(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError::Invalid {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

/// The secret or private half of a key.
#[derive(Clone)]
pub enum Secret {
    /// An HMAC secret (the exact bytes HMAC uses).
    Hmac(Vec<u8>),
    /// A private key as PKCS#8 DER.
    Pkcs8(Vec<u8>),
    /// No private half: the key can verify but not sign.
    None,
}

/// One key: algorithm, kid, optional secret half and its public JWK.
#[derive(Clone)]
pub struct KeyMaterial {
    pub alg: Algorithm,
    pub kid: String,
    pub secret: Secret,
    /// The public JWK (for HMAC keys, the `oct` JWK without `k`: only kid and alg).
    pub jwk: Jwk,
    /// RFC 7638 SHA-256 thumbprint, base64url: safe to print and record.
    pub fingerprint: String,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("alg", &alg::name(self.alg))
            .field("kid", &self.kid)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

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

fn b64(bytes: &[u8]) -> Option<String> {
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

impl KeyMaterial {
    /// Makes an HMAC key from its secret bytes.
    pub fn from_secret(
        alg: Algorithm,
        kid: Option<String>,
        secret: Vec<u8>,
        source_name: &str,
    ) -> Result<Self, KeyError> {
        if alg::family(alg) != Family::Hmac {
            return Err(KeyError::invalid(
                source_name,
                format!(
                    "a shared secret cannot sign {}; it needs a private key",
                    alg::name(alg)
                ),
            ));
        }
        if secret.is_empty() {
            return Err(KeyError::invalid(source_name, "the HMAC secret is empty"));
        }
        let mut jwk = Jwk {
            kty: "oct".into(),
            k: b64(&secret),
            ..Jwk::default()
        };
        let fingerprint = jwk.thumbprint();
        let kid = kid.unwrap_or_else(|| derive_kid(alg, &fingerprint));
        jwk.kid = Some(kid.clone());
        jwk.alg = Some(alg::name(alg).into());
        jwk.use_ = Some("sig".into());
        Ok(KeyMaterial {
            alg,
            kid,
            secret: Secret::Hmac(secret),
            jwk,
            fingerprint,
        })
    }

    /// Makes a key pair from a private key as PKCS#8 DER.
    pub fn from_pkcs8(
        alg: Algorithm,
        kid: Option<String>,
        pkcs8: Vec<u8>,
        source_name: &str,
    ) -> Result<Self, KeyError> {
        let mut jwk = public_jwk_of_private(alg, &pkcs8, source_name)?;
        let fingerprint = jwk.thumbprint();
        let kid = kid.unwrap_or_else(|| derive_kid(alg, &fingerprint));
        jwk.kid = Some(kid.clone());
        Ok(KeyMaterial {
            alg,
            kid,
            secret: Secret::Pkcs8(pkcs8),
            jwk,
            fingerprint,
        })
    }

    /// Loads a private key from PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
    /// (`EC PRIVATE KEY`).
    pub fn from_private_pem(
        alg: Algorithm,
        kid: Option<String>,
        pem_bytes: &[u8],
        source_name: &str,
    ) -> Result<Self, KeyError> {
        let block = parse_pem(pem_bytes, source_name)?;
        let pkcs8 = match block.tag() {
            "PRIVATE KEY" => block.contents().to_vec(),
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(block.contents()).map_err(|e| {
                    KeyError::invalid(source_name, format!("not a valid RSA private key ({e})"))
                })?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der = pair
                    .as_der()
                    .map_err(|_| KeyError::invalid(source_name, "cannot re-encode RSA key"))?;
                der.as_ref().to_vec()
            }
            "EC PRIVATE KEY" => {
                let signing = ec_signing(alg).ok_or_else(|| mismatch(alg, "EC", source_name))?;
                let pair = EcdsaKeyPair::from_private_key_der(signing, block.contents()).map_err(|e| {
                    KeyError::invalid(
                        source_name,
                        format!("not a valid EC private key for {} ({e})", alg::name(alg)),
                    )
                })?;
                pair.to_pkcs8v1()
                    .map_err(|_| KeyError::invalid(source_name, "cannot re-encode EC key"))?
                    .as_ref()
                    .to_vec()
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(KeyError::invalid(
                    source_name,
                    "this is a public key; signing needs the private key",
                ));
            }
            other => {
                return Err(KeyError::invalid(
                    source_name,
                    format!("unsupported PEM block '{other}'; expected 'PRIVATE KEY'"),
                ));
            }
        };
        Self::from_pkcs8(alg, kid, pkcs8, source_name)
    }

    /// Loads a public key (SubjectPublicKeyInfo PEM, `PUBLIC KEY`) for verification only.
    pub fn from_public_pem(
        alg: Algorithm,
        kid: Option<String>,
        pem_bytes: &[u8],
        source_name: &str,
    ) -> Result<Self, KeyError> {
        let block = parse_pem(pem_bytes, source_name)?;
        if block.tag().contains("PRIVATE") {
            // A private key also yields its public half.
            let mut k = Self::from_private_pem(alg, kid, pem_bytes, source_name)?;
            k.secret = Secret::None;
            return Ok(k);
        }
        let decoding = match alg::family(alg) {
            Family::Rsa => jsonwebtoken::DecodingKey::from_rsa_pem(pem_bytes),
            Family::Ec => jsonwebtoken::DecodingKey::from_ec_pem(pem_bytes),
            Family::Ed => jsonwebtoken::DecodingKey::from_ed_pem(pem_bytes),
            Family::Hmac => {
                return Err(KeyError::invalid(source_name, "HMAC keys have no public key"));
            }
        }
        .map_err(|e| KeyError::invalid(source_name, format!("not a valid public key ({e})")))?;
        let jj = jsonwebtoken::jwk::Jwk::from_decoding_key(&decoding, Some(alg))
            .map_err(|e| KeyError::invalid(source_name, format!("not a valid public key ({e})")))?;
        let value = serde_json::to_value(&jj).map_err(|e| KeyError::invalid(source_name, e.to_string()))?;
        let jwk: Jwk =
            serde_json::from_value(value).map_err(|e| KeyError::invalid(source_name, e.to_string()))?;
        Self::from_jwk(alg, kid, &jwk, source_name)
    }

    /// Takes a key from a JWK. An `oct` JWK (with `k`) yields an HMAC key; RSA, EC and OKP JWKs
    /// yield public keys that verify only.
    pub fn from_jwk(
        alg: Algorithm,
        kid: Option<String>,
        jwk: &Jwk,
        source_name: &str,
    ) -> Result<Self, KeyError> {
        let want = match alg::family(alg) {
            Family::Hmac => "oct",
            Family::Rsa => "RSA",
            Family::Ec => "EC",
            Family::Ed => "OKP",
        };
        if jwk.kty != want {
            return Err(mismatch(alg, &jwk.kty, source_name));
        }
        if let Some(a) = &jwk.alg
            && a != alg::name(alg)
        {
            return Err(KeyError::invalid(
                source_name,
                format!("the JWK is for {a}, but the algorithm is {}", alg::name(alg)),
            ));
        }
        let kid = kid.or_else(|| jwk.kid.clone());
        if want == "oct" {
            let k = jwk
                .k
                .as_deref()
                .ok_or_else(|| KeyError::invalid(source_name, "the oct JWK has no 'k' member"))?;
            let secret = B64
                .decode(k.trim_end_matches('='))
                .map_err(|e| KeyError::invalid(source_name, format!("'k' is not base64url ({e})")))?;
            return Self::from_secret(alg, kid, secret, source_name);
        }
        if jwk.d.is_some() {
            let pkcs8 = private_jwk_to_pkcs8(alg, jwk)
                .map_err(|e| KeyError::invalid(source_name, format!("unusable private JWK ({e})")))?;
            return Self::from_pkcs8(alg, kid, pkcs8, source_name);
        }
        let mut public = jwk.public();
        public.alg = Some(alg::name(alg).into());
        public.use_ = Some("sig".into());
        // Check now that the key can verify, so a bad JWK fails at start-up.
        verification_key_bytes(alg, &public)
            .and_then(|bytes| {
                sig::ParsedPublicKey::new(verification_alg(alg), bytes).map_err(|e| e.to_string())
            })
            .map_err(|e| KeyError::invalid(source_name, format!("unusable public JWK ({e})")))?;
        let fingerprint = public.thumbprint();
        let kid = kid.unwrap_or_else(|| derive_kid(alg, &fingerprint));
        public.kid = Some(kid.clone());
        Ok(KeyMaterial {
            alg,
            kid,
            secret: Secret::None,
            jwk: public,
            fingerprint,
        })
    }

    /// Generates fresh key material: an HMAC secret of the hash size (as base64url text, so it
    /// fits a file or an environment variable), an RSA key of `rsa_bits`, or an EC/Ed25519 key.
    pub fn generate(alg: Algorithm, rsa_bits: Option<usize>) -> Result<Self, KeyError> {
        let source = format!("generated {} key", alg::name(alg));
        let fail = |what: &str| KeyError::invalid(&source, format!("key generation failed: {what}"));
        match alg::family(alg) {
            Family::Hmac => {
                let mut raw = vec![0u8; alg::hash_len(alg)];
                SystemRandom::new()
                    .fill(&mut raw)
                    .map_err(|_| fail("no randomness"))?;
                Self::from_secret(alg, None, B64.encode(raw).into_bytes(), &source)
            }
            Family::Rsa => {
                let size = match rsa_bits.unwrap_or_else(|| alg::default_rsa_bits(alg)) {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    8192 => KeySize::Rsa8192,
                    other => {
                        return Err(KeyError::invalid(
                            "--rsa-bits",
                            format!("{other} is not supported; use 2048, 3072, 4096 or 8192"),
                        ));
                    }
                };
                let pair = RsaKeyPair::generate(size).map_err(|_| fail("RSA"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().map_err(|_| fail("RSA encoding"))?;
                Self::from_pkcs8(alg, None, der.as_ref().to_vec(), &source)
            }
            Family::Ec => {
                let signing = ec_signing(alg).ok_or_else(|| fail("curve"))?;
                let pair = EcdsaKeyPair::generate(signing).map_err(|_| fail("EC"))?;
                let doc = pair.to_pkcs8v1().map_err(|_| fail("EC encoding"))?;
                Self::from_pkcs8(alg, None, doc.as_ref().to_vec(), &source)
            }
            Family::Ed => {
                let pair = Ed25519KeyPair::generate().map_err(|_| fail("Ed25519"))?;
                let doc = pair.to_pkcs8v1().map_err(|_| fail("Ed25519 encoding"))?;
                Self::from_pkcs8(alg, None, doc.as_ref().to_vec(), &source)
            }
        }
    }

    /// The private key as PEM (PKCS#8), if this key has one.
    pub fn private_pem(&self) -> Option<String> {
        match &self.secret {
            Secret::Pkcs8(der) => Some(pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()))),
            _ => None,
        }
    }

    /// The public key as SubjectPublicKeyInfo PEM (asymmetric keys only).
    pub fn public_pem(&self) -> Option<String> {
        let Secret::Pkcs8(der) = &self.secret else {
            return None;
        };
        let spki = match alg::family(self.alg) {
            Family::Rsa => spki_der(RsaKeyPair::from_pkcs8(der).ok()?.public_key())?,
            Family::Ec => spki_der(
                EcdsaKeyPair::from_pkcs8(ec_signing(self.alg)?, der)
                    .ok()?
                    .public_key(),
            )?,
            Family::Ed => spki_der(Ed25519KeyPair::from_pkcs8(der).ok()?.public_key())?,
            Family::Hmac => return None,
        };
        Some(pem::encode(&pem::Pem::new("PUBLIC KEY", spki)))
    }

    /// Whether this key can sign.
    pub fn can_sign(&self) -> bool {
        !matches!(self.secret, Secret::None)
    }
}

/// SubjectPublicKeyInfo DER of any aws-lc public key.
fn spki_der<K: AsDer<aws_lc_rs::encoding::PublicKeyX509Der<'static>>>(key: &K) -> Option<Vec<u8>> {
    Some(key.as_der().ok()?.as_ref().to_vec())
}

fn mismatch(alg: Algorithm, got: &str, source_name: &str) -> KeyError {
    KeyError::invalid(
        source_name,
        format!(
            "this is a {got} key, which does not fit {} (it needs {})",
            alg::name(alg),
            match alg::family(alg) {
                Family::Hmac => "an HMAC secret",
                Family::Rsa => "an RSA key",
                Family::Ec if alg == Algorithm::ES256 => "an EC key on P-256",
                Family::Ec => "an EC key on P-384",
                Family::Ed => "an Ed25519 key",
            }
        ),
    )
}

fn parse_pem(bytes: &[u8], source_name: &str) -> Result<pem::Pem, KeyError> {
    pem::parse(bytes).map_err(|e| KeyError::invalid(source_name, format!("not a PEM file ({e})")))
}

fn ec_signing(alg: Algorithm) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

/// Derives the public JWK of a PKCS#8 private key, checking that the key fits the algorithm.
fn public_jwk_of_private(alg: Algorithm, pkcs8: &[u8], source_name: &str) -> Result<Jwk, KeyError> {
    let kind = pkcs8_kind(pkcs8);
    let mut jwk = match alg::family(alg) {
        Family::Hmac => return Err(mismatch(alg, kind, source_name)),
        Family::Rsa => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| mismatch(alg, kind, source_name))?;
            let public = pair.public_key();
            Jwk {
                kty: "RSA".into(),
                n: b64(public.modulus().big_endian_without_leading_zero()),
                e: b64(public.exponent().big_endian_without_leading_zero()),
                ..Jwk::default()
            }
        }
        Family::Ec => {
            let signing = ec_signing(alg).ok_or_else(|| mismatch(alg, kind, source_name))?;
            let pair =
                EcdsaKeyPair::from_pkcs8(signing, pkcs8).map_err(|_| mismatch(alg, kind, source_name))?;
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            Jwk {
                kty: "EC".into(),
                crv: Some(if alg == Algorithm::ES256 { "P-256" } else { "P-384" }.into()),
                x: b64(&point[1..1 + half]),
                y: b64(&point[1 + half..]),
                ..Jwk::default()
            }
        }
        Family::Ed => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|_| mismatch(alg, kind, source_name))?;
            Jwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: b64(pair.public_key().as_ref()),
                ..Jwk::default()
            }
        }
    };
    jwk.alg = Some(alg::name(alg).into());
    jwk.use_ = Some("sig".into());
    Ok(jwk)
}

/// Names the kind of a PKCS#8 key by its algorithm identifier, for error messages.
fn pkcs8_kind(pkcs8: &[u8]) -> &'static str {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    let has = |oid: &[u8]| pkcs8.windows(oid.len()).take(40).any(|w| w == oid);
    if has(RSA) {
        "RSA"
    } else if has(EC) {
        "EC"
    } else if has(ED25519) {
        "Ed25519"
    } else {
        "unrecognised"
    }
}

/// The aws-lc verification algorithm for an asymmetric JWT algorithm.
pub fn verification_alg(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        _ => &sig::ED25519,
    }
}

/// The bytes aws-lc parses as a public key: PKCS#1 `RSAPublicKey` DER for RSA, the uncompressed
/// SEC1 point for EC, the raw 32 bytes for Ed25519.
pub fn verification_key_bytes(alg: Algorithm, jwk: &Jwk) -> Result<Vec<u8>, String> {
    let field = |name: &str, v: &Option<String>| -> Result<Vec<u8>, String> {
        let s = v.as_deref().ok_or_else(|| format!("missing '{name}'"))?;
        B64.decode(s.trim_end_matches('='))
            .map_err(|e| format!("'{name}' is not base64url ({e})"))
    };
    match alg::family(alg) {
        Family::Rsa => Ok(der_rsa_public_key(&field("n", &jwk.n)?, &field("e", &jwk.e)?)),
        Family::Ec => {
            let (x, y) = (field("x", &jwk.x)?, field("y", &jwk.y)?);
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Ok(point)
        }
        Family::Ed => field("x", &jwk.x),
        Family::Hmac => Err("HMAC keys have no public key".into()),
    }
}

/// PKCS#8 DER for a private JWK (RSA with CRT members, EC or OKP with `d`).
fn private_jwk_to_pkcs8(alg: Algorithm, jwk: &Jwk) -> Result<Vec<u8>, String> {
    let field = |name: &str, v: &Option<String>| -> Result<Vec<u8>, String> {
        let s = v.as_deref().ok_or_else(|| format!("missing '{name}'"))?;
        B64.decode(s.trim_end_matches('='))
            .map_err(|e| format!("'{name}' is not base64url ({e})"))
    };
    let d = field("d", &jwk.d)?;
    match alg::family(alg) {
        Family::Rsa => {
            let ints = [
                vec![0u8],
                field("n", &jwk.n)?,
                field("e", &jwk.e)?,
                d,
                field("p", &jwk.p)?,
                field("q", &jwk.q)?,
                field("dp", &jwk.dp)?,
                field("dq", &jwk.dq)?,
                field("qi", &jwk.qi)?,
            ];
            let refs: Vec<&[u8]> = ints.iter().map(|v| v.as_slice()).collect();
            let pair = RsaKeyPair::from_der(&der_integer_sequence(&refs)).map_err(|e| e.to_string())?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().map_err(|e| e.to_string())?;
            Ok(der.as_ref().to_vec())
        }
        Family::Ec => {
            let public = verification_key_bytes(alg, jwk)?;
            let signing = ec_signing(alg).ok_or("not an EC algorithm")?;
            let pair = EcdsaKeyPair::from_private_key_and_public_key(signing, &d, &public)
                .map_err(|e| e.to_string())?;
            Ok(pair.to_pkcs8v1().map_err(|e| e.to_string())?.as_ref().to_vec())
        }
        Family::Ed => {
            let pair = Ed25519KeyPair::from_seed_and_public_key(&d, &field("x", &jwk.x)?)
                .map_err(|e| e.to_string())?;
            Ok(pair.to_pkcs8v1().map_err(|e| e.to_string())?.as_ref().to_vec())
        }
        Family::Hmac => Err("oct keys have no 'd'".into()),
    }
}

/// DER of PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn der_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    der_integer_sequence(&[n, e])
}

/// DER of a SEQUENCE of unsigned big-endian INTEGERs.
fn der_integer_sequence(values: &[&[u8]]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v: &[u8] = {
            let first = v
                .iter()
                .position(|b| *b != 0)
                .unwrap_or(v.len().saturating_sub(1));
            &v[first..]
        };
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        len(out, v.len() + pad as usize);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(values.iter().map(|v| v.len() + 5).sum());
    for v in values {
        integer(&mut body, v);
    }
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(0x30);
    len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// A key prepared once for fast repeated signing.
#[allow(clippy::large_enum_variant)] // one per key, built once; inline keeps the hot path free of a pointer chase
pub enum Signer {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    /// Builds the signer for `key`; fails for verification-only keys.
    pub fn new(key: &KeyMaterial) -> Result<Self, KeyError> {
        let source = format!("key '{}'", key.kid);
        Self::for_alg(key.alg, &key.secret, &source)
    }

    /// Builds a signer for `alg` over the given secret half (used for HS256 over a PEM too).
    pub fn for_alg(alg: Algorithm, secret: &Secret, source: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::invalid(source, format!("cannot sign {} with this key", alg::name(alg)));
        Ok(match (alg::family(alg), secret) {
            (Family::Hmac, Secret::Hmac(s)) => Signer::Hmac(hmac::Key::new(hmac_alg(alg), s)),
            (Family::Rsa, Secret::Pkcs8(der)) => {
                let enc: &'static dyn sig::RsaEncoding = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    _ => &sig::RSA_PSS_SHA512,
                };
                Signer::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|_| bad())?, enc)
            }
            (Family::Ec, Secret::Pkcs8(der)) => Signer::Ecdsa(
                EcdsaKeyPair::from_pkcs8(ec_signing(alg).ok_or_else(bad)?, der).map_err(|_| bad())?,
            ),
            (Family::Ed, Secret::Pkcs8(der)) => {
                Signer::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        })
    }

    /// Signs `msg` and appends the raw signature to `out`.
    pub fn sign_into(&self, msg: &[u8], out: &mut Vec<u8>) {
        match self {
            Signer::Hmac(key) => out.extend_from_slice(hmac::sign(key, msg).as_ref()),
            Signer::Rsa(pair, enc) => {
                let start = out.len();
                out.resize(start + pair.public_modulus_len(), 0);
                // Signing with a valid key into a buffer of the modulus size cannot fail.
                if pair
                    .sign(*enc, &SystemRandom::new(), msg, &mut out[start..])
                    .is_err()
                {
                    out.truncate(start);
                }
            }
            Signer::Ecdsa(pair) => {
                if let Ok(s) = pair.sign(&SystemRandom::new(), msg) {
                    out.extend_from_slice(s.as_ref());
                }
            }
            Signer::Ed25519(pair) => out.extend_from_slice(pair.sign(msg).as_ref()),
        }
    }
}

/// The aws-lc HMAC algorithm for an HS* algorithm.
pub fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

/// Reads a whole file with an error that names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|err| KeyError::Io {
        source_name: format!("'{}'", path.display()),
        err,
    })
}

/// Reads an HMAC secret from a file, dropping one trailing newline.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let mut bytes = read_file(path)?;
    trim_newline(&mut bytes);
    Ok(bytes)
}

fn trim_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// Reads an environment variable that holds a secret or a PEM, with an error that names it.
pub fn read_env(var: &str) -> Result<Vec<u8>, KeyError> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let mut bytes = v.into_encoded_bytes();
            trim_newline(&mut bytes);
            Ok(bytes)
        }
        Some(_) => Err(KeyError::invalid(
            format!("environment variable {var}"),
            "it is empty",
        )),
        None => Err(KeyError::invalid(
            format!("environment variable {var}"),
            "it is not set",
        )),
    }
}

/// One row of a key set's index file (`keys.json`), written by `keys generate`. No secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyIndexEntry {
    pub kid: String,
    pub alg: String,
    pub fingerprint: String,
    /// The private key (PEM) or HMAC secret file, relative to the index.
    pub private: String,
    /// The public key PEM, relative to the index (asymmetric keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
}

/// The index file of a key set directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyIndex {
    pub keys: Vec<KeyIndexEntry>,
}

/// Loads every key of a key set directory written by `keys generate`.
pub fn load_key_dir(dir: &Path, alg: Option<Algorithm>) -> Result<Vec<KeyMaterial>, KeyError> {
    let index_path = dir.join("keys.json");
    let text = read_file(&index_path)?;
    let source = format!("'{}'", index_path.display());
    let index: KeyIndex = serde_json::from_slice(&text)
        .map_err(|e| KeyError::invalid(&source, format!("not a key index ({e})")))?;
    if index.keys.is_empty() {
        return Err(KeyError::invalid(&source, "the key set has no keys"));
    }
    let mut out = Vec::with_capacity(index.keys.len());
    for entry in &index.keys {
        let key_alg = alg::parse(&entry.alg).map_err(|e| KeyError::invalid(&source, e))?;
        if let Some(a) = alg
            && a != key_alg
        {
            return Err(KeyError::invalid(
                &source,
                format!(
                    "key '{}' is {}, but the algorithm is {}",
                    entry.kid,
                    entry.alg,
                    alg::name(a)
                ),
            ));
        }
        let path: PathBuf = dir.join(&entry.private);
        let name = format!("'{}'", path.display());
        let key = if alg::family(key_alg) == Family::Hmac {
            KeyMaterial::from_secret(key_alg, Some(entry.kid.clone()), read_secret_file(&path)?, &name)?
        } else {
            KeyMaterial::from_private_pem(key_alg, Some(entry.kid.clone()), &read_file(&path)?, &name)?
        };
        out.push(key);
    }
    Ok(out)
}

/// Loads keys from a JWKS file; with `kid`, only that key.
pub fn load_jwks(path: &Path, alg: Algorithm, kid: Option<&str>) -> Result<Vec<KeyMaterial>, KeyError> {
    let source = format!("'{}'", path.display());
    let set: JwkSet = serde_json::from_slice(&read_file(path)?)
        .map_err(|e| KeyError::invalid(&source, format!("not a JWKS ({e})")))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        if let Some(want) = kid
            && jwk.kid.as_deref() != Some(want)
        {
            continue;
        }
        if let Some(a) = &jwk.alg
            && a != alg::name(alg)
            && kid.is_none()
        {
            continue;
        }
        out.push(KeyMaterial::from_jwk(alg, None, jwk, &source)?);
    }
    if out.is_empty() {
        return Err(KeyError::invalid(
            &source,
            match kid {
                Some(k) => format!("no key with kid '{k}'"),
                None => format!("no {} key", alg::name(alg)),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_fit() {
        for alg in [
            Algorithm::HS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            let k = KeyMaterial::generate(alg, None).unwrap();
            assert!(k.can_sign());
            let signer = Signer::new(&k).unwrap();
            let mut out = Vec::new();
            signer.sign_into(b"abc", &mut out);
            assert!(!out.is_empty());
            assert!(!format!("{k:?}").contains("Pkcs8"));
        }
    }

    #[test]
    fn hmac_secret_is_long_enough() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let k = KeyMaterial::generate(alg, None).unwrap();
            let Secret::Hmac(s) = &k.secret else { panic!() };
            assert!(s.len() >= alg::hash_len(alg));
        }
    }

    #[test]
    fn wrong_family_is_named() {
        let ec = KeyMaterial::generate(Algorithm::ES256, None).unwrap();
        let pem = ec.private_pem().unwrap();
        let err = KeyMaterial::from_private_pem(Algorithm::RS256, None, pem.as_bytes(), "'k.pem'")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'k.pem'") && err.contains("EC key") && err.contains("RS256"),
            "{err}"
        );
        let err = KeyMaterial::from_secret(Algorithm::HS256, None, vec![], "env X").unwrap_err();
        assert!(err.to_string().contains("empty"));
    }

    #[test]
    fn public_pem_round_trips_to_same_jwk() {
        let k = KeyMaterial::generate(Algorithm::ES256, None).unwrap();
        let p = KeyMaterial::from_public_pem(Algorithm::ES256, None, k.public_pem().unwrap().as_bytes(), "x")
            .unwrap();
        assert_eq!(p.fingerprint, k.fingerprint);
        assert!(!p.can_sign());
    }

    #[test]
    fn der_integer_padding() {
        let der = der_rsa_public_key(&[0x80, 1], &[1, 0, 1]);
        assert_eq!(
            der,
            vec![
                0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
    }
}
