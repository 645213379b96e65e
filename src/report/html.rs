//! `report.html`: one self-contained file (inline SVG and CSS, no scripts, nothing fetched)
//! with every chart, the tables, the scenario as run and sample bodies. It is also well-formed
//! XML, which the tests check.

use std::fmt::Write;

use super::charts::Chart;
use super::markdown::meta_rows;
use super::table::{self, Table};
use crate::stats::results::Results;
use crate::text::format_value;
use crate::text::{escape, micros, thousands};

pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1080px;color:#222;padding:0 1rem}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}.bad{color:#d62728;font-weight:bold}.ok{color:#2ca02c}\
.chart svg{max-width:100%;height:auto;border:1px solid #eee;margin:.5rem 0}pre{background:#f7f7f7;padding:.75rem;overflow:auto;font-size:.8rem}\
.note{background:#fff4e5;border-left:4px solid #ff7f0e;padding:.5rem 1rem}code{word-break:break-all;font-size:.75rem}@media print{.chart{page-break-inside:avoid}}";

pub(super) fn table(o: &mut String, head: &[&str], rows: &[Vec<String>]) {
    o.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", escape(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            // Cells are escaped by the caller (some carry markup).
            let _ = write!(o, "<td>{c}</td>");
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>\n");
}

/// A table of the shared model: cells escaped, alarms marked.
fn html_table(o: &mut String, t: &Table) {
    let heads: Vec<&str> = t.columns.iter().map(|c| c.label).collect();
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| {
                    if c.alarming() {
                        format!("<span class=\"bad\">{}</span>", escape(&c.text()))
                    } else {
                        escape(&c.text())
                    }
                })
                .collect()
        })
        .collect();
    table(o, &heads, &rows);
}

