//! Everything `run` needs beyond keys, policy and tokens: the `[target]`, `[load]` and
//! `[report]` sections, `tokens.batch`, thresholds and the gate, with the checks across them.
//! Every impossible combination is refused here, before anything is sent.

use std::path::PathBuf;
use std::time::Duration;

pub use super::load::{DEFAULT_DURATION, LoadSettings, rate};
pub use super::target::{TargetSettings, check_url};
use super::{Loaded, ScenarioError, duration};
use crate::gate::thresholds::{self, Threshold};
use crate::model::Format;

/// Typed `[report]` settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSettings {
    pub dir: PathBuf,
    pub formats: Vec<Format>,
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
    pub thresholds: Vec<Threshold>,
    /// Check thresholds during the run from this point on, and stop at the first failure.
    #[serde(skip)]
    pub abort_after: Option<Duration>,
    /// Fail a run whose accept path was never exercised (valid tokens sent, none accepted).
    #[serde(skip)]
    pub require_accepts: bool,
    /// jwtstorm as the identity provider.
    pub idp: Option<super::idp::IdpSettings>,
    /// How the embedded verifier caches the identity provider's JWKS.
    pub jwks_cache: super::idp::JwksCache,
    /// How often the embedded verifier looks at the revocation list for changes.
    #[serde(with = "super::target::secs")]
    pub revocation_poll: Duration,
    /// This process's share of a run spread over several (`--segment`).
    #[serde(skip)]
    pub segment: crate::model::Segment,
    /// The common wall-clock start of every segment (`--start-at`).
    #[serde(skip)]
    pub start_at: Option<std::time::SystemTime>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            target: TargetSettings::default(),
            load: LoadSettings::default(),
            report: ReportSettings {
                dir: PathBuf::from("reports"),
                formats: Format::ALL.to_vec(),
            },
            batch: None,
            thresholds: Vec::new(),
            abort_after: None,
            require_accepts: true,
            idp: None,
            jwks_cache: super::idp::JwksCache::default(),
            revocation_poll: crate::verifier::revocation::DEFAULT_POLL,
            segment: crate::model::Segment::WHOLE,
            start_at: None,
        }
    }
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
        let mut s = RunSettings {
            target: TargetSettings::from_section(l)?,
            load: LoadSettings::from_section(l)?,
            ..RunSettings::default()
        };

        if let Some(sec) = &sc.idp {
            s.idp = Some(super::idp::IdpSettings::from_section(l, sec)?);
        }
        if let Some(i) = &s.idp {
            // A careful verifier honours the key set's Cache-Control.
            s.jwks_cache.max_age = i.max_age;
        }
        if let Some(v) = &sc.verifier.jwks_max_age {
            s.jwks_cache.max_age = duration(l, v, "verifier.jwks_max_age")?;
            s.jwks_cache.max_age_given = true;
        }
        if let Some(v) = &sc.verifier.jwks_cooldown {
            s.jwks_cache.cooldown = duration(l, v, "verifier.jwks_cooldown")?;
        }
        if (sc.verifier.jwks_max_age.is_some() || sc.verifier.jwks_cooldown.is_some()) && sc.idp.is_none() {
            let v = sc
                .verifier
                .jwks_max_age
                .as_ref()
                .or(sc.verifier.jwks_cooldown.as_ref())
                .expect("one is set");
            return Err(l.error(
                v,
                "verifier",
                "jwks_max_age and jwks_cooldown set how the embedded verifier caches [idp]'s JWKS: add an [idp] section",
            ));
        }
        if let Some(v) = &sc.verifier.revocation_poll {
            s.revocation_poll = duration(l, v, "verifier.revocation_poll")?;
            if s.revocation_poll < crate::verifier::revocation::MIN_POLL {
                return Err(l.error(v, "verifier.revocation_poll", "must be at least 10ms"));
            }
        }
        if let Some(d) = &sc.report.dir {
            s.report.dir = PathBuf::from(d.get_ref());
        }
        if let Some(f) = &sc.report.formats {
            let parsed: Result<Vec<Format>, String> = f.get_ref().iter().map(|x| x.parse()).collect();
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
            let t = thresholds::parse(name, cond.get_ref())
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
        if let Some(r) = sc.gate.require_accepts {
            s.require_accepts = r;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
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
        assert_eq!(s.target.statuses(), crate::model::StatusSets::default());
        // A default set yields to a named one.
        let s = run("[target]\nembedded = true\nreject = [401, 403]\n").unwrap();
        assert_eq!(s.target.statuses().outcome(403), crate::model::Outcome::Rejected);
        assert_eq!(s.target.forbidden, crate::model::StatusSet::List(vec![]));
        let s = run("[target]\nembedded = true\nlimited = [429, 503]\n").unwrap();
        assert_eq!(s.target.statuses().outcome(503), crate::model::Outcome::Limited);
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
                "[target]\nembedded = true\nreject = [401, 403]\nforbidden = [403]\n",
                "t.toml:4:13",
                "target.forbidden: 403 is also in target.reject",
            ),
            (
                "[target]\nembedded = true\nlimited = [99]\n",
                "t.toml:3:11",
                "target.limited: 99 is not an HTTP status",
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
