//! `jwtstorm idp`: the identity provider alone, serving a fixed key set's public JWKS until
//! Ctrl-C, SIGTERM or `--exit-after`, with every fetch printed and optionally written as JSON.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::{IdpArgs, PolicyArgs};
use crate::error::{Failure, ResultExt, exit};
use crate::scenario::Loaded;
use crate::scenario::flags::settings;
use crate::scenario::idp::{IdpSettings, Rotation};
use crate::scenario::resolve::KeySource;
use crate::session::idp::IdpRun;
use crate::token::batch::AtomicFile;

/// Runs `jwtstorm idp`.
pub fn run(args: IdpArgs) -> Result<i32, Failure> {
    let stop = crate::interrupt::install();
    let s = settings(args.scenario.as_deref(), &args.keys, &PolicyArgs::default())?;
    if s.keys.source == KeySource::Generate {
        return Err(anyhow::anyhow!(
            "idp serves the keys your tokens are signed with: pass --keys-dir, --private-key-file, --public-key-file \
             or --jwks-file (or a scenario whose [keys] names them)"
        ))
        .or_bad_input();
    }
    let mut idp_settings = IdpSettings::default();
    if let Some(path) = &args.scenario {
        let loaded = Loaded::read(path)?;
        if let Some(sec) = &loaded.scenario.idp {
            idp_settings = IdpSettings::from_section(&loaded, sec)?;
        }
    }
    if let Some(l) = &args.listen {
        idp_settings.listen = l
            .parse::<SocketAddr>()
            .map_err(|e| anyhow::anyhow!("--listen '{l}': {e} (expected IP:PORT, such as 127.0.0.1:0)"))
            .or_bad_input()?;
    }
    if let Some(m) = args.max_age {
        idp_settings.max_age = m;
    }
    if args.issuer.is_some() {
        idp_settings.issuer = args.issuer.clone();
    }
    // Alone, the key set stays fixed: a rotation runs on a run's clock, not this one's.
    idp_settings.rotation = Rotation::None;
    let (alg, keys) = s.load_keys().or_bad_input()?;
    if !idp_settings.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, which other machines can reach (only public keys are served)",
            idp_settings.listen
        );
    }
    let mut running = IdpRun::start(&idp_settings, alg, keys, s.keys.rsa_bits)?;
    let schedule = running.schedule.clone();
    schedule.clock().start(Instant::now());
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", running.url);
    let _ = out.flush();
    let kids: Vec<&str> = schedule.keys().iter().map(|k| k.kid.as_str()).collect();
    eprintln!(
        "jwtstorm idp: {}{} ({} key(s): {}; max-age {}); Ctrl-C stops",
        running.url,
        crate::idp::JWKS_PATH,
        kids.len(),
        kids.join(", "),
        crate::text::format_duration(idp_settings.max_age)
    );
    let started = Instant::now();
    let mut printed = 0;
    loop {
        let done = stop.load(std::sync::atomic::Ordering::SeqCst)
            || args.exit_after.is_some_and(|d| started.elapsed() >= d);
        let fetches = running.log.fetches(schedule.clock());
        if !args.quiet {
            for f in fetches.iter().skip(printed) {
                eprintln!(
                    "{:>9.3}s  {:?} from {} ({}){} -> {}{}",
                    f.at_ms as f64 / 1000.0,
                    f.document,
                    f.client,
                    f.user_agent.as_deref().unwrap_or("no user agent"),
                    f.if_none_match
                        .as_ref()
                        .map_or(String::new(), |t| format!(" If-None-Match {t}")),
                    f.status,
                    f.version.map_or(String::new(), |v| format!(" (version {v})")),
                );
            }
        }
        printed = fetches.len();
        if done {
            if let Some(path) = &args.log {
                let body = serde_json::to_vec_pretty(&serde_json::json!({
                    "url": running.url,
                    "fetches_total": running.log.total(),
                    "fetches": fetches,
                }))
                .expect("fetches serialize");
                let written = AtomicFile::create(path).and_then(|mut f| {
                    f.writer().write_all(&body)?;
                    f.commit()
                });
                written
                    .with_context(|| format!("writing '{}'", path.display()))
                    .or_cannot_proceed()?;
            }
            eprintln!("jwtstorm idp: {} fetch(es) served", running.log.total());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    running.stop();
    Ok(if crate::interrupt::requested() {
        exit::INTERRUPTED
    } else {
        exit::OK
    })
}
