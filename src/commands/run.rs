//! `jwtstorm run` and `jwtstorm validate`: read and check a scenario, mint or load the batch,
//! start the embedded verifier if asked, replay, and write results.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};

use crate::cli::{LoadOverrides, RunArgs, ValidateArgs};
use crate::commands::mint::{install_interrupt, mint_config};
use crate::error::{Failure, ResultExt, exit};
use crate::replay::engine::{self, Finished, Plan};
use crate::replay::pacer::{Pacer, Staged};
use crate::replay::tokens::{Formatter, Selector, TokenStore};
use crate::replay::transport::{HyperTransport, ReqwestSettings, ReqwestTransport, Target};
use crate::report::{self, live::LiveLine};
use crate::scenario::Loaded;
use crate::scenario::resolve::{KeySource, Settings};
use crate::scenario::run::{
    self as run_settings, HttpVersion, LoadSettings, Model, Order, RunSettings, Stage, TransportKind,
};
use crate::stats::recorder::{LATE_AFTER, Percentiles};
use crate::stats::results::{self, Meta, Phase, Results, Schedule};
use crate::token::alg;
use crate::token::batch::AtomicFile;
use crate::token::keys::{JwkSet, KeyMaterial};
use crate::token::mint::Minter;
use crate::verifier::server::{self, Knobs, Placement, ServerConfig};
use crate::verifier::verify::Verifier;

/// A scenario read, checked and laid under the flags.
pub struct Prepared {
    pub loaded: Loaded,
    pub name: String,
    pub settings: Settings,
    pub run: RunSettings,
}

/// Reads a scenario and applies overrides; every error names the file, line and key, or the flag.
pub fn prepare(path: &Path, o: &LoadOverrides) -> Result<Prepared, Failure> {
    let loaded = Loaded::read(path).or_bad_input()?;
    let settings = Settings::from_scenario(&loaded).or_bad_input()?;
    let mut run = RunSettings::from_scenario_with(&loaded, o.url.is_some()).or_bad_input()?;
    apply_overrides(&mut run, o)
        .map_err(|e| anyhow!(e))
        .or_bad_input()?;
    let name = settings.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(anyhow!(
            "{}: name '{name}' must be a plain folder name (no slashes, not starting with '.')",
            path.display()
        ))
        .or_bad_input();
    }
    if run.batch.is_some() && settings.keys.source == KeySource::Generate && run.target.embedded {
        return Err(anyhow!(
            "{}: tokens.batch with generated keys: the embedded verifier must trust the keys the batch was signed \
             with; name them in [keys] (dir = \"...\", secret_file = \"...\", ...)",
            path.display()
        ))
        .or_bad_input();
    }
    if !run.target.embedded && settings.keys.source == KeySource::Generate {
        return Err(anyhow!(
            "{}: an external target cannot know freshly generated keys; name the keys it trusts in [keys] \
             (dir, secret_file, secret_env, private_key_file, jwks_file)",
            path.display()
        ))
        .or_bad_input();
    }
    if let Some(url) = &run.target.url {
        tls_for(&run, url).or_bad_input()?;
    }
    Ok(Prepared {
        loaded,
        name,
        settings,
        run,
    })
}

