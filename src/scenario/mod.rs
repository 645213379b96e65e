//! The scenario file: a TOML model with defaults, and validation whose errors name the file,
//! line, column and key.

pub mod diff;
pub mod flags;
pub mod idp;
pub mod load;
pub mod resolve;
pub mod run;
pub mod target;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A parsed scenario, before validation of values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Names the run and its report folder.
    pub name: Option<String>,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub verifier: VerifierSection,
    #[serde(default)]
    pub tokens: TokensSection,
    #[serde(default)]
    pub target: TargetSection,
    #[serde(default)]
    pub load: LoadSection,
    #[serde(default)]
    pub report: ReportSection,
    /// `"[class.][uncorrected.]metric" = "OP LIMIT"`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub capacity: CapacitySection,
    #[serde(default)]
    pub gate: GateSection,
    /// jwtstorm as the identity provider: the JWKS it serves and how it rotates.
    pub idp: Option<idp::IdpSection>,
    /// `jwtstorm diff`: the verifiers one batch goes to.
    #[serde(default)]
    pub diff: DiffSection,
}

/// `[diff]`: the targets of a verifier differential.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffSection {
    /// Send to every target at once (default) or one after another.
    pub parallel: Option<bool>,
    pub targets: Option<Spanned<Vec<DiffTargetValue>>>,
    /// `"[class.]disagreements" = "OP N"`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Spanned<String>>,
}

/// One `[[diff.targets]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffTargetValue {
    pub name: String,
    pub url: String,
    /// Extra request headers for this target, over `target.headers`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Where this target reads the token (`target.token` by default).
    pub token: Option<String>,
    pub reason_header: Option<String>,
    pub reason_json: Option<String>,
}

/// `[gate]`: how thresholds gate a run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// Check thresholds every second during the run and stop at the first failure.
    pub abort_on_fail: Option<bool>,
    /// Start those checks this long into the run (default: the warmup plus 5 s).
    pub abort_after: Option<Spanned<String>>,
    /// Fail a run that sent valid tokens and had none accepted (default true).
    pub require_accepts: Option<bool>,
}

/// `[capacity]`: the SLOs and bounds of `jwtstorm capacity`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySection {
    /// Same grammar as `[thresholds]`.
    #[serde(default)]
    pub slo: BTreeMap<String, Spanned<String>>,
    pub start_rate: Option<Spanned<f64>>,
    pub max_rate: Option<Spanned<f64>>,
    pub growth: Option<Spanned<f64>>,
    pub step: Option<Spanned<String>>,
    pub settle: Option<Spanned<String>>,
    pub confirm: Option<Spanned<String>>,
    pub max_steps: Option<Spanned<i64>>,
    pub budget: Option<Spanned<String>>,
    pub shortfall: Option<Spanned<PercentValue>>,
    pub max_late: Option<Spanned<PercentValue>>,
    pub precision: Option<Spanned<PercentValue>>,
}

/// `[target]`: where requests go and how responses are read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// Start the reference verifier in-process on 127.0.0.1:0 with the scenario's keys.
    pub embedded: Option<Spanned<bool>>,
    pub url: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    /// `bearer`, `header:NAME`, `cookie:NAME` or `query:NAME`.
    pub token: Option<Spanned<String>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    pub body: Option<Spanned<String>>,
    pub body_file: Option<Spanned<String>>,
    pub accept: Option<Spanned<Vec<i64>>>,
    pub reject: Option<Spanned<Vec<i64>>>,
    /// Statuses of a good token refused for lack of scope (default `[403]`).
    pub forbidden: Option<Spanned<Vec<i64>>>,
    /// Statuses of a caller over its rate limit (default `[429]`).
    pub limited: Option<Spanned<Vec<i64>>>,
    pub timeout: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    /// `"1.1"` or `"2"`.
    pub http: Option<Spanned<String>>,
    /// `hyper` (default) or `reqwest`.
    pub transport: Option<Spanned<String>>,
    /// Largest response body read per request; the rest closes the connection.
    pub max_body: Option<Spanned<CountValue>>,
    pub ca_file: Option<Spanned<String>>,
    pub client_cert_file: Option<Spanned<String>>,
    pub client_key_file: Option<Spanned<String>>,
    /// Skip TLS certificate verification (opt-in).
    pub insecure: Option<bool>,
    pub boundary_guard: Option<Spanned<String>>,
    /// The response header that states why a token was rejected (`www-authenticate` reads the
    /// RFC 6750 challenge).
    pub reason_header: Option<Spanned<String>>,
    /// The top-level field of a JSON body that states it.
    pub reason_json: Option<Spanned<String>>,
    /// Translations of the target's reasons into jwtstorm's (`bad_audience = "wrong_audience"`).
    pub reasons: Option<Spanned<BTreeMap<String, String>>>,
    /// Several endpoints in one run, each request choosing one by weight.
    pub endpoints: Option<Spanned<Vec<EndpointValue>>>,
}

