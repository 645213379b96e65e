//! `summary.md`: the run in tables, ready to paste into a pull request.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{micros, thousands};
use crate::gate::thresholds::format_value;
use crate::stats::recorder::Percentiles;
use crate::stats::results::{ClassResult, Results};

fn get(m: &BTreeMap<String, u64>, k: &str) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

/// What a correct verifier had to answer for a class, from its verdicts.
pub fn expected(c: &ClassResult) -> &'static str {
    let accept = get(&c.verdicts, "correct_accept") + get(&c.verdicts, "false_reject");
    let reject = get(&c.verdicts, "correct_reject") + get(&c.verdicts, "false_accept");
    match (accept > 0, reject > 0) {
        (true, true) => "depends on time",
        (true, false) => "accept",
        (false, true) => "reject",
        (false, false) => "-",
    }
}

/// One line of the model: `open, 2,000 req/s, 64 connections` and so on.
pub fn load_line(r: &Results) -> String {
    let load = &r.scenario["load"];
    let conns = load["concurrency"].as_u64().unwrap_or(0);
    match r.meta.model.as_str() {
        "open" => {
            let stages = load["stages"].as_array().map_or(0, |s| s.len());
            let rates: Vec<String> = load["stages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!("{:.0}", s["rate"].as_f64().unwrap_or(0.0)))
                .collect();
            format!(
                "open model, {} req/s{}, up to {conns} in flight",
                rates.join(" → "),
                if stages > 1 {
                    format!(" in {stages} stages")
                } else {
                    String::new()
                }
            )
        }
        _ => format!("closed model, {conns} connections"),
    }
}

fn p(x: &Percentiles) -> [String; 8] {
    [
        thousands(x.count),
        micros(x.p50),
        micros(x.p90),
        micros(x.p99),
        micros(x.p99_9),
        micros(x.p99_99),
        micros(x.max),
        micros(x.mean.round() as u64),
    ]
}

/// The run's metadata as (label, value) rows, for summary.md and report.html.
pub fn meta_rows(r: &Results) -> Vec<(&'static str, String)> {
    let m = &r.meta;
    let embedded = if m.embedded {
        " (embedded reference verifier)"
    } else {
        ""
    };
    vec![
        ("started", m.started.clone()),
        ("ended", m.ended.clone()),
        ("target", format!("{}{embedded}", m.target_url)),
        ("load", load_line(r)),
        (
            "transport",
            format!(
                "{}, HTTP/{}, {} client thread(s), {} cores",
                m.transport, m.http, m.threads, m.cores
            ),
        ),
        ("tool", format!("jwtstorm {}", m.tool_version)),
    ]
}

/// Renders summary.md.
pub fn render(r: &Results) -> String {
    let m = &r.meta;
    let t = &r.totals;
    let mut o = String::new();
    let _ = writeln!(o, "# jwtstorm run: {}\n", m.scenario);
    if m.interrupted {
        let _ = writeln!(
            o,
            "> **Interrupted**: the run was stopped early; figures cover what was measured.\n"
        );
    }
    if let Some(why) = &m.aborted {
        let _ = writeln!(o, "> **Aborted**: {why}.\n");
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    for (k, v) in meta_rows(r) {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(
        o,
        "\n## Totals (measured phase, after {:.1} s warmup)\n",
        r.warmup.duration_s
    );
    let _ = writeln!(
        o,
        "| scheduled | completed | accepted | rejected | unexpected status | transport errors | cancelled | false accepts | false rejects | throughput |"
    );
    let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1}/s |",
        thousands(t.scheduled),
        thousands(t.completed),
        thousands(t.accepted),
        thousands(t.rejected),
        thousands(t.unexpected_status),
        thousands(t.transport_errors),
        thousands(t.cancelled),
        if t.false_accepts > 0 {
            format!("**{}**", thousands(t.false_accepts))
        } else {
            "0".into()
        },
        if t.false_rejects > 0 {
            format!("**{}**", thousands(t.false_rejects))
        } else {
            "0".into()
        },
        t.throughput_rps
    );
    let _ = writeln!(o, "\n## Latency of all responses\n");
    let _ = writeln!(
        o,
        "| measured from | count | p50 | p90 | p99 | p99.9 | p99.99 | max | mean |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, x) in [
        ("intended send (corrected)", &r.latency_us.corrected),
        ("actual send (uncorrected)", &r.latency_us.uncorrected),
    ] {
        let _ = writeln!(o, "| {label} | {} |", p(x).join(" | "));
    }
    if let Some(s) = &r.schedule {
        let _ = writeln!(
            o,
            "\nSend lag behind the schedule: p50 {}, p99 {}, max {}; {} request(s) left more than {} ms late.",
            micros(s.lag_us.p50),
            micros(s.lag_us.p99),
            micros(s.lag_us.max),
            thousands(s.late),
            s.late_after_ms
        );
    }
    let _ = writeln!(o, "\n## Latency by token class (corrected / uncorrected)\n");
    let _ = writeln!(o, "| class | responses | p50 | p90 | p99 | p99.9 | max |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, c) in &r.classes {
        let (Some(a), Some(b)) = (
            c.latency_us.corrected.get("all"),
            c.latency_us.uncorrected.get("all"),
        ) else {
            let _ = writeln!(o, "| {name} | 0 | - | - | - | - | - |");
            continue;
        };
        let pair = |x: u64, y: u64| format!("{} / {}", micros(x), micros(y));
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            thousands(a.count),
            pair(a.p50, b.p50),
            pair(a.p90, b.p90),
            pair(a.p99, b.p99),
            pair(a.p99_9, b.p99_9),
            pair(a.max, b.max)
        );
    }
    let _ = writeln!(o, "\n## Correctness: token class against outcome\n");
    let _ = writeln!(
        o,
        "| class | expected | accepted | rejected | unexpected status | transport error | false accepts | false rejects |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, c) in &r.classes {
        let fa = get(&c.verdicts, "false_accept");
        let fr = get(&c.verdicts, "false_reject");
        let bold = |n: u64| {
            if n > 0 {
                format!("**{}**", thousands(n))
            } else {
                "0".into()
            }
        };
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            expected(c),
            thousands(get(&c.outcomes, "accepted")),
            thousands(get(&c.outcomes, "rejected")),
            thousands(get(&c.outcomes, "unexpected_status")),
            thousands(get(&c.outcomes, "transport_error")),
            bold(fa),
            bold(fr)
        );
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(o, "\n## Thresholds\n");
        let _ = writeln!(o, "| threshold | condition | measured | verdict |");
        let _ = writeln!(o, "|---|---|---:|---|");
        for v in &r.thresholds {
            let measured = match v.value {
                Some(x) => format_value(x, v.unit),
                None => v.note.clone().unwrap_or_default(),
            };
            let verdict = if v.passed { "pass" } else { "**FAIL**" };
            let _ = writeln!(o, "| `{}` | `{}` | {measured} | {verdict} |", v.name, v.condition);
        }
    }
    let codes: Vec<String> = r
        .status_codes
        .iter()
        .map(|(k, v)| format!("{k}: {}", thousands(*v)))
        .collect();
    let errs: Vec<String> = r
        .transport_errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", thousands(*v)))
        .collect();
    let _ = writeln!(o, "\n## Status codes and transport errors\n");
    let _ = writeln!(
        o,
        "- status codes: {}",
        if codes.is_empty() {
            "none".into()
        } else {
            codes.join(", ")
        }
    );
    let _ = writeln!(
        o,
        "- transport errors: {}",
        if errs.is_empty() {
            "none".into()
        } else {
            errs.join(", ")
        }
    );
    o
}
