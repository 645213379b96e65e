//! The `[target]`, `[load]` and `[report]` sections as typed, validated settings for `run`.
//! Every impossible combination is refused here, before anything is sent.

use std::path::PathBuf;
use std::time::Duration;

use super::{CountValue, Loaded, PercentValue, ScenarioError};
use crate::units;
use crate::verifier::server::Placement;

/// Which HTTP client carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// hyper used directly: one task per connection, the least CPU per request.
    Hyper,
    /// reqwest: its own pool, and system proxy settings.
    Reqwest,
}

/// HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.1")]
    Http1,
    /// h2 over TLS (ALPN), or h2c with prior knowledge on `http://`.
    #[serde(rename = "2")]
    Http2,
}

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
}

/// Statuses that mean one thing: a list, or any 2xx.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum StatusSet {
    List(Vec<u16>),
    #[serde(serialize_with = "any_2xx")]
    Any2xx,
}

fn any_2xx<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("2xx")
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl StatusSet {
    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        match self {
            StatusSet::List(l) => l.contains(&status),
            StatusSet::Any2xx => (200..300).contains(&status),
        }
    }
}

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// N connections, each sending its next request when the last one finishes.
    Closed,
    /// Requests scheduled at a fixed arrival rate, whatever the target does.
    Open,
}

/// One stage of an open-loop schedule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stage {
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Requests per second at the end of the stage (and all through it unless `ramp`).
    pub rate: f64,
    /// Move linearly from the previous stage's rate to `rate`.
    pub ramp: bool,
}

/// Token order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Sequential,
    Shuffle,
}

/// Typed `[load]` settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSettings {
    pub model: Model,
    /// Open loop: the schedule (a single stage for a fixed rate).
    pub stages: Vec<Stage>,
    pub concurrency: usize,
    /// The run's time bound (for the open model, the schedule's length).
    #[serde(with = "opt_secs")]
    pub duration: Option<Duration>,
    /// The run's request bound.
    pub requests: Option<u64>,
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Client threads (one runtime each); 0 picks from the cores.
    pub threads: usize,
    pub order: Order,
    pub seed: u64,
    pub reuse: f64,
    pub pool: Option<u64>,
    #[serde(with = "secs")]
    pub grace: Duration,
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(d: &Option<std::time::Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

impl LoadSettings {
    /// The time bound every run has: its duration, or for a count-only run a generous ceiling.
    pub fn time_bound(&self) -> Duration {
        self.duration.unwrap_or(Duration::from_secs(24 * 3600))
    }
}

/// Default time bound when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Typed `[report]` settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSettings {
    pub dir: PathBuf,
    pub formats: Vec<crate::report::Format>,
}

/// Everything `run` needs beyond keys, policy and tokens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSettings {
    pub target: TargetSettings,
    pub load: LoadSettings,
    pub report: ReportSettings,
    /// Replay this batch instead of minting.
    pub batch: Option<PathBuf>,
    #[serde(skip)]
    pub thresholds: Vec<crate::gate::thresholds::Threshold>,
    /// Check thresholds during the run from this point on, and stop at the first failure.
    #[serde(skip)]
    pub abort_after: Option<Duration>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            target: TargetSettings {
                embedded: false,
                url: None,
                method: "GET".into(),
                token: Placement::Bearer,
                headers: Vec::new(),
                body: Vec::new(),
                body_bytes: 0,
                accept: StatusSet::Any2xx,
                reject: StatusSet::List(vec![401, 403]),
                timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(3),
                http: HttpVersion::Http1,
                transport: TransportKind::Hyper,
                max_body: 64 * 1024,
                ca_file: None,
                client_cert_file: None,
                client_key_file: None,
                insecure: false,
            },
            load: LoadSettings {
                model: Model::Closed,
                stages: Vec::new(),
                concurrency: 16,
                duration: None,
                requests: None,
                warmup: Duration::ZERO,
                threads: 0,
                order: Order::Sequential,
                seed: 1,
                reuse: 0.0,
                pool: None,
                grace: Duration::from_secs(2),
            },
            report: ReportSettings {
                dir: PathBuf::from("reports"),
                formats: crate::report::Format::ALL.to_vec(),
            },
            batch: None,
            thresholds: Vec::new(),
            abort_after: None,
        }
    }
}

