//! `summary.md`: the run in tables, ready to paste into a pull request.

use std::fmt::Write;

use super::table::{self, Table};
use crate::stats::recorder::Percentiles;
use crate::stats::results::{ClassResult, Results};
use crate::text::format_value;
use crate::text::{micros, thousands};

/// A table in Markdown: text columns left-aligned, figures right-aligned, alarms in bold.
fn md_table(o: &mut String, t: &Table) {
    let heads: Vec<&str> = t.columns.iter().map(|c| c.label).collect();
    let _ = writeln!(o, "| {} |", heads.join(" | "));
    let align: Vec<&str> = t
        .columns
        .iter()
        .map(|c| if c.words { "---" } else { "---:" })
        .collect();
    let _ = writeln!(o, "|{}|", align.join("|"));
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                let text = crate::text::escape_markdown(&c.text());
                if c.alarming() { format!("**{text}**") } else { text }
            })
            .collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
}

/// What a correct verifier had to answer for a class, from its verdicts.
pub fn expected(c: &ClassResult) -> &'static str {
    c.expected()
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
    let mut rows = vec![
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
    ];
    if let Some(f) = super::summary::fleet_line(r) {
        rows.insert(0, ("fleet", f));
    }
    rows
}

/// Renders summary.md.
pub fn render(r: &Results) -> String {
    let m = &r.meta;
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
    md_table(&mut o, &table::totals(r));
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
    if let Some(st) = &r.stream {
        let label = if st.mint_bound > 0 {
            "**Mint-bound**"
        } else {
            "Tokens"
        };
        let _ = writeln!(o, "\n{label}: {}", super::summary::stream_note(st));
    }
    if let Some(i) = &r.idp {
        let _ = writeln!(o, "\n## Identity provider\n");
        for (_, text) in super::summary::idp_lines(i) {
            let _ = writeln!(o, "- {}", crate::text::escape_markdown(&text));
        }
        for t in [table::idp_keys(r), table::idp_checks(r)].into_iter().flatten() {
            o.push('\n');
            md_table(&mut o, &t);
        }
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
    md_table(
        &mut o,
        &table::classes(r)
            .without(&["count", "p50 (corr.)", "p99 (corr.)"])
            .without_zero("boundary")
            .without_zero("other reason"),
    );
    let reasons = table::reasons(r);
    if !reasons.rows.is_empty() {
        let _ = writeln!(o, "\n## Reasons stated by the target\n");
        md_table(&mut o, &reasons);
    }
    let endpoints = table::endpoints(r);
    if !endpoints.rows.is_empty() {
        let _ = writeln!(o, "\n## Endpoints\n");
        md_table(&mut o, &endpoints);
    }
    if let Some(line) = table::rate_limit_line(r) {
        let _ = writeln!(o, "\n## Rate limit\n\n{line}\n");
        let per_subject = table::rate_limit(r);
        if !per_subject.rows.is_empty() {
            md_table(&mut o, &per_subject);
        }
    }
    if let Some(line) = table::revocation_line(r) {
        let _ = writeln!(o, "\n## Revocation\n\n{line}\n");
        let events = table::revocations(r);
        if !events.rows.is_empty() {
            md_table(&mut o, &events);
        }
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
