//! Key material: generation, loading from files, environment variables and JWKS, public JWKs,
//! fingerprints, and signers built once per key.
//!
//! Secrets never leave this module in printable form: [`KeyMaterial`]'s `Debug` shows only the
//! algorithm, kid and fingerprint.

mod der;
mod jwk;
mod load;
mod signer;
mod store;

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;

use crate::model::alg::{self, Family};

use der::*;
pub use der::{verification_alg, verification_key_bytes};
use jwk::*;
pub use jwk::{Jwk, JwkSet, derive_kid};
pub use load::{
    KeyIndex, KeyIndexEntry, KeySource, load, load_jwks, load_key_dir, read_env, read_file, read_secret_file,
};
pub use signer::{Signer, hmac_alg};
pub use store::write_key_set;

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

    /// A self-signed X.509 certificate of this key pair, PEM (asymmetric keys with their
    /// private half only): what an `x5u` header points at.
    pub fn self_signed_pem(&self, name: &str) -> Result<String, KeyError> {
        let fail = |m: String| KeyError::invalid(format!("key '{}'", self.kid), m);
        let Secret::Pkcs8(der) = &self.secret else {
            return Err(fail("a certificate needs an asymmetric private key".into()));
        };
        let pair = rcgen::KeyPair::try_from(der.as_slice()).map_err(|e| fail(e.to_string()))?;
        let params =
            rcgen::CertificateParams::new(vec![name.to_string()]).map_err(|e| fail(e.to_string()))?;
        let cert = params.self_signed(&pair).map_err(|e| fail(e.to_string()))?;
        Ok(cert.pem())
    }

    /// The same key under another kid (its JWK's kid too).
    pub fn with_kid(mut self, kid: &str) -> KeyMaterial {
        self.kid = kid.to_string();
        self.jwk.kid = Some(kid.to_string());
        self
    }

    /// Whether this key can sign.
    pub fn can_sign(&self) -> bool {
        !matches!(self.secret, Secret::None)
    }
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
