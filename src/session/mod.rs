//! The library's run: a scenario read and laid under the flags ([`prepare`]), then a
//! [`Session`] that mints or loads the tokens and starts the embedded verifier once, and
//! replays against the target as many times as asked (one run, or every capacity step), each
//! replay giving its own [`Results`].

pub mod diff;
mod error;
pub mod idp;
pub mod merge;
pub mod preflight;
mod results;
pub mod target;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use jsonwebtoken::Algorithm;

pub use error::SessionError;
pub use target::EMBEDDED_PATH;

use crate::cli::LoadOverrides;
use crate::cli::SourceArgs;
use crate::model::{HttpVersion, Model, Order, TransportKind};
use crate::replay::engine::{self, Finished, Plan};
use crate::replay::pacer::{Pacer, Staged};
use crate::replay::stream::{self, Fill, Stream, StreamSettings, lead_for};
use crate::replay::tokens::{Formatter, Selector, TokenStore, Tokens};
use crate::replay::transport::{HyperTransport, ReqwestSettings, ReqwestTransport, Target};
use crate::report::live::LiveLine;
use crate::scenario::Loaded;
use crate::scenario::flags::{FlagError, apply_overrides, settings_of};
use crate::scenario::resolve::{KeySource, Settings};
use crate::scenario::run::{LoadSettings, RunSettings};
use crate::stats::results::Results;
use crate::text::{colour, format_bytes, format_value};
use crate::token::batch::AtomicFile;
use crate::token::keys::{JwkSet, KeyMaterial};
use crate::token::mint::Minter;
use crate::verifier::server::{self, Knobs, Limits, ServerConfig};
use crate::verifier::verify::Verifier;

/// A scenario read, checked and laid under the flags.
#[derive(Clone)]
pub struct Prepared {
    pub loaded: Loaded,
    /// The run's name: the scenario's `name`, or its file stem.
    pub name: String,
    pub settings: Settings,
    pub run: RunSettings,
    /// The results folder, once made: the run keeps its revocation list there.
    pub output_dir: Option<PathBuf>,
}

impl From<FlagError> for SessionError {
    fn from(e: FlagError) -> SessionError {
        match e {
            FlagError::Scenario(e) => SessionError::Scenario(e),
            FlagError::Flag(m) => SessionError::Invalid(m),
        }
    }
}

/// Reads a scenario (or, without one, starts from the defaults) and lays the flags over it;
/// every error names the file, line and key, or the flag.
pub fn prepare(path: Option<&Path>, o: &LoadOverrides, src: &SourceArgs) -> Result<Prepared, SessionError> {
    let loaded = match path {
        Some(p) => Loaded::read(p)?,
        None => Loaded::parse(Path::new(FLAGS_SCENARIO), String::new())?,
    };
    let path = loaded.path.clone();
    let path = path.as_path();
    let mut settings = settings_of(&loaded, src)?;
    let mut run = RunSettings::from_scenario_with(&loaded, o.url.is_some())?;
    apply_overrides(&mut run, o)?;
    let name = settings.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    let invalid = |m: String| Err(SessionError::Invalid(format!("{}: {m}", path.display())));
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return invalid(format!(
            "name '{name}' must be a plain folder name (no slashes, not starting with '.')"
        ));
    }
    if run.batch.is_some() && settings.keys.source == KeySource::Generate && run.target.embedded {
        return invalid(
            "tokens.batch with generated keys: the embedded verifier must trust the keys the batch was signed \
             with; name them in [keys] (dir = \"...\", secret_file = \"...\", ...)"
                .into(),
        );
    }
    if run.idp.as_ref().is_some_and(|i| i.rotates()) {
        if run.batch.is_some() {
            return invalid(
                "[idp] rotation signs each token with the key of the moment it is sent, but a batch's signatures \
                 are fixed: remove tokens.batch"
                    .into(),
            );
        }
        // The signing key depends on when a token is sent: tokens are minted during the run.
        settings.tokens.stream = true;
    }
    if !run.target.embedded && settings.keys.source == KeySource::Generate && run.idp.is_none() {
        return invalid(
            "an external target cannot know freshly generated keys; name the keys it trusts in [keys] \
             (dir, secret_file, secret_env, private_key_file, jwks_file)"
                .into(),
        );
    }
    if let Some(url) = &run.target.url {
        target::tls_for(&run, url)?;
    }
    if !run.load.revoke.is_empty() && run.batch.is_none() && !settings.tokens.jti {
        return invalid(
            "load.revoke lists tokens by their jti, but tokens.jti = false mints none: remove tokens.jti = false"
                .into(),
        );
    }
    Ok(Prepared {
        loaded,
        name,
        settings,
        run,
        output_dir: None,
    })
}

