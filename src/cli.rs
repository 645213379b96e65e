//! The command line: one Args struct per subcommand (clap derive), and the value parsers they use.
//!
//! Key material is never taken from argv: secrets come from files or environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use jsonwebtoken::Algorithm;

use crate::model::{Format, HttpVersion, Placement, Segment, TransportKind, alg};
use crate::units;

/// Stress-test JWT verification: mint labelled token batches, replay them under load, and check
/// that every token got the answer it deserved.
#[derive(Debug, Parser)]
#[command(name = "jwtstorm", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make key material (HMAC secrets, RSA, EC and Ed25519 keys) and a public JWKS.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mint a batch of labelled tokens (valid and deliberately broken) in parallel.
    Mint(MintArgs),
    /// Decode a token, explain its claims and times, name its defects, and verify it with a key.
    Inspect(InspectArgs),
    /// Run the reference verifier: an HTTP server that checks tokens the way a careful API does.
    Serve(ServeArgs),
    /// Play the identity provider alone: serve the key set's public JWKS and discovery
    /// document (for a target that needs a JWKS URL before the load starts), logging every fetch.
    Idp(IdpArgs),
    /// Run a scenario: mint (or load) the batch, replay it under load, check every answer, and
    /// write results.
    Run(Box<RunArgs>),
    /// Check a scenario (values, combinations, keys, batch) without sending anything.
    Validate(ValidateArgs),
    /// Render charts and reports from results files again; several files are also compared.
    Report(ReportArgs),
    /// Find the highest arrival rate that still meets the SLOs (open-loop steps).
    Capacity(CapacityArgs),
    /// Compare a run with a baseline run; exit 1 on a regression.
    Compare(CompareArgs),
    /// Send one batch to several verifiers and find every token they answer differently; exit
    /// 1 on a disagreement (or a failed diff threshold).
    Diff(Box<DiffArgs>),
    /// Merge the results of a run's segments into one, exactly (histograms added, counts
    /// summed, timelines by wall-clock second), and render every report.
    Merge(MergeArgs),
    /// Kubernetes manifests for a run spread over the pods of an Indexed Job.
    #[command(subcommand)]
    Kubernetes(KubernetesCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate keys into a folder: private keys (PKCS#8 PEM, 0600) or HMAC secrets (0600),
    /// public PEMs, jwks.json and a keys.json index. Secrets are never printed.
    Generate(KeysGenerateArgs),
}

#[derive(Debug, Args)]
pub struct KeysGenerateArgs {
    /// Algorithm the keys are for: HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384, EdDSA.
    #[arg(long, value_name = "ALG", value_parser = alg::parse)]
    pub alg: Algorithm,
    /// How many keys (several keys let tokens rotate their kid).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// RSA modulus size in bits (default: 2048 for *256, 3072 for *384, 4096 for *512).
    #[arg(long, value_name = "BITS")]
    pub rsa_bits: Option<usize>,
    /// Folder to write the keys into (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite an existing key set in the folder.
    #[arg(long)]
    pub force: bool,
}

/// Where keys come from; one source at a time. Paths and variable names only, never key material.
#[derive(Debug, Args, Default, Clone)]
pub struct KeyArgs {
    /// Signature algorithm (default HS256, or the one a key set or scenario names).
    #[arg(long, value_name = "ALG", value_parser = alg::parse, help_heading = "Keys")]
    pub alg: Option<Algorithm>,
    /// Read the HMAC secret from this file (one trailing newline is dropped).
    #[arg(long, value_name = "FILE", help_heading = "Keys")]
    pub secret_file: Option<PathBuf>,
    /// Read the HMAC secret from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Keys")]
    pub secret_env: Option<String>,
    /// Read the private key (PEM: PKCS#8, PKCS#1 or SEC1) from this file.
    #[arg(long, value_name = "FILE", help_heading = "Keys")]
    pub private_key_file: Option<PathBuf>,
    /// Read the private key PEM from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Keys")]
    pub private_key_env: Option<String>,
    /// Read a public key PEM (verification only).
    #[arg(long, value_name = "FILE", help_heading = "Keys")]
    pub public_key_file: Option<PathBuf>,
    /// Read keys from a JWKS file (oct keys sign; RSA, EC and OKP keys verify).
    #[arg(long, value_name = "FILE", help_heading = "Keys")]
    pub jwks_file: Option<PathBuf>,
    /// Read a key set folder written by `jwtstorm keys generate`.
    #[arg(long, value_name = "DIR", help_heading = "Keys")]
    pub keys_dir: Option<PathBuf>,
    /// The kid to use (selects a key from a JWKS or key set, or names a single key); an empty
    /// kid (`--kid ''`) sends tokens without one.
    #[arg(long, value_name = "KID", help_heading = "Keys")]
    pub kid: Option<String>,
    /// Generate fresh keys for this run.
    #[arg(long, help_heading = "Keys")]
    pub generate_keys: bool,
    /// How many keys to generate (kid rotation).
    #[arg(long, value_name = "N", help_heading = "Keys")]
    pub key_count: Option<u32>,
}

/// The verifier policy: what the target enforces. It decides each class's expected answer.
#[derive(Debug, Args, Default, Clone)]
pub struct PolicyArgs {
    /// Allowed algorithms, comma-separated (default: the signing algorithm).
    #[arg(
        long,
        value_name = "ALGS",
        value_delimiter = ',',
        value_parser = alg::parse,
        help_heading = "Verifier policy"
    )]
    pub algorithms: Option<Vec<Algorithm>>,
    /// The audience the verifier identifies as.
    #[arg(long, value_name = "AUD", help_heading = "Verifier policy")]
    pub audience: Option<String>,
    /// The issuer the verifier trusts.
    #[arg(long, value_name = "ISS", help_heading = "Verifier policy")]
    pub issuer: Option<String>,
    /// Clock skew allowed on exp and nbf (default 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs, help_heading = "Verifier policy")]
    pub leeway: Option<u64>,
    /// Enforce nbf (the default; kept for scripts that pass it).
    #[arg(long, help_heading = "Verifier policy", conflicts_with = "no_check_nbf")]
    pub check_nbf: bool,
    /// Do not enforce nbf (a token whose nbf lies in the future is accepted).
    #[arg(long, help_heading = "Verifier policy")]
    pub no_check_nbf: bool,
    /// Required claims, comma-separated (default: exp).
    #[arg(
        long,
        value_name = "CLAIMS",
        value_delimiter = ',',
        help_heading = "Verifier policy"
    )]
    pub required_claims: Option<Vec<String>>,
    /// Reject tokens longer than this many bytes (default 8192; 0: no limit).
    #[arg(long, value_name = "BYTES", help_heading = "Verifier policy")]
    pub max_token_size: Option<usize>,
    /// The scope a verified token must carry; without it: 403 insufficient_scope (minted
    /// tokens carry it, `insufficient_scope` tokens another).
    #[arg(long, value_name = "SCOPE", help_heading = "Verifier policy")]
    pub required_scope: Option<String>,
    /// The claim that holds the scopes: scope (a space-separated string) or scp (an array).
    #[arg(long, value_name = "scope|scp", help_heading = "Verifier policy")]
    pub scope_claim: Option<String>,
}

