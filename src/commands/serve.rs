//! `jwtstorm serve`: the reference verifier over HTTP, until Ctrl-C, SIGTERM or `--exit-after`.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::scenario::flags::settings;
use crate::scenario::resolve::KeySource;
use crate::token::keys::JwkSet;
use crate::verifier::remote::RemoteSettings;
use crate::verifier::server::{self, Limits, ServerConfig};
use crate::verifier::verify::Verifier;

/// Runs `jwtstorm serve`.
pub fn run(args: ServeArgs) -> Result<i32, Failure> {
    let s = settings(args.scenario.as_deref(), &args.keys, &args.policy)?;
    if args.expose_vulnerable && !args.vulnerable && !args.follow_jku {
        return Err(anyhow::anyhow!(
            "--expose-vulnerable needs --vulnerable or --follow-jku"
        ))
        .or_bad_input();
    }
    let vulnerable = args.vulnerable || args.follow_jku;
    let remote = args.jwks_url.as_ref().map(|url| RemoteSettings {
        url: url.clone(),
        max_age: args.jwks_max_age,
        cooldown: args.jwks_cooldown,
        timeout: std::time::Duration::from_secs(5),
    });
    if remote.is_some() && s.keys.source != KeySource::Generate {
        return Err(anyhow::anyhow!(
            "--jwks-url takes the keys from the URL: drop the key files (or the scenario's [keys])"
        ))
        .or_bad_input();
    }
    if remote.is_none() && s.keys.source == KeySource::Generate {
        return Err(anyhow::anyhow!(
            "serve needs the keys your tokens are signed with: pass --keys-dir, --secret-file, --secret-env, \
             --public-key-file, --jwks-file or --private-key-file (or a scenario whose [keys] names them)"
        ))
        .or_bad_input();
    }
    let (policy, keys) = match &remote {
        Some(_) => {
            let mut policy = s.policy(s.keys.alg.unwrap_or(jsonwebtoken::Algorithm::RS256));
            if s.keys.alg.is_none() && s.verifier.algorithms.is_none() {
                policy.algorithms = crate::model::alg::ALL
                    .into_iter()
                    .filter(|a| crate::model::alg::family(*a) != crate::model::alg::Family::Hmac)
                    .collect();
            }
            (policy, Vec::new())
        }
        None => {
            let (alg, keys) = s.load_keys().or_bad_input()?;
            (s.policy(alg), keys)
        }
    };
    let verifier = Verifier::with_keys(policy, &keys, remote.is_some())
        .map_err(anyhow::Error::msg)
        .or_bad_input()?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| {
            anyhow::anyhow!(
                "--listen '{}': {e} (expected IP:PORT, such as 127.0.0.1:0)",
                args.listen
            )
        })
        .or_bad_input()?;
    if !listen.ip().is_loopback() {
        if vulnerable && !args.expose_vulnerable {
            return Err(anyhow::anyhow!(
                "--vulnerable and --follow-jku accept forged tokens: refusing to listen on {listen}, which other machines can reach; \
                 listen on 127.0.0.1 or ::1, or pass --expose-vulnerable as well"
            ))
            .or_bad_input();
        }
        eprintln!(
            "warning: listening on {listen}, which other machines can reach{}",
            if vulnerable {
                " — and this verifier is deliberately vulnerable"
            } else {
                ""
            }
        );
    }
    if !args.path.starts_with('/') {
        return Err(anyhow::anyhow!("--path '{}': must start with '/'", args.path)).or_bad_input();
    }
    let placement = args.token.clone();
    let knobs = crate::scenario::flags::serve_knobs(&args)
        .map_err(anyhow::Error::msg)
        .or_bad_input()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::tls::server_config(cert, key, args.client_ca.as_deref())
                .map_err(anyhow::Error::msg)
                .or_bad_input()?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let jwks = JwkSet {
        keys: keys.iter().map(|k| k.jwk.public()).collect(),
    };
    if args.header_timeout.is_zero() || args.idle_timeout.is_zero() || args.max_connections == 0 {
        return Err(anyhow::anyhow!(
            "--header-timeout, --idle-timeout and --max-connections must be above 0"
        ))
        .or_bad_input();
    }
    // Raise the soft descriptor limit to the hard one, and keep the cap within it.
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(u64::MAX);
    let max_connections = args.max_connections.min(
        usize::try_from(descriptors.saturating_sub(64))
            .unwrap_or(usize::MAX)
            .max(1),
    );
    let limits = Limits {
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_connections,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt
        .enable_all()
        .build()
        .context("starting the runtime")
        .or_cannot_proceed()?;
    rt.block_on(async move {
        let config = ServerConfig {
            listen,
            path: args.path.clone(),
            placement,
            knobs,
            verifier,
            remote,
            follow_header_keys: args.follow_jku,
            jwks,
            tls,
            limits,
        };
        let running = server::start(config)
            .await
            .with_context(|| format!("cannot listen on {listen}"))
            .or_cannot_proceed()?;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on {scheme}://{}", running.addr);
        let _ = out.flush();
        let keys_text = match &args.jwks_url {
            Some(url) => format!(
                "keys from {url}, max-age {}, cooldown {}",
                crate::text::format_duration(args.jwks_max_age),
                crate::text::format_duration(args.jwks_cooldown)
            ),
            None => format!("{} key(s)", keys.len()),
        };
        eprintln!(
            "jwtstorm serve: verifying {} on {} ({keys_text}; /healthz, /metrics, /.well-known/jwks.json); Ctrl-C stops",
            args.path, running.addr,
        );
        wait_for_stop(args.exit_after).await;
        running.stop().await;
        Ok(exit::OK)
    })
}

async fn wait_for_stop(limit: Option<std::time::Duration>) {
    let timer = async {
        match limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let sigterm = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm => {}
            _ = timer => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = timer => {}
    }
}