fn expiry_text(valid: u64, expired: u64, expiring: u64) -> String {
    format!(
        "of {valid} valid tokens, {expired} are already expired and {expiring} more expire before the run \
         ends: a correct verifier refuses them then (they are judged so, not as false rejects); \
         mint a fresh batch or a longer ttl if that is not what you want"
    )
}

/// The name a scenario made of flags alone goes by, in errors and as the run's name.
pub const FLAGS_SCENARIO: &str = "flags";

/// What `validate` found: everything `run` checks, without minting or sending.
pub struct Checked {
    /// Tokens the run would have: minted, or lines of the batch.
    pub tokens: u64,
    pub alg: Algorithm,
    /// The kids of the keys.
    pub kids: Vec<String>,
    /// The load in one line: `open model, 20000 requests over 10.00s in 1 stage(s), ...`.
    pub load: String,
    pub thresholds: usize,
    /// `embedded`, or the target URL.
    pub target: String,
    /// Valid tokens that are expired, or will expire during the run; a stream that cannot
    /// keep up with the schedule.
    pub warning: Option<String>,
    /// A minted stream: about how many tokens per second this machine mints (calibrated).
    pub stream_rate: Option<f64>,
}

/// About how many tokens per second `minter` mints here on `threads` threads: one thread
/// mints for about 100 ms, and the threads are taken to scale (they do, within 10%, for
/// every algorithm but HS256, whose tokens are cheap enough that this errs low).
pub fn calibrate(minter: &Minter, threads: usize) -> f64 {
    let (mut token, mut scratch) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    let mut n = 0u64;
    while n < 50_000 && (n < 8 || started.elapsed() < Duration::from_millis(100)) {
        token.clear();
        minter.mint_at(n, 1_800_000_000, &mut token, &mut scratch);
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64().max(1e-9) * threads.max(1) as f64
}

/// The peak rate the load schedules (open model).
fn peak_rate(l: &LoadSettings) -> Option<f64> {
    (l.model == Model::Open).then(|| l.stages.iter().map(|s| s.rate).fold(0.0, f64::max))
}

/// A warning when minting at `rate` tokens/s cannot keep up with the schedule. Minting shares
/// the cores with sending (and the embedded verifier), so more than 70% of it is too much.
fn stream_warning(alg: Algorithm, rate: f64, threads: usize, l: &LoadSettings) -> Option<String> {
    let peak = peak_rate(l)?;
    let needed = peak * (1.0 - l.reuse.clamp(0.0, 1.0));
    (needed > 0.7 * rate).then(|| {
        format!(
            "tokens.source = \"stream\": minting {} here reaches about {:.0} tokens/s on {threads} thread(s) \
             (calibrated), but the load schedules up to {:.0} fresh tokens/s: the run will be mint-bound \
             (those requests leave late and say so). Use load.pool or load.reuse, a lower rate, or mint a \
             batch ahead with `jwtstorm mint`",
            crate::model::alg::name(alg),
            rate,
            needed
        )
    })
}

impl Prepared {
    /// Checks everything minting needs, and every line of a batch, without minting the batch.
    pub fn check(&self) -> Result<Checked, SessionError> {
        crate::capacity::from_scenario(&self.loaded)?;
        check_descriptors(&self.run, false)?;
        check_endpoints(self)?;
        let mut warning = None;
        let lifetime = self.settings.tokens.ttl + self.settings.policy(self.settings.alg()).leeway;
        let mut stream_rate = None;
        if self.run.batch.is_none()
            && !self.settings.tokens.stream
            && lifetime < self.run.load.time_bound().as_secs()
        {
            warning = Some(format!(
                "valid tokens live {lifetime}s (ttl plus leeway) but the run lasts {}: those sent after their exp \
                 are expected to be refused",
                crate::text::format_duration(self.run.load.time_bound())
            ));
        }
        let (alg, keys) = self.settings.load_keys()?;
        // The identity provider's key set and schedule, checked as the run would build them.
        let (keys, idp_ref) = match &self.run.idp {
            Some(s) => {
                let set = idp::key_set(s, alg, keys, self.settings.keys.rsa_bits)?;
                idp::schedule(s, set.clone())?;
                let (attacker, _) = idp::attacker(alg, &set)?;
                let url = format!("http://{}", s.listen);
                (set, Some(crate::token::mint::IdpRef { url, attacker }))
            }
            None => (keys, None),
        };
        let tokens = match &self.run.batch {
            Some(path) => {
                check_memory(
                    TokenStore::estimate_loaded(path),
                    &format!("the batch '{}'", path.display()),
                )?;
                let fmt = Formatter::new(self.run.target.token.clone(), &target::request_path(&self.run));
                let store = TokenStore::load(path, &fmt, self.run.segment)?;
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let end = now + self.run.load.time_bound().as_secs() as i64;
                let (valid, expired, expiring) = store.expiry(now, end);
                if expired + expiring > 0 {
                    warning = Some(expiry_text(valid, expired, expiring));
                }
                initial_revocations(self, &store)?;
                store.len() as u64
            }
            None if self.settings.tokens.stream => {
                let mut config = self
                    .settings
                    .mint_config(alg, keys.clone())
                    .map_err(SessionError::Invalid)?;
                config.idp = idp_ref.clone();
                let minter = Minter::new(config).map_err(|e| SessionError::Invalid(e.to_string()))?;
                let threads = rayon::current_num_threads();
                let rate = calibrate(&minter, threads);
                stream_rate = Some(rate);
                if let Some(w) = stream_warning(alg, rate, threads, &self.run.load) {
                    warning = Some(w);
                }
                self.settings.stream_count().unwrap_or(0)
            }
            None => {
                let fmt = Formatter::new(self.run.target.token.clone(), &target::request_path(&self.run));
                minter(self, alg, keys.clone(), &fmt, idp_ref.as_ref())?
                    .config()
                    .count
            }
        };
        let load = self.run.load.describe();
        Ok(Checked {
            stream_rate,
            tokens,
            alg,
            kids: keys.iter().map(|k| k.kid.clone()).collect(),
            load,
            thresholds: self.run.thresholds.len(),
            warning,
            target: if self.run.target.embedded {
                "embedded".to_string()
            } else {
                self.run.target.url.clone().unwrap_or_default()
            },
        })
    }

    /// The same scenario with freshly generated keys of `alg`, which the verifier then allows
    /// alone (capacity per algorithm against the embedded verifier).
    pub fn with_generated_keys(&self, alg: Algorithm) -> Prepared {
        let mut v = self.clone();
        v.settings.keys.alg = Some(alg);
        v.settings.keys.source = KeySource::Generate;
        v.settings.keys.kid = None;
        v.settings.verifier.algorithms = Some(vec![alg]);
        v
    }

    /// `REPORT_DIR/NAME/KIND-UTC-TIME`: the default folder of a capacity search or a diff.
    pub fn report_folder(&self, kind: &str, started: SystemTime) -> PathBuf {
        self.run
            .report
            .dir
            .join(&self.name)
            .join(format!("{kind}-{}", folder_stamp(started)))
    }

    /// Creates the results folder (`out`, or `REPORT_DIR/NAME/UTC-TIME`) and opens
    /// `results.json.partial` in it, so a bad path fails before anything is minted or sent.
    pub fn create_output(&self, out: Option<&Path>, started: SystemTime) -> Result<Output, SessionError> {
        let dir = match out {
            Some(d) => d.to_path_buf(),
            None => self.run.report.dir.join(&self.name).join(folder_stamp(started)),
        };
        std::fs::create_dir_all(&dir).map_err(|source| SessionError::Output {
            path: dir.clone(),
            source,
        })?;
        let results = dir.join("results.json");
        let file = AtomicFile::create(&results).map_err(|source| SessionError::Output {
            path: results.clone(),
            source,
        })?;
        Ok(Output { dir, results, file })
    }
}

impl Prepared {
    /// Lays the fleet flags (`--segment`, `--segments` with `JOB_COMPLETION_INDEX`,
    /// `--start-at`) over the prepared run.
    pub fn with_fleet(mut self, f: &crate::cli::FleetArgs) -> Result<Prepared, SessionError> {
        let job_index = std::env::var("JOB_COMPLETION_INDEX").ok();
        crate::scenario::flags::apply_fleet(&mut self.run, f, job_index.as_deref(), SystemTime::now())?;
        let seg = self.run.segment;
        let count = self.settings.tokens.count;
        if self.run.batch.is_none() && !self.settings.tokens.stream && seg.share_below(count) == 0 {
            return Err(SessionError::Invalid(format!(
                "--segment {seg}: tokens.count {count} leaves this segment no token of its own; mint at least one \
                 token per segment"
            )));
        }
        Ok(self)
    }

    /// Whether this process runs one segment of several.
    pub fn is_segment(&self) -> bool {
        !self.run.segment.is_whole()
    }
}

/// The results folder of a run, with `results.json` open for writing.
pub struct Output {
    pub dir: PathBuf,
    /// The final path of `results.json`.
    pub results: PathBuf,
    /// `results.json.partial` until committed.
    pub file: AtomicFile,
}

/// `2026-11-28T17-05-09Z`: an RFC 3339 UTC time that is a valid folder name everywhere.
pub fn folder_stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string().replace(':', "-")
}

