//! The request every connection sends, the address it goes to, and the TLS set-up for an
//! `https://` target, built once per session from the target settings.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};

use super::SessionError;
use crate::model::{HttpVersion, Placement, TransportKind};
use crate::replay::transport::Target;
use crate::scenario::run::RunSettings;

/// The path the embedded verifier protects.
pub const EMBEDDED_PATH: &str = "/protected";

/// A TLS connector with the name the server's certificate must carry.
pub type TlsFor = Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>;

fn invalid(e: impl std::fmt::Display) -> SessionError {
    SessionError::Invalid(format!("target: {e}"))
}

/// The path and query requests go to.
pub fn request_path(run: &RunSettings) -> String {
    match &run.target.url {
        Some(u) => u
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|pq| pq.as_str().to_string()))
            .unwrap_or_else(|| "/".into()),
        None => EMBEDDED_PATH.into(),
    }
}

/// The endpoints of `[[target.endpoints]]` on the origin of `url`, with their weights and
/// scopes; `None` without endpoints.
pub fn routes(
    run: &RunSettings,
    url: &str,
    seed: u64,
    token_scope: Option<String>,
) -> Result<Option<Arc<crate::replay::routes::Routes>>, SessionError> {
    use crate::replay::routes::{Route, Routes};
    if run.target.endpoints.is_empty() {
        return Ok(None);
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| SessionError::Invalid(format!("target URL '{url}': {e}")))?;
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    );
    let mut routes = Vec::new();
    for e in &run.target.endpoints {
        let (mut t, _) = target(run, &format!("{origin}{}", e.path))?;
        t.method = e.method.parse().map_err(invalid)?;
        routes.push((
            Route {
                target: Arc::new(t),
                scope: e.required_scope.clone(),
            },
            e.weight,
        ));
    }
    Ok(Some(Arc::new(Routes::new(routes, seed, token_scope))))
}

/// The paths the embedded verifier serves beside its own for the endpoints, each with its scope.
pub fn embedded_paths(run: &RunSettings) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for e in &run.target.endpoints {
        let path = e.path.split('?').next().unwrap_or_default().to_string();
        if path != EMBEDDED_PATH && !out.iter().any(|(p, _)| *p == path) {
            out.push((path, e.required_scope.clone()));
        }
    }
    out
}

/// Prepares the shared request parts and resolves the address.
pub fn target(run: &RunSettings, url: &str) -> Result<(Target, SocketAddr), SessionError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| SessionError::Invalid(format!("target URL '{url}': {e}")))?;
    let host = uri.host().ok_or_else(|| invalid("the target URL has no host"))?;
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .map_err(|source| SessionError::Resolve {
            host: host.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| SessionError::Resolve {
            host: host.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "it resolves to no address"),
        })?;
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
        format!("{prefix}{path}").parse().map_err(invalid)?
    } else {
        path.parse().map_err(invalid)?
    };
    let token_header = match &run.target.token {
        Placement::Bearer => Some(hyper::header::AUTHORIZATION),
        Placement::Header(n) => Some(HeaderName::from_bytes(n.as_bytes()).map_err(invalid)?),
        Placement::Cookie(_) => Some(hyper::header::COOKIE),
        Placement::Query(_) => None,
    };
    let mut headers = Vec::new();
    for (k, v) in &run.target.headers {
        headers.push((
            HeaderName::from_bytes(k.as_bytes()).map_err(invalid)?,
            HeaderValue::from_str(v).map_err(invalid)?,
        ));
    }
    Ok((
        Target {
            method: run.target.method.parse().map_err(invalid)?,
            uri: request_uri,
            host: HeaderValue::from_str(&authority).map_err(invalid)?,
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
pub fn tls_config(run: &RunSettings, url: &str) -> Result<Option<Arc<rustls::ClientConfig>>, SessionError> {
    let uri: hyper::Uri = url.parse().map_err(invalid)?;
    let t = &run.target;
    if uri.scheme_str() != Some("https") {
        if t.ca_file.is_some() || t.client_cert_file.is_some() || t.insecure {
            return Err(SessionError::Tls(format!(
                "target: ca_file, client_cert_file and insecure need an https:// target, not '{url}'"
            )));
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
    .map_err(SessionError::Tls)?;
    Ok(Some(config))
}

/// The TLS connector and server name for an `https://` target.
pub fn tls_for(run: &RunSettings, url: &str) -> Result<TlsFor, SessionError> {
    let Some(config) = tls_config(run, url)? else {
        return Ok(None);
    };
    let uri: hyper::Uri = url.parse().map_err(invalid)?;
    let name = crate::tls::server_name(uri.host().unwrap_or_default()).map_err(SessionError::Tls)?;
    Ok(Some((tokio_rustls::TlsConnector::from(config), name)))
}