/// The token flags `run`, `validate` and `capacity` take (as `mint` does, without `-n`, which
/// is `--requests` there).
#[derive(Debug, Args, Default, Clone)]
pub struct TokenArgs {
    /// How many tokens to mint (10k, 1m, ...); with --stream, `unbounded` never repeats one.
    #[arg(long, value_name = "N", value_parser = parse_token_count, help_heading = "Tokens")]
    pub count: Option<u64>,
    /// Mint tokens while the run goes, a bounded lead ahead of the requests (`tokens.source =
    /// "stream"`): fresh time claims, constant memory, and without --count never a repeat.
    #[arg(long, help_heading = "Tokens")]
    pub stream: bool,
    /// Pin the minting clock (Unix seconds or RFC 3339), so exp and iat repeat.
    #[arg(long, value_name = "TIME", help_heading = "Tokens")]
    pub now: Option<String>,
    /// Lifetime of valid tokens (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs, help_heading = "Tokens")]
    pub ttl: Option<u64>,
    /// Give tokens nbf = now + OFFSET (for example -30s).
    #[arg(
        long,
        value_name = "OFFSET",
        allow_hyphen_values = true,
        help_heading = "Tokens"
    )]
    pub nbf: Option<String>,
    /// A claim, KEY=VALUE (VALUE is JSON if it parses, else a string; {i} is the token index).
    #[arg(long = "claim", value_name = "KEY=VALUE", help_heading = "Tokens")]
    pub claims: Vec<String>,
    /// Class weights, CLASS=WEIGHT,... (replaces the scenario's mix).
    #[arg(long, value_name = "MIX", value_delimiter = ',', help_heading = "Tokens")]
    pub mix: Option<Vec<String>>,
    /// Pad tokens to about this many bytes (4096, 4k).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Tokens")]
    pub size: Option<usize>,
}