/// One `[[target.endpoints]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointValue {
    /// The path (and query) on the target's origin.
    pub path: Spanned<String>,
    pub method: Option<Spanned<String>>,
    /// Share of the requests, relative to the others (default 1).
    pub weight: Option<Spanned<f64>>,
    /// The scope this endpoint needs (403 without it).
    pub required_scope: Option<Spanned<String>>,
}

/// `[load]`: the load model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// `closed` (fixed concurrency) or `open` (fixed arrival rate).
    pub model: Option<Spanned<String>>,
    pub rate: Option<Spanned<f64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub duration: Option<Spanned<String>>,
    pub requests: Option<Spanned<CountValue>>,
    pub warmup: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<StageValue>>>,
    pub threads: Option<Spanned<i64>>,
    /// `sequential` or `shuffle`.
    pub order: Option<Spanned<String>>,
    pub seed: Option<u64>,
    /// Share of requests that replay a token already sent, as `0.3` or `"30%"`.
    pub reuse: Option<Spanned<PercentValue>>,
    /// Replay only the first N tokens of the batch, over and over.
    pub pool: Option<Spanned<CountValue>>,
    /// How long requests in flight may finish after Ctrl-C.
    pub grace: Option<Spanned<String>>,
    /// Honour a limited answer's `Retry-After`: closed model, that connection pauses as told;
    /// open model, the schedule never waits, and how much too soon a limited caller's next
    /// request left is recorded.
    pub respect_retry_after: Option<bool>,
    /// Revocations during the run: `[{ at = "20s", share = "10%" }]`.
    pub revoke: Option<Spanned<Vec<RevokeValue>>>,
}

/// One `load.revoke` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeValue {
    /// When, from the start of the run.
    pub at: String,
    /// Share of the valid tokens already sent to revoke.
    pub share: PercentValue,
    /// Share of the requests from then on that replay a revoked token (10% by default).
    #[serde(default)]
    pub replay: Option<PercentValue>,
}

/// One `[[load.stages]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageValue {
    pub duration: Spanned<String>,
    pub rate: Spanned<f64>,
    /// Ramp linearly from the previous stage's rate instead of stepping.
    #[serde(default)]
    pub ramp: bool,
}

/// A share written as a fraction (`0.3`) or a percentage (`"30%"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PercentValue {
    Number(f64),
    Text(String),
}

/// `[report]`: where results go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// A run writes `DIR/<name>/<UTC timestamp>/`.
    pub dir: Option<Spanned<String>>,
    /// `json`, `md`, `html`, `svg`, `png`, `hgrm` (default: all).
    pub formats: Option<Spanned<Vec<String>>>,
}

/// `[keys]`: where the signing keys come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    pub alg: Option<Spanned<String>>,
    /// Generate fresh keys for the run.
    pub generate: Option<bool>,
    /// How many keys to generate (kid rotation).
    pub count: Option<Spanned<u32>>,
    pub rsa_bits: Option<Spanned<usize>>,
    pub secret_file: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub private_key_file: Option<Spanned<String>>,
    pub private_key_env: Option<Spanned<String>>,
    pub public_key_file: Option<Spanned<String>>,
    pub jwks_file: Option<Spanned<String>>,
    pub kid: Option<Spanned<String>>,
    /// A key set directory written by `jwtstorm keys generate`.
    pub dir: Option<Spanned<String>>,
}

