//! A key prepared once for fast repeated signing.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use jsonwebtoken::Algorithm;

use crate::model::alg::{self, Family};

use super::*;

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
