//! The `[target]` section: where requests go and how they are made, as typed settings.

use std::path::PathBuf;
use std::time::Duration;

use super::{Loaded, ScenarioError, count, duration};
use crate::model::{HttpVersion, Placement, StatusSet, StatusSets, TransportKind};

/// Typed `[target]` settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetSettings {
    pub embedded: bool,
    /// The URL; for an embedded target it is filled in once the server listens.
    pub url: Option<String>,
    pub method: String,
    #[serde(serialize_with = "display")]
    pub token: Placement,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub body_bytes: usize,
    pub accept: StatusSet,
    pub reject: StatusSet,
    pub forbidden: StatusSet,
    pub limited: StatusSet,
    #[serde(with = "secs")]
    pub timeout: Duration,
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    pub http: HttpVersion,
    pub transport: TransportKind,
    pub max_body: u64,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub insecure: bool,
    /// Answers to time-bound tokens sent within this band centred on their expiry or `nbf`
    /// are judged `boundary`, never false.
    #[serde(with = "secs")]
    pub boundary_guard: Duration,
    /// The response header that carries the target's rejection reason, lower case.
    pub reason_header: Option<String>,
    /// The JSON body field that carries it.
    pub reason_json: Option<String>,
    /// The scenario's translations of the target's reasons.
    pub reason_synonyms: std::collections::BTreeMap<String, String>,
    /// Several endpoints, chosen per request by weight; empty: the URL's path only.
    pub endpoints: Vec<EndpointSettings>,
}

/// One endpoint of `[[target.endpoints]]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EndpointSettings {
    pub path: String,
    pub method: String,
    pub weight: f64,
    pub required_scope: Option<String>,
}

/// The most endpoints a run may spread over.
pub const MAX_ENDPOINTS: usize = 64;

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub(super) mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Default for TargetSettings {
    fn default() -> Self {
        TargetSettings {
            embedded: false,
            url: None,
            method: "GET".into(),
            token: Placement::Bearer,
            headers: Vec::new(),
            body: Vec::new(),
            body_bytes: 0,
            accept: StatusSets::default().accept,
            reject: StatusSets::default().reject,
            forbidden: StatusSets::default().forbidden,
            limited: StatusSets::default().limited,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            http: HttpVersion::Http1,
            transport: TransportKind::Hyper,
            max_body: 64 * 1024,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            insecure: false,
            boundary_guard: Duration::from_secs(1),
            reason_header: None,
            reason_json: None,
            reason_synonyms: std::collections::BTreeMap::new(),
            endpoints: Vec::new(),
        }
    }
}

impl TargetSettings {
    /// The status sets that turn an answer into an outcome.
    pub fn statuses(&self) -> StatusSets {
        StatusSets {
            accept: self.accept.clone(),
            reject: self.reject.clone(),
            forbidden: self.forbidden.clone(),
            limited: self.limited.clone(),
        }
    }

