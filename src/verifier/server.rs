//! The reference verifier as an HTTP server (hyper, HTTP/1.1 and h2c), with `/healthz`,
//! `/.well-known/jwks.json`, Prometheus `/metrics`, and fault knobs for testing a load tester.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::verify::{Reason, Verifier};
use crate::token::keys::JwkSet;
use crate::token::rng::TokenRng;

/// Where the server looks for the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A named header holding the bare token.
    Header(String),
    /// A named cookie.
    Cookie(String),
    /// A named query parameter.
    Query(String),
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let named = |kind: &str, name: &str| {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':') {
                Err(format!("'{s}': {kind} needs a name, as in {kind}:NAME"))
            } else {
                Ok(name.to_string())
            }
        };
        match s.split_once(':') {
            None if s == "bearer" => Ok(Placement::Bearer),
            Some(("header", n)) => Ok(Placement::Header(named("header", n)?.to_ascii_lowercase())),
            Some(("cookie", n)) => Ok(Placement::Cookie(named("cookie", n)?)),
            Some(("query", n)) => Ok(Placement::Query(named("query", n)?)),
            _ => Err(format!(
                "invalid token placement '{s}'; expected bearer, header:NAME, cookie:NAME or query:NAME"
            )),
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Bearer => f.write_str("bearer"),
            Placement::Header(n) => write!(f, "header:{n}"),
            Placement::Cookie(n) => write!(f, "cookie:{n}"),
            Placement::Query(n) => write!(f, "query:{n}"),
        }
    }
}

/// Added service time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    Fixed(Duration),
    Uniform(Duration, Duration),
}

impl std::str::FromStr for Delay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (lo, hi) = (crate::units::parse_duration(a)?, crate::units::parse_duration(b)?);
                if lo > hi {
                    return Err(format!("delay range '{s}': the low end is above the high end"));
                }
                Ok(Delay::Uniform(lo, hi))
            }
            None => Ok(Delay::Fixed(crate::units::parse_duration(s)?)),
        }
    }
}

/// Fault and latency knobs; all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knobs {
    pub delay: Option<Delay>,
    pub max_concurrency: Option<usize>,
    /// `(stall, every)`: no response leaves during the first `stall` of every `every`.
    pub stall: Option<(Duration, Duration)>,
    pub fail_rate: f64,
    pub close_rate: f64,
    pub hang_rate: f64,
    /// Skip the signature and algorithm checks: a deliberately broken verifier.
    pub vulnerable: bool,
    /// Close each connection after this many responses (`Connection: close`), as servers with
    /// a keep-alive request limit do.
    pub keepalive_max: Option<u64>,
}

impl Knobs {
    fn describe(&self) -> serde_json::Value {
        json!({
            "delay": self.delay.map(|d| match d {
                Delay::Fixed(x) => format!("{x:?}"),
                Delay::Uniform(a, b) => format!("{a:?}..{b:?}"),
            }),
            "max_concurrency": self.max_concurrency,
            "stall": self.stall.map(|(s, e)| format!("{s:?} every {e:?}")),
            "fail_rate": self.fail_rate,
            "close_rate": self.close_rate,
            "hang_rate": self.hang_rate,
            "vulnerable": self.vulnerable,
            "keepalive_max": self.keepalive_max,
        })
    }
}

/// What the server needs to start.
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub path: String,
    pub placement: Placement,
    pub knobs: Knobs,
    pub verifier: Verifier,
    pub jwks: JwkSet,
    /// Serve HTTPS (h2 and http/1.1 by ALPN) with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Latency buckets of the verification histogram, in seconds.
const BUCKETS: [f64; 12] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1,
];

/// Counters the server keeps; read by `/metrics` and by tests in-process.
#[derive(Debug, Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    rejected: [AtomicU64; Reason::ALL.len()],
    pub injected_500: AtomicU64,
    pub injected_close: AtomicU64,
    pub injected_hang: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    verify_count: AtomicU64,
    verify_nanos: AtomicU64,
}

