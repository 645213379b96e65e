//! The verifier policy: what a careful API enforces. It decides each token class's expected
//! answer when minting, and drives the embedded reference verifier.

use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;

use crate::model::alg;

/// Default ceiling on a token's length in bytes (a common proxy header limit).
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8192;

/// What the target verifier enforces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Allowed algorithms: an allow-list, never taken from the token.
    #[serde(serialize_with = "ser_algs")]
    pub algorithms: Vec<Algorithm>,
    /// The audience the verifier identifies as; tokens must carry it in `aud`.
    pub audience: Option<String>,
    /// The only issuer the verifier trusts.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
    /// Whether `nbf` is enforced.
    pub check_nbf: bool,
    /// Claims that must be present (`exp`, `iss`, `aud`, `sub`, `nbf`).
    pub required_claims: Vec<String>,
    /// Tokens longer than this many bytes are rejected unread.
    pub max_token_size: Option<usize>,
    /// The scope a verified token must carry; one without it is refused with 403
    /// (RFC 6750 `insufficient_scope`), not 401.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// Which claim holds the scopes.
    pub scope_claim: ScopeClaim,
}

/// Where a token's scopes are: `scope`, a space-separated string (RFC 8693, RFC 9068), or
/// `scp`, an array of strings (as some providers issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeClaim {
    #[default]
    Scope,
    Scp,
}

impl ScopeClaim {
    /// The claim's name.
    pub fn name(self) -> &'static str {
        match self {
            ScopeClaim::Scope => "scope",
            ScopeClaim::Scp => "scp",
        }
    }

    /// The scopes of a claim value: words of a string, strings of an array.
    pub fn scopes(value: &serde_json::Value) -> Vec<&str> {
        match value {
            serde_json::Value::String(s) => s.split_ascii_whitespace().collect(),
            serde_json::Value::Array(a) => a.iter().filter_map(serde_json::Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The claim, as JSON, holding `scopes` in this claim's form.
    pub fn write(self, scopes: &[&str], out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\":");
        match self {
            ScopeClaim::Scope => serde_json::to_writer(&mut *out, &scopes.join(" ")),
            ScopeClaim::Scp => serde_json::to_writer(&mut *out, scopes),
        }
        .expect("json");
    }
}

impl std::str::FromStr for ScopeClaim {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "scope" => Ok(ScopeClaim::Scope),
            "scp" => Ok(ScopeClaim::Scp),
            _ => Err(format!(
                "'{s}': expected scope (a space-separated string) or scp (an array)"
            )),
        }
    }
}

/// The scope an `insufficient_scope` token carries instead of the required one.
pub const LACKING_SCOPE: &str = "jwtstorm:no-such-scope";

fn ser_algs<S: serde::Serializer>(algs: &[Algorithm], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(algs.iter().map(|a| alg::name(*a)))
}

impl Policy {
    /// The default policy for tokens signed with `alg`: only that algorithm, 60 s leeway,
    /// `exp` required, `nbf` checked when present (RFC 7519 4.1.5; PyJWT and jose do too),
    /// 8 KiB maximum.
    pub fn for_alg(alg: Algorithm) -> Self {
        Policy {
            algorithms: vec![alg],
            audience: None,
            issuer: None,
            leeway: 60,
            check_nbf: true,
            required_claims: vec!["exp".into()],
            max_token_size: Some(DEFAULT_MAX_TOKEN_SIZE),
            required_scope: None,
            scope_claim: ScopeClaim::Scope,
        }
    }

    /// Whether `claim` must be present (`iss` and `aud` are implied by issuer and audience).
    pub fn requires(&self, claim: &str) -> bool {
        self.required_claims.iter().any(|c| c == claim)
            || (claim == "iss" && self.issuer.is_some())
            || (claim == "aud" && self.audience.is_some())
    }

    /// The jsonwebtoken `Validation` that expresses this policy, for checking minted tokens with
    /// an independent implementation. jsonwebtoken does not enforce `crit` or a size limit; the
    /// reference verifier adds both.
    pub fn validation(&self) -> Validation {
        let mut v = Validation::new(self.algorithms[0]);
        v.algorithms = self.algorithms.clone();
        v.leeway = self.leeway;
        v.validate_nbf = self.check_nbf;
        let mut required: Vec<String> = self.required_claims.clone();
        if self.issuer.is_some() {
            required.push("iss".into());
        }
        if self.audience.is_some() {
            required.push("aud".into());
        }
        v.set_required_spec_claims(&required);
        v.validate_exp = true;
        match &self.audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = true,
        }
        if let Some(i) = &self.issuer {
            v.set_issuer(&[i]);
        }
        v
    }
}
