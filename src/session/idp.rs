//! jwtstorm as the identity provider of a session: the key set (kids named in `[idp]`, loaded
//! from `[keys]` or generated for the run), its schedule, the attacker's documents, and the
//! listener on a runtime of its own.

use std::sync::Arc;

use jsonwebtoken::Algorithm;

use super::SessionError;
use crate::idp::{self, Attacker, FetchLog, IdpConfig, RunningIdp};
use crate::model::alg::{self, Family};
use crate::scenario::idp::IdpSettings;
use crate::token::keys::{JwkSet, KeyMaterial};
use crate::token::mint::IdpRef;
use crate::token::rotation::Schedule;

/// The most keys a key set holds (a token carries its key's slot in a byte).
pub const MAX_KEYS: usize = 16;

/// The key set `[idp]` describes: every kid it names, the key from `[keys]` with that kid or a
/// fresh one of `alg`; without kids, the keys of `[keys]` as they are.
pub fn key_set(
    s: &IdpSettings,
    alg: Algorithm,
    keys: Vec<KeyMaterial>,
    rsa_bits: Option<usize>,
) -> Result<Vec<KeyMaterial>, SessionError> {
    if alg::family(alg) == Family::Hmac {
        return Err(SessionError::Invalid(format!(
            "[idp] publishes public keys, and {} keys have none: use an asymmetric algorithm (RS256, PS256, ES256, ES384, EdDSA)",
            alg::name(alg)
        )));
    }
    let set = if s.kids.is_empty() {
        keys
    } else {
        let mut out = Vec::with_capacity(s.kids.len());
        for kid in &s.kids {
            let key = match keys.iter().find(|k| &k.kid == kid) {
                Some(k) => k.clone(),
                None => KeyMaterial::generate(alg, rsa_bits)
                    .map_err(|e| SessionError::Invalid(e.to_string()))?
                    .with_kid(kid),
            };
            out.push(key);
        }
        out
    };
    if set.len() > MAX_KEYS {
        return Err(SessionError::Invalid(format!(
            "[idp] serves at most {MAX_KEYS} keys, got {}",
            set.len()
        )));
    }
    Ok(set)
}

/// The schedule of `[idp]` over `keys`.
pub fn schedule(s: &IdpSettings, keys: Vec<KeyMaterial>) -> Result<Schedule, SessionError> {
    let r = if s.rotates() {
        Schedule::new(keys, s.events(), s.retired_share)
    } else {
        Schedule::fixed(keys)
    };
    r.map_err(|e| SessionError::Invalid(format!("idp.rotation: {e}")))
}

/// The attacker's key (of `alg`) and the documents the identity provider serves for it: a key
/// set that lists it under every kid of `keys` (a verifier that follows `jku` finds "its" kid
/// there), and a self-signed certificate for `x5u`.
pub fn attacker(alg: Algorithm, keys: &[KeyMaterial]) -> Result<(KeyMaterial, Attacker), SessionError> {
    let bad = |e: crate::token::keys::KeyError| SessionError::Invalid(e.to_string());
    let key = KeyMaterial::generate(alg, Some(2048)).map_err(bad)?;
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|k| {
                let mut j = key.jwk.public();
                j.kid = Some(k.kid.clone());
                j
            })
            .collect(),
    };
    let cert = key.self_signed_pem("attacker.jwtstorm.invalid").map_err(bad)?;
    Ok((
        key,
        Attacker {
            jwks: Some(serde_json::to_vec(&set).expect("a JWKS serializes").into()),
            cert_pem: Some(cert.into_bytes().into()),
        },
    ))
}

/// A running identity provider with its schedule.
pub struct IdpRun {
    pub settings: IdpSettings,
    pub schedule: Arc<Schedule>,
    /// `http://ADDR`.
    pub url: String,
    pub log: Arc<FetchLog>,
    /// What header-injection tokens point at.
    pub reference: IdpRef,
    /// The revocation list it serves.
    pub revocations: crate::idp::RevocationDoc,
    rt: tokio::runtime::Runtime,
    running: Option<RunningIdp>,
}

impl IdpRun {
    /// Builds the key set and starts listening.
    pub fn start(
        s: &IdpSettings,
        alg: Algorithm,
        keys: Vec<KeyMaterial>,
        rsa_bits: Option<usize>,
    ) -> Result<IdpRun, SessionError> {
        let set = key_set(s, alg, keys, rsa_bits)?;
        let (attacker_key, docs) = attacker(alg, &set)?;
        let schedule = Arc::new(schedule(s, set)?);
        let revocations = crate::idp::RevocationDoc::default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jwtstorm-idp")
            .enable_all()
            .build()
            .map_err(|source| SessionError::Start {
                what: "starting the identity provider's runtime",
                source,
            })?;
        let running = rt
            .block_on(idp::start(IdpConfig {
                listen: s.listen,
                issuer: s.issuer.clone(),
                max_age: s.max_age,
                schedule: schedule.clone(),
                attacker: docs,
                revocations: revocations.clone(),
            }))
            .map_err(|source| SessionError::Start {
                what: "starting the identity provider (idp.listen)",
                source,
            })?;
        let url = running.url();
        Ok(IdpRun {
            settings: s.clone(),
            schedule,
            log: running.log.clone(),
            reference: IdpRef {
                url: url.clone(),
                attacker: attacker_key,
            },
            url,
            revocations,
            rt,
            running: Some(running),
        })
    }

    /// The key set's URL.
    pub fn jwks_url(&self) -> String {
        format!("{}{}", self.url, idp::JWKS_PATH)
    }

    /// The revocation list's URL.
    pub fn revocation_url(&self) -> String {
        format!("{}{}", self.url, idp::REVOCATION_PATH)
    }

    /// The schedule when it rotates keys.
    pub fn rotating(&self) -> Option<Arc<Schedule>> {
        (!self.schedule.is_fixed()).then(|| self.schedule.clone())
    }

    /// Stops listening.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop());
        }
    }
}

impl Drop for IdpRun {
    fn drop(&mut self) {
        self.stop();
    }
}