/// `--count`: a count, or `unbounded` ([`UNBOUNDED`]) for a stream that never repeats.
fn parse_token_count(text: &str) -> Result<u64, String> {
    if text.trim() == "unbounded" {
        return Ok(UNBOUNDED);
    }
    units::parse_count(text)
}

/// `--count unbounded`.
pub const UNBOUNDED: u64 = u64::MAX;

/// Keys, policy and tokens as flags: with no scenario they form one, and over a scenario they
/// replace its values.
#[derive(Debug, Args, Default, Clone)]
pub struct SourceArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
}

impl MintArgs {
    /// The token flags, as `run` takes them.
    pub fn tokens(&self) -> TokenArgs {
        TokenArgs {
            count: self.count,
            stream: false,
            now: self.now.clone(),
            ttl: self.ttl,
            nbf: self.nbf.clone(),
            claims: self.claims.clone(),
            mix: self.mix.clone(),
            size: self.size,
        }
    }
}

#[derive(Debug, Args)]
pub struct MintArgs {
    /// Take the keys, verifier and tokens sections from this scenario; flags override them.
    #[arg(long, short, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// How many tokens (10k, 1m, ...).
    #[arg(long, short = 'n', value_name = "N", value_parser = units::parse_count, help_heading = "Tokens")]
    pub count: Option<u64>,
    /// Seed for class choice and drawn claim values.
    #[arg(long, value_name = "N", help_heading = "Tokens")]
    pub seed: Option<u64>,
    /// Pin the minting clock (Unix seconds or RFC 3339), so exp and iat repeat.
    #[arg(long, value_name = "TIME", help_heading = "Tokens")]
    pub now: Option<String>,
    /// Lifetime of valid tokens (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs, help_heading = "Tokens")]
    pub ttl: Option<u64>,
    /// Give tokens nbf = now + OFFSET (for example -30s).
    #[arg(
        long,
        value_name = "OFFSET",
        allow_hyphen_values = true,
        help_heading = "Tokens"
    )]
    pub nbf: Option<String>,
    /// Leave out iat.
    #[arg(long, help_heading = "Tokens")]
    pub no_iat: bool,
    /// Leave out jti.
    #[arg(long, help_heading = "Tokens")]
    pub no_jti: bool,
    /// A claim, KEY=VALUE (VALUE is JSON if it parses, else a string; {i} is the token index).
    #[arg(long = "claim", value_name = "KEY=VALUE", help_heading = "Tokens")]
    pub claims: Vec<String>,
    /// Class weights, CLASS=WEIGHT,... (replaces the scenario's mix).
    #[arg(long, value_name = "MIX", value_delimiter = ',', help_heading = "Tokens")]
    pub mix: Option<Vec<String>>,
    /// Pad tokens to about this many bytes (4096, 4k).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Tokens")]
    pub size: Option<usize>,
    /// The batch file to write ('-' for stdout). A manifest is written beside it.
    #[arg(long, short, value_name = "FILE", default_value = "batch.jwts")]
    pub out: PathBuf,
    /// Where to save keys generated for this batch (default: the batch path plus .keys).
    #[arg(long, value_name = "DIR")]
    pub keys_out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or '-' (the default) to read it from stdin.
    #[arg(value_name = "TOKEN", default_value = "-")]
    pub token: String,
    /// Take keys and policy from this scenario.
    #[arg(long, short, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Judge times against this clock (Unix seconds or RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Take the keys and verifier sections from this scenario; flags override them.
    #[arg(long, short, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout
    /// as `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The protected path.
    #[arg(long, value_name = "PATH", default_value = "/protected")]
    pub path: String,
    /// Where the token is: bearer, header:NAME, cookie:NAME or query:NAME.
    #[arg(long, value_name = "PLACE", default_value = "bearer", value_parser = parsed::<Placement>)]
    pub token: Placement,
    /// Added service time: fixed (2ms) or uniform in a range (1ms..5ms).
    #[arg(long, value_name = "DURATION[..DURATION]", help_heading = "Test knobs")]
    pub delay: Option<String>,
    /// Verify at most N requests at once; the rest queue.
    #[arg(long, value_name = "N", help_heading = "Test knobs")]
    pub max_concurrency: Option<usize>,
    /// Stall all responses for this long ...
    #[arg(long, value_name = "DURATION", requires = "every", value_parser = units::parse_duration, help_heading = "Test knobs")]
    pub stall: Option<std::time::Duration>,
    /// ... once in every period of this length.
    #[arg(long, value_name = "DURATION", requires = "stall", value_parser = units::parse_duration, help_heading = "Test knobs")]
    pub every: Option<std::time::Duration>,
    /// Share of requests answered 500 (for example 1%).
    #[arg(long, value_name = "RATE", value_parser = units::parse_percent, help_heading = "Test knobs")]
    pub fail_rate: Option<f64>,
    /// Share of connections closed before the response.
    #[arg(long, value_name = "RATE", value_parser = units::parse_percent, help_heading = "Test knobs")]
    pub close_rate: Option<f64>,
    /// Share of requests that never get a response.
    #[arg(long, value_name = "RATE", value_parser = units::parse_percent, help_heading = "Test knobs")]
    pub hang_rate: Option<f64>,
    /// Let a deliberately vulnerable verifier listen on an address other machines can reach.
    #[arg(long, help_heading = "Test knobs")]
    pub expose_vulnerable: bool,
    /// Accept every token with a signature-free check (a deliberately vulnerable verifier).
    #[arg(long, help_heading = "Test knobs")]
    pub vulnerable: bool,
    /// State another reason than the real one, FROM=TO (repeatable): `expired=bad_signature`
    /// answers expired tokens as if their signature were bad (for reason-aware judging).
    #[arg(long, value_name = "FROM=TO", help_heading = "Test knobs")]
    pub misreport_reason: Vec<String>,
    /// Close each connection after N responses (Connection: close), like a keep-alive limit.
    #[arg(long, value_name = "N", help_heading = "Test knobs")]
    pub keepalive_max: Option<u64>,
    /// A further protected path that needs a scope, PATH=SCOPE (repeatable): `/admin=admin`
    /// answers 403 insufficient_scope to verified tokens without `admin`.
    #[arg(long = "scope", value_name = "PATH=SCOPE", help_heading = "API checks")]
    pub scopes: Vec<String>,
    /// Answer 429 with Retry-After to verified tokens over this rate (N/s, N/m or N/h), a token
    /// bucket per --rate-limit-key holding --rate-limit-burst requests.
    #[arg(long, value_name = "N/s", help_heading = "API checks")]
    pub rate_limit: Option<crate::model::Rate>,
    /// Whose requests the rate limit counts together: each token subject's, or everyone's.
    #[arg(
        long,
        value_name = "sub|global",
        default_value = "sub",
        requires = "rate_limit",
        help_heading = "API checks"
    )]
    pub rate_limit_key: crate::model::LimitKey,
    /// The bucket's size: requests let through at once after a quiet spell [default: one
    /// second's worth].
    #[arg(long, value_name = "N", requires = "rate_limit", help_heading = "API checks")]
    pub rate_limit_burst: Option<u32>,
    /// Refuse verified tokens whose jti this file lists (one a line, `#` comments; the format
    /// of revoked.txt) with 401 reason `revoked`; the file is read again when it changes.
    #[arg(long, value_name = "FILE", help_heading = "API checks")]
    pub revocation_list: Option<std::path::PathBuf>,
    /// Look at the revocation list file for changes this often (at least 10ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = units::parse_duration, requires = "revocation_list", help_heading = "API checks")]
    pub revocation_poll: std::time::Duration,
    /// Take the verification keys from the issuer's JWKS at this URL instead of key files:
    /// fetched on first use, on an unknown kid (at most once per --jwks-cooldown) and once the
    /// cached set is older than --jwks-max-age. Without --alg or --algorithms every asymmetric
    /// algorithm is allowed (each key verifies only its own).
    #[arg(long, value_name = "URL", help_heading = "Remote keys")]
    pub jwks_url: Option<String>,
    /// Refetch the JWKS once the cached set is this old.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = units::parse_duration, help_heading = "Remote keys")]
    pub jwks_max_age: std::time::Duration,
    /// At most one refetch for unknown kids per this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = units::parse_duration, help_heading = "Remote keys")]
    pub jwks_cooldown: std::time::Duration,
    /// Deliberately vulnerable: verify a token with the key its own `jku` (a JWKS URL) or `x5u`
    /// (a certificate URL) header points at, fetched from loopback addresses only.
    #[arg(long, help_heading = "Test knobs")]
    pub follow_jku: bool,
    /// Serve HTTPS with this certificate chain (PEM); h2 and http/1.1 by ALPN.
    #[arg(long, value_name = "FILE", requires = "tls_key", help_heading = "TLS")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "TLS")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "TLS")]
    pub client_ca: Option<PathBuf>,
    /// Close a connection whose request headers have not all arrived after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = units::parse_duration, help_heading = "Limits")]
    pub header_timeout: std::time::Duration,
    /// Close a connection with no request in flight and no bytes moving after this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = units::parse_duration, help_heading = "Limits")]
    pub idle_timeout: std::time::Duration,
    /// Serve at most N connections at once (and no more than the descriptor limit allows);
    /// further ones are closed when accepted.
    #[arg(long, value_name = "N", default_value_t = 10_000, help_heading = "Limits")]
    pub max_connections: usize,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Stop by itself after this long (tests and scripts).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub exit_after: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct IdpArgs {
    /// Take the keys (and `[idp]` listen, max_age, issuer, keys) from this scenario; flags
    /// override them.
    #[arg(long, short, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Address to listen on (default 127.0.0.1:0, or the scenario's idp.listen); the bound
    /// address is printed on stdout as `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// `Cache-Control: max-age` of the key set (default 5m, or the scenario's idp.max_age).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub max_age: Option<std::time::Duration>,
    /// The discovery document's issuer (default: the listener's URL).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Write every fetch (time, client, user agent, conditional header, version, status) to
    /// this JSON file when stopping.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Print nothing per fetch.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop by itself after this long (tests and scripts).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub exit_after: Option<std::time::Duration>,
}

