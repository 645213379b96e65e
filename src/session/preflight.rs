//! The preflight: before a run against an outside target, connect once (DNS, TCP, TLS, HTTP)
//! and send one `valid` token and one token that must be rejected, so a target that is down,
//! untrusted or configured with another audience fails in a second with its cause, instead of
//! costing the whole run in transport errors or false rejects. Its two requests are reported
//! apart and never counted in the results.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::{Session, SessionError};
use crate::model::{Outcome, alg};
use crate::replay::transport::Target;
use crate::text::format_duration;
use crate::token::classes::TokenClass;

/// One preflight request's answer.
#[derive(Debug, Clone)]
pub struct Probe {
    pub class: TokenClass,
    pub status: u16,
    /// The target's stated reason: the reason header, or `WWW-Authenticate`'s `error`.
    pub reason: Option<String>,
    /// The first bytes of the body.
    pub body: String,
    pub took: Duration,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} token: HTTP {} in {}",
            self.class,
            self.status,
            format_duration(self.took)
        )?;
        if let Some(r) = &self.reason {
            write!(f, " (reason: {r})")?;
        }
        Ok(())
    }
}

fn unreachable(addr: SocketAddr, what: impl std::fmt::Display) -> SessionError {
    SessionError::Unreachable(format!("preflight: {what} (target {addr})"))
}

/// Sends one request on a fresh connection and reads its answer, naming the real cause of any
/// failure: refused, timed out, the TLS certificate problem, a broken HTTP exchange.
async fn probe(
    s: &Session,
    token: Bytes,
    timeout: Duration,
) -> Result<(u16, Option<String>, String), SessionError> {
    let addr = s.addr;
    let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(unreachable(
                addr,
                format!("no connection within {}", format_duration(timeout)),
            ));
        }
        Ok(Err(e)) => return Err(unreachable(addr, format!("cannot connect: {e}"))),
        Ok(Ok(stream)) => stream,
    };
    // With several endpoints, one where a valid token is accepted (the URL's own path may be
    // none of them).
    let target = match &s.routes {
        Some(r) => r.accepting().map_or(&s.target, |i| &r.routes[i].target),
        None => &s.target,
    };
    let req = request(target, token)?;
    let reason_header = s.p.run.target.reason_header.as_deref();
    let http2 = s.p.run.target.http == crate::model::HttpVersion::Http2;
    let answer = match &s.tls {
        None => exchange(stream, req, http2, timeout, reason_header).await,
        Some((connector, name)) => {
            let tls = match tokio::time::timeout(timeout, connector.connect(name.clone(), stream)).await {
                Err(_) => return Err(unreachable(addr, "the TLS handshake did not finish")),
                Ok(Err(e)) => {
                    let hint = if s.p.run.target.insecure {
                        ""
                    } else {
                        "; trust its CA with --ca-file (target.ca_file), or skip the check with --insecure"
                    };
                    return Err(unreachable(addr, format!("TLS handshake failed: {e}{hint}")));
                }
                Ok(Ok(tls)) => tls,
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            exchange(tls, req, h2, timeout, reason_header).await
        }
    };
    answer.map_err(|e| unreachable(addr, e))
}

fn request(target: &Target, token: Bytes) -> Result<hyper::Request<Full<Bytes>>, SessionError> {
    target
        .request(token)
        .map_err(|_| SessionError::Invalid("preflight: the token cannot be put into a request".into()))
}