/// `[verifier]`: the policy the target enforces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierSection {
    pub algorithms: Option<Spanned<Vec<String>>>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub leeway: Option<Spanned<String>>,
    pub check_nbf: Option<bool>,
    pub required_claims: Option<Spanned<Vec<String>>>,
    pub max_token_size: Option<Spanned<i64>>,
    /// The embedded verifier's JWKS cache, when it fetches the keys from `[idp]`.
    pub jwks_max_age: Option<Spanned<String>>,
    pub jwks_cooldown: Option<Spanned<String>>,
    /// The rate limit the target enforces on verified tokens (`100/s`): the embedded verifier
    /// enforces it, and a run checks the target's limiter against it.
    pub rate_limit: Option<Spanned<String>>,
    /// `sub` (default: a bucket per subject) or `global`.
    pub rate_limit_key: Option<Spanned<String>>,
    /// Requests a full bucket lets through at once (default: one second's worth).
    pub rate_limit_burst: Option<Spanned<i64>>,
    /// The scope a verified token must carry (403 without it).
    pub required_scope: Option<Spanned<String>>,
    /// `scope` (a space-separated string, default) or `scp` (an array).
    pub scope_claim: Option<Spanned<String>>,
    /// How often the embedded verifier looks at the revocation list for changes (1s).
    pub revocation_poll: Option<Spanned<String>>,
}

/// `[tokens]`: what to mint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// `batch` (default: mint every token before the run) or `stream` (mint as it goes).
    pub source: Option<Spanned<String>>,
    pub count: Option<Spanned<CountValue>>,
    pub seed: Option<u64>,
    pub now: Option<Spanned<NowValue>>,
    pub ttl: Option<Spanned<String>>,
    pub nbf: Option<Spanned<String>>,
    pub iat: Option<bool>,
    pub jti: Option<bool>,
    pub size: Option<Spanned<i64>>,
    pub claims: Option<Spanned<BTreeMap<String, toml::Value>>>,
    pub mix: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// Replay this batch file instead of minting (relative to the scenario).
    pub batch: Option<Spanned<String>>,
}

/// A count written as a number (`200_000`) or a string (`"10k"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CountValue {
    Int(i64),
    Text(String),
}

/// The minting clock: Unix seconds or an RFC 3339 time.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NowValue {
    Unix(i64),
    Text(String),
}

/// A scenario with the text it came from, so errors can point at lines and columns.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub scenario: Scenario,
}

/// A scenario error: file, position and message.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ScenarioError {
    pub location: String,
    pub message: String,
}

/// A count written as a number or as `10k`; negative numbers are refused.
pub(crate) fn count(v: &CountValue) -> Result<u64, String> {
    match v {
        CountValue::Int(n) if *n >= 0 => Ok(*n as u64),
        CountValue::Int(n) => Err(format!("must be positive, got {n}")),
        CountValue::Text(s) => crate::units::parse_count(s),
    }
}

/// A duration value, with an error naming its key.
pub(crate) fn duration(
    l: &Loaded,
    v: &toml::Spanned<String>,
    key: &str,
) -> Result<std::time::Duration, ScenarioError> {
    crate::units::parse_duration(v.get_ref()).map_err(|e| l.error(v, key, e))
}

impl crate::error::ExitCode for ScenarioError {
    fn exit_code(&self) -> i32 {
        crate::error::exit::BAD_INPUT
    }
}

impl Loaded {
    /// Reads and parses a scenario file. Unknown keys and wrong types are errors naming the line,
    /// column and key.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let bytes = crate::files::read_capped(path, crate::files::TEXT_CAP).map_err(|e| ScenarioError {
            location: path.display().to_string(),
            message: format!("cannot read scenario: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            ScenarioError {
                location: location(path, &valid, good),
                message: "not UTF-8 text: a scenario is a TOML file".into(),
            }
        })?;
        Self::parse(path, text)
    }

    /// Parses scenario text; `path` names it in errors and anchors relative key paths.
    pub fn parse(path: &Path, text: String) -> Result<Self, ScenarioError> {
        match toml::from_str::<Scenario>(&text) {
            Ok(scenario) => Ok(Loaded {
                path: path.to_path_buf(),
                text,
                scenario,
            }),
            Err(e) => {
                let (location, table) = match e.span() {
                    Some(span) => (location(path, &text, span.start), table_at(&text, span.start)),
                    None => (path.display().to_string(), None),
                };
                let key = e
                    .span()
                    .and_then(|span| key_at(&text, span.start).or_else(|| header_at(&text, span.start)));
                let message = match (table, key) {
                    (Some(t), _) if e.message().starts_with("unknown field") => {
                        format!("[{t}]: {}", e.message())
                    }
                    // An unknown top-level table or key names itself in the message.
                    (None, _) if e.message().starts_with("unknown field") => e.message().to_string(),
                    (_, Some(k)) => format!("{k}: {}{}", e.message(), duration_hint(&k, e.message())),
                    _ => e.message().to_string(),
                };
                Err(ScenarioError { location, message })
            }
        }
    }

    /// `file:line:column` of a byte offset.
    pub fn at(&self, offset: usize) -> String {
        location(&self.path, &self.text, offset)
    }

    /// An error at a spanned value, naming its key.
    pub fn error<T>(&self, value: &Spanned<T>, key: &str, message: impl std::fmt::Display) -> ScenarioError {
        ScenarioError {
            location: self.at(value.span().start),
            message: format!("{key}: {message}"),
        }
    }

    /// Resolves a path written in the scenario relative to the scenario's folder.
    pub fn relative(&self, p: &str) -> PathBuf {
        let candidate = PathBuf::from(p);
        if candidate.is_absolute() {
            candidate
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(candidate)
        }
    }
}