/// Overrides that let one scenario serve a quick local run and a long CI run.
#[derive(Debug, Args, Default, Clone)]
pub struct LoadOverrides {
    /// Play the identity provider and rotate its keys with this preset: graceful or abrupt
    /// (adds an `[idp]` section when the scenario has none).
    #[arg(long, value_name = "PRESET", help_heading = "Identity provider")]
    pub rotation: Option<String>,
    /// When the rotation preset starts (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Identity provider")]
    pub rotate_at: Option<std::time::Duration>,
    /// Where the identity provider listens (replaces idp.listen).
    #[arg(long, value_name = "ADDR", help_heading = "Identity provider")]
    pub idp_listen: Option<String>,
    /// `Cache-Control: max-age` of the identity provider's key set (replaces idp.max_age).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Identity provider")]
    pub idp_max_age: Option<std::time::Duration>,
    /// Share of requests that keep sending the latest retired key's tokens (replaces
    /// idp.retired_share).
    #[arg(long, value_name = "SHARE", value_parser = units::parse_percent, help_heading = "Identity provider")]
    pub retired_share: Option<f64>,
    /// Target URL (replaces target.url and the embedded verifier).
    #[arg(long, value_name = "URL", help_heading = "Overrides")]
    pub url: Option<String>,
    /// Fixed arrival rate in requests per second, such as 500 or 2k (switches to the open
    /// model, replacing stages).
    #[arg(long, value_name = "N", value_parser = units::parse_rate, help_heading = "Overrides")]
    pub rate: Option<f64>,
    /// Run length (2s, 5m, ...).
    #[arg(long, short, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Overrides")]
    pub duration: Option<std::time::Duration>,
    /// Stop after this many requests (10k, 1m, ...).
    #[arg(long, short = 'n', value_name = "N", value_parser = units::parse_count, help_heading = "Overrides")]
    pub requests: Option<u64>,
    /// Connections (and the cap on requests in flight).
    #[arg(long, short, value_name = "N", help_heading = "Overrides")]
    pub concurrency: Option<usize>,
    /// Warmup, measured but kept out of the statistics.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Overrides")]
    pub warmup: Option<std::time::Duration>,
    /// Client threads (one runtime each).
    #[arg(long, short = 'j', value_name = "N", help_heading = "Overrides")]
    pub threads: Option<usize>,
    /// HTTP version: 1.1 or 2 (also h2c, h2, http1, http2, as in target.http).
    #[arg(long, value_name = "VERSION", value_parser = parsed::<HttpVersion>, help_heading = "Overrides")]
    pub http: Option<HttpVersion>,
    /// HTTP client: hyper (default, least CPU per request) or reqwest (honours HTTP(S)_PROXY).
    #[arg(long, value_name = "NAME", value_parser = parsed::<TransportKind>, help_heading = "Overrides")]
    pub transport: Option<TransportKind>,
    /// Check thresholds every second from this point of the run on, and stop at the first that
    /// fails (counts, rates and overall corrected latency; the rest are judged at the end).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Overrides")]
    pub abort_on_fail: Option<std::time::Duration>,
    /// A request header, 'Name: value' (repeatable), as curl's -H.
    #[arg(
        short = 'H',
        long = "header",
        value_name = "NAME: VALUE",
        help_heading = "Request"
    )]
    pub headers: Vec<String>,
    /// The request method (default GET).
    #[arg(short = 'm', long, value_name = "METHOD", help_heading = "Request")]
    pub method: Option<String>,
    /// The request body.
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "body_file",
        help_heading = "Request"
    )]
    pub body: Option<String>,
    /// Read the request body from this file.
    #[arg(long, value_name = "FILE", help_heading = "Request")]
    pub body_file: Option<PathBuf>,
    /// Where the token goes: bearer, header:NAME, cookie:NAME or query:NAME.
    #[arg(long, value_name = "PLACE", value_parser = parsed::<Placement>, help_heading = "Request")]
    pub token_in: Option<Placement>,
    /// Give up on a request after this long, its connect included (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Request")]
    pub timeout: Option<std::time::Duration>,
    /// Give up on a connect after this long (default 3s).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, help_heading = "Request")]
    pub connect_timeout: Option<std::time::Duration>,
    /// Trust this CA for an https:// target.
    #[arg(long, value_name = "FILE", help_heading = "Request")]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (an explicit opt-in).
    #[arg(short = 'k', long, help_heading = "Request")]
    pub insecure: bool,
    /// Read the target's rejection reason from this response header (reason-aware judging).
    #[arg(long, value_name = "NAME", help_heading = "Request")]
    pub reason_header: Option<String>,
    /// Skip the preflight (one valid and one invalid token, sent before the run).
    #[arg(long, help_heading = "Request")]
    pub no_preflight: bool,
    /// Let a run pass that sent valid tokens and had none accepted (as `[gate] require_accepts
    /// = false`).
    #[arg(long, help_heading = "Overrides")]
    pub allow_no_accepts: bool,
    /// Go on when the preflight finds the valid token refused.
    #[arg(long, help_heading = "Request")]
    pub force_preflight: bool,
    /// Add a threshold, such as 'valid.p99 < 20ms' or 'false_accepts == 0' (repeatable).
    #[arg(
        long = "threshold",
        value_name = "METRIC OP LIMIT",
        help_heading = "Overrides"
    )]
    pub thresholds: Vec<String>,
}

