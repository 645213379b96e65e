//! The identity provider jwtstorm plays: `/.well-known/jwks.json` with the key set the rotation
//! schedule publishes at that moment, `/.well-known/openid-configuration`, `Cache-Control` and
//! `ETag`/`If-None-Match`, and the attacker's key set and certificate that `jku_injection` and
//! `x5u_injection` tokens point at. Every fetch is recorded: a target's JWKS fetches show how it
//! caches, and a fetch of an attacker path is a server-side request forgery signal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::token::keys::JwkSet;
use crate::token::rotation::Schedule;

/// The key set path.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The discovery document's path.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub use crate::token::{ATTACKER_CERT_PATH, ATTACKER_JWKS_PATH};
/// The revocation list's path (the `revoked.txt` format).
pub const REVOCATION_PATH: &str = "/revoked.txt";
/// Fetches kept in full; later ones are counted only.
pub const KEPT_FETCHES: usize = 10_000;

/// What the attacker paths serve.
#[derive(Clone, Default)]
pub struct Attacker {
    /// The attacker's public key set (JSON).
    pub jwks: Option<Bytes>,
    /// The attacker's self-signed certificate (PEM).
    pub cert_pem: Option<Bytes>,
}

/// What the identity provider needs to start.
pub struct IdpConfig {
    pub listen: SocketAddr,
    /// The `issuer` of the discovery document; the listener's URL when unset.
    pub issuer: Option<String>,
    /// `Cache-Control: max-age` of the key set.
    pub max_age: Duration,
    pub schedule: Arc<Schedule>,
    pub attacker: Attacker,
    /// The revocation list served at [`REVOCATION_PATH`], replaced as the run revokes tokens.
    pub revocations: RevocationDoc,
}

/// The revocation list as served: its text, replaced whole when it changes.
pub type RevocationDoc = Arc<std::sync::RwLock<Bytes>>;

/// Which document a fetch asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    Jwks,
    Discovery,
    /// The attacker's key set (a `jku` header followed).
    AttackerJwks,
    /// The attacker's certificate (an `x5u` header followed).
    AttackerCert,
    /// The revocation list.
    Revocations,
    Other,
}

/// One recorded fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Fetch {
    /// Milliseconds since the run began (negative before).
    pub at_ms: i64,
    pub document: Document,
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_none_match: Option<String>,
    /// The key set version served (JWKS fetches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub status: u16,
}

/// Every fetch, the first [`KEPT_FETCHES`] in full, each with the moment it came.
#[derive(Debug, Default)]
pub struct FetchLog {
    kept: Mutex<Vec<(Instant, Fetch)>>,
    total: AtomicU64,
}

impl FetchLog {
    fn push(&self, at: Instant, f: Fetch) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut k) = self.kept.lock()
            && k.len() < KEPT_FETCHES
        {
            k.push((at, f));
        }
    }

    /// The fetches kept, in the order they came, timed on `clock` (a fetch before the run
    /// began, such as the preflight's, has a negative time).
    pub fn fetches(&self, clock: &crate::token::rotation::RunClock) -> Vec<Fetch> {
        self.kept.lock().map_or_else(
            |_| Vec::new(),
            |k| {
                k.iter()
                    .map(|(at, f)| Fetch {
                        at_ms: clock.offset_ms(*at),
                        ..f.clone()
                    })
                    .collect()
            },
        )
    }

    /// Every fetch, kept or not.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Fetches of `document` so far (among those kept).
    pub fn count(&self, document: Document) -> u64 {
        self.kept.lock().map_or(0, |k| {
            k.iter().filter(|(_, f)| f.document == document).count() as u64
        })
    }

    /// Forgets every fetch (each replay of a session reports its own).
    pub fn clear(&self) {
        if let Ok(mut k) = self.kept.lock() {
            k.clear();
        }
        self.total.store(0, Ordering::Relaxed);
    }
}

/// A running identity provider.
pub struct RunningIdp {
    pub addr: SocketAddr,
    pub log: Arc<FetchLog>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningIdp {
    /// The base URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The key set served from a moment on.
struct Version {
    from: Duration,
    number: u32,
    body: Bytes,
    etag: HeaderValue,
}

struct State {
    versions: Vec<Version>,
    schedule: Arc<Schedule>,
    discovery: Bytes,
    cache_control: HeaderValue,
    attacker: Attacker,
    revocations: RevocationDoc,
    log: Arc<FetchLog>,
}

/// The public key set of the keys published at `t`, as served.
pub fn jwks_at(schedule: &Schedule, t: Duration) -> Bytes {
    let set = JwkSet {
        keys: schedule
            .published_at(t)
            .into_iter()
            .map(|i| &schedule.keys()[i])
            .filter(|k| k.jwk.kty != "oct")
            .map(|k| k.jwk.public())
            .collect(),
    };
    Bytes::from(serde_json::to_vec(&set).expect("a JWKS serializes"))
}

fn etag(number: u32, body: &[u8]) -> HeaderValue {
    let d = digest::digest(&digest::SHA256, body);
    let hex: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"v{number}-{hex}\"")).expect("ascii")
}