/// A target ready to replay against, possibly several times (capacity steps): the tokens in
/// memory, the embedded verifier if asked for, the prepared request and transport settings.
pub struct Session {
    pub p: Prepared,
    /// A minted stream: tokens per second this machine mints (calibrated at the start).
    pub stream_rate: Option<f64>,
    /// The batch; for a streaming source, its first few tokens only.
    pub store: Arc<TokenStore>,
    stream: Option<StreamFrom>,
    fmt: Formatter,
    pub keys: Vec<KeyMaterial>,
    pub alg: Algorithm,
    embedded: Option<(tokio::runtime::Runtime, server::RunningServer)>,
    pub url: String,
    target: Arc<Target>,
    /// Several endpoints (`[[target.endpoints]]`), one picked per request.
    routes: Option<Arc<crate::replay::routes::Routes>>,
    addr: SocketAddr,
    tls: target::TlsFor,
    pub client_threads: usize,
    pub cores: usize,
    /// jwtstorm as the identity provider (`[idp]`).
    pub idp: Option<idp::IdpRun>,
    /// The revocation list the run keeps, when tokens are revoked.
    pub revocations: Option<Arc<crate::replay::revoke::ListSink>>,
    /// A list kept outside a results folder, removed when the session stops.
    temporary_list: bool,
    /// Record every token's answer here (`jwtstorm diff`).
    pub answers: Option<Arc<crate::stats::diff::AnswerLog>>,
    replays: std::sync::atomic::AtomicU64,
}

