//! Request handling: the routes, token extraction by placement, verification with the knobs
//! applied, and the RFC 6750 answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::Semaphore;

use super::knobs::{Delay, Knobs};
use super::metrics::Metrics;
use super::verify::{Reason, Verifier};
use crate::model::Placement;
use crate::token::rng::TokenRng;

/// What every request handler reads.
pub(super) struct State {
    pub(super) path: String,
    pub(super) placement: Placement,
    pub(super) knobs: Knobs,
    pub(super) verifier: Verifier,
    /// Keys from the issuer's JWKS URL instead of `verifier`'s.
    pub(super) remote: Option<super::remote::RemoteKeys>,
    /// The deliberately vulnerable option: keys from a token's own `jku`/`x5u` header.
    pub(super) follow: Option<super::remote::HeaderKeys>,
    pub(super) jwks_body: Bytes,
    pub(super) health_body: Bytes,
    pub(super) metrics: Arc<Metrics>,
    pub(super) limit: Option<Semaphore>,
    /// The rate limit on verified tokens.
    pub(super) limiter: Option<super::limit::Limiter>,
    /// The revocation list, kept in step with its file.
    pub(super) revocations: Option<Arc<super::revocation::Watch>>,
    /// Further protected paths, each with the scope it needs, if any.
    pub(super) scoped_paths: Vec<(String, Option<String>)>,
    pub(super) started: Instant,
    pub(super) requests: AtomicU64,
}

/// Dropping the connection without a response (the close fault).
#[derive(Debug)]
pub(super) struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(super) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, CloseConnection> {
    let path = req.uri().path();
    if path == state.path {
        let scope = state.verifier.policy().required_scope.clone();
        let r = protected(&state, req, scope.as_deref()).await;
        state.metrics.count_path(0, &r);
        return r;
    }
    if let Some(i) = state.scoped_paths.iter().position(|(p, _)| p == path) {
        let scope = state.scoped_paths[i].1.clone();
        let r = protected(&state, req, scope.as_deref()).await;
        state.metrics.count_path(i + 1, &r);
        return r;
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

pub(super) async fn protected(
    state: &State,
    req: Request<Incoming>,
    scope: Option<&str>,
) -> Result<Resp, CloseConnection> {
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
        verify_response(state, token.as_deref().unwrap_or(b""), scope).await
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

/// Verifies with the knobs applied: the vulnerable check, a key from the token's own header,
/// the remote key set, or the fixed keys.
async fn verify(state: &State, token: &[u8], now: i64) -> Result<super::verify::Verified, Reason> {
    if state.knobs.vulnerable {
        return vulnerable_check(token, now);
    }
    if let Some(follow) = &state.follow
        && let Some(refs) = super::verify::header_refs(token)
        && (refs.jku.is_some() || refs.x5u.is_some())
    {
        let policy = state.verifier.policy();
        if let Some(keys) = follow.fetch(&refs, policy).await
            && let Ok(v) = Verifier::with_keys(policy.clone(), &keys, true)
        {
            return v.verify(token, now);
        }
    }
    match &state.remote {
        Some(remote) => remote.verify(token, now).await,
        None => state.verifier.verify(token, now),
    }
}

pub(super) async fn verify_response(state: &State, token: &[u8], scope: Option<&str>) -> Resp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let started = Instant::now();
    let mut result = verify(state, token, now).await;
    // Revocation comes after the signature and the claims: only a good token is looked up.
    if let (Ok(v), Some(list)) = (&result, &state.revocations)
        && v.jti.as_deref().is_some_and(|j| list.contains(j))
    {
        result = Err(Reason::Revoked);
    }
    state.metrics.observe(started.elapsed());
    match result {
        Ok(v) if scope.is_some_and(|s| !v.has_scope(s)) => {
            // RFC 6750 3.1: a good token without the scope the request needs.
            state.metrics.forbidden.fetch_add(1, Ordering::Relaxed);
            let scope = scope.unwrap_or_default();
            let mut r = respond(
                StatusCode::FORBIDDEN,
                "application/json",
                Bytes::from(format!(
                    "{{\"error\":\"insufficient_scope\",\"reason\":\"insufficient_scope\",\"scope\":{}}}",
                    serde_json::Value::from(scope)
                )),
            );
            let challenge = format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the token lacks the scope this request needs\", scope=\"{scope}\""
            );
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
            h.insert(
                "x-jwtstorm-reason",
                HeaderValue::from_static("insufficient_scope"),
            );
            r
        }
        Ok(v) => {
            // Only a verified token has an identity to count: a forgery cannot spend a real
            // subject's budget.
            if let Some(limiter) = &state.limiter
                && let Err(wait) = limiter.take(v.sub.as_deref(), Instant::now())
            {
                state.metrics.limited.fetch_add(1, Ordering::Relaxed);
                let secs = super::limit::retry_after_seconds(wait);
                let mut r = respond(
                    StatusCode::TOO_MANY_REQUESTS,
                    "application/json",
                    Bytes::from(format!("{{\"error\":\"rate_limited\",\"retry_after\":{secs}}}")),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return r;
            }
            state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
            let body = json!({"sub": v.sub, "kid": v.kid, "exp": v.exp});
            respond(StatusCode::OK, "application/json", Bytes::from(body.to_string()))
        }
        Err(reason) => {
            state.metrics.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
            // A deliberately wrong reason, for testing reason-aware judging.
            let reason = state
                .knobs
                .misreport
                .iter()
                .find(|(from, _)| *from == reason)
                .map_or(reason, |(_, to)| *to);
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

pub(super) fn reject_body(reason: Reason) -> Bytes {
    Bytes::from(format!(
        "{{\"error\":\"invalid_token\",\"reason\":\"{}\"}}",
        reason.as_str()
    ))
}

/// The deliberately vulnerable check: decodes the payload and honours `exp`, but trusts any
/// algorithm and never checks the signature.
pub(super) fn vulnerable_check(token: &[u8], now: i64) -> Result<super::verify::Verified, Reason> {
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
        scopes: super::verify::Verified::scopes_of(claims.get("scope")),
        jti: claims.get("jti").and_then(|v| v.as_str()).map(str::to_owned),
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

pub(super) fn trim(b: &[u8]) -> &[u8] {
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