/// Strips anything before `<svg` (an XML declaration) so the chart can be inlined.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// Renders report.html; charts that fail to draw are replaced by a note.
pub fn render(r: &Results) -> String {
    let m = &r.meta;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>jwtstorm: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&m.scenario)
    );
    let _ = writeln!(o, "<h1>jwtstorm run: {}</h1>", escape(&m.scenario));
    if m.interrupted {
        o.push_str("<p class=\"note\">Interrupted: the run was stopped early; figures cover what was measured.</p>\n");
    }
    let meta_rows: Vec<Vec<String>> = meta_rows(r)
        .into_iter()
        .map(|(k, v)| vec![escape(k), escape(&v)])
        .collect();
    table(&mut o, &["run", ""], &meta_rows);

    let _ = writeln!(
        o,
        "<h2>Totals (measured phase, after {:.1} s warmup)</h2>",
        r.warmup.duration_s
    );
    html_table(&mut o, &table::totals(r));

    if !r.thresholds.is_empty() {
        o.push_str("<h2>Thresholds</h2>\n");
        let rows: Vec<Vec<String>> = r
            .thresholds
            .iter()
            .map(|v| {
                vec![
                    escape(&v.name),
                    escape(&v.condition),
                    escape(&match v.value {
                        Some(x) => format_value(x, v.unit),
                        None => v.note.clone().unwrap_or_default(),
                    }),
                    if v.passed {
                        "<span class=\"ok\">pass</span>".into()
                    } else {
                        "<span class=\"bad\">FAIL</span>".into()
                    },
                ]
            })
            .collect();
        table(&mut o, &["threshold", "condition", "measured", "verdict"], &rows);
    }

    if let Some(i) = &r.idp {
        o.push_str("<h2>Identity provider</h2>\n<ul>\n");
        for (_, text) in super::summary::idp_lines(i) {
            let _ = writeln!(o, "<li>{}</li>", escape(&text));
        }
        o.push_str("</ul>\n");
        for t in [table::idp_keys(r), table::idp_checks(r)].into_iter().flatten() {
            html_table(&mut o, &t);
        }
    }

    o.push_str("<h2>Latency of all responses</h2>\n");
    let lat_rows: Vec<Vec<String>> = [
        ("intended send (corrected)", &r.latency_us.corrected),
        ("actual send (uncorrected)", &r.latency_us.uncorrected),
    ]
    .into_iter()
    .map(|(k, x)| {
        vec![
            escape(k),
            thousands(x.count),
            escape(&micros(x.p50)),
            escape(&micros(x.p90)),
            escape(&micros(x.p99)),
            escape(&micros(x.p99_9)),
            escape(&micros(x.p99_99)),
            escape(&micros(x.max)),
        ]
    })
    .collect();
    table(
        &mut o,
        &[
            "measured from",
            "count",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max",
        ],
        &lat_rows,
    );

    for chart in Chart::of(r) {
        let (_, title) = chart.name();
        let _ = writeln!(o, "<h2>{}</h2>", escape(title));
        match chart.svg(r) {
            Ok(svg) => {
                let _ = writeln!(o, "<div class=\"chart\">{}</div>", inline_svg(&svg));
            }
            Err(e) => {
                let _ = writeln!(o, "<p class=\"note\">{}</p>", escape(&e));
            }
        }
    }

    o.push_str("<h2>Correctness: token class against outcome</h2>\n");
    html_table(
        &mut o,
        &table::classes(r)
            .without(&["count"])
            .without_zero("boundary")
            .without_zero("other reason"),
    );
    let reasons = table::reasons(r);
    if !reasons.rows.is_empty() {
        o.push_str("<h2>Reasons stated by the target</h2>\n");
        html_table(&mut o, &reasons);
    }
    let endpoints = table::endpoints(r);
    if !endpoints.rows.is_empty() {
        o.push_str("<h2>Endpoints</h2>\n");
        html_table(&mut o, &endpoints);
    }
    if let Some(line) = table::rate_limit_line(r) {
        let _ = writeln!(o, "<h2>Rate limit</h2>\n<p>{}</p>", escape(&line));
        let per_subject = table::rate_limit(r);
        if !per_subject.rows.is_empty() {
            html_table(&mut o, &per_subject);
        }
    }
    if let Some(line) = table::revocation_line(r) {
        let _ = writeln!(o, "<h2>Revocation</h2>\n<p>{}</p>", escape(&line));
        let events = table::revocations(r);
        if !events.rows.is_empty() {
            html_table(&mut o, &events);
        }
    }

    let codes: Vec<Vec<String>> = r
        .status_codes
        .iter()
        .map(|(k, v)| vec![format!("HTTP {}", escape(k)), thousands(*v)])
        .chain(
            r.transport_errors
                .iter()
                .map(|(k, v)| vec![escape(k), thousands(*v)]),
        )
        .collect();
    if !codes.is_empty() {
        o.push_str("<h2>Status codes and transport errors</h2>\n");
        table(&mut o, &["answer", "count"], &codes);
    }

    if !r.samples.is_empty() {
        o.push_str("<h2>Evidence: sample answers by class and verdict</h2>\n");
        let mut samples: Vec<&crate::stats::recorder::Sample> = r.samples.iter().collect();
        samples.sort_by_key(|s| (s.class.name(), s.verdict.name()));
        let mut group = None;
        for s in samples {
            let key = (s.class.name(), s.verdict.name());
            if group != Some(key) {
                let _ = writeln!(o, "<h3>{} — {}</h3>", escape(key.0), escape(key.1));
                group = Some(key);
            }
            let what = match (s.status, s.error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(e)) => e.name().to_string(),
                (None, None) => "no answer".into(),
            };
            let variant = s
                .variant
                .as_ref()
                .map_or(String::new(), |v| format!(" ({})", escape(v)));
            let token = match (s.index, &s.token) {
                (Some(i), Some(t)) => format!(" — token {i}{variant}: <code>{}</code>", escape(t)),
                _ => String::new(),
            };
            let _ = writeln!(o, "<p>{}{token}</p><pre>{}</pre>", escape(&what), escape(&s.body));
        }
    }

    o.push_str("<h2>Scenario as run (secrets redacted)</h2>\n");
    let scenario = serde_json::to_string_pretty(&r.scenario).unwrap_or_default();
    let _ = writeln!(o, "<pre>{}</pre>", escape(&scenario));
    o.push_str("</body></html>\n");
    o
}
