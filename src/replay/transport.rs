//! How requests travel: one small trait, so the hot path and classification do not care which
//! HTTP client carries them. The default is hyper used directly, one connection per task.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::model::ErrorKind;
use crate::stats::recorder::SAMPLE_BYTES;

/// A response, reduced to what the run records.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The target's stated reason for a rejection, when a reason header is configured.
    pub reason: Option<String>,
    /// The first bytes of the body, when the caller asked to keep them.
    pub body: Option<Vec<u8>>,
    /// The body was larger than the cap; the connection was dropped.
    pub truncated: bool,
    /// What the response's `Retry-After` asked for (RFC 9110 §10.2.3: delay-seconds, or an
    /// HTTP-date taken against this machine's clock).
    pub retry_after: Option<Duration>,
}

/// A failed exchange: what went wrong, and whether the connection is still usable.
#[derive(Debug)]
pub struct Failed {
    pub kind: ErrorKind,
    pub connection_lost: bool,
    /// The request, when it never left (the server had closed an idle keep-alive connection):
    /// the engine reconnects and sends it, so a server's keep-alive limit is not an error.
    pub unsent: Option<Request<Full<Bytes>>>,
}

impl Failed {
    /// A failure after the request may have left.
    pub fn sent(kind: ErrorKind, connection_lost: bool) -> Failed {
        Failed {
            kind,
            connection_lost,
            unsent: None,
        }
    }
}

/// An HTTP client the engine can drive.
pub trait Transport: 'static {
    /// One connection's state (or nothing for a client that pools on its own).
    type Conn;
    /// The instance one client thread uses (its own pool, on its own runtime).
    fn fork(&self) -> Self
    where
        Self: Sized;
    /// Opens a connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, ErrorKind>>;
    /// Sends one request and reads the response. `keep(status)` says whether to keep the body.
    fn send(
        &self,
        conn: &mut Self::Conn,
        req: Request<Full<Bytes>>,
        keep: impl Fn(u16) -> bool,
    ) -> impl Future<Output = Result<Reply, Failed>>;
}

/// Everything about the target that every request shares, prepared once.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: Method,
    /// The request target for HTTP/1.1 (origin form), or the absolute URI for HTTP/2.
    pub uri: Uri,
    pub host: HeaderValue,
    /// The header the token goes in; `None` for query placement (the token is in the URI).
    pub token_header: Option<HeaderName>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// For query placement with HTTP/2: the scheme and authority the path is joined to.
    pub absolute_prefix: Option<String>,
    pub max_body: u64,
}

impl Target {
    /// Builds the request that carries a formatted token value.
    pub fn request(&self, token: Bytes) -> Result<Request<Full<Bytes>>, ErrorKind> {
        let mut b = Request::builder().method(self.method.clone());
        match &self.token_header {
            Some(name) => {
                let v = HeaderValue::from_maybe_shared(token).map_err(|_| ErrorKind::Request)?;
                b = b.uri(self.uri.clone()).header(name, v);
            }
            None => {
                let uri = match &self.absolute_prefix {
                    Some(prefix) => {
                        let mut s = String::with_capacity(prefix.len() + token.len());
                        s.push_str(prefix);
                        s.push_str(std::str::from_utf8(&token).map_err(|_| ErrorKind::Request)?);
                        Uri::try_from(s)
                    }
                    None => Uri::from_maybe_shared(token),
                }
                .map_err(|_| ErrorKind::Request)?;
                b = b.uri(uri);
            }
        }
        b = b.header(hyper::header::HOST, self.host.clone());
        for (k, v) in &self.headers {
            b = b.header(k, v.clone());
        }
        b.body(Full::new(self.body.clone()))
            .map_err(|_| ErrorKind::Request)
    }
}

/// hyper's client connections: HTTP/1.1, or HTTP/2 (h2 over TLS by ALPN, h2c with prior
/// knowledge on plain TCP).
#[derive(Clone)]
pub struct HyperTransport {
    pub addr: SocketAddr,
    pub http2: bool,
    pub max_body: u64,
    /// For `https://` targets: the connector and the name the certificate must carry.
    pub tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// The header that carries the target's rejection reason (see [`stated_reason`]).
    pub reason_header: Option<String>,
}