impl Metrics {
    /// Requests rejected for `reason`.
    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }

    /// All rejected requests.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.verify_count.fetch_add(1, Ordering::Relaxed);
        self.verify_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(4096);
        s.push_str("# HELP jwtstorm_server_requests_total Protected-path requests by outcome and reason.\n");
        s.push_str("# TYPE jwtstorm_server_requests_total counter\n");
        let _ = writeln!(
            s,
            "jwtstorm_server_requests_total{{outcome=\"accepted\",reason=\"\"}} {}",
            self.accepted.load(Ordering::Relaxed)
        );
        for r in Reason::ALL {
            let _ = writeln!(
                s,
                "jwtstorm_server_requests_total{{outcome=\"rejected\",reason=\"{}\"}} {}",
                r.as_str(),
                self.rejected(r)
            );
        }
        for (fault, c) in [
            ("status_500", &self.injected_500),
            ("closed", &self.injected_close),
            ("hang", &self.injected_hang),
        ] {
            let _ = writeln!(
                s,
                "jwtstorm_server_requests_total{{outcome=\"injected_fault\",reason=\"{fault}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP jwtstorm_server_verify_seconds Time spent verifying one token.\n");
        s.push_str("# TYPE jwtstorm_server_verify_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "jwtstorm_server_verify_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.verify_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "jwtstorm_server_verify_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "jwtstorm_server_verify_seconds_sum {}",
            self.verify_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "jwtstorm_server_verify_seconds_count {count}");
        s
    }
}

struct State {
    path: String,
    placement: Placement,
    knobs: Knobs,
    verifier: Verifier,
    jwks_body: Bytes,
    health_body: Bytes,
    metrics: Arc<Metrics>,
    limit: Option<Semaphore>,
    started: Instant,
    requests: AtomicU64,
}

/// A running server: its address, its counters, and a way to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, ends open connections, and waits for the accept loop to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Binds and starts serving on the current tokio runtime.
pub async fn start(cfg: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let public = JwkSet {
        keys: cfg
            .jwks
            .keys
            .iter()
            .filter(|k| k.kty != "oct")
            .map(|k| k.public())
            .collect(),
    };
    let health = json!({
        "status": "ok",
        "path": cfg.path,
        "token": cfg.placement.to_string(),
        "policy": cfg.verifier.policy(),
        "knobs": cfg.knobs.describe(),
    });
    let state = Arc::new(State {
        path: cfg.path,
        placement: cfg.placement,
        limit: cfg.knobs.max_concurrency.map(Semaphore::new),
        knobs: cfg.knobs,
        verifier: cfg.verifier,
        jwks_body: Bytes::from(serde_json::to_vec(&public).expect("jwks serializes")),
        health_body: Bytes::from(serde_json::to_vec(&health).expect("health serializes")),
        metrics: metrics.clone(),
        started: Instant::now(),
        requests: AtomicU64::new(0),
    });
    let tls = cfg.tls.map(tokio_rustls::TlsAcceptor::from);
    let (shutdown, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop_rx.changed() => break,
            };
            let Ok((stream, _)) = accepted else {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let mut conn_stop = stop_rx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let served = Arc::new(AtomicU64::new(0));
                let svc = service_fn(move |req| {
                    let (state, served) = (state.clone(), served.clone());
                    async move {
                        let limit = state.knobs.keepalive_max;
                        let mut resp = handle(state, req).await?;
                        if limit.is_some_and(|n| served.fetch_add(1, Ordering::Relaxed) + 1 >= n) {
                            resp.headers_mut().insert(
                                hyper::header::CONNECTION,
                                hyper::header::HeaderValue::from_static("close"),
                            );
                        }
                        Ok::<_, CloseConnection>(resp)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        tokio::select! {
                            _ = conn => {}
                            _ = conn_stop.changed() => {}
                        }
                    }
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                        let Ok(Ok(stream)) = handshake.await else { return };
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        tokio::select! {
                            _ = conn => {}
                            _ = conn_stop.changed() => {}
                        }
                    }
                }
            });
        }
    });
    Ok(RunningServer {
        addr,
        metrics,
        shutdown,
        task,
    })
}