/// CI gate options shared by `run` and `compare`.
#[derive(Debug, Args, Default, Clone)]
pub struct GateArgs {
    /// Allowed regression per metric, METRIC=PERCENT (repeatable): p50, p90, p99, p99.9,
    /// throughput (drop), error_rate (absolute rise). Defaults: 10%, 10%, 15%, 25%, 5%, 0.1%.
    #[arg(
        long = "max-regression",
        value_name = "METRIC=PERCENT",
        help_heading = "CI gate"
    )]
    pub max_regression: Vec<String>,
    /// The smallest change that can be a regression, METRIC=VALUE (repeatable): p99=1ms,
    /// throughput=20/s, error_rate=0.05%. Latency default 500us; others none.
    #[arg(long = "min-change", value_name = "METRIC=VALUE", help_heading = "CI gate")]
    pub min_change: Vec<String>,
    /// Confidence of the interval of each change: a regression lies wholly beyond no change.
    #[arg(long, value_name = "PERCENT", default_value = "99%", help_heading = "CI gate")]
    pub confidence: String,
    /// Token classes whose latency is compared: `valid` (default), `all`, or a list
    /// (`valid,expired`). False accepts and rejects are compared for every class.
    #[arg(
        long = "compare-classes",
        value_name = "all|CLASS,..",
        default_value = "valid",
        help_heading = "CI gate"
    )]
    pub compare_classes: String,
    /// Compare even when the runs differ in scenario, algorithm, rate, tool version or cores.
    #[arg(long, help_heading = "CI gate")]
    pub force: bool,
    /// Write JUnit XML: one test case per threshold and per compared metric.
    #[arg(long, value_name = "FILE", help_heading = "CI gate")]
    pub junit: Option<PathBuf>,
    /// Print GitHub Actions `::error::` lines for failed thresholds and regressions.
    #[arg(long, help_heading = "CI gate")]
    pub github_annotations: bool,
    /// Print the verdicts as JSON on stdout instead of the text summary.
    #[arg(long, help_heading = "CI gate")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline results.json files or folders holding them, then the current results.json
    /// last (`compare BASELINE CURRENT`).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// More baselines (files or folders, repeatable): pooled, their spread taken as noise.
    #[arg(long, value_name = "PATH", help_heading = "CI gate")]
    pub baseline: Vec<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Also write compare.md and compare.json into this folder.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML); without one, `--url` and the key flags form it.
    #[arg(value_name = "SCENARIO", required_unless_present = "url")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: LoadOverrides,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the scenario the file and flags make (TOML, secrets by reference) and exit.
    #[arg(long)]
    pub print_scenario: bool,
    /// Write results into exactly this folder (default: REPORT_DIR/NAME/UTC-TIMESTAMP).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No live line and no summary; only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Compare the run with this baseline results.json (or a folder of them; repeatable:
    /// several are pooled and their spread taken as noise); a regression exits 1.
    #[arg(long, value_name = "PATH", help_heading = "CI gate")]
    pub baseline: Vec<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The scenario file (TOML): keys, policy, tokens and load; `[[diff.targets]]` may name
    /// the targets.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// A verifier to compare, NAME=URL (repeatable; two or more in all, with the scenario's);
    /// replaces the URL of the scenario's target of that name.
    #[arg(long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Send to one target after another instead of to all at once.
    #[arg(long)]
    pub sequential: bool,
    /// Gate on disagreements, such as 'disagreements == 0' or 'alg_none.disagreements == 0'
    /// (repeatable); with thresholds they decide the exit code instead of any disagreement.
    #[arg(long = "threshold", value_name = "[CLASS.]disagreements OP N")]
    pub thresholds: Vec<String>,
    /// Write diff.json, diff.md and diff.html into exactly this folder (default:
    /// REPORT_DIR/NAME/diff-UTC-TIMESTAMP).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only errors.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// One segment of a run spread over several processes (a Kubernetes Indexed Job).
