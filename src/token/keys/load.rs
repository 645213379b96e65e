//! Loading key material: files (size-capped), environment variables, JWKS files and key set
//! folders written by `keys generate`.

use std::path::{Path, PathBuf};

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::model::alg::{self, Family};

use super::*;

/// Reads a whole file with an error that names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    crate::files::read_capped(path, crate::files::KEY_CAP).map_err(|err| KeyError::Io {
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

pub(super) fn trim_newline(bytes: &mut Vec<u8>) {
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

/// Where keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// Fresh keys for this run.
    Generate,
    SecretFile(PathBuf),
    SecretEnv(String),
    PrivateKeyFile(PathBuf),
    PrivateKeyEnv(String),
    /// A public key PEM: verification only.
    PublicKeyFile(PathBuf),
    /// A JWKS file (optionally one `kid`): oct keys sign, public keys verify.
    Jwks(PathBuf),
    /// A key set directory written by `keys generate`.
    Dir(PathBuf),
}

/// Loads (or generates) the keys a source names. `alg` is the algorithm asked for (HS256 when
/// none is, except for a key set folder, whose index names it); `kid` picks one key of a JWKS or key set, or names a single key;
/// `count` and `rsa_bits` shape generated keys. Returns the algorithm and the keys, in rotation
/// order.
pub fn load(
    source: &KeySource,
    alg: Option<Algorithm>,
    kid: Option<&str>,
    count: u32,
    rsa_bits: Option<usize>,
) -> Result<(Algorithm, Vec<KeyMaterial>), KeyError> {
    if let KeySource::Dir(dir) = source {
        let mut keys = load_key_dir(dir, alg)?;
        if let Some(kid) = kid {
            keys.retain(|key| key.kid == kid);
            if keys.is_empty() {
                return Err(KeyError::Invalid {
                    source_name: format!("'{}'", dir.display()),
                    message: format!("no key with kid '{kid}'"),
                });
            }
        }
        return Ok((keys[0].alg, keys));
    }
    let alg = alg.unwrap_or(Algorithm::HS256);
    let owned_kid = kid.map(str::to_string);
    let keys = match source {
        KeySource::Generate => (0..count)
            .map(|_| KeyMaterial::generate(alg, rsa_bits))
            .collect::<Result<Vec<_>, _>>()?,
        KeySource::SecretFile(p) => {
            let secret = read_secret_file(p)?;
            vec![KeyMaterial::from_secret(
                alg,
                owned_kid,
                secret,
                &format!("'{}'", p.display()),
            )?]
        }
        KeySource::SecretEnv(var) => vec![KeyMaterial::from_secret(
            alg,
            owned_kid,
            read_env(var)?,
            &format!("environment variable {var}"),
        )?],
        KeySource::PrivateKeyFile(p) => vec![KeyMaterial::from_private_pem(
            alg,
            owned_kid,
            &read_file(p)?,
            &format!("'{}'", p.display()),
        )?],
        KeySource::PrivateKeyEnv(var) => vec![KeyMaterial::from_private_pem(
            alg,
            owned_kid,
            &read_env(var)?,
            &format!("environment variable {var}"),
        )?],
        KeySource::PublicKeyFile(p) => vec![KeyMaterial::from_public_pem(
            alg,
            owned_kid,
            &read_file(p)?,
            &format!("'{}'", p.display()),
        )?],
        KeySource::Jwks(p) => load_jwks(p, alg, kid)?,
        KeySource::Dir(_) => unreachable!("handled above"),
    };
    Ok((alg, keys))
}