/// Dropping the connection without a response (the close fault).
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, CloseConnection> {
    let path = req.uri().path();
    if path == state.path {
        return protected(&state, req).await;
    }
    Ok(match (req.method(), path) {
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "application/json", state.health_body.clone()),
        (&Method::GET, "/.well-known/jwks.json") => {
            respond(StatusCode::OK, "application/json", state.jwks_body.clone())
        }
        (&Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            Bytes::from(state.metrics.render()),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found\n"),
        ),
    })
}

async fn protected(state: &State, req: Request<Incoming>) -> Result<Resp, CloseConnection> {
    if req.method() != Method::GET && req.method() != Method::POST {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"use GET or POST\n"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return Ok(r);
    }
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    let mut rng = TokenRng::new(0x7365_7276_6572, n);
    let k = &state.knobs;
    // Decide the faults up front so their rates are exact in expectation and independent.
    let (hang, close, fail) = (
        k.hang_rate > 0.0 && rng.next_f64() < k.hang_rate,
        k.close_rate > 0.0 && rng.next_f64() < k.close_rate,
        k.fail_rate > 0.0 && rng.next_f64() < k.fail_rate,
    );
    let token = extract(&state.placement, &req).map(<[u8]>::to_vec);
    if req.method() == Method::POST {
        // Read (and discard) a bounded body so the connection can be reused.
        let _ = Limited::new(req.into_body(), 1 << 20).collect().await;
    }
    let _permit = match &state.limit {
        Some(sem) => Some(sem.acquire().await.expect("never closed")),
        None => None,
    };
    if let Some(d) = k.delay {
        let d = match d {
            Delay::Fixed(x) => x,
            Delay::Uniform(lo, hi) => lo + (hi - lo).mul_f64(rng.next_f64()),
        };
        tokio::time::sleep(d).await;
    }
    if hang {
        state.metrics.injected_hang.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
    if close {
        state.metrics.injected_close.fetch_add(1, Ordering::Relaxed);
        return Err(CloseConnection);
    }
    let response = if fail {
        state.metrics.injected_500.fetch_add(1, Ordering::Relaxed);
        respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            Bytes::from_static(b"injected fault\n"),
        )
    } else {
        verify_response(state, token.as_deref().unwrap_or(b""))
    };
    if let Some((stall, every)) = k.stall {
        let into = state.started.elapsed().as_nanos() % every.as_nanos().max(1);
        let into = Duration::from_nanos(into as u64);
        if into < stall {
            tokio::time::sleep(stall - into).await;
        }
    }
    Ok(response)
}

fn verify_response(state: &State, token: &[u8]) -> Resp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let started = Instant::now();
    let result = if state.knobs.vulnerable {
        vulnerable_check(token, now)
    } else {
        state.verifier.verify(token, now)
    };
    state.metrics.observe(started.elapsed());
    match result {
        Ok(v) => {
            state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
            let body = json!({"sub": v.sub, "kid": v.kid, "exp": v.exp});
            respond(StatusCode::OK, "application/json", Bytes::from(body.to_string()))
        }
        Err(reason) => {
            state.metrics.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
            let mut r = respond(StatusCode::UNAUTHORIZED, "application/json", reject_body(reason));
            let challenge = if reason == Reason::MissingToken {
                "Bearer".to_string()
            } else {
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    reason.description()
                )
            };
            let h = r.headers_mut();
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&challenge).expect("ascii"),
            );
            h.insert("x-jwtstorm-reason", HeaderValue::from_static(reason.as_str()));
            r
        }
    }
}

