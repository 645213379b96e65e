//! Capacity search: the highest arrival rate that still meets the SLOs. Grow the rate
//! geometrically until a step fails, narrow between the last good and the first bad rate, then
//! confirm the answer with a longer step. The search itself is a pure state machine
//! ([`Search`]); `commands::capacity` runs its steps with the replay engine.

pub mod judge;
pub mod report;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the search runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSettings {
    pub start_rate: f64,
    pub max_rate: f64,
    /// Factor between growing steps.
    pub growth: f64,
    /// Measured length of a step.
    #[serde(with = "secs")]
    pub step: Duration,
    /// Unmeasured lead-in of every step.
    #[serde(with = "secs")]
    pub settle: Duration,
    /// Measured length of the confirming step.
    #[serde(with = "secs")]
    pub confirm: Duration,
    pub max_steps: usize,
    /// Total time the steps may take.
    #[serde(with = "secs")]
    pub budget: Duration,
    /// A step fails when it achieves less than the offered rate by more than this share.
    pub shortfall: f64,
    /// A step fails when more than this share of its requests left late (they piled up).
    pub max_late: f64,
    /// Narrowing stops when the bad rate is within this share of the good one.
    pub precision: f64,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            start_rate: 100.0,
            max_rate: 100_000.0,
            growth: 2.0,
            step: Duration::from_secs(5),
            settle: Duration::from_secs(1),
            confirm: Duration::from_secs(15),
            max_steps: 20,
            budget: Duration::from_secs(300),
            shortfall: 0.05,
            max_late: 0.01,
            precision: 0.1,
        }
    }
}

impl SearchSettings {
    /// Checks the values against each other.
    pub fn check(&self) -> Result<(), String> {
        if !(self.start_rate > 0.0 && self.start_rate <= self.max_rate) {
            return Err("capacity: start_rate must be above 0 and at most max_rate".into());
        }
        if self.growth <= 1.0 {
            return Err("capacity: growth must be above 1 (2 doubles the rate each step)".into());
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            return Err("capacity: precision must be between 0% and 100%".into());
        }
        if self.step.is_zero() || self.confirm.is_zero() {
            return Err("capacity: step and confirm must be longer than 0s".into());
        }
        if self.max_steps == 0 {
            return Err("capacity: max_steps must be at least 1".into());
        }
        if self.budget < self.step + self.settle {
            return Err("capacity: the budget must hold at least one step".into());
        }
        Ok(())
    }
}

/// The SLOs and search settings of a scenario's `[capacity]` section, checked.
pub fn from_scenario(
    l: &crate::scenario::Loaded,
) -> Result<(Vec<crate::gate::thresholds::Threshold>, SearchSettings), crate::scenario::ScenarioError> {
    use crate::scenario::PercentValue;
    let c = &l.scenario.capacity;
    let mut slos = Vec::new();
    for (name, cond) in &c.slo {
        slos.push(
            crate::gate::thresholds::parse(name, cond.get_ref())
                .map_err(|e| l.error(cond, &format!("capacity.slo.\"{name}\""), e))?,
        );
    }
    let mut s = SearchSettings::default();
    let rate = |v: &toml::Spanned<f64>, key: &str| {
        let r = *v.get_ref();
        if (0.0..=10_000_000.0).contains(&r) && r > 0.0 {
            Ok(r)
        } else {
            Err(l.error(v, key, "must be above 0 and at most 10000000 requests per second"))
        }
    };
    if let Some(v) = &c.start_rate {
        s.start_rate = rate(v, "capacity.start_rate")?;
    }
    if let Some(v) = &c.max_rate {
        s.max_rate = rate(v, "capacity.max_rate")?;
    }
    if let Some(v) = &c.growth {
        if *v.get_ref() <= 1.0 {
            return Err(l.error(
                v,
                "capacity.growth",
                "must be above 1 (2 doubles the rate each step)",
            ));
        }
        s.growth = *v.get_ref();
    }
    for (v, key, slot) in [
        (&c.step, "capacity.step", &mut s.step),
        (&c.settle, "capacity.settle", &mut s.settle),
        (&c.confirm, "capacity.confirm", &mut s.confirm),
        (&c.budget, "capacity.budget", &mut s.budget),
    ] {
        if let Some(v) = v {
            *slot = crate::units::parse_duration(v.get_ref()).map_err(|e| l.error(v, key, e))?;
        }
    }
    if let Some(v) = &c.max_steps {
        if !(1..=1000).contains(v.get_ref()) {
            return Err(l.error(v, "capacity.max_steps", "must be between 1 and 1000"));
        }
        s.max_steps = *v.get_ref() as usize;
    }
    for (v, key, slot) in [
        (&c.shortfall, "capacity.shortfall", &mut s.shortfall),
        (&c.max_late, "capacity.max_late", &mut s.max_late),
        (&c.precision, "capacity.precision", &mut s.precision),
    ] {
        if let Some(v) = v {
            let f = match v.get_ref() {
                PercentValue::Number(n) => Ok(*n),
                PercentValue::Text(t) => crate::units::parse_percent(t),
            }
            .map_err(|e| l.error(v, key, e))?;
            if !(0.0..1.0).contains(&f) {
                return Err(l.error(v, key, "must be at least 0% and below 100%"));
            }
            *slot = f;
        }
    }
    s.check().map_err(|e| crate::scenario::ScenarioError {
        location: l.path.display().to_string(),
        message: e,
    })?;
    Ok((slos, s))
}

