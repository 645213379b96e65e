//! `diff.md` and `diff.html`: a verifier differential for people. The verdict first, then per
//! class each target's answers and the ways they disagreed, each target's latency per class,
//! and the sample tokens decoded with every target's answer.

use std::fmt::Write;

use crate::stats::diff::DiffReport;
use crate::text::{escape, escape_markdown, micros, thousands};

/// The verdict in one line.
pub fn verdict_line(r: &DiffReport) -> String {
    let names: Vec<&str> = r.targets.iter().map(|t| t.name.as_str()).collect();
    let failed = r.thresholds.iter().filter(|t| !t.passed).count();
    let mut line = if r.disagreements == 0 {
        format!(
            "AGREE: {} answered all {} token(s) alike",
            names.join(", "),
            thousands(r.meta.tokens - r.undecided)
        )
    } else {
        let classes: Vec<String> = r
            .classes
            .iter()
            .filter(|(_, c)| c.disagreements > 0)
            .map(|(n, c)| format!("{n} {}", thousands(c.disagreements)))
            .collect();
        format!(
            "DISAGREE: {} token(s) answered differently by {} ({})",
            thousands(r.disagreements),
            names.join(", "),
            classes.join(", ")
        )
    };
    if r.undecided > 0 {
        let _ = write!(
            line,
            "; {} token(s) undecided (not sent, limited or a transport error at some target)",
            thousands(r.undecided)
        );
    }
    if !r.thresholds.is_empty() {
        let _ = write!(line, "; {failed} of {} threshold(s) failed", r.thresholds.len());
    }
    line
}

const TARGET_HEAD: [&str; 5] = ["target", "url", "answered", "not sent", "took"];

/// Each target: its URL, how many tokens it answered and was not sent, how long it took.
fn target_rows(r: &DiffReport) -> Vec<Vec<String>> {
    r.targets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.url.clone(),
                thousands(t.answered),
                thousands(t.not_sent),
                format!("{:.2}s", t.duration_s),
            ]
        })
        .collect()
}