/// Lays flags over the scenario's run settings, checking them the way the scenario is checked.
pub fn apply_overrides(run: &mut RunSettings, o: &LoadOverrides) -> Result<(), String> {
    if let Some(u) = &o.url {
        run_settings::check_url(u).map_err(|e| format!("--url: {e}"))?;
        run.target.url = Some(u.clone());
        run.target.embedded = false;
    }
    if let Some(n) = o.concurrency {
        if n == 0 || n > 100_000 {
            return Err("--concurrency: must be between 1 and 100000".into());
        }
        run.load.concurrency = n;
    }
    if let Some(n) = o.requests {
        if n == 0 {
            return Err("--requests: must be at least 1".into());
        }
        run.load.requests = Some(n);
    }
    if let Some(t) = o.threads {
        if t > 1024 {
            return Err("--threads: must be between 0 (automatic) and 1024".into());
        }
        run.load.threads = t;
    }
    if let Some(r) = o.rate {
        if !r.is_finite() || r <= 0.0 || r > 10_000_000.0 {
            return Err("--rate: must be between 0 and 10000000 requests per second".into());
        }
        let d = o
            .duration
            .or(run.load.duration)
            .unwrap_or(run_settings::DEFAULT_DURATION);
        run.load.model = Model::Open;
        run.load.stages = vec![Stage {
            duration: d,
            rate: r,
            ramp: false,
        }];
        run.load.duration = Some(d);
    } else if let Some(d) = o.duration {
        if d.is_zero() {
            return Err("--duration: must be longer than 0s".into());
        }
        if run.load.model == Model::Open {
            if run.load.stages.len() > 1 {
                return Err(
                    "--duration: the scenario's schedule has stages; change their durations in the scenario, \
                     or give --rate as well"
                        .into(),
                );
            }
            run.load.stages[0].duration = d;
        }
        run.load.duration = Some(d);
    }
    if let Some(w) = o.warmup {
        run.load.warmup = w;
    }
    if let Some(d) = run.load.duration
        && run.load.warmup >= d
    {
        return Err(format!(
            "the warmup ({}) must be shorter than the run ({})",
            crate::units::format_duration(run.load.warmup),
            crate::units::format_duration(d)
        ));
    }
    for t in &o.thresholds {
        let parsed = crate::gate::thresholds::parse_one(t).map_err(|e| format!("--threshold {e}"))?;
        run.thresholds.retain(|x| x.name != parsed.name);
        run.thresholds.push(parsed);
    }
    if let Some(t) = &o.transport {
        run.target.transport = match t.as_str() {
            "hyper" => TransportKind::Hyper,
            "reqwest" => TransportKind::Reqwest,
            other => return Err(format!("--transport '{other}': expected hyper or reqwest")),
        };
    }
    if let Some(d) = o.abort_on_fail {
        run.abort_after = Some(d);
    }
    if let Some(h) = &o.http {
        run.target.http = match h.as_str() {
            "1.1" | "1" => HttpVersion::Http1,
            "2" => HttpVersion::Http2,
            other => return Err(format!("--http '{other}': expected 1.1 or 2")),
        };
    }
    Ok(())
}

/// Runs `jwtstorm validate`.
pub fn validate(args: ValidateArgs) -> Result<i32, Failure> {
    let p = prepare(&args.scenario, &args.overrides)?;
    crate::capacity::from_scenario(&p.loaded).or_bad_input()?;
    // Check everything minting needs, and every line of a batch, without minting the batch.
    let (alg, keys) = p.settings.load_keys().or_bad_input()?;
    let tokens = match &p.run.batch {
        Some(path) => {
            let fmt = Formatter::new(p.run.target.token.clone(), &request_target(&p.run));
            TokenStore::load(path, &fmt).or_bad_input()?.len() as u64
        }
        None => {
            let minter = Minter::new(mint_config(&p.settings, alg, keys.clone())?).or_bad_input()?;
            minter.config().count
        }
    };
    let l = &p.run.load;
    let load = match l.model {
        Model::Closed => format!("closed model, {} connections", l.concurrency),
        Model::Open => {
            let pacer = Staged::new(&l.stages);
            format!(
                "open model, {} requests over {} in {} stage(s), up to {} in flight",
                pacer.total(),
                crate::units::format_duration(pacer.length()),
                l.stages.len(),
                l.concurrency
            )
        }
    };
    let thresholds = match p.run.thresholds.len() {
        0 => String::new(),
        n => format!(", {n} threshold(s)"),
    };
    println!(
        "{}: ok — '{}', {} {} token(s) ({} key(s): {}), {load}, target {}{thresholds}",
        args.scenario.display(),
        p.name,
        tokens,
        alg::name(alg),
        keys.len(),
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>().join(", "),
        if p.run.target.embedded {
            "embedded".to_string()
        } else {
            p.run.target.url.clone().unwrap_or_default()
        }
    );
    Ok(exit::OK)
}