    /// Reads `[target]`; checks each value and the combinations within the section. The URL
    /// may be left out here when a flag gives it.
    pub fn from_section(l: &Loaded) -> Result<Self, ScenarioError> {
        let section = &l.scenario.target;
        let mut target = TargetSettings {
            embedded: section.embedded.as_ref().is_some_and(|e| *e.get_ref()),
            ..TargetSettings::default()
        };
        if let Some(u) = &section.url {
            if target.embedded {
                return Err(l.error(u, "target.url", "cannot be combined with target.embedded = true"));
            }
            check_url(u.get_ref()).map_err(|e| l.error(u, "target.url", e))?;
            target.url = Some(u.get_ref().clone());
        }
        if let Some(m) = &section.method {
            target.method = check_method(m.get_ref()).map_err(|e| l.error(m, "target.method", e))?;
        }
        if let Some(p) = &section.token {
            target.token = p.get_ref().parse().map_err(|e| l.error(p, "target.token", e))?;
        }
        if let Some(h) = &section.headers {
            for (k, v) in h.get_ref() {
                check_header(k, v).map_err(|e| l.error(h, "target.headers", e))?;
                target.headers.push((k.clone(), v.clone()));
            }
        }
        match (&section.body, &section.body_file) {
            (Some(_), Some(f)) => {
                return Err(l.error(
                    f,
                    "target.body_file",
                    "choose target.body or target.body_file, not both",
                ));
            }
            (Some(b), None) => target.body = b.get_ref().as_bytes().to_vec(),
            (None, Some(f)) => {
                let p = l.relative(f.get_ref());
                target.body = crate::files::read_capped(&p, crate::files::TEXT_CAP).map_err(|e| {
                    l.error(
                        f,
                        "target.body_file",
                        format!("cannot read '{}': {e}", p.display()),
                    )
                })?;
            }
            (None, None) => {}
        }
        target.body_bytes = target.body.len();
        if let Some(a) = &section.accept {
            target.accept = statuses(l, a, "target.accept")?;
        }
        if let Some(r) = &section.reject {
            target.reject = statuses(l, r, "target.reject")?;
        }
        if let Some(f) = &section.forbidden {
            target.forbidden = statuses(l, f, "target.forbidden")?;
        }
        if let Some(v) = &section.limited {
            target.limited = statuses(l, v, "target.limited")?;
        }
        // A status the scenario names in two sets is an error; a default set yields to a
        // named one (`reject = [401, 403]` makes 403 a rejection, no longer forbidden).
        let given = [
            ("target.accept", section.accept.as_ref()),
            ("target.reject", section.reject.as_ref()),
            ("target.forbidden", section.forbidden.as_ref()),
            ("target.limited", section.limited.as_ref()),
        ];
        let mut sets = [
            target.accept.clone(),
            target.reject.clone(),
            target.forbidden.clone(),
            target.limited.clone(),
        ];
        for (i, (key, spanned)) in given.iter().enumerate() {
            let Some(spanned) = spanned else { continue };
            for (j, (earlier, other)) in given[..i].iter().enumerate() {
                if other.is_none() {
                    continue;
                }
                if let Some(both) = (100..=599u16).find(|s| sets[i].contains(*s) && sets[j].contains(*s)) {
                    return Err(l.error(spanned, key, format!("{both} is also in {earlier}")));
                }
            }
        }
        let named: Vec<StatusSet> = (0..4)
            .filter(|i| given[*i].1.is_some())
            .map(|i| sets[i].clone())
            .collect();
        for (i, set) in sets.iter_mut().enumerate() {
            if given[i].1.is_none()
                && let StatusSet::List(list) = set
            {
                list.retain(|s| !named.iter().any(|n| n.contains(*s)));
            }
        }
        let [accept, reject, forbidden, limited] = sets;
        (target.accept, target.reject, target.forbidden, target.limited) =
            (accept, reject, forbidden, limited);
        if let Some(v) = &section.timeout {
            target.timeout = duration(l, v, "target.timeout")?;
            if target.timeout.is_zero() {
                return Err(l.error(v, "target.timeout", "must be longer than 0s"));
            }
        }
        if let Some(v) = &section.connect_timeout {
            target.connect_timeout = duration(l, v, "target.connect_timeout")?;
            if target.connect_timeout.is_zero() {
                return Err(l.error(v, "target.connect_timeout", "must be longer than 0s"));
            }
        }
        if let Some(v) = &section.http {
            target.http = v.get_ref().parse().map_err(|e| l.error(v, "target.http", e))?;
        }
        if let Some(v) = &section.transport {
            target.transport = v
                .get_ref()
                .parse()
                .map_err(|e| l.error(v, "target.transport", e))?;
        }
        if let Some(v) = &section.max_body {
            target.max_body = count(v.get_ref()).map_err(|e| l.error(v, "target.max_body", e))?;
        }
        for (value, key, slot) in [
            (&section.ca_file, "target.ca_file", &mut target.ca_file),
            (
                &section.client_cert_file,
                "target.client_cert_file",
                &mut target.client_cert_file,
            ),
            (
                &section.client_key_file,
                "target.client_key_file",
                &mut target.client_key_file,
            ),
        ] {
            if let Some(v) = value {
                let p = l.relative(v.get_ref());
                if !p.is_file() {
                    return Err(l.error(v, key, format!("no such file '{}'", p.display())));
                }
                *slot = Some(p);
            }
        }
        if target.client_cert_file.is_some() != target.client_key_file.is_some() {
            let v = section
                .client_cert_file
                .as_ref()
                .or(section.client_key_file.as_ref())
                .expect("one is set");
            return Err(l.error(
                v,
                "target",
                "client_cert_file and client_key_file go together (mutual TLS needs both)",
            ));
        }
        target.insecure = section.insecure.unwrap_or(false);
        if let Some(h) = &section.reason_header {
            if hyper::header::HeaderName::from_bytes(h.get_ref().as_bytes()).is_err() {
                return Err(l.error(
                    h,
                    "target.reason_header",
                    format!("'{}' is not a header name", h.get_ref()),
                ));
            }
            target.reason_header = Some(h.get_ref().to_ascii_lowercase());
        }
        if let Some(j) = &section.reason_json {
            if j.get_ref().is_empty() {
                return Err(l.error(j, "target.reason_json", "name the JSON field, such as \"error\""));
            }
            target.reason_json = Some(j.get_ref().clone());
        }
        if let Some(r) = &section.reasons {
            let known: Vec<&str> = crate::verifier::verify::Reason::ALL
                .iter()
                .map(|r| r.as_str())
                .collect();
            for (from, to) in r.get_ref() {
                if !known.contains(&to.as_str()) {
                    return Err(l.error(
                        r,
                        "target.reasons",
                        format!(
                            "'{from}' = '{to}': '{to}' is not a jwtstorm reason; expected one of {}",
                            known.join(", ")
                        ),
                    ));
                }
                target.reason_synonyms.insert(
                    from.trim().to_ascii_lowercase().replace([' ', '-'], "_"),
                    to.clone(),
                );
            }
        }
        if let Some(g) = &section.boundary_guard {
            target.boundary_guard = duration(l, g, "target.boundary_guard")?;
            if target.boundary_guard > Duration::from_secs(3600) {
                return Err(l.error(g, "target.boundary_guard", "must be at most 1h"));
            }
        }
        if let Some(eps) = &section.endpoints {
            target.endpoints = endpoints(l, eps, &target)?;
        }
        Ok(target)
    }
}