#[derive(Debug, Args, Default, Clone)]
pub struct FleetArgs {
    /// Run segment I of N: the global request indices I, I+N, I+2N, ... at the whole schedule's
    /// times, the I-th share of the connections and of the tokens (merge the segments' results
    /// with `jwtstorm merge`).
    #[arg(long, value_name = "I/N", env = "JWTSTORM_SEGMENT", value_parser = parsed::<Segment>, help_heading = "Fleet")]
    pub segment: Option<Segment>,
    /// The number of segments, the index taken from JOB_COMPLETION_INDEX (a Kubernetes Indexed
    /// Job's pod).
    #[arg(long, value_name = "N", conflicts_with = "segment", help_heading = "Fleet")]
    pub segments: Option<u64>,
    /// Begin at this wall-clock time (RFC 3339, such as 2026-12-02T10:00:00Z, or +30s from
    /// now) so every segment starts together; one that comes up later joins at once and
    /// counts the requests it missed as not sent.
    #[arg(long, value_name = "TIME", env = "JWTSTORM_START_AT", help_heading = "Fleet")]
    pub start_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The scenario file (TOML); without one, `--url` and the key flags form it.
    #[arg(value_name = "SCENARIO", required_unless_present = "url")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: LoadOverrides,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario file (TOML); its `[capacity]` section holds SLOs and bounds. Without one,
    /// `--url` and the key flags form it.
    #[arg(value_name = "SCENARIO", required_unless_present = "url")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// An SLO, such as 'p99 < 50ms' or 'error_rate < 0.1%' (repeatable; same grammar as thresholds).
    #[arg(long = "slo", value_name = "METRIC OP LIMIT")]
    pub slos: Vec<String>,
    /// First rate tried (requests/s; 500, 2k).
    #[arg(long, value_name = "N", value_parser = units::parse_rate)]
    pub start_rate: Option<f64>,
    /// Highest rate tried (requests/s; 50k).
    #[arg(long, value_name = "N", value_parser = units::parse_rate)]
    pub max_rate: Option<f64>,
    /// Measured length of each step.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub step: Option<std::time::Duration>,
    /// Measured length of the confirming step.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub confirm: Option<std::time::Duration>,
    /// Most steps per search.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<usize>,
    /// Total time the steps of one search may take.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Repeat the search per algorithm (embedded target only), e.g. HS256,RS256,ES256,EdDSA.
    #[arg(long, value_name = "ALGS", value_delimiter = ',', value_parser = alg::parse)]
    pub compare_alg: Option<Vec<Algorithm>>,
    /// Repeat the search per token size in bytes, e.g. 300,1000,4000.
    #[arg(long, value_name = "BYTES", value_delimiter = ',')]
    pub compare_size: Option<Vec<usize>>,
    /// Target URL (replaces target.url and the embedded verifier).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Write into exactly this folder (default: REPORT_DIR/NAME/capacity-UTC-TIMESTAMP).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only errors and the answer.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum KubernetesCommand {
    /// Write the manifests of a run spread over N pods: a ConfigMap with the scenario, an
    /// Indexed Job of N segments with a common start, and a Job that merges their results.
    Render(KubernetesRenderArgs),
}