/// Mints or loads the batch.
fn tokens(p: &Prepared) -> Result<(TokenStore, jsonwebtoken::Algorithm, Vec<KeyMaterial>), Failure> {
    let (alg, keys) = p.settings.load_keys().or_bad_input()?;
    let fmt = Formatter::new(p.run.target.token.clone(), &request_target(&p.run));
    let store = match &p.run.batch {
        Some(path) => TokenStore::load(path, &fmt).or_bad_input()?,
        None => {
            let cfg = mint_config(&p.settings, alg, keys.clone())?;
            let minter = Minter::new(cfg).or_bad_input()?;
            let pool = rayon::ThreadPoolBuilder::new()
                .build()
                .context("starting minting threads")
                .or_cannot_proceed()?;
            TokenStore::mint(&minter, &fmt, &pool)
        }
    };
    Ok((store, alg, keys))
}

/// The path and query requests go to.
fn request_target(run: &RunSettings) -> String {
    match &run.target.url {
        Some(u) => u
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|pq| pq.as_str().to_string()))
            .unwrap_or_else(|| "/".into()),
        None => EMBEDDED_PATH.into(),
    }
}

const EMBEDDED_PATH: &str = "/protected";

/// Runs `jwtstorm run`.
pub fn run(args: RunArgs) -> Result<i32, Failure> {
    let p = prepare(&args.scenario, &args.overrides)?;
    let started_wall = SystemTime::now();
    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => p.run.report.dir.join(&p.name).join(folder_stamp(started_wall)),
    };
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create the results folder '{}'", out_dir.display()))
        .or_bad_input()?;
    let results_path = out_dir.join("results.json");
    let results_file = AtomicFile::create(&results_path)
        .with_context(|| format!("cannot write '{}'", results_path.display()))
        .or_bad_input()?;

    let mut session = Session::start(p)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    install_interrupt(interrupt.clone());
    let tty = crate::commands::stderr_is_tty();
    let show_live = tty && !args.quiet;
    let load = session.p.run.load.clone();
    let (finished, tokens_available) = session.replay(&load, &interrupt, show_live, true)?;
    let mut results = session.results(&load, &finished, tokens_available);
    session.stop();
    let p = &session.p;
    let url = session.url.clone();
    results.thresholds = p.run.thresholds.iter().map(|t| t.evaluate(&results)).collect();
    let mut file = results_file;
    serde_json::to_writer_pretty(file.writer(), &results)
        .context("encoding results")
        .or_cannot_proceed()?;
    file.commit()
        .with_context(|| format!("writing '{}'", results_path.display()))
        .or_cannot_proceed()?;

    let formats: Vec<report::Format> = p
        .run
        .report
        .formats
        .iter()
        .copied()
        .filter(|f| *f != report::Format::Json)
        .collect();
    let written = report::write_all(&results, &out_dir, &formats)
        .map_err(anyhow::Error::msg)
        .or_cannot_proceed()?;
    // The gate: a baseline comparison, JUnit, the GitHub summary and annotations.
    let comparison = match &args.baseline {
        Some(b) => Some(crate::commands::compare::against(b, &results, &args.gate)?),
        None => None,
    };
    let mut gate_md = report::markdown::render(&results);
    if let Some(c) = &comparison {
        let md = crate::gate::compare::markdown(c);
        std::fs::write(out_dir.join("compare.md"), &md)
            .with_context(|| format!("writing '{}'", out_dir.join("compare.md").display()))
            .or_cannot_proceed()?;
        gate_md.push('\n');
        gate_md.push_str(&md);
    }
    let no_comparisons = Vec::new();
    let comparisons = comparison.as_ref().map_or(&no_comparisons, |c| &c.comparisons);
    if !args.quiet && !args.gate.json {
        if let Some(c) = &comparison {
            print!("{}", crate::gate::compare::markdown(c));
        }
        print!(
            "{}",
            report::summary::render(&results, report::colour(stdout_is_tty()))
        );
        println!("\n  results     {}", results_path.display());
        if !written.is_empty() {
            println!(
                "  reports     {} ({})",
                out_dir.display(),
                written
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let t = &results.totals;
    if finished.interrupted {
        eprintln!("interrupted: results so far are in {}", results_path.display());
        return Ok(exit::INTERRUPTED);
    }
    if t.completed == 0 && t.transport_errors > 0 {
        let failed = results.thresholds.iter().filter(|v| !v.passed).count();
        if failed > 0 {
            eprintln!("{failed} threshold(s) failed");
        }
        let errs: Vec<String> = results
            .transport_errors
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        return Err(anyhow!(
            "the target {url} gave no response at all ({}); results are in {}",
            errs.join(", "),
            results_path.display()
        ))
        .or_cannot_proceed();
    }
    let passed = crate::commands::compare::emit(
        &args.gate,
        &format!("jwtstorm run {}", results.meta.scenario),
        &results.thresholds,
        comparisons,
        &gate_md,
        results.totals.duration_s,
        Some(&results_path),
    )?;
    if let Some(why) = &results.meta.aborted {
        eprintln!("aborted: {why}");
        return Ok(exit::VERDICT);
    }
    if !passed {
        let failed = results.thresholds.iter().filter(|v| !v.passed).count();
        let regressions = comparisons.iter().filter(|c| c.regressed()).count();
        eprintln!("{failed} threshold(s) failed, {regressions} regression(s) against the baseline");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}

/// A target ready to replay against, possibly several times (capacity steps): the tokens in
/// memory, the embedded verifier if asked for, the prepared request and transport settings.
pub struct Session {
    pub p: Prepared,
    pub store: Arc<TokenStore>,
    pub keys: Vec<KeyMaterial>,
    pub alg: jsonwebtoken::Algorithm,
    embedded: Option<(tokio::runtime::Runtime, server::RunningServer)>,
    pub url: String,
    target: Arc<Target>,
    addr: SocketAddr,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    pub client_threads: usize,
    pub cores: usize,
}

impl Session {
    /// Mints or loads the tokens and starts the embedded verifier when the scenario asks.
    pub fn start(p: Prepared) -> Result<Session, Failure> {
        let (store, alg, keys) = tokens(&p)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let client_threads = match (p.run.load.threads, p.run.target.embedded) {
            (0, true) => (cores / 2).max(1),
            (0, false) => cores,
            (n, _) => n,
        };
        let mut embedded = None;
        let url = if p.run.target.embedded {
            let verifier = Verifier::new(p.settings.policy(alg), &keys)
                .map_err(anyhow::Error::msg)
                .or_bad_input()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores.saturating_sub(client_threads).max(1))
                .thread_name("jwtstorm-verifier")
                .enable_all()
                .build()
                .context("starting the embedded verifier's runtime")
                .or_cannot_proceed()?;
            let config = ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                path: EMBEDDED_PATH.into(),
                placement: p.run.target.token.clone(),
                knobs: Knobs::default(),
                verifier,
                jwks: JwkSet {
                    keys: keys.iter().map(|k| k.jwk.public()).collect(),
                },
                tls: None,
            };
            let running = rt
                .block_on(server::start(config))
                .context("starting the embedded verifier on 127.0.0.1")
                .or_cannot_proceed()?;
            let url = format!("http://{}{EMBEDDED_PATH}", running.addr);
            embedded = Some((rt, running));
            url
        } else {
            p.run.target.url.clone().expect("checked: a URL or embedded")
        };
        let (target, addr) = target(&p.run, &url).or_bad_input()?;
        let tls = tls_for(&p.run, &url).or_bad_input()?;
        Ok(Session {
            p,
            store: Arc::new(store),
            keys,
            alg,
            embedded,
            url,
            target: Arc::new(target),
            addr,
            tls,
            client_threads,
            cores,
        })
    }

    /// Replays once under `load`; returns the run and the number of distinct tokens it had.
    /// `abort_checks` applies the scenario's `abort_on_fail` to this replay.
    pub fn replay(
        &self,
        load: &LoadSettings,
        interrupt: &AtomicBool,
        live_line: bool,
        abort_checks: bool,
    ) -> Result<(Finished, u64), Failure> {
        let p = &self.p;
        let l = load;
        let pacer = (l.model == Model::Open).then(|| Arc::new(Staged::new(&l.stages)));
        let duration = match &pacer {
            Some(pc) => pc.length(),
            None => l.time_bound(),
        };
        let selector = Selector::new(
            self.store.len(),
            l.pool,
            l.order == Order::Shuffle,
            l.reuse,
            l.seed,
        );
        let tokens_available = selector.len();
        let plan = Plan {
            transport: Arc::new(()),
            target: self.target.clone(),
            tokens: self.store.clone(),
            selector: Arc::new(selector),
            pacer: pacer.clone(),
            accept: p.run.target.accept.clone(),
            reject: p.run.target.reject.clone(),
            concurrency: l.concurrency,
            threads: self.client_threads,
            duration,
            requests: l.requests,
            warmup: l.warmup,
            timeout: p.run.target.timeout,
            connect_timeout: p.run.target.connect_timeout,
            grace: l.grace,
        };
        let live = LiveLine {
            total: duration,
            schedule: pacer.clone(),
            colour: report::colour(live_line),
        };
        let checks = if abort_checks {
            p.run.abort_after.map(|after| (after, &p.run.thresholds))
        } else {
            None
        };
        let tick = |snapshot: &engine::Live| {
            if live_line {
                live.draw(snapshot);
            }
            let (after, thresholds) = checks?;
            if snapshot.elapsed < after {
                return None;
            }
            thresholds
                .iter()
                .filter_map(|t| t.evaluate_live(&snapshot.so_far))
                .find(|v| !v.passed)
                .map(|v| {
                    let measured = v.value.map_or(String::new(), |x| {
                        crate::gate::thresholds::format_value(x, v.unit)
                    });
                    format!(
                        "threshold {} {} failed at {:.0}s (measured {measured} so far)",
                        v.name,
                        v.condition,
                        snapshot.elapsed.as_secs_f64()
                    )
                })
        };
        let http2 = p.run.target.http == HttpVersion::Http2;
        let finished = match p.run.target.transport {
            TransportKind::Hyper => {
                let transport = HyperTransport {
                    addr: self.addr,
                    http2,
                    max_body: p.run.target.max_body,
                    tls: self.tls.clone(),
                };
                engine::execute(plan.with_transport(transport), interrupt, tick)
            }
            TransportKind::Reqwest => {
                let transport = ReqwestTransport::new(ReqwestSettings {
                    http2,
                    pool: l.concurrency,
                    connect_timeout: p.run.target.connect_timeout,
                    max_body: p.run.target.max_body,
                    tls: tls_config(&p.run, &self.url).or_bad_input()?,
                })
                .map_err(anyhow::Error::msg)
                .or_bad_input()?;
                engine::execute(plan.with_transport(transport), interrupt, tick)
            }
        };
        if live_line {
            live.clear();
        }
        Ok((finished, tokens_available))
    }

    /// The results of one replay under `load`.
    pub fn results(&self, load: &LoadSettings, f: &Finished, tokens: u64) -> Results {
        results_of(
            &self.p, load, f, &self.url, self.cores, tokens, &self.keys, self.alg,
        )
    }

    /// Stops the embedded verifier.
    pub fn stop(&mut self) {
        if let Some((rt, running)) = self.embedded.take() {
            rt.block_on(running.stop());
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// `2026-11-28T17-05-09Z`: an RFC 3339 UTC time that is a valid folder name everywhere.
fn folder_stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string().replace(':', "-")
}

/// Prepares the shared request parts and resolves the address.
fn target(run: &RunSettings, url: &str) -> anyhow::Result<(Target, SocketAddr)> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("target URL '{url}'"))?;
    let host = uri.host().context("the target URL has no host")?;
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve '{host}'"))?
        .next()
        .with_context(|| format!("'{host}' resolves to no address"))?;
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    let http2 = run.target.http == HttpVersion::Http2;
    // HTTP/2 and reqwest need the absolute URI; HTTP/1.1 over hyper sends the origin form.
    let absolute = http2 || run.target.transport == TransportKind::Reqwest;
    let prefix = format!("{}://{authority}", if https { "https" } else { "http" });
    let request_uri: hyper::Uri = if absolute {
        format!("{prefix}{path}").parse()?
    } else {
        path.parse()?
    };
    let token_header = match &run.target.token {
        Placement::Bearer => Some(hyper::header::AUTHORIZATION),
        Placement::Header(n) => Some(HeaderName::from_bytes(n.as_bytes()).context("token header name")?),
        Placement::Cookie(_) => Some(hyper::header::COOKIE),
        Placement::Query(_) => None,
    };
    let mut headers = Vec::new();
    for (k, v) in &run.target.headers {
        headers.push((HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?));
    }
    Ok((
        Target {
            method: run.target.method.parse()?,
            uri: request_uri,
            host: HeaderValue::from_str(&authority)?,
            token_header,
            headers,
            body: Bytes::from(run.target.body.clone()),
            absolute_prefix: absolute.then_some(prefix),
            max_body: run.target.max_body,
        },
        addr,
    ))
}

/// The rustls configuration for an `https://` target (`None` for `http://`).
fn tls_config(run: &RunSettings, url: &str) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    let uri: hyper::Uri = url.parse()?;
    let t = &run.target;
    if uri.scheme_str() != Some("https") {
        if t.ca_file.is_some() || t.client_cert_file.is_some() || t.insecure {
            anyhow::bail!(
                "target: ca_file, client_cert_file and insecure need an https:// target, not '{url}'"
            );
        }
        return Ok(None);
    }
    let config = crate::tls::client_config(&crate::tls::ClientTls {
        ca_file: t.ca_file.as_deref(),
        client_cert: t.client_cert_file.as_deref(),
        client_key: t.client_key_file.as_deref(),
        insecure: t.insecure,
        http2: t.http == HttpVersion::Http2,
    })
    .map_err(anyhow::Error::msg)?;
    Ok(Some(config))
}

