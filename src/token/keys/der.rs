//! DER and PKCS#8 conversions: public JWKs of private keys, verification key bytes, private
//! JWKs to PKCS#8, and the key-kind names used in error messages.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;

use crate::model::alg::{self, Family};

use super::*;

/// SubjectPublicKeyInfo DER of any aws-lc public key.
pub(super) fn spki_der<K: AsDer<aws_lc_rs::encoding::PublicKeyX509Der<'static>>>(key: &K) -> Option<Vec<u8>> {
    Some(key.as_der().ok()?.as_ref().to_vec())
}

pub(super) fn mismatch(alg: Algorithm, got: &str, source_name: &str) -> KeyError {
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

pub(super) fn parse_pem(bytes: &[u8], source_name: &str) -> Result<pem::Pem, KeyError> {
    pem::parse(bytes).map_err(|e| KeyError::invalid(source_name, format!("not a PEM file ({e})")))
}

pub(super) fn ec_signing(alg: Algorithm) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

/// Derives the public JWK of a PKCS#8 private key, checking that the key fits the algorithm.
pub(super) fn public_jwk_of_private(
    alg: Algorithm,
    pkcs8: &[u8],
    source_name: &str,
) -> Result<Jwk, KeyError> {
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
pub(super) fn pkcs8_kind(pkcs8: &[u8]) -> &'static str {
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
pub(super) fn private_jwk_to_pkcs8(alg: Algorithm, jwk: &Jwk) -> Result<Vec<u8>, String> {
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
pub(super) fn der_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    der_integer_sequence(&[n, e])
}

/// DER of a SEQUENCE of unsigned big-endian INTEGERs.
pub(super) fn der_integer_sequence(values: &[&[u8]]) -> Vec<u8> {
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
