//! The labels are only worth something if they hold: every minted token, checked by
//! jsonwebtoken's own `decode` under the declared policy (plus the two rules jsonwebtoken does
//! not enforce, `crit` and the size limit), gets exactly its labelled answer; and the embedded
//! reference verifier agrees, with the class's documented reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey};
use jwtstorm::model::alg::{self, Family};
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::TokenClass;
use jwtstorm::token::keys::{KeyMaterial, Secret};
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::verify::Verifier;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn strict_policy(alg: Algorithm) -> Policy {
    let mut p = Policy::for_alg(alg);
    p.audience = Some("api://orders".into());
    p.issuer = Some("https://auth.example.test".into());
    p.check_nbf = true;
    p.max_token_size = Some(4096);
    p
}

fn decoding_key(k: &KeyMaterial) -> DecodingKey {
    match &k.secret {
        Secret::Hmac(s) => DecodingKey::from_secret(s).unwrap(),
        _ => {
            let j = &k.jwk;
            match alg::family(k.alg) {
                Family::Rsa => {
                    DecodingKey::from_rsa_components(j.n.as_deref().unwrap(), j.e.as_deref().unwrap())
                        .unwrap()
                }
                Family::Ec => {
                    DecodingKey::from_ec_components(j.x.as_deref().unwrap(), j.y.as_deref().unwrap()).unwrap()
                }
                _ => DecodingKey::from_ed_components(j.x.as_deref().unwrap()).unwrap(),
            }
        }
    }
}

/// jsonwebtoken's verdict, with the two policy rules it lacks added in front.
fn jsonwebtoken_accepts(token: &str, keys: &[KeyMaterial], policy: &Policy) -> bool {
    if policy.max_token_size.is_some_and(|m| token.len() > m) {
        return false;
    }
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    if header.crit.is_some() {
        return false;
    }
    let Some(key) = keys.iter().find(|k| Some(&k.kid) == header.kid.as_ref()) else {
        return false;
    };
    jsonwebtoken::decode::<serde_json::Value>(token, &decoding_key(key), &policy.validation()).is_ok()
}

fn check_alg(alg: Algorithm, n_keys: usize) {
    check_policy(alg, n_keys, strict_policy(alg));
}