/// A hyper connection.
pub enum HyperConn {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// Runs the HTTP handshake over any stream and drives the connection on this thread.
async fn handshake<IO>(io: IO, http2: bool) -> Result<HyperConn, ErrorKind>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if http2 {
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(|e| ErrorKind::of_error(&e))?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(HyperConn::Http2(send))
    } else {
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| ErrorKind::of_error(&e))?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(HyperConn::Http1(send))
    }
}

impl Transport for HyperTransport {
    type Conn = HyperConn;

    fn fork(&self) -> Self {
        self.clone()
    }

    async fn connect(&self) -> Result<HyperConn, ErrorKind> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| ErrorKind::of_connect(&e))?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(stream, self.http2).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::ConnectionReset => ErrorKind::Reset,
                        std::io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
                        _ => ErrorKind::Tls,
                    })?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                handshake(tls, h2).await
            }
        }
    }

    async fn send(
        &self,
        conn: &mut HyperConn,
        req: Request<Full<Bytes>>,
        keep: impl Fn(u16) -> bool,
    ) -> Result<Reply, Failed> {
        // A connection the server closed while idle fails `ready`, or hands the request back
        // unsent from `try_send_request`; either way the request never left.
        let not_sent = |req| Failed {
            kind: ErrorKind::Closed,
            connection_lost: true,
            unsent: Some(req),
        };
        let failed = |mut e: hyper::client::conn::TrySendError<Request<Full<Bytes>>>| match e.take_message() {
            Some(req) => not_sent(req),
            None => Failed::sent(ErrorKind::of_error(&e.into_error()), true),
        };
        let resp = match conn {
            HyperConn::Http1(s) => {
                if s.ready().await.is_err() {
                    return Err(not_sent(req));
                }
                s.try_send_request(req).await.map_err(failed)?
            }
            HyperConn::Http2(s) => {
                if s.ready().await.is_err() {
                    return Err(not_sent(req));
                }
                s.try_send_request(req).await.map_err(failed)?
            }
        };
        let status = resp.status().as_u16();
        let reason = self
            .reason_header
            .as_deref()
            .and_then(|h| stated_reason(resp.headers(), h));
        let wait = retry_after(resp.headers(), std::time::SystemTime::now());
        let mut reply = read_body(resp.into_body(), self.max_body, keep(status), status).await?;
        reply.reason = reason;
        reply.retry_after = wait;
        Ok(reply)
    }
}

/// Counts a response body as it is read and keeps its first bytes when asked.
struct BodySink {
    status: u16,
    kept: Option<Vec<u8>>,
    read: u64,
    max: u64,
}

impl BodySink {
    fn new(status: u16, keep: bool, max: u64) -> BodySink {
        BodySink {
            status,
            kept: keep.then(Vec::new),
            read: 0,
            max,
        }
    }

    /// Takes a chunk; `Some` once the body is over the cap (the reply, truncated).
    fn push(&mut self, data: &[u8]) -> Option<Reply> {
        self.read += data.len() as u64;
        if let Some(k) = self.kept.as_mut()
            && k.len() < SAMPLE_BYTES
        {
            k.extend_from_slice(&data[..data.len().min(SAMPLE_BYTES - k.len())]);
        }
        (self.read > self.max).then(|| self.finish(true))
    }

    fn finish(&mut self, truncated: bool) -> Reply {
        Reply {
            status: self.status,
            reason: None,
            body: self.kept.take(),
            truncated,
            retry_after: None,
        }
    }
}

/// Reads and discards a body up to `max` bytes, keeping the first bytes when asked.
/// The delay a `Retry-After` header asks for: delay-seconds, or an HTTP-date (a date already
/// past is no delay). `None` without the header or with a value that is neither.
pub fn retry_after(headers: &hyper::HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(hyper::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        // A day is more than any limiter means; a larger figure is clamped, not trusted.
        return Some(Duration::from_secs(secs.min(86_400)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(86_400)),
    )
}

/// The reason a target states for its answer in `header`; for `www-authenticate`, the RFC 6750
/// Bearer challenge's `error_description`, else its `error`.
pub fn stated_reason(headers: &hyper::HeaderMap, header: &str) -> Option<String> {
    let value = headers.get(header)?.to_str().ok()?;
    if !header.eq_ignore_ascii_case("www-authenticate") {
        return Some(value.trim().to_string());
    }
    let param = |key: &str| {
        let at = value.find(&format!("{key}=\""))? + key.len() + 2;
        Some(value[at..].split('"').next()?.to_string())
    };
    param("error_description").or_else(|| param("error"))
}

pub async fn read_body<B>(mut body: B, max: u64, keep: bool, status: u16) -> Result<Reply, Failed>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    let mut sink = BodySink::new(status, keep, max);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let kind = match ErrorKind::of_error(&e) {
                ErrorKind::Other => ErrorKind::Body,
                k => k,
            };
            Failed::sent(kind, true)
        })?;
        if let Ok(data) = frame.into_data()
            && let Some(reply) = sink.push(&data)
        {
            return Ok(reply);
        }
    }
    Ok(sink.finish(false))
}

