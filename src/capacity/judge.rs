//! One capacity step: the open-loop load it runs, and its verdict from the SLOs, the achieved
//! rate and how many requests left late.

use super::{Phase, SearchSettings, Step};
use crate::gate::thresholds::Threshold;
use crate::model::{Model, Stage};
use crate::scenario::run::LoadSettings;
use crate::stats::results::Results;

/// The load of one step at `rate`: the scenario's connections and tokens, an open-loop stage of
/// `settle` plus the measured length, with the settle time as warmup.
pub fn step_load(base: &LoadSettings, s: &SearchSettings, phase: Phase, rate: f64) -> LoadSettings {
    let measured = if phase == Phase::Confirm {
        s.confirm
    } else {
        s.step
    };
    let mut load = base.clone();
    load.model = Model::Open;
    load.stages = vec![Stage {
        duration: s.settle + measured,
        rate,
        ramp: false,
    }];
    load.duration = Some(s.settle + measured);
    load.warmup = s.settle;
    load.requests = None;
    load
}

/// Judges one step: the SLOs, the achieved rate, and whether requests piled up.
pub fn judge(r: &Results, phase: Phase, offered: f64, slos: &[Threshold], s: &SearchSettings) -> Step {
    let mut reasons = Vec::new();
    for t in slos {
        let v = t.evaluate(r);
        if !v.passed {
            let measured = match v.value {
                Some(_) => v.measured(),
                None => v.note.unwrap_or_default(),
            };
            reasons.push(format!("{} {}: {measured}", v.name, v.condition));
        }
    }
    let achieved = r.totals.throughput_rps;
    if achieved < offered * (1.0 - s.shortfall) {
        reasons.push(format!("achieved {achieved:.0}/s of {offered:.0}/s"));
    }
    let sent = (r.totals.sent + r.warmup.sent).max(1);
    let late = r.schedule.as_ref().map_or(0, |x| x.late);
    let late_share = late as f64 / sent as f64;
    if late_share > s.max_late {
        reasons.push(format!(
            "{:.1}% of requests left late (they piled up)",
            late_share * 100.0
        ));
    }
    let t = &r.totals;
    Step {
        phase,
        offered_rps: offered,
        achieved_rps: achieved,
        p50_us: r.latency_us.corrected.p50,
        p99_us: r.latency_us.corrected.p99,
        error_rate: t.error_rate(),
        late_share,
        false_accepts: t.false_accepts,
        passed: reasons.is_empty(),
        reasons,
    }
}