/// File descriptors a run needs beyond its connections: the process's own files, the results,
/// the embedded verifier's listener and runtime.
const DESCRIPTOR_MARGIN: u64 = 64;

/// Checks that the process may open a descriptor per connection (twice with the embedded
/// verifier, which holds the other end); `raise` first lifts the soft limit to the hard one,
/// as the Go runtime does for Go load testers. Returns the limit in force.
/// Endpoints the embedded verifier can serve: one scope per path, and its own path with the
/// policy's scope.
fn check_endpoints(p: &Prepared) -> Result<(), SessionError> {
    if !p.run.target.embedded {
        return Ok(());
    }
    let policy_scope = &p.settings.verifier.required_scope;
    for e in &p.run.target.endpoints {
        let path = e.path.split('?').next().unwrap_or_default();
        if path == EMBEDDED_PATH && e.required_scope != *policy_scope {
            return Err(SessionError::Invalid(format!(
                "target.endpoints: the embedded verifier's {EMBEDDED_PATH} needs verifier.required_scope ({}), not {}",
                policy_scope.as_deref().unwrap_or("none"),
                e.required_scope.as_deref().unwrap_or("none")
            )));
        }
        if let Some(other) = p
            .run
            .target
            .endpoints
            .iter()
            .find(|o| o.path.split('?').next() == Some(path) && o.required_scope != e.required_scope)
        {
            return Err(SessionError::Invalid(format!(
                "target.endpoints: the embedded verifier serves one scope per path; {path} is listed with {} and {}",
                e.required_scope.as_deref().unwrap_or("none"),
                other.required_scope.as_deref().unwrap_or("none")
            )));
        }
    }
    Ok(())
}

fn check_descriptors(run: &RunSettings, raise: bool) -> Result<u64, SessionError> {
    let conns = run.load.concurrency as u64;
    let needed = conns * if run.target.embedded { 2 } else { 1 } + DESCRIPTOR_MARGIN;
    let limit = if raise {
        rlimit::increase_nofile_limit(u64::MAX).ok()
    } else {
        rlimit::Resource::NOFILE.get().ok().map(|(_soft, hard)| hard)
    };
    let Some(limit) = limit else {
        return Ok(u64::MAX);
    };
    if needed > limit {
        return Err(SessionError::Invalid(format!(
            "load.concurrency: {conns} connections need about {needed} file descriptors{}, but this process may open \
             only {limit} (ulimit -n); raise it with `ulimit -n {needed}` or lower the concurrency",
            if run.target.embedded {
                " (the embedded verifier holds the other end of each)"
            } else {
                ""
            }
        )));
    }
    Ok(limit)
}

/// Memory this machine can still give, from `/proc/meminfo` (`None` where it cannot be read).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a batch whose tokens would not fit in memory, naming the estimate.
fn check_memory(estimate: u64, what: &str) -> Result<(), SessionError> {
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if estimate > available / 10 * 9 {
        return Err(SessionError::Invalid(format!(
            "tokens: {what} would take about {} of memory, more than the {} this machine has \
             available; lower tokens.count, or mint to a file with `jwtstorm mint` and replay part of it with load.pool",
            format_bytes(estimate),
            format_bytes(available)
        )));
    }
    Ok(())
}

