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
    pub jwks: JwkSet,
    /// Serve HTTPS (h2 and http/1.1 by ALPN) with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
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
