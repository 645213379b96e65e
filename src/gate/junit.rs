//! JUnit XML for CI: one test case per threshold and per compared metric; a failure carries the
//! measured value and the limit.

use std::fmt::Write;

use super::compare::{self, Comparison, Finding};
use crate::stats::results::Verdict;
use crate::text::escape;
use crate::text::format_value;

/// One test case.
struct Case {
    class: String,
    name: String,
    failure: Option<String>,
    /// Compared metrics without enough data are skipped, with the reason.
    skipped: Option<String>,
}

/// Renders the verdicts of a run (and its comparison, if any) as a JUnit test suite.
pub fn render(suite: &str, thresholds: &[Verdict], comparisons: &[Comparison], seconds: f64) -> String {
    let mut cases = Vec::new();
    for v in thresholds {
        let measured = match v.value {
            Some(x) => format_value(x, v.unit),
            None => v.note.clone().unwrap_or_else(|| "nothing measured".into()),
        };
        cases.push(Case {
            class: "jwtstorm.thresholds".into(),
            name: format!("{} {}", v.name, v.condition),
            failure: (!v.passed).then(|| format!("measured {measured}, limit {} {}", v.name, v.condition)),
            skipped: None,
        });
    }
    for c in comparisons {
        cases.push(Case {
            class: format!("jwtstorm.compare.{}", c.scope),
            name: c.metric.name().to_string(),
            failure: c.regressed().then(|| {
                format!(
                    "baseline {}, current {}, change {} ({:.0}% interval {}), samples {} / {}: {}",
                    compare::show(c, c.baseline),
                    compare::show(c, c.current),
                    c.change_text(),
                    c.confidence * 100.0,
                    c.interval_text(),
                    c.samples.baseline,
                    c.samples.current,
                    c.why
                )
            }),
            skipped: (c.verdict == Finding::NotEnoughData).then(|| format!("not enough data: {}", c.why)),
        });
    }
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"jwtstorm\" tests=\"{}\" failures=\"{failures}\" time=\"{seconds:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{seconds:.3}\">",
        escape(suite),
        cases.len()
    );
    for c in &cases {
        let _ = write!(
            o,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            escape(&c.class),
            escape(&c.name)
        );
        match (&c.failure, &c.skipped) {
            (None, Some(msg)) => {
                let _ = writeln!(
                    o,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(msg)
                );
            }
            (None, None) => o.push_str("/>\n"),
            (Some(msg), _) => {
                let _ = writeln!(
                    o,
                    ">\n      <failure message=\"{}\" type=\"jwtstorm\">{}</failure>\n    </testcase>",
                    escape(msg),
                    escape(msg)
                );
            }
        }
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}
