//! `jwtstorm keys generate`: key material for every algorithm, with a public JWKS and an index.

use anyhow::Context;

use crate::cli::KeysGenerateArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::model::alg::{self, Family};
use crate::token::keys::{KeyMaterial, write_key_set};

/// Writes `count` keys into the folder and prints their kids and fingerprints (never secrets).
pub fn generate(args: KeysGenerateArgs) -> Result<i32, Failure> {
    let alg = args.alg;
    if let Some(bits) = args.rsa_bits {
        if alg::family(alg) != Family::Rsa {
            return Err(anyhow::anyhow!(
                "--rsa-bits applies to RS* and PS* keys, not {}",
                alg::name(alg)
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
    std::fs::create_dir_all(dir)
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