fn endpoints(
    l: &Loaded,
    eps: &toml::Spanned<Vec<super::EndpointValue>>,
    target: &TargetSettings,
) -> Result<Vec<EndpointSettings>, ScenarioError> {
    let key = "target.endpoints";
    if eps.get_ref().is_empty() || eps.get_ref().len() > MAX_ENDPOINTS {
        return Err(l.error(eps, key, format!("list 1 to {MAX_ENDPOINTS} endpoints")));
    }
    if matches!(target.token, Placement::Query(_)) {
        return Err(l.error(
            eps,
            key,
            "endpoints cannot be combined with a query placement (the token is part of the path)",
        ));
    }
    let mut out: Vec<EndpointSettings> = Vec::new();
    for e in eps.get_ref() {
        let path = e.path.get_ref();
        if !path.starts_with('/') || path.contains([' ', '#']) || hyper::Uri::try_from(path.as_str()).is_err()
        {
            return Err(l.error(
                &e.path,
                "target.endpoints.path",
                format!("'{path}' is not a path starting with /"),
            ));
        }
        let method = match &e.method {
            Some(m) => check_method(m.get_ref()).map_err(|err| l.error(m, "target.endpoints.method", err))?,
            None => target.method.clone(),
        };
        let weight = match &e.weight {
            Some(w) if !(w.get_ref().is_finite() && *w.get_ref() > 0.0) => {
                return Err(l.error(w, "target.endpoints.weight", "must be a number above 0"));
            }
            Some(w) => *w.get_ref(),
            None => 1.0,
        };
        let required_scope = match &e.required_scope {
            Some(sc) => {
                crate::scenario::resolve::check_scope(sc.get_ref())
                    .map_err(|err| l.error(sc, "target.endpoints.required_scope", err))?;
                Some(sc.get_ref().clone())
            }
            None => None,
        };
        if out.iter().any(|o| o.path == *path && o.method == method) {
            return Err(l.error(
                &e.path,
                "target.endpoints.path",
                format!("{method} {path} is listed twice"),
            ));
        }
        out.push(EndpointSettings {
            path: path.clone(),
            method,
            weight,
            required_scope,
        });
    }
    Ok(out)
}

fn statuses(l: &Loaded, v: &toml::Spanned<Vec<i64>>, key: &str) -> Result<StatusSet, ScenarioError> {
    let mut out = Vec::new();
    for s in v.get_ref() {
        if !(100..=599).contains(s) {
            return Err(l.error(v, key, format!("{s} is not an HTTP status (100-599)")));
        }
        out.push(*s as u16);
    }
    if out.is_empty() {
        return Err(l.error(v, key, "list at least one status"));
    }
    Ok(StatusSet::List(out))
}

/// Checks a request method; returns it in upper case.
pub fn check_method(m: &str) -> Result<String, String> {
    let upper = m.to_ascii_uppercase();
    if upper.is_empty() || hyper::Method::from_bytes(upper.as_bytes()).is_err() {
        return Err(format!("'{upper}' is not an HTTP method"));
    }
    Ok(upper)
}

/// Checks a request header's name and value.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("'{name}' is not a valid header name"));
    }
    if hyper::header::HeaderValue::from_str(value).is_err() {
        return Err(format!("the value of '{name}' is not a valid header value"));
    }
    Ok(())
}

/// Checks a target URL: http or https, with a host.
pub fn check_url(u: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = u.parse().map_err(|e| format!("'{u}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("'{u}': the URL must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("'{u}': the URL has no host"));
    }
    Ok(uri)
}