#[derive(Debug, Args)]
pub struct KubernetesRenderArgs {
    /// The scenario file (TOML) to run; its target must be reachable from the pods.
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Pods (segments) of the Indexed Job.
    #[arg(long, value_name = "N")]
    pub segments: u64,
    /// The jwtstorm container image (see the Containerfile).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The common start (RFC 3339, or +2m from now, the default), written into the Job as a
    /// time: render and apply together.
    #[arg(long, value_name = "TIME", default_value = "+2m")]
    pub start_at: String,
    /// The run's name: the Jobs' and ConfigMap's prefix and the results folder (default: the
    /// scenario's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The namespace of every object.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub namespace: String,
    /// The Secret holding the key files (created with `kubectl create secret generic`; the
    /// manifests only name it, key material never passes through them).
    #[arg(long, value_name = "NAME", default_value = "jwtstorm-keys")]
    pub keys_secret: String,
    /// The ReadWriteMany PersistentVolumeClaim the segments write their results to (also
    /// written, unless --existing-claim).
    #[arg(long, value_name = "NAME", default_value = "jwtstorm-results")]
    pub claim: String,
    /// Size of the results claim.
    #[arg(long, value_name = "SIZE", default_value = "1Gi")]
    pub claim_size: String,
    /// The claim exists already: do not write it.
    #[arg(long)]
    pub existing_claim: bool,
    /// CPU each pod requests (and is limited to).
    #[arg(long, value_name = "CPU", default_value = "2")]
    pub cpu: String,
    /// Memory each pod requests (and is limited to).
    #[arg(long, value_name = "SIZE", default_value = "1Gi")]
    pub memory: String,
    /// Write one file per manifest into this folder instead of one stream on stdout.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The segments' results.json files, or folders holding them (searched recursively).
    #[arg(value_name = "RESULTS", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder to write the merged results.json and reports into.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge the segments that are there when some are missing, and mark the result partial.
    #[arg(long)]
    pub allow_missing: bool,
    /// Formats, comma-separated: md, html, svg, png, hgrm (default: all).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', value_parser = parsed::<Format>)]
    pub format: Option<Vec<Format>>,
    /// Only errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// One or more results.json files.
    #[arg(value_name = "RESULTS", required = true)]
    pub results: Vec<PathBuf>,
    /// Folder to write into (default: the folder of the first results file).
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Formats, comma-separated: md, html, svg, png, hgrm, json (default: all but json).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', value_parser = parsed::<Format>)]
    pub format: Option<Vec<Format>>,
}