/// Which part of the search a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Grow,
    Narrow,
    Confirm,
}

/// One step's measurements and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    /// Corrected latency percentiles of the measured part, µs.
    pub p50_us: u64,
    pub p99_us: u64,
    pub error_rate: f64,
    /// Share of requests that left more than 5 ms late.
    pub late_share: f64,
    pub false_accepts: u64,
    pub passed: bool,
    /// Why it failed.
    pub reasons: Vec<String>,
}

/// The search's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The highest confirmed rate (None: not even the lowest rate tried met the SLO).
    pub capacity_rps: Option<f64>,
    /// The lowest failing rate seen above it.
    pub first_failing_rps: Option<f64>,
    /// How far the first failing rate is above the answer, as a share.
    pub headroom: Option<f64>,
    /// Why the search ended.
    pub ended: String,
}

/// The search state.
#[derive(Debug, Clone)]
pub struct Search {
    s: SearchSettings,
    passes: Vec<f64>,
    good: Option<f64>,
    bad: Option<f64>,
    confirmed: Option<f64>,
    steps: usize,
    spent: Duration,
    ended: Option<String>,
}

impl Search {
    /// A new search.
    pub fn new(s: SearchSettings) -> Search {
        Search {
            s,
            passes: Vec::new(),
            good: None,
            bad: None,
            confirmed: None,
            steps: 0,
            spent: Duration::ZERO,
            ended: None,
        }
    }

    /// The step to run next, or `None` when the search is over.
    pub fn next_step(&mut self) -> Option<(Phase, f64)> {
        if self.ended.is_some() {
            return None;
        }
        let planned = match (self.good, self.bad) {
            (Some(g), _) if self.confirmed == Some(g) => {
                self.ended = Some("confirmed".into());
                return None;
            }
            (Some(g), None) if g >= self.s.max_rate => (Phase::Confirm, g),
            (g, None) => (
                Phase::Grow,
                g.map_or(self.s.start_rate, |g| (g * self.s.growth).min(self.s.max_rate)),
            ),
            (None, Some(b)) => {
                let r = b / self.s.growth;
                if r < 1.0 {
                    self.ended = Some("even 1 request/s fails".into());
                    return None;
                }
                (Phase::Grow, r)
            }
            (Some(g), Some(b)) if b / g > 1.0 + self.s.precision => (Phase::Narrow, (g * b).sqrt()),
            (Some(g), Some(_)) => (Phase::Confirm, g),
        };
        let cost = self.s.settle
            + if planned.0 == Phase::Confirm {
                self.s.confirm
            } else {
                self.s.step
            };
        if self.steps >= self.s.max_steps {
            self.ended = Some(format!("max_steps ({}) reached", self.s.max_steps));
            return None;
        }
        if self.spent + cost > self.s.budget {
            self.ended = Some(format!(
                "time budget ({}) reached",
                crate::text::format_duration(self.s.budget)
            ));
            return None;
        }
        Some(planned)
    }

