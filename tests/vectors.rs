//! Published JWS test vectors (RFC 7515 Appendix A, RFC 8037 Appendix A), copied into
//! tests/fixtures: re-signing reproduces the deterministic signatures byte for byte, the ES256
//! signature verifies, and the must-reject tokens are rejected.

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jwtstorm::model::alg;
use jwtstorm::token::keys::{self, Jwk, KeyMaterial, Signer};
use jwtstorm::verifier::inspect::inspect;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("fixtures/jws-vectors.json")).unwrap()
}

fn key_of(v: &Value) -> KeyMaterial {
    let alg = alg::parse(v["alg"].as_str().unwrap()).unwrap();
    let jwk: Jwk = serde_json::from_value(v["jwk"].clone()).unwrap();
    KeyMaterial::from_jwk(alg, Some("vector".into()), &jwk, v["name"].as_str().unwrap()).unwrap()
}

#[test]
fn deterministic_vectors_resign_byte_for_byte() {
    let all = vectors();
    let mut exact = 0;
    for v in all["vectors"].as_array().unwrap() {
        if v["check"] != "exact" {
            continue;
        }
        let jws = v["jws"].as_str().unwrap();
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let key = key_of(v);
        // The signing input in the vector is the protected header and payload as published.
        let header = B64.decode(input.split('.').next().unwrap()).unwrap();
        assert_eq!(
            header,
            v["protected_header_json"].as_str().unwrap().as_bytes(),
            "{}",
            v["name"]
        );
        let signer = Signer::new(&key).unwrap();
        let mut out = Vec::new();
        signer.sign_into(input.as_bytes(), &mut out);
        assert_eq!(B64.encode(&out), sig, "{}: signature differs", v["name"]);
        exact += 1;
    }
    assert_eq!(exact, 4, "HS256 (two), RS256 and EdDSA vectors");
}

#[test]
fn es256_vector_verifies_and_a_flipped_one_does_not() {
    let all = vectors();
    let v = all["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["alg"] == "ES256")
        .unwrap();
    let jws = v["jws"].as_str().unwrap();
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let key = key_of(v);
    let bytes = keys::verification_key_bytes(key.alg, &key.jwk).unwrap();
    let public = aws_lc_rs::signature::ParsedPublicKey::new(keys::verification_alg(key.alg), bytes).unwrap();
    let mut sig = B64.decode(sig).unwrap();
    assert!(public.verify_sig(input.as_bytes(), &sig).is_ok());
    sig[0] ^= 1;
    assert!(public.verify_sig(input.as_bytes(), &sig).is_err());
}

#[test]
fn must_reject_tokens_are_flagged_and_rejected() {
    let all = vectors();
    let dir = tempfile::tempdir().unwrap();
    let hs = all["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["alg"] == "HS256")
        .unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({"keys": [hs["jwk"]]}).to_string()).unwrap();
    for v in all["must_reject"].as_array().unwrap() {
        let token = v["jws"].as_str().unwrap();
        let found = inspect(token, 0);
        assert!(
            found.defects.iter().any(|d| d.contains("alg is 'none'")),
            "{}: {:?}",
            v["name"],
            found.defects
        );
        let out = Command::cargo_bin("jwtstorm")
            .unwrap()
            .args(["inspect", token, "--alg", "HS256", "--jwks-file"])
            .arg(&jwks)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}: exit code", v["name"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("verification: rejected: alg_not_allowed"),
            "{}: {text}",
            v["name"]
        );
    }
    let crit = all["must_reject"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str().unwrap().contains("crit"))
        .unwrap();
    assert!(
        inspect(crit["jws"].as_str().unwrap(), 0)
            .defects
            .iter()
            .any(|d| d.contains("crit"))
    );
}
