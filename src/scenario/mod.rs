//! The scenario file: a TOML model with defaults, and validation whose errors name the file,
//! line, column and key.

pub mod resolve;

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
}

/// `[tokens]`: what to mint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
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

impl Loaded {
    /// Reads and parses a scenario file. Unknown keys and wrong types are errors naming the line,
    /// column and key.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            location: path.display().to_string(),
            message: format!("cannot read scenario: {e}"),
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
                let location = match e.span() {
                    Some(span) => location(path, &text, span.start),
                    None => path.display().to_string(),
                };
                Err(ScenarioError {
                    location,
                    message: e.message().to_string(),
                })
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
    fn wrong_types_are_errors() {
        let text = "[verifier]\ncheck_nbf = \"yes\"\n".to_string();
        let err = Loaded::parse(Path::new("s.toml"), text).unwrap_err();
        assert!(err.location.starts_with("s.toml:2:"), "{}", err.location);
    }
}