/// The labels under `policy`; a required scope replaces the template's own `scope` claim.
fn check_policy(alg: Algorithm, n_keys: usize, policy: Policy) {
    let keys: Vec<KeyMaterial> = (0..n_keys)
        .map(|_| KeyMaterial::generate(alg, Some(2048)).unwrap())
        .collect();
    let mix: Vec<(TokenClass, f64)> = TokenClass::ALL
        .iter()
        .filter(|c| c.inapplicable(alg, &policy).is_none())
        .map(|c| (*c, 1.0))
        .collect();
    let applicable: BTreeSet<TokenClass> = mix.iter().map(|m| m.0).collect();
    let count = if alg::family(alg) == Family::Rsa { 400 } else { 800 };
    let now = now();
    let mut claims: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(r#"{"sub":"user-{i}","scope":"orders:read","tier":{"one_of":["free","pro"]}}"#)
            .unwrap();
    if policy.required_scope.is_some() {
        claims.remove("scope");
    }
    let minter = Minter::new(MintConfig {
        alg,
        keys: keys.clone(),
        policy: policy.clone(),
        count,
        seed: 7,
        now,
        ttl: 900,
        nbf_offset: Some(-5),
        iat: true,
        jti: true,
        claims: ClaimTemplate::compile(claims).unwrap(),
        mix,
        size: None,
        // The header-injection classes point at an identity provider; none need listen here.
        idp: Some(jwtstorm::token::mint::IdpRef {
            url: "http://127.0.0.1:9".into(),
            attacker: KeyMaterial::generate(alg, Some(2048)).unwrap(),
        }),
    })
    .unwrap();
    let verifier = Verifier::new(policy.clone(), &keys).unwrap();
    let pool: BTreeSet<String> = jwtstorm::token::revocation::pool(7).into_iter().collect();
    let mut seen = BTreeSet::new();
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    for i in 0..count {
        out.clear();
        let (class, expect) = minter.mint_into(i, &mut out, &mut scratch);
        seen.insert(class);
        let token = std::str::from_utf8(&out).unwrap();
        let deserved = expect.deserved_at(now);
        let want = expect.accepts_at(now);
        // A recently expired token is still accepted while the leeway covers it.
        let recently = class == TokenClass::RecentlyExpired;
        if class.either() {
            // The specs leave these to the implementation: the label says so, and what the two
            // verifiers do is what the class documents.
            assert_eq!(deserved, jwtstorm::model::Deserved::Either, "{alg:?} {class}");
            let (reference, library) = match class {
                TokenClass::Utf8Bom | TokenClass::DuplicateHeaderAlg | TokenClass::NoncanonicalBase64 => {
                    (false, false)
                }
                TokenClass::IatInFuture
                | TokenClass::ExpFloat
                | TokenClass::JtiNotString
                | TokenClass::SubNotString
                | TokenClass::TypMismatch => (true, true),
                // jsonwebtoken knows b64 and refuses it; the reference verifier ignores it.
                TokenClass::B64False => (true, false),
                _ => unreachable!("{class} is not an either class"),
            };
            assert_eq!(
                verifier.verify(token.as_bytes(), now).is_ok(),
                reference,
                "{alg:?} {class}: reference"
            );
            assert_eq!(
                jsonwebtoken_accepts(token, &keys, &policy),
                library,
                "{alg:?} {class}: jsonwebtoken"
            );
            continue;
        }
        if recently {
            let jwtstorm::token::classes::Expect::AcceptWithin {
                until: Some(until), ..
            } = expect
            else {
                panic!("recently_expired must carry its window")
            };
            let exp = until - policy.leeway as i64;
            assert!((now - 60..now).contains(&exp), "{alg:?}: exp {exp} at {now}");
            assert_eq!(want, now < until);
        } else {
            assert_eq!(
                want,
                class.should_accept(),
                "{alg:?} {class}: label at minting time"
            );
        }
        // A token without the scope is good in every other way: jsonwebtoken, which has no
        // opinion on scopes, accepts it, and the reference verifier verifies it, then finds
        // the scope missing.
        let forbid = deserved == jwtstorm::model::Deserved::Forbid;
        assert_eq!(forbid, class == TokenClass::InsufficientScope, "{alg:?} {class}");
        // A revoked token is good in every other way too: what refuses it is the list, which
        // names its jti (and no valid token's).
        let listed = class == TokenClass::Revoked;
        let jti = jwtstorm::token::revocation::jti_of(token.as_bytes());
        assert_eq!(
            jti.as_ref().is_some_and(|j| pool.contains(j)),
            listed,
            "{alg:?} {class}: jti {jti:?} on the list"
        );
        assert_eq!(
            jsonwebtoken_accepts(token, &keys, &policy),
            want || forbid || listed,
            "{alg:?} {class} token {i}: jsonwebtoken disagrees with the label {expect}: {token}"
        );
        match verifier.verify(token.as_bytes(), now) {
            Ok(v) => {
                assert!(
                    want || forbid || listed,
                    "{alg:?} {class}: reference verifier accepted a negative token"
                );
                assert_eq!(v.jti, jti, "{alg:?} {class}: the verifier reads the jti");
                if let Some(scope) = &policy.required_scope {
                    assert_eq!(
                        v.has_scope(scope),
                        want || listed,
                        "{alg:?} {class}: scope {:?}",
                        v.scopes
                    );
                }
            }
            Err(reason) => {
                assert!(
                    !want,
                    "{alg:?} {class}: reference verifier rejected a valid token ({reason:?})"
                );
                assert_eq!(reason.as_str(), class.reason(), "{alg:?} {class}: reason");
            }
        }
        if class == TokenClass::NotYetValid {
            // Time-bound: accepted once nbf - leeway has passed.
            let jwtstorm::token::classes::Expect::AcceptWithin { from: Some(from), .. } = expect else {
                panic!("not_yet_valid must carry its window")
            };
            assert!(verifier.verify(token.as_bytes(), from).is_ok());
            assert!(verifier.verify(token.as_bytes(), from - 1).is_err());
        }
    }
    assert_eq!(seen, applicable, "{alg:?}: every applicable class was minted");
}

#[test]
fn labels_hold_with_a_required_scope() {
    use jwtstorm::token::policy::ScopeClaim;
    for (alg, claim) in [
        (Algorithm::HS256, ScopeClaim::Scope),
        (Algorithm::ES256, ScopeClaim::Scp),
    ] {
        check_policy(
            alg,
            1,
            Policy {
                required_scope: Some("orders:write".into()),
                scope_claim: claim,
                ..strict_policy(alg)
            },
        );
    }
}

#[test]
fn labels_hold_for_hmac() {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        check_alg(alg, 2);
    }
}

#[test]
fn labels_hold_for_rsa_pkcs1() {
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        check_alg(alg, 1);
    }
}

#[test]
fn labels_hold_for_rsa_pss() {
    for alg in [Algorithm::PS256, Algorithm::PS384, Algorithm::PS512] {
        check_alg(alg, 1);
    }
}

#[test]
fn labels_hold_for_ec_and_ed25519() {
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
        check_alg(alg, 2);
    }
}

#[test]
fn inapplicable_classes_are_refused() {
    let alg = Algorithm::HS256;
    let key = KeyMaterial::generate(alg, None).unwrap();
    // A policy that does not check nbf (nbf is checked by default) cannot judge not_yet_valid.
    let policy = Policy {
        check_nbf: false,
        ..Policy::for_alg(alg)
    };
    for (class, needle) in [
        (TokenClass::PsychicSignature, "ES256"),
        (TokenClass::AlgConfusion, "asymmetric"),
        (TokenClass::WrongAudience, "verifier.audience"),
        (TokenClass::NotYetValid, "check_nbf"),
    ] {
        let err = Minter::new(MintConfig {
            alg,
            keys: vec![key.clone()],
            policy: policy.clone(),
            count: 10,
            seed: 1,
            now: 0,
            ttl: 60,
            nbf_offset: None,
            iat: true,
            jti: true,
            claims: ClaimTemplate::default(),
            mix: vec![(class, 1.0)],
            size: None,
            idp: None,
        })
        .err()
        .expect("refused");
        assert!(err.to_string().contains(needle), "{class}: {err}");
    }
}