/// Per class, each target's answers (`accepted 90, rejected 10`).
fn class_rows(r: &DiffReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head = vec!["class".to_string(), "tokens".into(), "disagree".into()];
    head.extend(r.targets.iter().map(|t| t.name.clone()));
    let rows = r
        .classes
        .iter()
        .map(|(name, c)| {
            let mut row = vec![name.clone(), thousands(c.tokens), thousands(c.disagreements)];
            for t in &r.targets {
                let a = c.answers.get(&t.name).map_or(String::new(), |m| {
                    m.iter()
                        .map(|(k, v)| format!("{k} {}", thousands(*v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                row.push(a);
            }
            row
        })
        .collect();
    (head, rows)
}

/// Every pattern of disagreement: class, variant, tokens, each target's answer.
fn pattern_rows(r: &DiffReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head = vec!["class".to_string(), "variant".into(), "tokens".into()];
    head.extend(r.targets.iter().map(|t| t.name.clone()));
    let mut rows = Vec::new();
    for (name, c) in &r.classes {
        for p in &c.patterns {
            let mut row = vec![
                name.clone(),
                p.variant.clone().unwrap_or_else(|| "-".into()),
                thousands(p.tokens),
            ];
            for t in &r.targets {
                row.push(p.answers.get(&t.name).cloned().unwrap_or_default());
            }
            rows.push(row);
        }
    }
    (head, rows)
}

/// Each target's corrected p50 / p99 per class.
fn latency_rows(r: &DiffReport) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head = vec!["class".to_string()];
    head.extend(r.targets.iter().map(|t| format!("{} p50 / p99", t.name)));
    let rows = r
        .classes
        .keys()
        .map(|name| {
            let mut row = vec![name.clone()];
            for t in &r.targets {
                row.push(
                    t.latency_us
                        .get(name)
                        .map_or("-".into(), |l| format!("{} / {}", micros(l.p50), micros(l.p99))),
                );
            }
            row
        })
        .collect();
    (head, rows)
}

fn md(o: &mut String, head: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(
        o,
        "|{}|",
        head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| escape_markdown(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
}

/// `diff.md`.
pub fn markdown(r: &DiffReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# jwtstorm diff: {}\n", escape_markdown(&r.meta.scenario));
    let _ = writeln!(o, "**{}**\n", escape_markdown(&verdict_line(r)));
    let _ = writeln!(
        o,
        "{} {} tokens to {} target(s) ({}, {}), {} to {}.\n",
        thousands(r.meta.tokens),
        r.meta.alg,
        r.targets.len(),
        r.meta.model,
        if r.meta.parallel {
            "at once"
        } else {
            "one after another"
        },
        r.meta.started,
        r.meta.ended
    );
    let head: Vec<String> = TARGET_HEAD.iter().map(|s| s.to_string()).collect();
    md(&mut o, &head, &target_rows(r));
    let _ = writeln!(o, "\n## Answers per class\n");
    let (h, rows) = class_rows(r);
    md(&mut o, &h, &rows);
    let (h, rows) = pattern_rows(r);
    if !rows.is_empty() {
        let _ = writeln!(o, "\n## Disagreements\n");
        md(&mut o, &h, &rows);
    }
    let _ = writeln!(o, "\n## Latency per class (corrected)\n");
    let (h, rows) = latency_rows(r);
    md(&mut o, &h, &rows);
    if !r.thresholds.is_empty() {
        let _ = writeln!(o, "\n## Thresholds\n");
        let _ = writeln!(
            o,
            "| threshold | condition | measured | verdict |\n|---|---|---:|---|"
        );
        for t in &r.thresholds {
            let _ = writeln!(
                o,
                "| `{}` | `{}` | {} | {} |",
                t.name,
                t.condition,
                thousands(t.value),
                if t.passed { "pass" } else { "**FAIL**" }
            );
        }
    }
    if !r.samples.is_empty() {
        let _ = writeln!(o, "\n## Samples\n");
        for s in &r.samples {
            let answers: Vec<String> = s
                .answers
                .iter()
                .map(|(n, a)| {
                    let mut t = format!("{n}: {}", a.outcome);
                    if let Some(st) = a.status {
                        let _ = write!(t, " {st}");
                    }
                    if let Some(re) = &a.reason {
                        let _ = write!(t, " ({re})");
                    }
                    t
                })
                .collect();
            let _ = writeln!(
                o,
                "- **{}**{} token {}: {}",
                s.class,
                s.variant
                    .as_ref()
                    .map_or(String::new(), |v| format!(" ({})", escape_markdown(v))),
                s.index,
                escape_markdown(&answers.join("; "))
            );
            let _ = writeln!(o, "  - {}", escape_markdown(&s.about));
            let _ = writeln!(o, "  - header `{}`", json_or_dash(&s.header));
            let _ = writeln!(o, "  - payload `{}`", json_or_dash(&s.payload));
        }
    }
    o
}

fn json_or_dash(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map_or("-".into(), |v| v.to_string().replace('`', "'"))
}

fn strings(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn escaped(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| r.iter().map(|c| escape(c)).collect())
        .collect()
}

/// `diff.html`: self-contained, no scripts, well-formed XML.
pub fn html(r: &DiffReport) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>jwtstorm diff: {}</title><style>{}</style></head><body>\n",
        escape(&r.meta.scenario),
        super::html::STYLE
    );
    let _ = writeln!(o, "<h1>jwtstorm diff: {}</h1>", escape(&r.meta.scenario));
    let class = if r.disagreements == 0 && r.thresholds.iter().all(|t| t.passed) {
        "ok"
    } else {
        "bad"
    };
    let _ = writeln!(o, "<p class=\"{class}\">{}</p>", escape(&verdict_line(r)));
    super::html::table(&mut o, &TARGET_HEAD, &escaped(target_rows(r)));
    o.push_str("<h2>Answers per class</h2>\n");
    let (h, rows) = class_rows(r);
    super::html::table(&mut o, &strings(&h), &escaped(rows));
    let (h, rows) = pattern_rows(r);
    if !rows.is_empty() {
        o.push_str("<h2>Disagreements</h2>\n");
        super::html::table(&mut o, &strings(&h), &escaped(rows));
    }
    o.push_str("<h2>Latency per class (corrected)</h2>\n");
    let (h, rows) = latency_rows(r);
    super::html::table(&mut o, &strings(&h), &escaped(rows));
    if !r.thresholds.is_empty() {
        o.push_str("<h2>Thresholds</h2>\n");
        let rows: Vec<Vec<String>> = r
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    escape(&t.name),
                    escape(&t.condition),
                    thousands(t.value),
                    if t.passed {
                        "pass".into()
                    } else {
                        "<span class=\"bad\">FAIL</span>".into()
                    },
                ]
            })
            .collect();
        super::html::table(&mut o, &["threshold", "condition", "measured", "verdict"], &rows);
    }
    if !r.samples.is_empty() {
        o.push_str("<h2>Samples</h2>\n");
        for s in &r.samples {
            let answers: Vec<String> = s
                .answers
                .iter()
                .map(|(n, a)| {
                    format!(
                        "{n}: {}{}{}",
                        a.outcome,
                        a.status.map_or(String::new(), |st| format!(" {st}")),
                        a.reason.as_ref().map_or(String::new(), |re| format!(" ({re})"))
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "<h3>{}{} token {}</h3>\n<p>{}</p>\n<p>{}</p>\n<pre>header  {}\npayload {}</pre>\n<p><code>{}</code></p>",
                escape(&s.class),
                s.variant
                    .as_ref()
                    .map_or(String::new(), |v| format!(" ({})", escape(v))),
                s.index,
                escape(&s.about),
                escape(&answers.join("; ")),
                escape(&json_or_dash(&s.header)),
                escape(&json_or_dash(&s.payload)),
                escape(&s.token)
            );
        }
    }
    o.push_str("</body></html>\n");
    o
}
