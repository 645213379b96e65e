//! `jwtstorm mint`: a labelled batch, minted in parallel, streamed to a file with a manifest.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::MintArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::model::alg;
use crate::scenario::flags::{apply_mint_args, settings};
use crate::scenario::resolve::KeySource;
use crate::text::{format_bytes, stderr_is_tty};
use crate::token::batch::{self, AtomicFile, Manifest, MintOutcome};
use crate::token::keys::write_key_set;
use crate::token::mint::Minter;

/// Runs `jwtstorm mint`.
pub fn run(args: MintArgs) -> Result<i32, Failure> {
    let mut s = settings(args.scenario.as_deref(), &args.keys, &args.policy)?;
    apply_mint_args(&mut s, &args)?;
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

    let revoked_in_mix = s
        .tokens
        .mix
        .iter()
        .any(|(c, w)| *c == crate::token::classes::TokenClass::Revoked && *w > 0.0);
    if revoked_in_mix && to_stdout {
        return Err(anyhow::anyhow!(
            "revoked tokens need their revocation list ({}) beside the batch: write the batch to a file with --out",
            crate::token::revocation::FILE_NAME
        ))
        .or_bad_input();
    }
    let (alg, keys) = s.load_keys().or_bad_input()?;
    let config = s
        .mint_config(alg, keys)
        .map_err(anyhow::Error::msg)
        .or_bad_input()?;
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
    let stop = crate::interrupt::install();
    let show = !args.quiet && stderr_is_tty();
    let bar = progress_bar(show, minter.config().count);

    let outcome = {
        let progress = |done: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let result = match &mut file {
            Some(f) => batch::mint_to_writer(&minter, &pool, f.writer(), stop, progress),
            None => {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                batch::mint_to_writer(&minter, &pool, &mut lock, stop, progress)
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
        let manifest = Manifest::of(&minter, &outcome);
        let path = batch::manifest_path(&args.out);
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
        )
        .with_context(|| format!("writing '{}'", path.display()))
        .or_cannot_proceed()?;
        if revoked_in_mix {
            // The ids `revoked` tokens carry, so a verifier (and a run of this batch) refuses them.
            let list = args
                .out
                .parent()
                .unwrap_or(Path::new("."))
                .join(crate::token::revocation::FILE_NAME);
            let text =
                crate::token::revocation::render(&crate::token::revocation::pool(minter.config().seed));
            std::fs::write(&list, text)
                .with_context(|| format!("writing '{}'", list.display()))
                .or_cannot_proceed()?;
            if !args.quiet {
                eprintln!("  revocation list -> {}", list.display());
            }
        }
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
        format_bytes(o.bytes),
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