fn count(v: &CountValue) -> Result<u64, String> {
    match v {
        CountValue::Int(n) if *n >= 0 => Ok(*n as u64),
        CountValue::Int(n) => Err(format!("must be positive, got {n}")),
        CountValue::Text(s) => units::parse_count(s),
    }
}

fn duration(l: &Loaded, v: &toml::Spanned<String>, key: &str) -> Result<Duration, ScenarioError> {
    units::parse_duration(v.get_ref()).map_err(|e| l.error(v, key, e))
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

impl RunSettings {
    /// Reads `[target]`, `[load]`, `[report]` and `tokens.batch`; checks each value and the
    /// combinations between them.
    pub fn from_scenario(l: &Loaded) -> Result<Self, ScenarioError> {
        Self::from_scenario_with(l, false)
    }

    /// As [`RunSettings::from_scenario`]; `url_given` says a flag supplies the target URL.
    pub fn from_scenario_with(l: &Loaded, url_given: bool) -> Result<Self, ScenarioError> {
        let sc = &l.scenario;
        let mut s = RunSettings::default();

        let t = &sc.target;
        let tg = &mut s.target;
        tg.embedded = t.embedded.as_ref().is_some_and(|e| *e.get_ref());
        if let Some(u) = &t.url {
            if tg.embedded {
                return Err(l.error(u, "target.url", "cannot be combined with target.embedded = true"));
            }
            check_url(u.get_ref()).map_err(|e| l.error(u, "target.url", e))?;
            tg.url = Some(u.get_ref().clone());
        }
        if let Some(m) = &t.method {
            let upper = m.get_ref().to_ascii_uppercase();
            if hyper::Method::from_bytes(upper.as_bytes()).is_err() || upper.is_empty() {
                return Err(l.error(m, "target.method", format!("'{upper}' is not an HTTP method")));
            }
            tg.method = upper;
        }
        if let Some(p) = &t.token {
            tg.token = p.get_ref().parse().map_err(|e| l.error(p, "target.token", e))?;
        }
        if let Some(h) = &t.headers {
            for (k, v) in h.get_ref() {
                if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    return Err(l.error(h, "target.headers", format!("'{k}' is not a valid header name")));
                }
                if hyper::header::HeaderValue::from_str(v).is_err() {
                    return Err(l.error(
                        h,
                        "target.headers",
                        format!("the value of '{k}' is not a valid header value"),
                    ));
                }
                tg.headers.push((k.clone(), v.clone()));
            }
        }
        match (&t.body, &t.body_file) {
            (Some(_), Some(f)) => {
                return Err(l.error(
                    f,
                    "target.body_file",
                    "choose target.body or target.body_file, not both",
                ));
            }
            (Some(b), None) => tg.body = b.get_ref().as_bytes().to_vec(),
            (None, Some(f)) => {
                let p = l.relative(f.get_ref());
                tg.body = std::fs::read(&p).map_err(|e| {
                    l.error(
                        f,
                        "target.body_file",
                        format!("cannot read '{}': {e}", p.display()),
                    )
                })?;
            }
            (None, None) => {}
        }
        tg.body_bytes = tg.body.len();
        if let Some(a) = &t.accept {
            tg.accept = statuses(l, a, "target.accept")?;
        }
        if let Some(r) = &t.reject {
            tg.reject = statuses(l, r, "target.reject")?;
        }
        if let (Some(r), StatusSet::List(acc)) = (&t.reject, &tg.accept)
            && let StatusSet::List(rej) = &tg.reject
            && let Some(both) = rej.iter().find(|s| acc.contains(s))
        {
            return Err(l.error(r, "target.reject", format!("{both} is also in target.accept")));
        }
        if let Some(v) = &t.timeout {
            tg.timeout = duration(l, v, "target.timeout")?;
            if tg.timeout.is_zero() {
                return Err(l.error(v, "target.timeout", "must be longer than 0s"));
            }
        }
        if let Some(v) = &t.connect_timeout {
            tg.connect_timeout = duration(l, v, "target.connect_timeout")?;
            if tg.connect_timeout.is_zero() {
                return Err(l.error(v, "target.connect_timeout", "must be longer than 0s"));
            }
        }
        if let Some(v) = &t.http {
            tg.http = match v.get_ref().as_str() {
                "1.1" | "1" | "http1" => HttpVersion::Http1,
                "2" | "h2" | "h2c" | "http2" => HttpVersion::Http2,
                other => {
                    return Err(l.error(v, "target.http", format!("'{other}': expected \"1.1\" or \"2\"")));
                }
            };
        }
        if let Some(v) = &t.transport {
            tg.transport = match v.get_ref().as_str() {
                "hyper" => TransportKind::Hyper,
                "reqwest" => TransportKind::Reqwest,
                other => {
                    return Err(l.error(
                        v,
                        "target.transport",
                        format!("'{other}': expected hyper or reqwest"),
                    ));
                }
            };
        }
        if let Some(v) = &t.max_body {
            tg.max_body = count(v.get_ref()).map_err(|e| l.error(v, "target.max_body", e))?;
        }
        for (value, key, slot) in [
            (&t.ca_file, "target.ca_file", &mut tg.ca_file),
            (
                &t.client_cert_file,
                "target.client_cert_file",
                &mut tg.client_cert_file,
            ),
            (
                &t.client_key_file,
                "target.client_key_file",
                &mut tg.client_key_file,
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
        if tg.client_cert_file.is_some() != tg.client_key_file.is_some() {
            let v = t
                .client_cert_file
                .as_ref()
                .or(t.client_key_file.as_ref())
                .expect("one is set");
            return Err(l.error(
                v,
                "target",
                "client_cert_file and client_key_file go together (mutual TLS needs both)",
            ));
        }
        tg.insecure = t.insecure.unwrap_or(false);

        let ld = &sc.load;
        let lo = &mut s.load;
        if let Some(m) = &ld.model {
            lo.model = match m.get_ref().as_str() {
                "closed" => Model::Closed,
                "open" => Model::Open,
                other => return Err(l.error(m, "load.model", format!("'{other}': expected closed or open"))),
            };
        } else if ld.rate.is_some() || ld.stages.is_some() {
            lo.model = Model::Open;
        }
        if let Some(c) = &ld.concurrency {
            if !(1..=100_000).contains(c.get_ref()) {
                return Err(l.error(c, "load.concurrency", "must be between 1 and 100000"));
            }
            lo.concurrency = *c.get_ref() as usize;
        }
        if let Some(d) = &ld.duration {
            let d2 = duration(l, d, "load.duration")?;
            if d2.is_zero() {
                return Err(l.error(d, "load.duration", "must be longer than 0s"));
            }
            lo.duration = Some(d2);
        }
        if let Some(r) = &ld.requests {
            let n = count(r.get_ref()).map_err(|e| l.error(r, "load.requests", e))?;
            if n == 0 {
                return Err(l.error(r, "load.requests", "must be at least 1"));
            }
            lo.requests = Some(n);
        }
        if let Some(t) = &ld.threads {
            if !(0..=1024).contains(t.get_ref()) {
                return Err(l.error(t, "load.threads", "must be between 0 (automatic) and 1024"));
            }
            lo.threads = *t.get_ref() as usize;
        }
        match (lo.model, &ld.rate, &ld.stages) {
            (Model::Closed, Some(r), _) => {
                return Err(l.error(
                    r,
                    "load.rate",
                    "a rate needs the open model (load.model = \"open\"); the closed model sends as fast as the target answers",
                ));
            }
            (Model::Closed, None, Some(st)) => {
                return Err(l.error(
                    st,
                    "load.stages",
                    "stages need the open model (load.model = \"open\")",
                ));
            }
            (Model::Open, Some(r), Some(_)) => {
                return Err(l.error(r, "load.rate", "give either load.rate or load.stages, not both"));
            }
            (Model::Open, Some(r), None) => {
                let rate = check_rate(l, r, "load.rate")?;
                lo.stages = vec![Stage {
                    duration: lo.duration.unwrap_or(DEFAULT_DURATION),
                    rate,
                    ramp: false,
                }];
            }
            (Model::Open, None, Some(st)) => {
                if st.get_ref().is_empty() {
                    return Err(l.error(st, "load.stages", "list at least one stage"));
                }
                if let Some(d) = &ld.duration {
                    return Err(l.error(
                        d,
                        "load.duration",
                        "with stages the run lasts as long as the stages; remove load.duration",
                    ));
                }
                for (i, stage) in st.get_ref().iter().enumerate() {
                    let key = format!("load.stages[{i}]");
                    let d = duration(l, &stage.duration, &format!("{key}.duration"))?;
                    if d.is_zero() {
                        return Err(l.error(
                            &stage.duration,
                            &format!("{key}.duration"),
                            "must be longer than 0s",
                        ));
                    }
                    let rate = check_rate(l, &stage.rate, &format!("{key}.rate"))?;
                    lo.stages.push(Stage {
                        duration: d,
                        rate,
                        ramp: stage.ramp && i > 0,
                    });
                }
                lo.duration = Some(lo.stages.iter().map(|s| s.duration).sum());
            }
            (Model::Open, None, None) => {
                let at = ld
                    .model
                    .as_ref()
                    .expect("open is only implied by a rate or stages");
                return Err(l.error(at, "load.model", "the open model needs load.rate or load.stages"));
            }
            (Model::Closed, None, None) => {}
        }
        if lo.model == Model::Open && lo.duration.is_none() {
            lo.duration = Some(lo.stages.iter().map(|s| s.duration).sum());
        }
        if lo.duration.is_none() && lo.requests.is_none() {
            lo.duration = Some(DEFAULT_DURATION);
        }
        if let Some(w) = &ld.warmup {
            lo.warmup = duration(l, w, "load.warmup")?;
            if let Some(d) = lo.duration
                && lo.warmup >= d
            {
                return Err(l.error(
                    w,
                    "load.warmup",
                    format!(
                        "the warmup ({}) must be shorter than the run ({})",
                        units::format_duration(lo.warmup),
                        units::format_duration(d)
                    ),
                ));
            }
        }
        if let Some(o) = &ld.order {
            lo.order = match o.get_ref().as_str() {
                "sequential" => Order::Sequential,
                "shuffle" => Order::Shuffle,
                other => {
                    return Err(l.error(
                        o,
                        "load.order",
                        format!("'{other}': expected sequential or shuffle"),
                    ));
                }
            };
        }
        if let Some(seed) = ld.seed {
            lo.seed = seed;
        }
        if let Some(r) = &ld.reuse {
            let f = match r.get_ref() {
                PercentValue::Number(n) => Ok(*n),
                PercentValue::Text(t) => units::parse_percent(t),
            }
            .map_err(|e| l.error(r, "load.reuse", e))?;
            if !(0.0..1.0).contains(&f) {
                return Err(l.error(r, "load.reuse", "must be at least 0 and below 1 (or 100%)"));
            }
            lo.reuse = f;
        }
        if let Some(p) = &ld.pool {
            let n = count(p.get_ref()).map_err(|e| l.error(p, "load.pool", e))?;
            if n == 0 {
                return Err(l.error(p, "load.pool", "must be at least 1"));
            }
            lo.pool = Some(n);
        }
        if let Some(g) = &ld.grace {
            lo.grace = duration(l, g, "load.grace")?;
        }

        if let Some(d) = &sc.report.dir {
            s.report.dir = PathBuf::from(d.get_ref());
        }
        if let Some(f) = &sc.report.formats {
            let parsed: Result<Vec<crate::report::Format>, String> =
                f.get_ref().iter().map(|x| x.parse()).collect();
            s.report.formats = parsed.map_err(|e| l.error(f, "report.formats", e))?;
        }
        if let Some(b) = &sc.tokens.batch {
            let tk = &sc.tokens;
            let minting = [
                tk.count.as_ref().map(|v| v.span().start),
                tk.now.as_ref().map(|v| v.span().start),
                tk.ttl.as_ref().map(|v| v.span().start),
                tk.nbf.as_ref().map(|v| v.span().start),
                tk.size.as_ref().map(|v| v.span().start),
                tk.claims.as_ref().map(|v| v.span().start),
                tk.mix.as_ref().map(|v| v.span().start),
            ];
            if let Some(at) = minting.into_iter().flatten().min() {
                return Err(ScenarioError {
                    location: l.at(at),
                    message: "tokens: a batch file is replayed as minted; remove the minting fields or tokens.batch"
                        .into(),
                });
            }
            let p = l.relative(b.get_ref());
            if !p.is_file() {
                return Err(l.error(b, "tokens.batch", format!("no such file '{}'", p.display())));
            }
            s.batch = Some(p);
        }
        for (name, cond) in &sc.thresholds {
            let t = crate::gate::thresholds::parse(name, cond.get_ref())
                .map_err(|e| l.error(cond, &format!("thresholds.\"{name}\""), e))?;
            s.thresholds.push(t);
        }
        if sc.gate.abort_on_fail == Some(true) {
            let after = match &sc.gate.abort_after {
                Some(v) => duration(l, v, "gate.abort_after")?,
                None => s.load.warmup + Duration::from_secs(5),
            };
            s.abort_after = Some(after);
        } else if let Some(v) = &sc.gate.abort_after {
            return Err(l.error(v, "gate.abort_after", "needs gate.abort_on_fail = true"));
        }
        if !s.target.embedded && s.target.url.is_none() && !url_given {
            return Err(ScenarioError {
                location: l.path.display().to_string(),
                message: "target: set target.url, or target.embedded = true to test the built-in reference verifier"
                    .into(),
            });
        }
        Ok(s)
    }
}

fn check_rate(l: &Loaded, r: &toml::Spanned<f64>, key: &str) -> Result<f64, ScenarioError> {
    let rate = *r.get_ref();
    if !(0.0..=10_000_000.0).contains(&rate) {
        return Err(l.error(r, key, "must be between 0 and 10000000 requests per second"));
    }
    Ok(rate)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(text: &str) -> Result<RunSettings, ScenarioError> {
        let l = Loaded::parse(Path::new("t.toml"), text.to_string())?;
        RunSettings::from_scenario(&l)
    }

    #[test]
    fn defaults_and_open_model() {
        let s = run("[target]\nembedded = true\n").unwrap();
        assert_eq!(s.load.model, Model::Closed);
        assert_eq!(s.load.duration, Some(DEFAULT_DURATION));
        assert!(s.target.accept.contains(204) && !s.target.accept.contains(401));
        let s = run("[target]\nembedded = true\n[load]\nrate = 500\nduration = \"3s\"\n").unwrap();
        assert_eq!(s.load.model, Model::Open);
        assert_eq!(s.load.stages.len(), 1);
        assert_eq!(s.load.stages[0].duration, Duration::from_secs(3));
        let s = run(
            "[target]\nembedded = true\n[load]\nstages = [{ duration = \"2s\", rate = 10 }, { duration = \"3s\", rate = 40, ramp = true }]\n",
        )
        .unwrap();
        assert_eq!(s.load.duration, Some(Duration::from_secs(5)));
        assert!(s.load.stages[1].ramp);
    }

    #[test]
    fn impossible_combinations_name_the_key() {
        let cases = [
            (
                "[target]\nembedded = true\n[load]\nmodel = \"closed\"\nrate = 10\n",
                "t.toml:5:8",
                "load.rate: a rate needs the open model",
            ),
            (
                "[target]\nembedded = true\n[load]\nduration = \"2s\"\nwarmup = \"5s\"\n",
                "t.toml:5:10",
                "load.warmup: the warmup (5.00s) must be shorter",
            ),
            (
                "[target]\nembedded = true\nurl = \"http://127.0.0.1:1/\"\n",
                "t.toml:3:7",
                "target.url: cannot be combined",
            ),
            ("[load]\nconcurrency = 2\n", "t.toml", "target: set target.url"),
            (
                "[target]\nurl = \"ftp://x/\"\n",
                "t.toml:2:7",
                "target.url: 'ftp://x/': the URL must start",
            ),
            (
                "[target]\nembedded = true\naccept = [200]\nreject = [200]\n",
                "t.toml:4:10",
                "target.reject: 200 is also in target.accept",
            ),
            (
                "[target]\nembedded = true\n[load]\nmodel = \"open\"\n",
                "t.toml:4:9",
                "load.model: the open model needs",
            ),
            (
                "[target]\nembedded = true\n[load]\nreuse = \"150%\"\n",
                "t.toml:4:9",
                "load.reuse: must be at least 0",
            ),
            (
                "[target]\nembedded = true\ntoken = \"smoke:signal\"\n",
                "t.toml:3:9",
                "target.token:",
            ),
        ];
        for (text, at, msg) in cases {
            let e = run(text).unwrap_err();
            assert_eq!(e.location, at, "{text}");
            assert!(e.message.starts_with(msg), "{text}: {}", e.message);
        }
    }
}