    /// Records a step's verdict.
    pub fn record(&mut self, phase: Phase, rate: f64, passed: bool) {
        self.steps += 1;
        self.spent += self.s.settle
            + if phase == Phase::Confirm {
                self.s.confirm
            } else {
                self.s.step
            };
        if passed {
            self.passes.push(rate);
            if phase == Phase::Confirm {
                self.confirmed = Some(rate);
            }
            if self.good.is_none_or(|g| rate > g) {
                self.good = Some(rate);
            }
        } else {
            if self.bad.is_none_or(|b| rate < b) {
                self.bad = Some(rate);
            }
            if self.good.is_some_and(|g| g >= rate) {
                // A confirm (or repeat) failed: fall back to the best pass below this rate.
                self.good = self.passes.iter().copied().filter(|p| *p < rate).reduce(f64::max);
                self.confirmed = None;
            }
        }
    }

    /// Stops the search (Ctrl-C).
    pub fn stop(&mut self, why: &str) {
        self.ended = Some(why.into());
    }

    /// The answer so far.
    pub fn answer(&self) -> Answer {
        let capacity = self.confirmed.or(if self.ended.as_deref() == Some("confirmed") {
            self.good
        } else {
            None
        });
        let first_failing = self.bad.filter(|b| capacity.is_none_or(|c| *b > c));
        Answer {
            capacity_rps: capacity,
            first_failing_rps: first_failing,
            headroom: capacity.zip(first_failing).map(|(c, b)| b / c - 1.0),
            ended: self.ended.clone().unwrap_or_else(|| "running".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SearchSettings {
        SearchSettings {
            step: Duration::from_secs(1),
            settle: Duration::ZERO,
            confirm: Duration::from_secs(2),
            budget: Duration::from_secs(1000),
            ..SearchSettings::default()
        }
    }

    fn simulate(capacity: f64, s: SearchSettings) -> (Answer, Vec<(Phase, f64)>) {
        let mut search = Search::new(s);
        let mut steps = Vec::new();
        while let Some((phase, rate)) = search.next_step() {
            steps.push((phase, rate));
            search.record(phase, rate, rate <= capacity);
        }
        (search.answer(), steps)
    }

    #[test]
    fn finds_the_capacity_within_the_precision() {
        for capacity in [150.0, 500.0, 2_000.0, 37_000.0] {
            let (a, steps) = simulate(capacity, settings());
            let found = a.capacity_rps.unwrap();
            assert!(
                found <= capacity && found >= capacity / 1.1,
                "{capacity}: {found} after {steps:?}"
            );
            assert_eq!(a.ended, "confirmed");
            assert_eq!(steps.last().unwrap().0, Phase::Confirm);
            assert!(steps.len() <= 14, "{capacity}: {} steps", steps.len());
            assert!(a.headroom.unwrap() <= 0.1 + 1e-9);
        }
    }

    #[test]
    fn below_the_start_rate_it_searches_down() {
        let (a, _) = simulate(30.0, settings());
        let found = a.capacity_rps.unwrap();
        assert!((27.0..=30.0).contains(&found), "{found}");
        let (a, _) = simulate(0.5, settings());
        assert_eq!(a.capacity_rps, None);
        assert_eq!(a.ended, "even 1 request/s fails");
    }

    #[test]
    fn the_max_rate_and_the_bounds_end_the_search() {
        let (a, steps) = simulate(
            1e9,
            SearchSettings {
                max_rate: 1_000.0,
                ..settings()
            },
        );
        assert_eq!(a.capacity_rps, Some(1_000.0));
        assert!(steps.iter().all(|s| s.1 <= 1_000.0));
        let (a, steps) = simulate(
            2_000.0,
            SearchSettings {
                max_steps: 3,
                ..settings()
            },
        );
        assert_eq!(steps.len(), 3);
        assert_eq!(a.capacity_rps, None);
        assert!(a.ended.starts_with("max_steps"));
        let (_, steps) = simulate(
            2_000.0,
            SearchSettings {
                budget: Duration::from_secs(4),
                ..settings()
            },
        );
        assert_eq!(steps.len(), 4);
    }

    #[test]
    fn a_failed_confirm_falls_back() {
        // Short steps pass up to 1000, the long confirm only up to 800.
        let mut search = Search::new(settings());
        let mut last = None;
        while let Some((phase, rate)) = search.next_step() {
            let ok = if phase == Phase::Confirm {
                rate <= 800.0
            } else {
                rate <= 1000.0
            };
            search.record(phase, rate, ok);
            last = Some((phase, rate, ok));
        }
        let a = search.answer();
        assert!(a.capacity_rps.unwrap() <= 800.0, "{a:?}");
        assert_eq!(last.unwrap().0, Phase::Confirm);
    }
}
