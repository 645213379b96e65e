//! `jwtstorm mint`: a labelled batch, minted in parallel, streamed to a file with a manifest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::cli::MintArgs;
use crate::commands::{self, keys::write_key_set};
use crate::error::{Failure, ResultExt, exit};
use crate::scenario::resolve::{self, KeySource, Settings};
use crate::token::alg;
use crate::token::batch::{self, AtomicFile, Manifest, ManifestKey, MintOutcome};
use crate::token::claims::ClaimTemplate;
use crate::token::keys::KeyMaterial;
use crate::token::mint::{MintConfig, Minter};
use crate::units;

/// Runs `jwtstorm mint`.
pub fn run(args: MintArgs) -> Result<i32, Failure> {
    let mut s = commands::settings(args.scenario.as_deref(), &args.keys, &args.policy)?;
    apply_token_args(&mut s, &args)?;
    let to_stdout = args.out.as_os_str() == "-";
    let generated = s.keys.source == KeySource::Generate;
    let keys_out = match (&args.keys_out, generated, to_stdout) {
        (Some(dir), _, _) => Some(dir.clone()),
        (None, true, false) => Some(with_suffix(&args.out, ".keys")),
        (None, true, true) => {
            return Err(anyhow::anyhow!(
                "generated keys must be saved to verify the batch: pass --keys-out DIR when writing to stdout"
            ))
            .or_bad_input();
        }
        (None, false, _) => None,
    };

    let (alg, keys) = s.load_keys().or_bad_input()?;
    let config = mint_config(&s, alg, keys)?;
    let minter = Minter::new(config).or_bad_input()?;

    // Open the output before any work, so a bad path fails at once.
    let mut file = if to_stdout {
        None
    } else {
        Some(
            AtomicFile::create(&args.out)
                .with_context(|| format!("cannot write '{}'", args.out.display()))
                .or_bad_input()?,
        )
    };
    if let Some(dir) = &keys_out
        && generated
    {
        write_key_set(dir, &minter.config().keys)
            .with_context(|| format!("saving generated keys to '{}'", dir.display()))
            .or_bad_input()?;
    }

    let threads = args.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting worker threads")
        .or_cannot_proceed()?;
    let stop = Arc::new(AtomicBool::new(false));
    install_interrupt(stop.clone());
    let show = !args.quiet && commands::stderr_is_tty();
    let bar = progress_bar(show, minter.config().count);

    let outcome = {
        let progress = |done: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let result = match &mut file {
            Some(f) => batch::mint_to_writer(&minter, &pool, f.writer(), &stop, progress),
            None => {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                batch::mint_to_writer(&minter, &pool, &mut lock, &stop, progress)
            }
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        match result {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("writing '{}'", args.out.display())))
                    .or_cannot_proceed();
            }
        }
    };
    if let Some(f) = file {
        f.commit()
            .with_context(|| format!("writing '{}'", args.out.display()))
            .or_cannot_proceed()?;
        let manifest = manifest(&minter, &outcome);
        let path = batch::manifest_path(&args.out);
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
        )
        .with_context(|| format!("writing '{}'", path.display()))
        .or_cannot_proceed()?;
    }
    if !args.quiet {
        eprintln!(
            "{}",
            summary(
                &outcome,
                &args.out,
                alg::name(alg),
                keys_out.as_deref().filter(|_| generated)
            )
        );
    }
    Ok(if outcome.interrupted {
        exit::INTERRUPTED
    } else {
        exit::OK
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Lays the token flags over the settings.
fn apply_token_args(s: &mut Settings, a: &MintArgs) -> Result<(), Failure> {
    let t = &mut s.tokens;
    if let Some(n) = a.count {
        if n == 0 {
            return Err(anyhow::anyhow!("--count: must be at least 1")).or_bad_input();
        }
        t.count = n;
    }
    if let Some(seed) = a.seed {
        t.seed = seed;
    }
    if let Some(now) = &a.now {
        t.now = Some(
            resolve::parse_now(now)
                .map_err(|e| anyhow::anyhow!("--now: {e}"))
                .or_bad_input()?,
        );
    }
    if let Some(ttl) = a.ttl {
        if ttl == 0 {
            return Err(anyhow::anyhow!("--ttl: must be at least 1s")).or_bad_input();
        }
        t.ttl = ttl;
    }
    if let Some(nbf) = &a.nbf {
        t.nbf_offset = Some(
            resolve::parse_offset(nbf)
                .map_err(|e| anyhow::anyhow!("--nbf: {e}"))
                .or_bad_input()?,
        );
    }
    if a.no_iat {
        t.iat = false;
    }
    if a.no_jti {
        t.jti = false;
    }
    for c in &a.claims {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--claim '{c}': expected KEY=VALUE"))
            .or_bad_input()?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v));
        t.claims.insert(k.to_string(), value);
    }
    if let Some(mix) = &a.mix {
        let mut pairs = Vec::new();
        for item in mix {
            let (name, w) = item
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--mix '{item}': expected CLASS=WEIGHT"))
                .or_bad_input()?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--mix '{item}': the weight must be a number"))
                .or_bad_input()?;
            pairs.push((name.trim(), w));
        }
        t.mix = resolve::parse_mix_pairs(pairs)
            .map_err(|e| anyhow::anyhow!("--mix: {e}"))
            .or_bad_input()?;
    }
    if let Some(size) = a.size {
        t.size = Some(size);
    }
    Ok(())
}