/// A size in bytes with the count suffixes (`4k` is 4,000 bytes).
fn parse_size(s: &str) -> Result<usize, String> {
    let n = units::parse_count(s)?;
    usize::try_from(n).map_err(|_| format!("'{s}' is too large"))
}

/// Any `FromStr` type whose error is a message: the same words a scenario accepts.
fn parsed<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

fn parse_duration_secs(s: &str) -> Result<u64, String> {
    units::parse_duration(s).map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_app() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_mint_flags() {
        let cli = Cli::try_parse_from([
            "jwtstorm",
            "mint",
            "-n",
            "10k",
            "--alg",
            "RS256",
            "--ttl",
            "5m",
            "--nbf",
            "-30s",
            "--mix",
            "valid=9,expired=1",
            "--claim",
            "sub=user-{i}",
            "--size",
            "4k",
        ])
        .unwrap();
        let Command::Mint(m) = cli.command else { panic!() };
        assert_eq!(m.count, Some(10_000));
        assert_eq!(m.size, Some(4_000));
        assert_eq!(m.ttl, Some(300));
        assert_eq!(m.nbf.as_deref(), Some("-30s"));
        assert_eq!(m.mix.unwrap(), vec!["valid=9", "expired=1"]);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Cli::try_parse_from(["jwtstorm", "mint", "-n", "lots"]).is_err());
        assert!(Cli::try_parse_from(["jwtstorm", "mint", "--ttl", "soon"]).is_err());
    }
}