/// reqwest as the transport: its own connection pool, system proxy settings (`HTTP_PROXY`,
/// `HTTPS_PROXY`, `NO_PROXY`), and the same TLS settings. It costs more CPU per request than
/// [`HyperTransport`].
pub struct ReqwestTransport {
    client: reqwest::Client,
    settings: ReqwestSettings,
}

/// What a reqwest client is built from.
#[derive(Clone)]
pub struct ReqwestSettings {
    pub http2: bool,
    pub pool: usize,
    pub connect_timeout: Duration,
    pub max_body: u64,
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The header that carries the target's rejection reason.
    pub reason_header: Option<String>,
}

impl ReqwestTransport {
    /// Builds the client; an error here is a configuration error.
    pub fn new(settings: ReqwestSettings) -> Result<Self, String> {
        let client = Self::client(&settings)?;
        Ok(ReqwestTransport { client, settings })
    }

    fn client(s: &ReqwestSettings) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .pool_max_idle_per_host(s.pool)
            .tcp_nodelay(true)
            .connect_timeout(s.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never());
        b = if s.http2 {
            b.http2_prior_knowledge()
        } else {
            b.http1_only()
        };
        if let Some(tls) = &s.tls {
            b = b.tls_backend_preconfigured((**tls).clone());
        }
        b.build().map_err(|e| format!("building the reqwest client: {e}"))
    }
}

impl Transport for ReqwestTransport {
    type Conn = ();

    fn fork(&self) -> Self {
        ReqwestTransport {
            client: Self::client(&self.settings).unwrap_or_else(|_| self.client.clone()),
            settings: self.settings.clone(),
        }
    }

    async fn connect(&self) -> Result<(), ErrorKind> {
        Ok(())
    }

    async fn send(
        &self,
        _: &mut (),
        req: Request<Full<Bytes>>,
        keep: impl Fn(u16) -> bool,
    ) -> Result<Reply, Failed> {
        let failed = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                match ErrorKind::of_error(&e) {
                    ErrorKind::Other if e.is_connect() => ErrorKind::Connect,
                    ErrorKind::Other if e.is_body() || e.is_decode() => ErrorKind::Body,
                    k => k,
                }
            };
            Failed::sent(kind, false)
        };
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let req = reqwest::Request::try_from(hyper::Request::from_parts(parts, body))
            .map_err(|_| Failed::sent(ErrorKind::Request, false))?;
        let resp = self.client.execute(req).await.map_err(failed)?;
        let status = resp.status().as_u16();
        let reason = self
            .settings
            .reason_header
            .as_deref()
            .and_then(|h| stated_reason(resp.headers(), h));
        let wait = retry_after(resp.headers(), std::time::SystemTime::now());
        let mut sink = BodySink::new(status, keep(status), self.settings.max_body);
        let mut resp = resp;
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if let Some(mut reply) = sink.push(&chunk) {
                reply.reason = reason;
                reply.retry_after = wait;
                return Ok(reply);
            }
        }
        let mut reply = sink.finish(false);
        reply.reason = reason;
        reply.retry_after = wait;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let with = |v: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(hyper::header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&h, now)
        };
        assert_eq!(with("2"), Some(Duration::from_secs(2)));
        assert_eq!(with(" 0 "), Some(Duration::ZERO));
        assert_eq!(with("999999999"), Some(Duration::from_secs(86_400)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(with(&later), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(with(&past), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(with("-1"), None);
        assert_eq!(retry_after(&hyper::HeaderMap::new(), now), None);
    }
}