/// The TLS connector and server name for an `https://` target.
fn tls_for(
    run: &RunSettings,
    url: &str,
) -> anyhow::Result<Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>> {
    let Some(config) = tls_config(run, url)? else {
        return Ok(None);
    };
    let uri: hyper::Uri = url.parse()?;
    let name = crate::tls::server_name(uri.host().unwrap_or_default()).map_err(anyhow::Error::msg)?;
    Ok(Some((tokio_rustls::TlsConnector::from(config), name)))
}

/// The scenario as run, with secrets left out: keys by kid and fingerprint, header values
/// redacted.
fn scenario_as_run(
    p: &Prepared,
    load: &LoadSettings,
    keys: &[KeyMaterial],
    alg: jsonwebtoken::Algorithm,
    url: &str,
) -> serde_json::Value {
    let mut target = serde_json::to_value(&p.run.target).unwrap_or_default();
    if let Some(obj) = target.as_object_mut() {
        obj.insert("url".into(), url.into());
        obj.insert(
            "headers".into(),
            p.run
                .target
                .headers
                .iter()
                .map(|(k, _)| (k.clone(), serde_json::Value::from("<redacted>")))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
    }
    let source = match &p.settings.keys.source {
        KeySource::Generate => "generated".to_string(),
        KeySource::SecretFile(f) => format!("secret_file {}", f.display()),
        KeySource::SecretEnv(v) => format!("secret_env {v}"),
        KeySource::PrivateKeyFile(f) => format!("private_key_file {}", f.display()),
        KeySource::PrivateKeyEnv(v) => format!("private_key_env {v}"),
        KeySource::PublicKeyFile(f) => format!("public_key_file {}", f.display()),
        KeySource::Jwks(f) => format!("jwks_file {}", f.display()),
        KeySource::Dir(d) => format!("dir {}", d.display()),
    };
    let t = &p.settings.tokens;
    serde_json::json!({
        "name": p.name,
        "file": p.loaded.path.display().to_string(),
        "keys": {
            "alg": alg::name(alg),
            "source": source,
            "keys": keys.iter().map(|k| serde_json::json!({"kid": k.kid, "fingerprint": k.fingerprint})).collect::<Vec<_>>(),
        },
        "verifier": p.settings.policy(alg),
        "tokens": match &p.run.batch {
            Some(b) => serde_json::json!({ "batch": b.display().to_string() }),
            None => serde_json::json!({
                "count": t.count, "seed": t.seed, "ttl_s": t.ttl, "nbf_offset_s": t.nbf_offset,
                "size": t.size, "claims": t.claims,
                "mix": t.mix.iter().map(|(c, w)| (c.name().to_string(), *w)).collect::<std::collections::BTreeMap<_, _>>(),
            }),
        },
        "target": target,
        "load": load,
    })
}

#[allow(clippy::too_many_arguments)]
fn results_of(
    p: &Prepared,
    load: &LoadSettings,
    f: &Finished,
    url: &str,
    cores: usize,
    tokens: u64,
    keys: &[KeyMaterial],
    alg: jsonwebtoken::Algorithm,
) -> Results {
    let rec = &f.recorder;
    let warmup = load.warmup.min(f.elapsed);
    let measured_s = (f.elapsed.saturating_sub(warmup)).as_secs_f64();
    let totals = results::totals(&rec.main, f.scheduled, measured_s);
    let wt = results::totals(&rec.warmup, f.warmup_scheduled, warmup.as_secs_f64());
    let (classes, latency, histograms) = results::classes(rec);
    let (status_codes, transport_errors) = results::codes(&rec.main);
    let ended = f.started + f.elapsed;
    let open = load.model == Model::Open;
    Results {
        schema_version: results::SCHEMA_VERSION,
        meta: Meta {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            scenario: p.name.clone(),
            started: humantime::format_rfc3339_millis(f.started).to_string(),
            ended: humantime::format_rfc3339_millis(ended).to_string(),
            interrupted: f.interrupted,
            aborted: f.aborted.clone(),
            cores,
            threads: f.threads,
            model: if open { "open" } else { "closed" }.into(),
            transport: match p.run.target.transport {
                TransportKind::Hyper => "hyper".into(),
                TransportKind::Reqwest => "reqwest".into(),
            },
            http: match p.run.target.http {
                HttpVersion::Http1 => "1.1".into(),
                HttpVersion::Http2 => "2".into(),
            },
            target_url: url.into(),
            embedded: p.run.target.embedded,
            connections_opened: f.connections_opened,
            tokens,
            batch_wrapped: f.wrapped,
        },
        scenario: scenario_as_run(p, load, keys, alg, url),
        totals,
        latency_us: latency,
        schedule: open.then(|| Schedule {
            lag_us: Percentiles::of(&rec.lag),
            late: rec.late,
            late_after_ms: LATE_AFTER.as_millis() as u64,
        }),
        warmup: Phase {
            duration_s: warmup.as_secs_f64(),
            scheduled: wt.scheduled,
            sent: wt.sent,
            completed: wt.completed,
            transport_errors: wt.transport_errors,
            false_accepts: wt.false_accepts,
            false_rejects: wt.false_rejects,
        },
        classes,
        status_codes,
        transport_errors,
        timeline: f.timeline.clone(),
        samples: rec.samples.clone(),
        thresholds: Vec::new(),
        histograms,
    }
}
