//! How a request is made: where the token goes, which HTTP version and which client carry it.

use std::fmt;
use std::str::FromStr;

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

/// HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HttpVersion {
    /// HTTP/1.1.
    #[serde(rename = "1.1")]
    Http1,
    /// h2 over TLS (ALPN), or h2c with prior knowledge on `http://`.
    #[serde(rename = "2")]
    Http2,
}

impl HttpVersion {
    /// The name results.json and the summary use: `1.1` or `2`.
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

impl FromStr for HttpVersion {
    type Err = String;
    /// `1.1`, `1` or `http1`; `2`, `h2`, `h2c` or `http2`: the same words in a scenario and a flag.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1.1" | "1" | "http1" => Ok(HttpVersion::Http1),
            "2" | "h2" | "h2c" | "http2" => Ok(HttpVersion::Http2),
            other => Err(format!("'{other}': expected \"1.1\" or \"2\"")),
        }
    }
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which HTTP client carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// hyper used directly: one task per connection, the least CPU per request.
    Hyper,
    /// reqwest: its own pool, and system proxy settings.
    Reqwest,
}

impl TransportKind {
    /// The name results.json uses.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Hyper => "hyper",
            TransportKind::Reqwest => "reqwest",
        }
    }
}

impl FromStr for TransportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hyper" => Ok(TransportKind::Hyper),
            "reqwest" => Ok(TransportKind::Reqwest),
            other => Err(format!("'{other}': expected hyper or reqwest")),
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for h in [HttpVersion::Http1, HttpVersion::Http2] {
            assert_eq!(h.name().parse::<HttpVersion>(), Ok(h));
            assert_eq!(serde_json::to_value(h).unwrap(), h.name());
        }
        for t in [TransportKind::Hyper, TransportKind::Reqwest] {
            assert_eq!(t.name().parse::<TransportKind>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
        for p in ["bearer", "header:x-token", "cookie:session", "query:access_token"] {
            assert_eq!(p.parse::<Placement>().unwrap().to_string(), p);
        }
        assert!("h3".parse::<HttpVersion>().is_err());
    }
}