fn reject_body(reason: Reason) -> Bytes {
    Bytes::from(format!(
        "{{\"error\":\"invalid_token\",\"reason\":\"{}\"}}",
        reason.as_str()
    ))
}

/// The deliberately vulnerable check: decodes the payload and honours `exp`, but trusts any
/// algorithm and never checks the signature.
fn vulnerable_check(token: &[u8], now: i64) -> Result<super::verify::Verified, Reason> {
    use base64::Engine;
    let mut parts = token.split(|b| *b == b'.');
    let (_, Some(p)) = (parts.next(), parts.next()) else {
        return Err(Reason::Malformed);
    };
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| Reason::Malformed)?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| Reason::Malformed)?;
    if claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .is_some_and(|e| e < now)
    {
        return Err(Reason::Expired);
    }
    Ok(super::verify::Verified {
        sub: claims.get("sub").and_then(|v| v.as_str()).map(str::to_owned),
        kid: None,
        exp: claims.get("exp").and_then(serde_json::Value::as_i64),
    })
}

/// Finds the token where the placement says it is.
pub fn extract<'a, B>(placement: &Placement, req: &'a Request<B>) -> Option<&'a [u8]> {
    match placement {
        Placement::Bearer => {
            let v = req.headers().get(header::AUTHORIZATION)?.as_bytes();
            let scheme = v.get(..7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then(|| trim(&v[7..]))
        }
        Placement::Header(name) => req.headers().get(name.as_str()).map(|v| trim(v.as_bytes())),
        Placement::Cookie(name) => req.headers().get_all(header::COOKIE).iter().find_map(|v| {
            v.as_bytes().split(|b| *b == b';').find_map(|pair| {
                let pair = trim(pair);
                let eq = pair.iter().position(|b| *b == b'=')?;
                (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
            })
        }),
        Placement::Query(name) => req.uri().query().and_then(|q| {
            q.split('&').find_map(|kv| {
                kv.split_once('=')
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_bytes())
            })
        }),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse() {
        assert_eq!("bearer".parse::<Placement>().unwrap(), Placement::Bearer);
        assert_eq!(
            "header:X-Token".parse::<Placement>().unwrap(),
            Placement::Header("x-token".into())
        );
        assert_eq!(
            "cookie:jwt".parse::<Placement>().unwrap(),
            Placement::Cookie("jwt".into())
        );
        assert_eq!(
            "query:access_token".parse::<Placement>().unwrap(),
            Placement::Query("access_token".into())
        );
        assert!("cookie:".parse::<Placement>().is_err());
        assert!("body".parse::<Placement>().is_err());
    }

    #[test]
    fn delays_parse() {
        assert_eq!(
            "2ms".parse::<Delay>().unwrap(),
            Delay::Fixed(Duration::from_millis(2))
        );
        assert_eq!(
            "1ms..5ms".parse::<Delay>().unwrap(),
            Delay::Uniform(Duration::from_millis(1), Duration::from_millis(5))
        );
        assert!("5ms..1ms".parse::<Delay>().is_err());
    }

    #[test]
    fn tokens_are_found_where_placed() {
        let req = Request::builder()
            .uri("/p?a=1&access_token=abc.def.ghi")
            .header("authorization", "Bearer  tok.en.x ")
            .header("cookie", "a=b; jwt=c.o.okie")
            .header("x-token", "h.e.ader")
            .body(())
            .unwrap();
        assert_eq!(extract(&Placement::Bearer, &req), Some(&b"tok.en.x"[..]));
        assert_eq!(
            extract(&Placement::Cookie("jwt".into()), &req),
            Some(&b"c.o.okie"[..])
        );
        assert_eq!(
            extract(&Placement::Header("x-token".into()), &req),
            Some(&b"h.e.ader"[..])
        );
        assert_eq!(
            extract(&Placement::Query("access_token".into()), &req),
            Some(&b"abc.def.ghi"[..])
        );
        assert_eq!(extract(&Placement::Query("missing".into()), &req), None);
    }
}
