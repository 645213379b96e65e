//! `jwtstorm keys generate`: key material for every algorithm, with a public JWKS and an index.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::KeysGenerateArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::token::alg::{self, Family};
use crate::token::keys::{JwkSet, KeyIndex, KeyIndexEntry, KeyMaterial, Secret};

/// Writes `count` keys into the folder and prints their kids and fingerprints (never secrets).
pub fn generate(args: KeysGenerateArgs) -> Result<i32, Failure> {
    let alg = alg::parse(&args.alg)
        .map_err(|e| anyhow::anyhow!("--alg: {e}"))
        .or_bad_input()?;
    if let Some(bits) = args.rsa_bits {
        if alg::family(alg) != Family::Rsa {
            return Err(anyhow::anyhow!(
                "--rsa-bits applies to RS* and PS* keys, not {}",
                args.alg
            ))
            .or_bad_input();
        }
        if ![2048, 3072, 4096, 8192].contains(&bits) {
            return Err(anyhow::anyhow!(
                "--rsa-bits: {bits} is not supported; use 2048, 3072, 4096 or 8192"
            ))
            .or_bad_input();
        }
    }
    let dir = &args.out;
    if dir.join("keys.json").exists() && !args.force {
        return Err(anyhow::anyhow!(
            "'{}' already holds a key set (keys.json); pass --force to replace it",
            dir.display()
        ))
        .or_bad_input();
    }
    fs::create_dir_all(dir)
        .with_context(|| format!("creating '{}'", dir.display()))
        .or_cannot_proceed()?;
    let keys: Vec<KeyMaterial> = (0..args.count)
        .map(|_| KeyMaterial::generate(alg, args.rsa_bits))
        .collect::<Result<_, _>>()
        .or_cannot_proceed()?;
    let entries = write_key_set(dir, &keys).or_cannot_proceed()?;
    for e in &entries {
        println!(
            "{}  {}  fingerprint {}  {}",
            e.kid,
            e.alg,
            e.fingerprint,
            dir.join(&e.private).display()
        );
    }
    println!(
        "wrote {} key(s), keys.json and jwks.json to {}",
        entries.len(),
        dir.display()
    );
    Ok(exit::OK)
}

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
