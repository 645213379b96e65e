//! The reference verifier as an HTTP server (hyper, HTTP/1.1 and h2c), with `/healthz`,
//! `/.well-known/jwks.json`, Prometheus `/metrics`, and fault knobs for testing a load tester.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::verify::Verifier;
use crate::model::Placement;
use crate::token::keys::JwkSet;

pub use super::handler::extract;
use super::handler::{CloseConnection, State, handle};
pub use super::knobs::{Delay, Knobs};
pub use super::metrics::Metrics;

/// What the server needs to start.
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub path: String,
    pub placement: Placement,
    pub knobs: Knobs,
    pub verifier: Verifier,
    /// Fetch the keys from the issuer's JWKS instead (the verifier's policy applies).
    pub remote: Option<super::remote::RemoteSettings>,
    /// Deliberately vulnerable: verify a token with the key its own `jku`/`x5u` header names.
    pub follow_header_keys: bool,
    pub jwks: JwkSet,
    /// Serve HTTPS (h2 and http/1.1 by ALPN) with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Timeouts and the connection cap.
    pub limits: Limits,
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

/// What keeps the server from being held open: a careful production server's timeouts and a
/// connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers must arrive within this long (slow-loris clients are closed).
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes moving is closed after this long.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Milliseconds since `start`, for the idle clocks.
fn millis_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// A connection's stream that notes when bytes last moved.
struct Watched<S> {
    inner: S,
    last: Arc<AtomicU64>,
    start: Instant,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.store(millis_since(self.start), Ordering::Relaxed);
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.last.store(millis_since(self.start), Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves once the connection has had no request in flight and no bytes moving for `idle`.
async fn idle_for(idle: Duration, last: &AtomicU64, in_flight: &AtomicU64, start: Instant) {
    loop {
        let quiet = Duration::from_millis(millis_since(start).saturating_sub(last.load(Ordering::Relaxed)));
        if quiet >= idle && in_flight.load(Ordering::Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(idle.saturating_sub(quiet).max(Duration::from_millis(50))).await;
    }
}

/// Serves one accepted stream (plain or TLS) until it closes, the server stops, or it idles.
async fn serve_stream<S, Svc>(
    stream: S,
    svc: Svc,
    limits: Limits,
    in_flight: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<http_body_util::Full<Bytes>>,
            Error = CloseConnection,
        > + Send
        + 'static,
    Svc::Future: Send + 'static,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = Watched {
        inner: stream,
        last: last.clone(),
        start,
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        _ = stop.changed() => {}
        _ = idle_for(limits.idle_timeout, &last, &in_flight, start) => {}
    }
}

/// Binds and starts serving on the current tokio runtime.
pub async fn start(cfg: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let remote = match cfg.remote {
        Some(r) => Some(
            super::remote::RemoteKeys::new(r, cfg.verifier.policy().clone())
                .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let fetches = remote
        .as_ref()
        .map_or_else(Default::default, |r| r.counters.clone());
    let follow = if cfg.follow_header_keys {
        Some(super::remote::HeaderKeys::new(fetches.clone()).map_err(std::io::Error::other)?)
    } else {
        None
    };
    let revocations = match &cfg.knobs.revocation {
        Some(source) => Some(Arc::new(
            super::revocation::Watch::open(source.clone()).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let mut metrics = Metrics::default();
    metrics.revocations = revocations.clone();
    metrics.fetches = fetches;
    metrics.paths = std::iter::once(cfg.path.clone())
        .chain(cfg.knobs.scoped_paths.iter().map(|(p, _)| p.clone()))
        .map(|path| super::metrics::PathCounters {
            path,
            ..Default::default()
        })
        .collect();
    let metrics = Arc::new(metrics);
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
        limiter: cfg.knobs.rate_limit.map(super::limit::Limiter::new),
        scoped_paths: cfg.knobs.scoped_paths.clone(),
        revocations: revocations.clone(),
        knobs: cfg.knobs,
        verifier: cfg.verifier,
        remote,
        follow,
        jwks_body: Bytes::from(serde_json::to_vec(&public).expect("jwks serializes")),
        health_body: Bytes::from(serde_json::to_vec(&health).expect("health serializes")),
        metrics: metrics.clone(),
        started: Instant::now(),
        requests: AtomicU64::new(0),
    });
    let tls = cfg.tls.map(tokio_rustls::TlsAcceptor::from);
    let limits = cfg.limits;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (shutdown, mut stop_rx) = watch::channel(false);
    if let Some(list) = revocations {
        tokio::spawn(super::revocation::follow(list, stop_rx.clone()));
    }
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
            // At the cap, close at once: a held slot is what a slow client wants.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                state.metrics.refused_connections.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let conn_stop = stop_rx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let served = Arc::new(AtomicU64::new(0));
                let in_flight = Arc::new(AtomicU64::new(0));
                let flight = in_flight.clone();
                let svc = service_fn(move |req| {
                    let (state, served, flight) = (state.clone(), served.clone(), flight.clone());
                    async move {
                        flight.fetch_add(1, Ordering::Relaxed);
                        let limit = state.knobs.keepalive_max;
                        let resp = handle(state, req).await;
                        flight.fetch_sub(1, Ordering::Relaxed);
                        let mut resp = resp?;
                        if limit.is_some_and(|n| served.fetch_add(1, Ordering::Relaxed) + 1 >= n) {
                            resp.headers_mut().insert(
                                hyper::header::CONNECTION,
                                hyper::header::HeaderValue::from_static("close"),
                            );
                        }
                        Ok::<_, CloseConnection>(resp)
                    }
                });
                match tls {
                    None => serve_stream(stream, svc, limits, in_flight, conn_stop).await,
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
                        let Ok(Ok(stream)) = handshake.await else { return };
                        serve_stream(stream, svc, limits, in_flight, conn_stop).await;
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
