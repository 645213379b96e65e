//! The `[load]` section: the load model, its bounds and schedule, and token order, as typed
//! settings.

use std::time::Duration;

use super::target::secs;
use super::{Loaded, PercentValue, ScenarioError, count, duration};
use crate::model::{Model, Order, Stage};
use crate::text::format_duration;
use crate::units;

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
    /// Honour `Retry-After` (see the scenario key).
    pub respect_retry_after: bool,
    /// Revocations during the run, in time order.
    pub revoke: Vec<crate::model::Revocation>,
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
    /// The load in one line, for `validate` and the start of a run:
    /// `open model, 20000 requests over 10.00s in 1 stage(s), up to 64 in flight`.
    pub fn describe(&self) -> String {
        match self.model {
            Model::Closed => {
                let bound = match (self.requests, self.duration) {
                    (Some(n), Some(d)) => format!("{n} requests or {}", format_duration(d)),
                    (Some(n), None) => format!("{n} requests"),
                    (None, Some(d)) => format_duration(d),
                    (None, None) => format_duration(self.time_bound()),
                };
                format!("closed model, {} connections, {bound}", self.concurrency)
            }
            Model::Open => {
                use crate::replay::pacer::Pacer;
                let pacer = crate::replay::pacer::Staged::new(&self.stages);
                format!(
                    "open model, {} requests over {} in {} stage(s), up to {} in flight",
                    pacer.total(),
                    format_duration(pacer.length()),
                    self.stages.len(),
                    self.concurrency
                )
            }
        }
    }

    /// The time bound every run has: its duration, or for a count-only run a generous ceiling.
    pub fn time_bound(&self) -> Duration {
        self.duration.unwrap_or(Duration::from_secs(24 * 3600))
    }
}

/// Default time bound when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
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
            respect_retry_after: false,
            revoke: Vec::new(),
        }
    }
}

impl LoadSettings {
    /// Reads `[load]`; checks each value and the combinations within the section.
    pub fn from_section(l: &Loaded) -> Result<Self, ScenarioError> {
        let section = &l.scenario.load;
        let mut load = LoadSettings::default();
        if let Some(m) = &section.model {
            load.model = m.get_ref().parse().map_err(|e| l.error(m, "load.model", e))?;
        } else if section.rate.is_some() || section.stages.is_some() {
            load.model = Model::Open;
        }
        if let Some(c) = &section.concurrency {
            if !(1..=100_000).contains(c.get_ref()) {
                return Err(l.error(c, "load.concurrency", "must be between 1 and 100000"));
            }
            load.concurrency = *c.get_ref() as usize;
        }
        if let Some(d) = &section.duration {
            let d2 = duration(l, d, "load.duration")?;
            if d2.is_zero() {
                return Err(l.error(d, "load.duration", "must be longer than 0s"));
            }
            load.duration = Some(d2);
        }
        if let Some(r) = &section.requests {
            let n = count(r.get_ref()).map_err(|e| l.error(r, "load.requests", e))?;
            if n == 0 {
                return Err(l.error(r, "load.requests", "must be at least 1"));
            }
            load.requests = Some(n);
        }
        if let Some(t) = &section.threads {
            if !(0..=1024).contains(t.get_ref()) {
                return Err(l.error(t, "load.threads", "must be between 0 (automatic) and 1024"));
            }
            load.threads = *t.get_ref() as usize;
        }
        match (load.model, &section.rate, &section.stages) {
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
                let rate = check_rate(l, r, "load.rate", false)?;
                load.stages = vec![Stage {
                    duration: load.duration.unwrap_or(DEFAULT_DURATION),
                    rate,
                    ramp: false,
                }];
            }
            (Model::Open, None, Some(st)) => {
                if st.get_ref().is_empty() {
                    return Err(l.error(st, "load.stages", "list at least one stage"));
                }
                if let Some(d) = &section.duration {
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
                    let rate = check_rate(l, &stage.rate, &format!("{key}.rate"), true)?;
                    load.stages.push(Stage {
                        duration: d,
                        rate,
                        ramp: stage.ramp && i > 0,
                    });
                }
                let total: Duration = load.stages.iter().map(|s| s.duration).sum();
                if total > units::MAX_DURATION {
                    return Err(l.error(
                        st,
                        "load.stages",
                        format!(
                            "the stages last {} in all; a run lasts at most 366 days",
                            format_duration(total)
                        ),
                    ));
                }
                load.duration = Some(total);
            }
            (Model::Open, None, None) => {
                let at = section
                    .model
                    .as_ref()
                    .expect("open is only implied by a rate or stages");
                return Err(l.error(at, "load.model", "the open model needs load.rate or load.stages"));
            }
            (Model::Closed, None, None) => {}
        }
        if load.model == Model::Open && load.duration.is_none() {
            load.duration = Some(load.stages.iter().map(|s| s.duration).sum());
        }
        if load.duration.is_none() && load.requests.is_none() {
            load.duration = Some(DEFAULT_DURATION);
        }
        if let Some(w) = &section.warmup {
            load.warmup = duration(l, w, "load.warmup")?;
            if let Some(d) = load.duration
                && load.warmup >= d
            {
                return Err(l.error(
                    w,
                    "load.warmup",
                    format!(
                        "the warmup ({}) must be shorter than the run ({})",
                        format_duration(load.warmup),
                        format_duration(d)
                    ),
                ));
            }
        }
        if let Some(o) = &section.order {
            load.order = o.get_ref().parse().map_err(|e| l.error(o, "load.order", e))?;
        }
        if let Some(seed) = section.seed {
            load.seed = seed;
        }
        if let Some(r) = &section.reuse {
            let f = match r.get_ref() {
                PercentValue::Number(n) => Ok(*n),
                PercentValue::Text(t) => units::parse_percent(t),
            }
            .map_err(|e| l.error(r, "load.reuse", e))?;
            if !(0.0..1.0).contains(&f) {
                return Err(l.error(r, "load.reuse", "must be at least 0 and below 1 (or 100%)"));
            }
            load.reuse = f;
        }
        if let Some(p) = &section.pool {
            let n = count(p.get_ref()).map_err(|e| l.error(p, "load.pool", e))?;
            if n == 0 {
                return Err(l.error(p, "load.pool", "must be at least 1"));
            }
            load.pool = Some(n);
        }
        if let Some(g) = &section.grace {
            load.grace = duration(l, g, "load.grace")?;
        }
        if let Some(r) = section.respect_retry_after {
            load.respect_retry_after = r;
        }
        if let Some(v) = &section.revoke {
            load.revoke = revocations(v.get_ref()).map_err(|e| l.error(v, "load.revoke", e))?;
            if let Some(last) = load.revoke.last()
                && last.at >= load.time_bound()
            {
                return Err(l.error(
                    v,
                    "load.revoke",
                    format!(
                        "a revocation at {} comes after the run ends ({})",
                        format_duration(last.at),
                        format_duration(load.time_bound())
                    ),
                ));
            }
        }
        Ok(load)
    }
}

