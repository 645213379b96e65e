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

use super::classify::ErrorKind;

/// A response, reduced to what the run records.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The first bytes of the body, when the caller asked to keep them.
    pub body: Option<Vec<u8>>,
    /// The body was larger than the cap; the connection was dropped.
    pub truncated: bool,
}

/// A failed exchange: what went wrong, and whether the connection is still usable.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    pub kind: ErrorKind,
    pub connection_lost: bool,
}

/// An HTTP client the engine can drive.
pub trait Transport: 'static {
    /// One connection's state (or nothing for a client that pools on its own).
    type Conn;
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
        let lost = |e: hyper::Error| Failed {
            kind: ErrorKind::of_error(&e),
            connection_lost: true,
        };
        let resp = match conn {
            HyperConn::Http1(s) => {
                s.ready().await.map_err(lost)?;
                s.send_request(req).await.map_err(lost)?
            }
            HyperConn::Http2(s) => {
                s.ready().await.map_err(lost)?;
                s.send_request(req).await.map_err(lost)?
            }
        };
        let status = resp.status().as_u16();
        read_body(resp.into_body(), self.max_body, keep(status), status).await
    }
}

/// Reads and discards a body up to `max` bytes, keeping the first bytes when asked.
pub async fn read_body<B>(mut body: B, max: u64, keep: bool, status: u16) -> Result<Reply, Failed>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    let mut kept = keep.then(Vec::new);
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failed {
            kind: match ErrorKind::of_error(&e) {
                ErrorKind::Other => ErrorKind::Body,
                k => k,
            },
            connection_lost: true,
        })?;
        if let Ok(data) = frame.into_data() {
            read += data.len() as u64;
            if let Some(k) = kept.as_mut()
                && k.len() < crate::stats::recorder::SAMPLE_BYTES
            {
                k.extend_from_slice(&data[..data.len().min(crate::stats::recorder::SAMPLE_BYTES - k.len())]);
            }
            if read > max {
                return Ok(Reply {
                    status,
                    body: kept,
                    truncated: true,
                });
            }
        }
    }
    Ok(Reply {
        status,
        body: kept,
        truncated: false,
    })
}

/// The default connect timeout when none is set.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
