//! Claim templates: static values, the token index (`user-{i}`), values drawn from a list or a
//! range with the batch seed, compiled once so each token's payload is written without building
//! a JSON tree.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::Value;

use super::rng::TokenRng;

/// Claims the minter sets itself from the token settings and the policy.
pub const RESERVED: [&str; 7] = ["iss", "aud", "exp", "nbf", "iat", "jti", "pad"];

/// One compiled claim value.
#[derive(Debug, Clone)]
enum Part {
    /// Pre-serialized JSON.
    Static(Vec<u8>),
    /// A string with `{i}` placeholders: escaped pieces between which the index is written.
    Indexed(Vec<Vec<u8>>),
    /// One of these pre-serialized values, drawn with the token's RNG.
    OneOf(Vec<Vec<u8>>),
    /// An integer drawn uniformly from `lo..=hi`.
    Range(i64, i64),
}

/// A compiled claim template.
#[derive(Debug, Clone, Default)]
pub struct ClaimTemplate {
    /// `(prefix with key, value)` in key order; the prefix is `"key":`.
    parts: Vec<(Vec<u8>, Part)>,
    /// The template as given, for manifests and reports.
    pub source: BTreeMap<String, Value>,
}

impl ClaimTemplate {
    /// Compiles a template. Generators are single-key tables: `{ one_of = [...] }` and
    /// `{ range = [lo, hi] }`; strings may contain `{i}`. Errors name the claim.
    pub fn compile(source: BTreeMap<String, Value>) -> Result<Self, String> {
        let mut parts = Vec::with_capacity(source.len());
        for (key, value) in &source {
            if RESERVED.contains(&key.as_str()) {
                return Err(format!(
                    "claim '{key}' is set by jwtstorm (iss/aud from [verifier], exp/iat/nbf from ttl and nbf, jti from jti, pad from size); remove it from claims"
                ));
            }
            let mut prefix = serde_json::to_vec(key).map_err(|e| e.to_string())?;
            prefix.push(b':');
            parts.push((prefix, compile_value(key, value)?));
        }
        Ok(ClaimTemplate { parts, source })
    }

    /// Whether the template sets `sub`.
    pub fn has(&self, key: &str) -> bool {
        self.source.contains_key(key)
    }

    /// Appends `,"key":value` for every claim (a leading comma before each when `comma` is set,
    /// or after the first otherwise). Returns whether anything was written.
    pub fn write(&self, index: u64, rng: &mut TokenRng, out: &mut Vec<u8>, comma: bool) -> bool {
        self.write_except(index, rng, out, comma, None)
    }

    /// [`ClaimTemplate::write`] without the claim `skip` (one the token writes its own way).
    pub fn write_except(
        &self,
        index: u64,
        rng: &mut TokenRng,
        out: &mut Vec<u8>,
        mut comma: bool,
        skip: Option<&str>,
    ) -> bool {
        let mut any = false;
        for (prefix, part) in &self.parts {
            if skip
                .is_some_and(|k| prefix.len() == k.len() + 3 && &prefix[1..prefix.len() - 2] == k.as_bytes())
            {
                continue;
            }
            if comma {
                out.push(b',');
            }
            comma = true;
            any = true;
            out.extend_from_slice(prefix);
            match part {
                Part::Static(bytes) => out.extend_from_slice(bytes),
                Part::Indexed(pieces) => {
                    out.push(b'"');
                    for (n, piece) in pieces.iter().enumerate() {
                        if n > 0 {
                            let _ = write!(out, "{index}");
                        }
                        out.extend_from_slice(piece);
                    }
                    out.push(b'"');
                }
                Part::OneOf(choices) => {
                    let pick = rng.below(choices.len() as u64) as usize;
                    out.extend_from_slice(&choices[pick]);
                }
                Part::Range(lo, hi) => {
                    let span = (*hi as i128 - *lo as i128 + 1) as u64;
                    let v = *lo as i128 + rng.below(span) as i128;
                    let _ = write!(out, "{v}");
                }
            }
        }
        any
    }
}

fn compile_value(key: &str, value: &Value) -> Result<Part, String> {
    match value {
        Value::String(s) if s.contains("{i}") => {
            let pieces = s
                .split("{i}")
                .map(|p| {
                    let quoted = serde_json::to_vec(p).expect("strings serialize");
                    quoted[1..quoted.len() - 1].to_vec()
                })
                .collect();
            Ok(Part::Indexed(pieces))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("one_of") => {
            let Some(Value::Array(items)) = map.get("one_of") else {
                return Err(format!("claim '{key}': one_of takes a list of values"));
            };
            if items.is_empty() {
                return Err(format!("claim '{key}': one_of needs at least one value"));
            }
            Ok(Part::OneOf(
                items
                    .iter()
                    .map(|v| serde_json::to_vec(v).expect("json"))
                    .collect(),
            ))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("range") => {
            let bounds = map.get("range").and_then(Value::as_array);
            match bounds
                .map(|b| b.iter().map(Value::as_i64).collect::<Vec<_>>())
                .as_deref()
            {
                Some([Some(lo), Some(hi)]) if lo <= hi => Ok(Part::Range(*lo, *hi)),
                _ => Err(format!(
                    "claim '{key}': range takes two integers [lo, hi] with lo <= hi"
                )),
            }
        }
        other => Ok(Part::Static(
            serde_json::to_vec(other).map_err(|e| e.to_string())?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: Value) -> ClaimTemplate {
        let map: BTreeMap<String, Value> = serde_json::from_value(v).unwrap();
        ClaimTemplate::compile(map).unwrap()
    }

    #[test]
    fn renders_index_lists_and_ranges() {
        let t = template(json!({
            "sub": "user-{i}\"x",
            "roles": ["reader"],
            "tier": {"one_of": ["free", "pro"]},
            "shard": {"range": [3, 5]},
        }));
        let mut out = b"{".to_vec();
        let mut rng = TokenRng::new(7, 42);
        t.write(42, &mut rng, &mut out, false);
        out.push(b'}');
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["sub"], "user-42\"x");
        assert_eq!(v["roles"], json!(["reader"]));
        assert!(["free", "pro"].contains(&v["tier"].as_str().unwrap()));
        let shard = v["shard"].as_i64().unwrap();
        assert!((3..=5).contains(&shard));
    }

    #[test]
    fn rejects_reserved_and_bad_generators() {
        let bad = |v: Value| {
            let map: BTreeMap<String, Value> = serde_json::from_value(v).unwrap();
            ClaimTemplate::compile(map).unwrap_err()
        };
        assert!(bad(json!({"exp": 5})).contains("'exp'"));
        assert!(bad(json!({"n": {"range": [5, 1]}})).contains("'n'"));
        assert!(bad(json!({"n": {"one_of": []}})).contains("'n'"));
    }
}
