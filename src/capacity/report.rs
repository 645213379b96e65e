//! capacity.json and capacity.md: every step of every search, and the answers.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Answer, SearchSettings, Step};
use crate::gate::thresholds::Threshold;
use crate::model::Metric;
use crate::text::micros;

/// capacity.json.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    pub format: &'static str,
    pub tool_version: &'static str,
    pub scenario: String,
    pub started: String,
    pub target_url: String,
    pub slos: Vec<String>,
    pub settings: SearchSettings,
    pub interrupted: bool,
    pub searches: Vec<SearchReport>,
}

/// One search.
#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub label: String,
    pub steps: Vec<Step>,
    pub answer: Answer,
}

/// The p99 SLO in milliseconds, when one is set on all requests (drawn on the chart).
pub fn p99_slo_ms(slos: &[Threshold]) -> Option<f64> {
    slos.iter()
        .find(|t| t.metric == Metric::P99 && t.scope.is_none() && !t.uncorrected)
        .map(|t| t.limit / 1000.0)
}

/// capacity.md: the answer per variant, then every step.
pub fn markdown(r: &CapacityReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# jwtstorm capacity: {}\n", r.scenario);
    if r.interrupted {
        let _ = writeln!(o, "> **Interrupted**: what was found before the stop.\n");
    }
    let _ = writeln!(
        o,
        "Target {}, started {}. SLO: {}. A step also fails when it achieves less than {:.0}% of its rate or more than {:.1}% of its requests leave late.\n",
        r.target_url,
        r.started,
        if r.slos.is_empty() {
            "none".to_string()
        } else {
            r.slos.join(", ")
        },
        (1.0 - r.settings.shortfall) * 100.0,
        r.settings.max_late * 100.0
    );
    let _ = writeln!(
        o,
        "| variant | capacity | first failing rate | headroom | ended |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---|");
    for s in &r.searches {
        let a = &s.answer;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            s.label,
            a.capacity_rps.map_or("-".into(), |c| format!("{c:.0}/s")),
            a.first_failing_rps.map_or("-".into(), |c| format!("{c:.0}/s")),
            a.headroom.map_or("-".into(), |h| format!("{:.0}%", h * 100.0)),
            a.ended
        );
    }
    let _ = writeln!(o, "\n![capacity](capacity.png)\n");
    for s in &r.searches {
        let _ = writeln!(o, "## {}\n", s.label);
        let _ = writeln!(
            o,
            "| step | phase | offered | achieved | p50 | p99 | error rate | late | verdict |"
        );
        let _ = writeln!(o, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
        for (i, st) in s.steps.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {:?} | {:.0}/s | {:.0}/s | {} | {} | {:.2}% | {:.1}% | {} |",
                i + 1,
                st.phase,
                st.offered_rps,
                st.achieved_rps,
                micros(st.p50_us),
                micros(st.p99_us),
                st.error_rate * 100.0,
                st.late_share * 100.0,
                if st.passed {
                    "pass".to_string()
                } else {
                    format!("fail: {}", st.reasons.join("; "))
                }
            );
        }
        o.push('\n');
    }
    o
}