/// The minter of the scenario's batch, with its memory checked.
fn minter(
    p: &Prepared,
    alg: Algorithm,
    keys: Vec<KeyMaterial>,
    fmt: &Formatter,
    idp: Option<&crate::token::mint::IdpRef>,
) -> Result<Minter, SessionError> {
    let mut config = p.settings.mint_config(alg, keys).map_err(SessionError::Invalid)?;
    config.idp = idp.cloned();
    let minter = Minter::new(config).map_err(|e| SessionError::Invalid(e.to_string()))?;
    check_memory(
        TokenStore::estimate_minted(&minter, fmt, p.run.segment),
        &format!("a batch of {} tokens", minter.config().count),
    )?;
    Ok(minter)
}

/// Tokens kept in memory from a streaming source, for the preflight and the start line.
const STREAM_HEAD: u64 = 1024;

/// Where a streaming run's tokens come from (started afresh for each replay).
enum StreamFrom {
    Mint(Arc<Minter>),
    Batch(std::path::PathBuf),
}

/// The tokens of a session: the batch in memory, or for a stream its first few and its source.
type SessionTokens = (TokenStore, Option<StreamFrom>, Algorithm, Vec<KeyMaterial>);

/// Mints or loads the batch, or prepares the stream.
fn tokens(
    p: &Prepared,
    stop: &AtomicBool,
    (alg, keys): (Algorithm, Vec<KeyMaterial>),
    idp: Option<&crate::token::mint::IdpRef>,
) -> Result<SessionTokens, SessionError> {
    let fmt = Formatter::new(p.run.target.token.clone(), &target::request_path(&p.run));
    if p.settings.tokens.stream {
        return Ok(match &p.run.batch {
            // Every line is checked now; only the first few are kept.
            Some(path) => (
                TokenStore::load_first(path, &fmt, STREAM_HEAD, p.run.segment)?,
                Some(StreamFrom::Batch(path.clone())),
                alg,
                keys,
            ),
            None => {
                let mut config = p
                    .settings
                    .mint_config(alg, keys.clone())
                    .map_err(SessionError::Invalid)?;
                config.idp = idp.cloned();
                let minter = Minter::new(config).map_err(|e| SessionError::Invalid(e.to_string()))?;
                let seg = p.run.segment;
                let head = p
                    .settings
                    .stream_count()
                    .map_or(STREAM_HEAD, |c| seg.share_below(c))
                    .min(STREAM_HEAD);
                let store = TokenStore::mint_first(&minter, head, &fmt, &mint_pool()?, stop, seg)
                    .ok_or(SessionError::Interrupted)?;
                (store, Some(StreamFrom::Mint(Arc::new(minter))), alg, keys)
            }
        });
    }
    let store = match &p.run.batch {
        Some(path) => {
            check_memory(
                TokenStore::estimate_loaded(path),
                &format!("the batch '{}'", path.display()),
            )?;
            TokenStore::load(path, &fmt, p.run.segment)?
        }
        None => {
            let minter = minter(p, alg, keys.clone(), &fmt, idp)?;
            TokenStore::mint(&minter, &fmt, &mint_pool()?, stop, p.run.segment)
                .ok_or(SessionError::Interrupted)?
        }
    };
    Ok((store, None, alg, keys))
}

