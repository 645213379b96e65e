//! Writing a key set folder: private halves 0600, public PEMs, `jwks.json` and `keys.json`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{JwkSet, KeyIndex, KeyIndexEntry, KeyMaterial, Secret};
use crate::model::alg;

/// Writes a key set: private halves with 0600 permissions, public PEMs, `jwks.json` (public keys
/// only; for HMAC keys a 0600 `jwks.private.json` instead) and the `keys.json` index.
pub fn write_key_set(dir: &Path, keys: &[KeyMaterial]) -> anyhow::Result<Vec<KeyIndexEntry>> {
    fs::create_dir_all(dir).with_context(|| format!("creating '{}'", dir.display()))?;
    let mut entries = Vec::with_capacity(keys.len());
    let mut public = JwkSet::default();
    let mut private_oct = JwkSet::default();
    for key in keys {
        let (private, public_file) = match &key.secret {
            Secret::Hmac(secret) => {
                let name = format!("{}.secret", key.kid);
                write_private(&dir.join(&name), secret)?;
                private_oct.keys.push(key.jwk.clone());
                (name, None)
            }
            Secret::Pkcs8(_) => {
                let name = format!("{}.key.pem", key.kid);
                let pem = key.private_pem().context("encoding private key")?;
                write_private(&dir.join(&name), pem.as_bytes())?;
                let pub_name = format!("{}.pub.pem", key.kid);
                let pub_pem = key.public_pem().context("encoding public key")?;
                fs::write(dir.join(&pub_name), pub_pem).with_context(|| format!("writing '{pub_name}'"))?;
                public.keys.push(key.jwk.public());
                (name, Some(pub_name))
            }
            Secret::None => anyhow::bail!("key '{}' has no private half to save", key.kid),
        };
        entries.push(KeyIndexEntry {
            kid: key.kid.clone(),
            alg: alg::name(key.alg).to_string(),
            fingerprint: key.fingerprint.clone(),
            private,
            public: public_file,
        });
    }
    fs::write(dir.join("jwks.json"), serde_json::to_vec_pretty(&public)?).context("writing jwks.json")?;
    if !private_oct.keys.is_empty() {
        write_private(
            &dir.join("jwks.private.json"),
            &serde_json::to_vec_pretty(&private_oct)?,
        )?;
    }
    let index = KeyIndex {
        keys: entries.clone(),
    };
    fs::write(dir.join("keys.json"), serde_json::to_vec_pretty(&index)?).context("writing keys.json")?;
    Ok(entries)
}

/// Creates a file readable only by its owner and writes `bytes` to it.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating '{}'", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)
        .with_context(|| format!("writing '{}'", path.display()))?;
    Ok(())
}