/// Whether an `If-None-Match` value matches `tag` (a list, weak tags, or `*`).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn handle(state: &State, req: &Request<hyper::body::Incoming>, client: SocketAddr) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let t = state.schedule.clock().at(now);
    let header_text = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let if_none_match = header_text(header::IF_NONE_MATCH);
    let path = req.uri().path();
    let (document, mut version) = match path {
        JWKS_PATH => (Document::Jwks, None),
        DISCOVERY_PATH => (Document::Discovery, None),
        ATTACKER_JWKS_PATH => (Document::AttackerJwks, None),
        ATTACKER_CERT_PATH => (Document::AttackerCert, None),
        REVOCATION_PATH => (Document::Revocations, None),
        _ => (Document::Other, None),
    };
    let resp = if req.method() != Method::GET && req.method() != Method::HEAD {
        respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"use GET\n"),
        )
    } else {
        match document {
            Document::Jwks => {
                let v = state
                    .versions
                    .iter()
                    .rev()
                    .find(|v| v.from <= t)
                    .unwrap_or(&state.versions[0]);
                version = Some(v.number);
                let tag = v.etag.to_str().unwrap_or_default();
                let mut r = match &if_none_match {
                    Some(inm) if matches(inm, tag) => {
                        respond(StatusCode::NOT_MODIFIED, "application/json", Bytes::new())
                    }
                    _ => respond(StatusCode::OK, "application/json", v.body.clone()),
                };
                r.headers_mut().insert(header::ETAG, v.etag.clone());
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, state.cache_control.clone());
                r
            }
            Document::Discovery => respond(StatusCode::OK, "application/json", state.discovery.clone()),
            Document::AttackerJwks => match &state.attacker.jwks {
                Some(b) => respond(StatusCode::OK, "application/json", b.clone()),
                None => not_found(),
            },
            Document::AttackerCert => match &state.attacker.cert_pem {
                Some(b) => respond(StatusCode::OK, "application/x-pem-file", b.clone()),
                None => not_found(),
            },
            Document::Revocations => {
                let body = state
                    .revocations
                    .read()
                    .map_or_else(|p| p.into_inner().clone(), |b| b.clone());
                // A poller that sends the tag back is told when nothing changed.
                let tag = etag(0, &body);
                let mut r = match &if_none_match {
                    Some(inm) if matches(inm, tag.to_str().unwrap_or_default()) => respond(
                        StatusCode::NOT_MODIFIED,
                        "text/plain; charset=utf-8",
                        Bytes::new(),
                    ),
                    _ => respond(StatusCode::OK, "text/plain; charset=utf-8", body),
                };
                r.headers_mut().insert(header::ETAG, tag);
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                r
            }
            Document::Other => not_found(),
        }
    };
    state.log.push(
        now,
        Fetch {
            at_ms: 0,
            document,
            client: client.to_string(),
            user_agent: header_text(header::USER_AGENT),
            if_none_match,
            version,
            status: resp.status().as_u16(),
        },
    );
    resp
}

fn not_found() -> Response<Full<Bytes>> {
    respond(
        StatusCode::NOT_FOUND,
        "text/plain",
        Bytes::from_static(b"not found\n"),
    )
}

/// Binds and starts serving on the current tokio runtime.
pub async fn start(cfg: IdpConfig) -> std::io::Result<RunningIdp> {
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let schedule = cfg.schedule;
    let versions = schedule
        .versions()
        .into_iter()
        .map(|(from, number)| {
            let body = jwks_at(&schedule, from);
            Version {
                from,
                number,
                etag: etag(number, &body),
                body,
            }
        })
        .collect();
    let algs: Vec<&str> = {
        let mut a: Vec<&str> = schedule
            .keys()
            .iter()
            .map(|k| crate::model::alg::name(k.alg))
            .collect();
        a.dedup();
        a
    };
    let discovery = serde_json::json!({
        "issuer": cfg.issuer.clone().unwrap_or_else(|| base.clone()),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": algs,
    });
    let log = Arc::new(FetchLog::default());
    let state = Arc::new(State {
        versions,
        schedule,
        discovery: Bytes::from(discovery.to_string()),
        cache_control: HeaderValue::from_str(&format!("public, max-age={}", cfg.max_age.as_secs()))
            .expect("ascii"),
        attacker: cfg.attacker,
        revocations: cfg.revocations,
        log: log.clone(),
    });
    let slots = Arc::new(Semaphore::new(1024));
    let (shutdown, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop_rx.changed() => break,
            };
            let Ok((stream, client)) = accepted else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let state = state.clone();
            let mut conn_stop = stop_rx.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&state, &req, client)) }
                });
                let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = conn_stop.changed() => {}
                    // An idle fetcher's connection is closed after a minute.
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            });
        }
    });
    Ok(RunningIdp {
        addr,
        log,
        shutdown,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        assert!(matches("\"v1-ab\"", "\"v1-ab\""));
        assert!(matches("\"x\", W/\"v1-ab\"", "\"v1-ab\""));
        assert!(matches("*", "\"v1-ab\""));
        assert!(!matches("\"v0-ab\"", "\"v1-ab\""));
    }
}