/// The threads that mint: one per core.
fn mint_pool() -> Result<rayon::ThreadPool, SessionError> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("jwtstorm-mint-{i}"))
        .build()
        .map_err(|e| SessionError::Start {
            what: "starting minting threads",
            source: std::io::Error::other(e),
        })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Session {
    /// Mints or loads the tokens and starts the embedded verifier when the scenario asks;
    /// `stop` (Ctrl-C) ends minting early with [`SessionError::Interrupted`].
    pub fn start(p: Prepared, stop: &AtomicBool) -> Result<Session, SessionError> {
        check_descriptors(&p.run, true)?;
        check_endpoints(&p)?;
        let (alg, keys) = p.settings.load_keys()?;
        let idp = match &p.run.idp {
            Some(s) => Some(idp::IdpRun::start(
                s,
                alg,
                keys.clone(),
                p.settings.keys.rsa_bits,
            )?),
            None => None,
        };
        let keys = idp.as_ref().map_or(keys, |i| i.schedule.keys().to_vec());
        let (store, stream, alg, keys) = tokens(&p, stop, (alg, keys), idp.as_ref().map(|i| &i.reference))?;
        let fmt = Formatter::new(p.run.target.token.clone(), &target::request_path(&p.run));
        let stream_rate = match &stream {
            Some(StreamFrom::Mint(m)) => Some(calibrate(m, rayon::current_num_threads())),
            _ => None,
        };
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SessionError::Interrupted);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let client_threads = match (p.run.load.threads, p.run.target.embedded) {
            (0, true) => (cores / 2).max(1),
            (0, false) => cores,
            (n, _) => n,
        };
        let (revocations, temporary_list) = revocation_list(&p, &store, idp.as_ref())?;
        let mut embedded = None;
        let url = match &p.run.target.url {
            Some(url) if !p.run.target.embedded => url.clone(),
            _ => {
                let remote = idp.as_ref().map(|i| crate::verifier::remote::RemoteSettings {
                    url: i.jwks_url(),
                    max_age: p.run.jwks_cache.max_age,
                    cooldown: p.run.jwks_cache.cooldown,
                    timeout: Duration::from_secs(5),
                });
                let list = revocations
                    .as_ref()
                    .map(|l| crate::verifier::revocation::ListSource {
                        path: l.path().to_path_buf(),
                        poll: p.run.revocation_poll,
                    });
                let (rt, running) = start_embedded(
                    &p,
                    alg,
                    &keys,
                    cores.saturating_sub(client_threads).max(1),
                    remote,
                    list,
                )?;
                let url = format!("http://{}{EMBEDDED_PATH}", running.addr);
                embedded = Some((rt, running));
                url
            }
        };
        let (target, addr) = target::target(&p.run, &url)?;
        let tls = target::tls_for(&p.run, &url)?;
        let routes = target::routes(
            &p.run,
            &url,
            p.run.load.seed,
            p.settings.verifier.required_scope.clone(),
        )?;
        Ok(Session {
            routes,
            p,
            stream_rate,
            store: Arc::new(store),
            stream,
            fmt,
            keys,
            alg,
            embedded,
            url,
            target: Arc::new(target),
            addr,
            tls,
            client_threads,
            cores,
            idp,
            revocations,
            temporary_list,
            answers: None,
            replays: Default::default(),
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
    ) -> Result<(Finished, u64), SessionError> {
        let p = &self.p;
        let l = load;
        let pacer = (l.model == Model::Open).then(|| Arc::new(Staged::new(&l.stages)));
        let duration = match &pacer {
            Some(pc) => pc.length(),
            None => l.time_bound(),
        };
        let tokens = match &self.stream {
            None => Tokens::Store {
                store: self.store.clone(),
                selector: Selector::new(
                    self.store.len(),
                    // The pool is the batch's first tokens: this segment's share of them.
                    l.pool.map(|n| p.run.segment.share_below(n).max(1)),
                    l.order == Order::Shuffle,
                    l.reuse,
                    l.seed,
                ),
            },
            Some(from) => Tokens::Stream(Arc::new(self.stream(from, l)?)),
        };
        let plan = Plan {
            target: self.target.clone(),
            tokens,
            pacer: pacer.clone(),
            statuses: p.run.target.statuses(),
            // This segment's share of the connections (all of them for a single process).
            concurrency: p.run.segment.share_of(l.concurrency).max(1),
            threads: self.client_threads,
            duration,
            requests: l.requests,
            warmup: l.warmup,
            timeout: p.run.target.timeout,
            connect_timeout: p.run.target.connect_timeout,
            grace: l.grace,
            boundary_guard: p.run.target.boundary_guard,
            reasons: (p.run.target.reason_header.is_some() || p.run.target.reason_json.is_some()).then(
                || {
                    Arc::new(crate::model::ReasonMap {
                        json_field: p.run.target.reason_json.clone(),
                        synonyms: p.run.target.reason_synonyms.clone(),
                    })
                },
            ),
            rotation: self.idp.as_ref().map(|i| i.schedule.clone()),
            segment: p.run.segment,
            start_at: p.run.start_at,
            rate_limit: p.settings.verifier.rate_limit,
            respect_retry_after: l.respect_retry_after,
            routes: self.routes.clone(),
            revoker: match (&self.revocations, l.revoke.is_empty()) {
                (Some(list), false) => Some(Arc::new(crate::replay::revoke::Revoker::new(
                    l.revoke.clone(),
                    l.seed,
                    self.fmt.clone(),
                    list.clone(),
                ))),
                _ => None,
            },
            answers: self.answers.clone(),
        };
        // Each replay starts from the initial revocation list.
        if let Some(list) = &self.revocations
            && self.replays.load(std::sync::atomic::Ordering::Relaxed) > 0
        {
            list.reset().map_err(|source| SessionError::Output {
                path: list.path().to_path_buf(),
                source,
            })?;
        }
        // Each replay reports its own fetches; the first keeps the preflight's.
        if let Some(i) = &self.idp
            && self.replays.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0
        {
            i.log.clear();
        }
        let live = LiveLine {
            total: duration,
            schedule: pacer.clone(),
            colour: colour(live_line),
            fetches: self.idp.as_ref().map(|i| i.log.clone()),
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
                    let measured = v.value.map_or(String::new(), |x| format_value(x, v.unit));
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
                    reason_header: p.run.target.reason_header.clone(),
                };
                engine::execute(plan, transport, interrupt, tick)
            }
            TransportKind::Reqwest => {
                let transport = ReqwestTransport::new(ReqwestSettings {
                    http2,
                    pool: l.concurrency,
                    connect_timeout: p.run.target.connect_timeout,
                    max_body: p.run.target.max_body,
                    tls: target::tls_config(&p.run, &self.url)?,
                    reason_header: p.run.target.reason_header.clone(),
                })
                .map_err(SessionError::Tls)?;
                engine::execute(plan, transport, interrupt, tick)
            }
        };
        if live_line {
            live.clear();
        }
        let distinct = finished.distinct;
        Ok((finished, distinct))
    }

    /// Starts the streaming source for one replay under `l`.
    fn stream(&self, from: &StreamFrom, l: &LoadSettings) -> Result<Stream, SessionError> {
        let fill = match from {
            StreamFrom::Mint(m) => Fill::Mint {
                minter: m.clone(),
                clock: Arc::new(unix_now),
                pool: mint_pool()?,
                rotation: self.idp.as_ref().and_then(|i| i.rotating()),
            },
            StreamFrom::Batch(path) => Fill::Batch { path: path.clone() },
        };
        let count = match (self.p.settings.stream_count(), l.pool) {
            (Some(c), Some(p)) => Some(c.min(p)),
            (c, p) => c.or(p),
        };
        // A batch read as a stream wraps at its end (or its pool), never at the minting count.
        let count = if matches!(from, StreamFrom::Batch(_)) {
            l.pool
        } else {
            count
        };
        let peak = peak_rate(l);
        let token_bytes = (self.store.bytes() / self.store.len().max(1) as u64).max(1);
        Stream::start(
            fill,
            self.fmt.clone(),
            StreamSettings {
                count,
                lead: lead_for(
                    peak,
                    token_bytes,
                    matches!(from, StreamFrom::Mint(_))
                        .then(|| Duration::from_secs(self.p.settings.tokens.ttl)),
                ),
                concurrency: l.concurrency,
                shuffle: l.order == Order::Shuffle,
                reuse: l.reuse,
                seed: l.seed,
                lead_time: Duration::from_secs(self.p.settings.tokens.ttl / 10).min(stream::LEAD_TIME),
                segment: self.p.run.segment,
            },
        )
        .map_err(SessionError::Invalid)
    }

    /// A warning when a minted stream cannot keep up with `load`.
    pub fn stream_warning(&self, load: &LoadSettings) -> Option<String> {
        stream_warning(self.alg, self.stream_rate?, rayon::current_num_threads(), load)
    }

    /// Whether tokens are minted (or read) while the run goes.
    pub fn streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// A warning when `valid` tokens are already expired, or will expire before `load` ends.
    pub fn expiry_warning(&self, load: &LoadSettings) -> Option<String> {
        // Minted tokens are fresh when sent; a streamed batch is checked as it is read.
        if matches!(self.stream, Some(StreamFrom::Mint(_))) {
            return None;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let end = now + load.time_bound().as_secs() as i64;
        let (valid, expired, expiring) = self.store.expiry(now, end);
        if expired + expiring == 0 {
            return None;
        }
        Some(expiry_text(valid, expired, expiring))
    }

    /// The results of one replay under `load`.
    pub fn results(&self, load: &LoadSettings, f: &Finished, tokens: u64) -> Results {
        results::results_of(
            &self.p,
            load,
            f,
            &self.url,
            self.cores,
            tokens,
            &self.keys,
            self.alg,
            self.idp.as_ref(),
            self.revocations.as_deref(),
        )
    }

    /// Stops the embedded verifier and the identity provider.
    pub fn stop(&mut self) {
        if let Some(i) = self.idp.as_mut() {
            i.stop();
        }
        if let Some((rt, running)) = self.embedded.take() {
            rt.block_on(running.stop());
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        if self.temporary_list
            && let Some(l) = self.revocations.take()
        {
            let _ = std::fs::remove_file(l.path());
        }
    }
}

/// The ids on the revocation list at the start, and whether the tokens include revoked ones:
/// the list beside a batch (which must exist when the batch holds revoked tokens), or the
/// minter's pool when the mix has them.
fn initial_revocations(p: &Prepared, store: &TokenStore) -> Result<(Vec<String>, bool), SessionError> {
    use crate::token::classes::TokenClass;
    use crate::token::revocation;
    let has_revoked = (0..store.len()).any(|i| store.label(i).0 == TokenClass::Revoked);
    let initial: Vec<String> = match &p.run.batch {
        Some(batch) => {
            let beside = batch
                .parent()
                .unwrap_or(Path::new("."))
                .join(revocation::FILE_NAME);
            if beside.exists() {
                let mut ids: Vec<String> = revocation::read(&beside)
                    .map_err(|e| SessionError::Invalid(e.to_string()))?
                    .into_iter()
                    .collect();
                ids.sort();
                ids
            } else if has_revoked {
                return Err(SessionError::Invalid(format!(
                    "{}: the batch holds revoked tokens, but no revocation list is beside it ({}); mint the batch \
                     again with `jwtstorm mint`, which writes it",
                    batch.display(),
                    beside.display()
                )));
            } else {
                Vec::new()
            }
        }
        None if p
            .settings
            .tokens
            .mix
            .iter()
            .any(|(c, w)| *c == TokenClass::Revoked && *w > 0.0) =>
        {
            revocation::pool(p.settings.tokens.seed)
        }
        None => Vec::new(),
    };
    Ok((initial, has_revoked))
}

/// The revocation list a session keeps, when its tokens include revoked ones or the load
/// revokes some: in the results folder (or a temporary file, then `true`), starting with the
/// ids `revoked` tokens carry (the minter's pool, or the list beside a batch).
fn revocation_list(
    p: &Prepared,
    store: &TokenStore,
    idp: Option<&idp::IdpRun>,
) -> Result<(Option<Arc<crate::replay::revoke::ListSink>>, bool), SessionError> {
    use crate::token::revocation;
    let (initial, has_revoked) = initial_revocations(p, store)?;
    if initial.is_empty() && p.run.load.revoke.is_empty() && !has_revoked {
        return Ok((None, false));
    }
    let (path, temporary) = match &p.output_dir {
        Some(dir) => (dir.join(revocation::FILE_NAME), false),
        None => {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let name = format!(
                "jwtstorm-{}-{nanos}-{}",
                std::process::id(),
                revocation::FILE_NAME
            );
            (std::env::temp_dir().join(name), true)
        }
    };
    let sink =
        crate::replay::revoke::ListSink::create(path.clone(), initial, idp.map(|i| i.revocations.clone()))
            .map_err(|source| SessionError::Output { path, source })?;
    Ok((Some(Arc::new(sink)), temporary))
}

/// Starts the embedded reference verifier on 127.0.0.1 with the session's keys and policy, on a
/// runtime of its own.
fn start_embedded(
    p: &Prepared,
    alg: Algorithm,
    keys: &[KeyMaterial],
    threads: usize,
    remote: Option<crate::verifier::remote::RemoteSettings>,
    revocation: Option<crate::verifier::revocation::ListSource>,
) -> Result<(tokio::runtime::Runtime, server::RunningServer), SessionError> {
    // With the identity provider's JWKS the keys come from there (the policy still applies).
    let verifier = Verifier::with_keys(
        p.settings.policy(alg),
        if remote.is_some() { &[] } else { keys },
        remote.is_some(),
    )
    .map_err(SessionError::Invalid)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("jwtstorm-verifier")
        .enable_all()
        .build()
        .map_err(|source| SessionError::Start {
            what: "starting the embedded verifier's runtime",
            source,
        })?;
    let config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        path: EMBEDDED_PATH.into(),
        placement: p.run.target.token.clone(),
        knobs: Knobs {
            rate_limit: p.settings.verifier.rate_limit,
            // The endpoints' paths, each with its scope (the main path has the policy's).
            scoped_paths: target::embedded_paths(&p.run),
            revocation,
            ..Knobs::default()
        },
        verifier,
        remote,
        follow_header_keys: false,
        jwks: JwkSet {
            keys: keys.iter().map(|k| k.jwk.public()).collect(),
        },
        tls: None,
        // The run's own connections, and nothing the embedded target should time out first.
        limits: Limits {
            max_connections: p.run.load.concurrency + 64,
            idle_timeout: p.run.target.timeout.max(Duration::from_secs(60)) + p.run.load.grace,
            ..Limits::default()
        },
    };
    let running = rt
        .block_on(server::start(config))
        .map_err(|source| SessionError::Start {
            what: "starting the embedded verifier on 127.0.0.1",
            source,
        })?;
    Ok((rt, running))
}