/// Builds the mint configuration; every key must be able to sign.
pub fn mint_config(
    s: &Settings,
    alg: jsonwebtoken::Algorithm,
    keys: Vec<KeyMaterial>,
) -> Result<MintConfig, Failure> {
    if let Some(k) = keys.iter().find(|k| !k.can_sign()) {
        return Err(anyhow::anyhow!(
            "key '{}' is public only; minting needs a private key or an HMAC secret",
            k.kid
        ))
        .or_bad_input();
    }
    let t = &s.tokens;
    let claims = ClaimTemplate::compile(t.claims.clone())
        .map_err(|e| anyhow::anyhow!("tokens.claims: {e}"))
        .or_bad_input()?;
    let now = t.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    Ok(MintConfig {
        alg,
        keys,
        policy: s.policy(alg),
        count: t.count,
        seed: t.seed,
        now,
        ttl: t.ttl,
        nbf_offset: t.nbf_offset,
        iat: t.iat,
        jti: t.jti,
        claims,
        mix: t.mix.clone(),
        size: t.size,
    })
}

fn manifest(minter: &Minter, o: &MintOutcome) -> Manifest {
    let c = minter.config();
    Manifest {
        format: batch::MAGIC.trim_start_matches('#').to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        minted_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        now: c.now,
        seed: c.seed,
        count: o.count,
        complete: !o.interrupted,
        alg: alg::name(c.alg).to_string(),
        keys: c
            .keys
            .iter()
            .map(|k| ManifestKey {
                kid: k.kid.clone(),
                fingerprint: k.fingerprint.clone(),
            })
            .collect(),
        policy: serde_json::to_value(&c.policy).expect("policy serializes"),
        ttl_s: c.ttl,
        nbf_offset_s: c.nbf_offset,
        iat: c.iat,
        jti: c.jti,
        size: c.size,
        claims: c.claims.source.clone(),
        mix: c.mix.iter().map(|(k, w)| (k.name().to_string(), *w)).collect(),
        per_class: o
            .per_class
            .iter()
            .map(|(k, n)| (k.name().to_string(), *n))
            .collect::<BTreeMap<_, _>>(),
        bytes: o.bytes,
        seconds: o.seconds,
        tokens_per_second: o.tokens_per_second(),
        threads: o.threads,
    }
}

fn summary(o: &MintOutcome, out: &Path, alg_name: &str, keys_dir: Option<&Path>) -> String {
    let classes: Vec<String> = o.per_class.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let mut s = format!(
        "{}minted {} {alg_name} tokens in {:.2}s ({:.0} tokens/s, {} threads) -> {} ({})\n  {}",
        if o.interrupted { "interrupted: " } else { "" },
        o.count,
        o.seconds,
        o.tokens_per_second(),
        o.threads,
        out.display(),
        units::format_bytes(o.bytes),
        classes.join(", ")
    );
    if let Some(dir) = keys_dir {
        s.push_str(&format!("\n  generated keys saved to {}", dir.display()));
    }
    s
}

fn progress_bar(show: bool, total: u64) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tokens  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Sets `stop` on Ctrl-C; a second Ctrl-C exits at once.
pub fn install_interrupt(stop: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            let _ = std::io::stderr().write_all(b"\ninterrupted twice: exiting now\n");
            std::process::exit(exit::INTERRUPTED);
        }
    });
}
