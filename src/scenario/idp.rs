//! `[idp]`: jwtstorm as the identity provider (its listener, the key set's kids, the JWKS
//! max-age, the rotation schedule), and the embedded verifier's JWKS cache in `[verifier]`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Loaded, PercentValue, ScenarioError, duration};
use crate::token::rotation::{Action, Event, Preset};

/// The `[idp]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpSection {
    /// `IP:PORT` (127.0.0.1:0 by default).
    pub listen: Option<Spanned<String>>,
    /// The discovery document's `issuer` (the listener's URL by default).
    pub issuer: Option<String>,
    /// `Cache-Control: max-age` of the key set.
    pub max_age: Option<Spanned<String>>,
    /// The key set's kids, first one signing from the start.
    pub keys: Option<Spanned<Vec<String>>>,
    /// A preset name (`graceful`, `abrupt`) or a list of `{ at, publish | sign_with | retire }`.
    pub rotation: Option<Spanned<toml::Value>>,
    /// When a preset starts.
    pub rotate_at: Option<Spanned<String>>,
    /// Share of requests that keep sending tokens of the latest retired key after `retire`.
    pub retired_share: Option<Spanned<PercentValue>>,
}

/// What rotation was asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Rotation {
    None,
    Preset { preset: String, at: Duration },
    Events(Vec<Event>),
}

/// Typed `[idp]` settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdpSettings {
    pub listen: SocketAddr,
    pub issuer: Option<String>,
    pub max_age: Duration,
    /// Kids of the key set; empty: the keys of `[keys]` as they are.
    pub kids: Vec<String>,
    pub rotation: Rotation,
    pub retired_share: f64,
}

/// The default JWKS max-age.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// When a preset starts by default.
pub const DEFAULT_ROTATE_AT: Duration = Duration::from_secs(5);

impl Default for IdpSettings {
    fn default() -> Self {
        IdpSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer: None,
            max_age: DEFAULT_MAX_AGE,
            kids: Vec::new(),
            rotation: Rotation::None,
            retired_share: 0.05,
        }
    }
}

impl IdpSettings {
    /// The events of the rotation (a preset expanded), for keys `kids`.
    pub fn events(&self) -> Vec<Event> {
        match &self.rotation {
            Rotation::None => Vec::new(),
            Rotation::Events(e) => e.clone(),
            Rotation::Preset { preset, at } => {
                let p: Preset = preset.parse().unwrap_or(Preset::Graceful);
                p.events(*at, self.max_age, &self.kids[0], &self.kids[1])
            }
        }
    }

    /// Whether the key set changes during the run.
    pub fn rotates(&self) -> bool {
        self.rotation != Rotation::None
    }

    /// Reads `[idp]`.
    pub fn from_section(l: &Loaded, sec: &IdpSection) -> Result<IdpSettings, ScenarioError> {
        let mut s = IdpSettings {
            issuer: sec.issuer.clone(),
            ..IdpSettings::default()
        };
        if let Some(v) = &sec.listen {
            s.listen = v.get_ref().parse().map_err(|e| {
                l.error(
                    v,
                    "idp.listen",
                    format!("{e} (expected IP:PORT, such as 127.0.0.1:0)"),
                )
            })?;
        }
        if let Some(v) = &sec.max_age {
            s.max_age = duration(l, v, "idp.max_age")?;
        }
        if let Some(v) = &sec.retired_share {
            let f = match v.get_ref() {
                PercentValue::Number(n) => Ok(*n),
                PercentValue::Text(t) => crate::units::parse_percent(t),
            }
            .map_err(|e| l.error(v, "idp.retired_share", e))?;
            if !(0.0..=1.0).contains(&f) {
                return Err(l.error(v, "idp.retired_share", "must be between 0 and 100%"));
            }
            s.retired_share = f;
        }
        if let Some(v) = &sec.keys {
            let kids = v.get_ref();
            if kids.is_empty() || kids.iter().any(|k| k.is_empty() || k.len() > 100) {
                return Err(l.error(v, "idp.keys", "give one or more kids of 1 to 100 characters"));
            }
            if kids.iter().enumerate().any(|(i, k)| kids[..i].contains(k)) {
                return Err(l.error(v, "idp.keys", "the kids must differ"));
            }
            s.kids = kids.clone();
        }
        let at = match &sec.rotate_at {
            Some(v) => Some((duration(l, v, "idp.rotate_at")?, v)),
            None => None,
        };
        if let Some(v) = &sec.rotation {
            let key = "idp.rotation";
            s.rotation = match v.get_ref() {
                toml::Value::String(name) => {
                    name.parse::<Preset>().map_err(|e| l.error(v, key, e))?;
                    Rotation::Preset {
                        preset: name.clone(),
                        at: at.map_or(DEFAULT_ROTATE_AT, |a| a.0),
                    }
                }
                toml::Value::Array(items) => {
                    let mut events = Vec::new();
                    for (n, item) in items.iter().enumerate() {
                        events
                            .push(event(item).map_err(|e| l.error(v, key, format!("event {}: {e}", n + 1)))?);
                    }
                    if events.is_empty() {
                        return Err(l.error(v, key, "the list of events is empty"));
                    }
                    Rotation::Events(events)
                }
                _ => {
                    return Err(l.error(
                        v,
                        key,
                        "expected a preset (\"graceful\" or \"abrupt\") or a list of { at, publish | sign_with | retire }",
                    ));
                }
            };
            if s.kids.is_empty() {
                s.kids = vec!["k1".into(), "k2".into()];
            }
            if matches!(s.rotation, Rotation::Preset { .. }) && s.kids.len() < 2 {
                return Err(l.error(
                    v,
                    key,
                    "a preset rotates from the first of idp.keys to the second: name two",
                ));
            }
        } else if let Some((_, v)) = at {
            return Err(l.error(
                v,
                "idp.rotate_at",
                "needs idp.rotation = \"graceful\" or \"abrupt\"",
            ));
        }
        Ok(s)
    }
}

/// One `{ at = "20s", publish = "k2" }`.
fn event(v: &toml::Value) -> Result<Event, String> {
    let t = v
        .as_table()
        .ok_or("expected a table such as { at = \"20s\", publish = \"k2\" }")?;
    let mut at = None;
    let mut action = None;
    for (k, val) in t {
        let text = val.as_str().ok_or_else(|| format!("{k}: expected a string"))?;
        match k.as_str() {
            "at" => at = Some(crate::units::parse_duration(text).map_err(|e| format!("at: {e}"))?),
            "publish" | "sign_with" | "retire" => {
                if action.is_some() {
                    return Err("give one of publish, sign_with and retire per event".into());
                }
                let a = match k.as_str() {
                    "publish" => Action::Publish,
                    "sign_with" => Action::SignWith,
                    _ => Action::Retire,
                };
                action = Some((a, text.to_string()));
            }
            other => {
                return Err(format!(
                    "unknown key '{other}'; expected at and one of publish, sign_with, retire"
                ));
            }
        }
    }
    let at = at.ok_or("missing 'at'")?;
    let (action, kid) = action.ok_or("missing publish, sign_with or retire")?;
    Ok(Event { at, action, kid })
}

/// The embedded verifier's JWKS cache (`[verifier] jwks_max_age`, `jwks_cooldown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JwksCache {
    pub max_age: Duration,
    pub cooldown: Duration,
    /// `jwks_max_age` was given (otherwise it follows the identity provider's max-age).
    #[serde(skip)]
    pub max_age_given: bool,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache {
            max_age: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            max_age_given: false,
        }
    }
}