/// The most revocations a run may have.
pub const MAX_REVOCATIONS: usize = 16;

/// Reads `load.revoke`'s entries, sorted by time.
pub fn revocations(items: &[super::RevokeValue]) -> Result<Vec<crate::model::Revocation>, String> {
    if items.is_empty() || items.len() > MAX_REVOCATIONS {
        return Err(format!(
            "list 1 to {MAX_REVOCATIONS} revocations such as {{ at = \"20s\", share = \"10%\" }}"
        ));
    }
    let share = |v: &PercentValue, what: &str, n: usize| -> Result<f64, String> {
        let f = match v {
            PercentValue::Number(x) => Ok(*x),
            PercentValue::Text(t) => units::parse_percent(t),
        }
        .map_err(|e| format!("entry {n}: {what}: {e}"))?;
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!(
                "entry {n}: {what} must be above 0 and at most 1 (or 100%)"
            ));
        }
        Ok(f)
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let at = units::parse_duration(&item.at).map_err(|e| format!("entry {n}: at: {e}"))?;
        if at.is_zero() {
            return Err(format!(
                "entry {n}: at must be after the start: no token has been sent at 0s"
            ));
        }
        out.push(crate::model::Revocation {
            at,
            share: share(&item.share, "share", n)?,
            replay: match &item.replay {
                Some(r) => share(r, "replay", n)?,
                None => crate::model::load::DEFAULT_REVOKED_REPLAY,
            },
        });
    }
    out.sort_by_key(|r| r.at);
    if out.windows(2).any(|w| w[0].at == w[1].at) {
        return Err("two revocations at the same moment: merge them".into());
    }
    Ok(out)
}

fn check_rate(l: &Loaded, r: &toml::Spanned<f64>, key: &str, zero_ok: bool) -> Result<f64, ScenarioError> {
    rate(*r.get_ref(), zero_ok).map_err(|e| l.error(r, key, e))
}

/// Checks an arrival rate: positive for a fixed rate (`load.rate`, `--rate`); a stage may also
/// be 0, so that a ramp can start from nothing.
pub fn rate(rate: f64, zero_ok: bool) -> Result<f64, String> {
    let low_ok = if zero_ok { rate >= 0.0 } else { rate > 0.0 };
    if !(low_ok && rate <= 10_000_000.0) {
        let low = if zero_ok {
            "between 0"
        } else {
            "above 0 and at most"
        };
        return Err(format!("must be {low} and 10000000 requests per second"));
    }
    Ok(rate)
}
