//! `[diff]`: the verifiers `jwtstorm diff` sends one batch to, each with its own URL, headers,
//! token placement and reason source, and the thresholds on their disagreements.

use crate::model::Placement;

use super::{DiffTargetValue, Loaded, ScenarioError};

/// The fewest and most targets a differential compares.
pub const MIN_TARGETS: usize = 2;
pub const MAX_TARGETS: usize = 8;

/// One verifier of a differential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffTarget {
    pub name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub token: Option<Placement>,
    pub reason_header: Option<String>,
    pub reason_json: Option<String>,
}

/// Typed `[diff]` settings with the flags laid over them.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffSettings {
    pub targets: Vec<DiffTarget>,
    pub parallel: bool,
    pub thresholds: Vec<crate::gate::diff::DiffThreshold>,
}

/// Checks a target's name: 1 to 40 letters, digits, `-`, `_` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "target name '{name}': 1 to 40 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Checks a target's URL: `http://` or `https://` with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("URL '{url}': {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "URL '{url}': expected http://HOST[:PORT]/PATH or https://..."
        ));
    }
    Ok(())
}

fn target(v: &DiffTargetValue) -> Result<DiffTarget, String> {
    check_name(&v.name)?;
    check_url(&v.url).map_err(|e| format!("{}: {e}", v.name))?;
    let mut headers = Vec::new();
    for (k, val) in &v.headers {
        super::target::check_header(k, val).map_err(|e| format!("{}: headers: {e}", v.name))?;
        headers.push((k.clone(), val.clone()));
    }
    let token = match &v.token {
        Some(t) => Some(
            t.parse::<Placement>()
                .map_err(|e| format!("{}: token: {e}", v.name))?,
        ),
        None => None,
    };
    if let Some(h) = &v.reason_header
        && hyper::header::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(format!("{}: reason_header '{h}' is not a header name", v.name));
    }
    if v.reason_json.as_deref() == Some("") {
        return Err(format!(
            "{}: reason_json: name the JSON field, such as \"error\"",
            v.name
        ));
    }
    Ok(DiffTarget {
        name: v.name.clone(),
        url: v.url.clone(),
        headers,
        token,
        reason_header: v.reason_header.as_ref().map(|h| h.to_ascii_lowercase()),
        reason_json: v.reason_json.clone(),
    })
}

/// A `--target NAME=URL` flag.
pub fn target_flag(spec: &str) -> Result<DiffTarget, String> {
    let (name, url) = spec.split_once('=').ok_or_else(|| {
        format!("--target '{spec}': expected NAME=URL, such as a=http://127.0.0.1:8080/protected")
    })?;
    let v = DiffTargetValue {
        name: name.trim().to_string(),
        url: url.trim().to_string(),
        headers: Default::default(),
        token: None,
        reason_header: None,
        reason_json: None,
    };
    target(&v).map_err(|e| format!("--target '{spec}': {e}"))
}

impl DiffSettings {
    /// Reads `[diff]` and lays the flags over it: a `--target` replaces the scenario's target
    /// of its name or adds one; `--threshold` adds thresholds.
    pub fn from_scenario(
        l: &Loaded,
        flag_targets: &[String],
        sequential: bool,
        flag_thresholds: &[String],
    ) -> Result<DiffSettings, FlagOrScenario> {
        let sec = &l.scenario.diff;
        let mut targets = Vec::new();
        if let Some(list) = &sec.targets {
            for (i, v) in list.get_ref().iter().enumerate() {
                let t = target(v).map_err(|e| l.error(list, &format!("diff.targets[{i}]"), e))?;
                if targets.iter().any(|x: &DiffTarget| x.name == t.name) {
                    return Err(l
                        .error(
                            list,
                            "diff.targets",
                            format!("two targets are named '{}'", t.name),
                        )
                        .into());
                }
                targets.push(t);
            }
        }
        for spec in flag_targets {
            let t = target_flag(spec).map_err(FlagOrScenario::Flag)?;
            match targets.iter_mut().find(|x| x.name == t.name) {
                Some(x) => {
                    x.url = t.url;
                }
                None => targets.push(t),
            }
        }
        if !(MIN_TARGETS..=MAX_TARGETS).contains(&targets.len()) {
            return Err(FlagOrScenario::Flag(format!(
                "diff compares {MIN_TARGETS} to {MAX_TARGETS} targets, got {}: give --target NAME=URL (repeatable) or \
                 [[diff.targets]] with name and url",
                targets.len()
            )));
        }
        let mut thresholds = Vec::new();
        for (name, cond) in &sec.thresholds {
            thresholds.push(
                crate::gate::diff::DiffThreshold::parse(name, cond.get_ref())
                    .map_err(|e| l.error(cond, &format!("diff.thresholds.{name}"), e))?,
            );
        }
        for t in flag_thresholds {
            thresholds.push(
                crate::gate::diff::DiffThreshold::parse_one(t)
                    .map_err(|e| FlagOrScenario::Flag(format!("--threshold: {e}")))?,
            );
        }
        Ok(DiffSettings {
            targets,
            parallel: !sequential && sec.parallel.unwrap_or(true),
            thresholds,
        })
    }
}

/// An error in the scenario (with its place) or in a flag.
#[derive(Debug)]
pub enum FlagOrScenario {
    Scenario(ScenarioError),
    Flag(String),
}

impl From<ScenarioError> for FlagOrScenario {
    fn from(e: ScenarioError) -> Self {
        FlagOrScenario::Scenario(e)
    }
}

impl std::fmt::Display for FlagOrScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagOrScenario::Scenario(e) => write!(f, "{e}"),
            FlagOrScenario::Flag(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_targets_and_bad_ones_are_refused() {
        let t = target_flag("a=http://127.0.0.1:1/p").unwrap();
        assert_eq!((t.name.as_str(), t.url.as_str()), ("a", "http://127.0.0.1:1/p"));
        assert!(target_flag("nourl").is_err());
        assert!(target_flag("a b=http://x/").is_err());
        assert!(target_flag("a=ftp://x/").is_err());
        assert!(check_name(&"x".repeat(41)).is_err());
    }
}