async fn exchange<IO>(
    io: IO,
    req: hyper::Request<Full<Bytes>>,
    http2: bool,
    timeout: Duration,
    reason_header: Option<&str>,
) -> Result<(u16, Option<String>, String), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let work = async move {
        let resp = if http2 {
            let (mut send, conn) =
                hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .handshake(io)
                    .await
                    .map_err(|e| format!("HTTP/2 handshake failed: {e}"))?;
            tokio::spawn(conn);
            send.send_request(req).await
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP handshake failed: {e}"))?;
            tokio::spawn(conn);
            send.send_request(req).await
        }
        .map_err(|e| format!("the HTTP exchange failed: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok::<_, String>((status, headers, body))
    };
    let (status, headers, body) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {}", format_duration(timeout)))??;
    let text = String::from_utf8_lossy(&body[..body.len().min(300)])
        .trim()
        .to_string();
    Ok((status, stated_reason(&headers, reason_header), text))
}

/// The reason a target gives: the configured reason header, else jwtstorm's own, a common
/// `x-reject-reason`, or the RFC 6750 `WWW-Authenticate` challenge.
pub fn stated_reason(headers: &hyper::HeaderMap, header: Option<&str>) -> Option<String> {
    header
        .into_iter()
        .chain(["x-jwtstorm-reason", "x-reject-reason", "www-authenticate"])
        .find_map(|h| crate::replay::transport::stated_reason(headers, h))
}

impl Session {
    /// Sends one `valid` token and one token that must be rejected (when the batch has one)
    /// and checks the answers. Exit 3 when the target cannot be reached, exit 2 when it
    /// refuses the valid token (unless `force`); the answers otherwise.
    pub fn preflight(&self, force: bool) -> Result<Vec<Probe>, SessionError> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let pick = |want: &dyn Fn(TokenClass, crate::token::classes::Expect) -> bool| {
            (0..self.store.len()).find(|&i| {
                let (class, expect) = self.store.label(i);
                want(class, expect)
            })
        };
        // Far from any edge of its window, so the answer cannot depend on the clock.
        let valid =
            pick(&|c, e| c == TokenClass::Valid && e.accepts_at(now) && !e.near_boundary(now as f64, 10.0));
        let invalid = pick(&|c, e| c != TokenClass::Valid && !e.time_bound() && !e.accepts_at(now));
        let timeout = self.p.run.target.timeout.min(Duration::from_secs(5));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| SessionError::Start {
                what: "starting the preflight",
                source,
            })?;
        let mut probes = Vec::new();
        for i in [valid, invalid].into_iter().flatten() {
            let (class, _) = self.store.label(i);
            let started = Instant::now();
            let (status, reason, body) = rt.block_on(probe(self, self.store.value(i), timeout))?;
            probes.push(Probe {
                class,
                status,
                reason,
                body,
                took: started.elapsed(),
            });
        }
        let t = &self.p.run.target;
        if let Some(v) = probes.iter().find(|p| p.class == TokenClass::Valid) {
            let outcome = t.statuses().outcome(v.status);
            if outcome != Outcome::Accepted && !force {
                let policy = self.p.settings.policy(self.alg);
                let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
                return Err(SessionError::Invalid(format!(
                    "preflight: the target answered a valid token with HTTP {}{}{}; a correct verifier \
                     accepts it. The settings that usually differ: audience {}, issuer {}, leeway {}s, \
                     algorithm {}, kid {} (pass --force-preflight to run anyway)",
                    v.status,
                    v.reason
                        .as_ref()
                        .map_or(String::new(), |r| format!(" (reason: {r})")),
                    if v.body.is_empty() {
                        String::new()
                    } else {
                        format!(", body '{}'", v.body)
                    },
                    policy.audience.as_deref().unwrap_or("(none)"),
                    policy.issuer.as_deref().unwrap_or("(none)"),
                    policy.leeway,
                    alg::name(self.alg),
                    kids.join(", ")
                )));
            }
        }
        Ok(probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_the_header_or_the_bearer_challenge() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            hyper::header::WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\", error_description=\"expired\""
                .parse()
                .unwrap(),
        );
        assert_eq!(stated_reason(&h, None).as_deref(), Some("expired"));
        h.insert("x-why", "bad_audience".parse().unwrap());
        assert_eq!(stated_reason(&h, Some("x-why")).as_deref(), Some("bad_audience"));
        assert_eq!(stated_reason(&hyper::HeaderMap::new(), None), None);
    }
}