/// The dotted key whose value holds a byte offset (`load.concurrency`,
/// `load.stages.duration`), read from the text: the table the line sits in, then the last
/// `name =` before the offset on that line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let whole = text[line_start..].lines().next().unwrap_or("");
    if whole.trim_start().starts_with('[') {
        return None;
    }
    // The key that holds the line's value, before its first `=`.
    let outer = whole[..whole.find('=')?].trim().trim_matches('"').to_string();
    if outer.is_empty() {
        return None;
    }
    // Inside an inline table, the nearest `name =` before the offset, outside quotes.
    let mut line = &before[line_start..];
    if !line.contains('=') {
        line = "";
    }
    let inner = line
        .rfind('=')
        .filter(|eq| line[..*eq].matches('"').count() % 2 == 0)
        .map(|eq| {
            let lhs: String = line[..eq]
                .trim_end()
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            lhs
        })
        .filter(|n| !n.is_empty() && *n != outer);
    let name = match inner {
        Some(n) if whole.contains('{') => format!("{outer}.{n}"),
        _ => outer,
    };
    Some(match table_at(text, offset) {
        Some(t) => format!("{t}.{name}"),
        None => name,
    })
}

/// For a number given where a duration string belongs (`leeway = 0`), how to write it.
fn duration_hint(key: &str, message: &str) -> &'static str {
    const DURATIONS: [&str; 14] = [
        "duration",
        "warmup",
        "grace",
        "timeout",
        "connect_timeout",
        "leeway",
        "ttl",
        "nbf",
        "step",
        "settle",
        "confirm",
        "budget",
        "abort_after",
        "boundary_guard",
    ];
    let last = key.rsplit('.').next().unwrap_or(key);
    if DURATIONS.contains(&last) && message.contains("expected a string") {
        "; a duration is a string with a unit, such as \"0s\", \"250ms\" or \"5m\""
    } else {
        ""
    }
}

/// The table header a byte offset lies on (`[target]`), for errors in the header itself.
fn header_at(text: &str, offset: usize) -> Option<String> {
    let start = text
        .get(..offset.min(text.len()))?
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim();
    (line.starts_with('[') && line.ends_with(']')).then(|| line.to_string())
}

/// The `[table]` a byte offset sits in, if any.
fn table_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    if before
        .rsplit('\n')
        .next()
        .is_some_and(|l| l.trim_start().starts_with('['))
    {
        // The error is in a table header itself: a top-level key.
        return None;
    }
    before.lines().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix('[')
            .and_then(|r| r.split(']').next())
            .map(|t| t.trim_matches('[').trim().to_string())
            .filter(|t| !t.is_empty() && !t.contains(['"', '=', ',']))
    })
}

fn location(path: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{col}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_line_and_column() {
        let text = "name = \"x\"\n[tokens]\ncount = 10\ncolour = \"red\"\n".to_string();
        let err = Loaded::parse(Path::new("s.toml"), text).unwrap_err();
        assert_eq!(err.location, "s.toml:4:1");
        assert!(err.message.contains("colour"), "{}", err.message);
    }

    #[test]
    fn unknown_tables_are_top_level_errors() {
        let text = "[load]\nrate = 1\n[thresholds]\n[colours]\nx = 1\n".to_string();
        let err = Loaded::parse(Path::new("s.toml"), text).unwrap_err();
        assert!(
            err.message.starts_with("unknown field `colours`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_types_are_errors() {
        let text = "[verifier]\ncheck_nbf = \"yes\"\n".to_string();
        let err = Loaded::parse(Path::new("s.toml"), text).unwrap_err();
        assert!(err.location.starts_with("s.toml:2:"), "{}", err.location);
    }
}
