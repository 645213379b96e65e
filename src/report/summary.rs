//! The text summary printed after a run, in the spirit of wrk and oha: what was asked, what
//! came back, latency with what it measures, and the verdicts per token class.

use std::fmt::Write;

use super::table;
use crate::stats::recorder::Percentiles;
use crate::stats::results::Results;
use crate::text::{micros, thousands};

fn row(p: &Percentiles) -> String {
    format!(
        "p50 {:>8}  p90 {:>8}  p99 {:>8}  p99.9 {:>8}  max {:>8}  mean {:>8}",
        micros(p.p50),
        micros(p.p90),
        micros(p.p99),
        micros(p.p99_9),
        micros(p.max),
        micros(p.mean.round() as u64)
    )
}

/// What share of a run spread over several processes `r` is: one segment, or the merge of
/// them (partial when segments were missing).
pub fn fleet_line(r: &Results) -> Option<String> {
    let f = r.fleet.as_ref()?;
    // A results file is input: its hash is not trusted to be hex (nor cut mid-character).
    let run: String = f.scenario_hash.chars().take(12).collect();
    let start = f
        .start_at
        .as_deref()
        .map_or(String::new(), |s| format!(", common start {s}"));
    Some(match f.segment {
        Some(i) => {
            let mut line = format!(
                "segment {i} of {} (run {run}{start}); thresholds are judged on the merged results (jwtstorm merge)",
                f.segments
            );
            if f.joined_late_ms > 0.0 {
                let _ = write!(
                    line,
                    "; joined {:.1} s late, {} request(s) missed (not sent)",
                    f.joined_late_ms / 1000.0,
                    thousands(f.missed)
                );
            }
            line
        }
        None if f.partial => format!(
            "PARTIAL merge of {} of {} segments (run {run}{start}): segments {} are missing, so the totals cover only \
             the segments merged",
            f.merged.len(),
            f.segments,
            crate::stats::merge::ranges(&f.missing)
        ),
        None => format!(
            "merge of all {} segments (run {run}{start}){}",
            f.segments,
            if f.missed > 0 {
                format!(
                    "; {} request(s) missed by segments that joined late (not sent)",
                    thousands(f.missed)
                )
            } else {
                String::new()
            }
        ),
    })
}

/// Renders the summary of `r`; `colour` marks false accepts and rejects in red.
pub fn render(r: &Results, colour: bool) -> String {
    let red = |s: String, bad: bool| {
        if colour && bad {
            format!("\x1b[1;31m{s}\x1b[0m")
        } else {
            s
        }
    };
    let t = &r.totals;
    let m = &r.meta;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}{} — {} model, {} transport, HTTP/{}, {} thread(s)",
        if m.interrupted { "INTERRUPTED: " } else { "" },
        m.scenario,
        m.model,
        m.transport,
        m.http,
        m.threads
    );
    if let Some(why) = &m.aborted {
        let _ = writeln!(o, "  {}", red(format!("ABORTED: {why}"), true));
    }
    if let Some(f) = fleet_line(r) {
        let partial = r.fleet.as_ref().is_some_and(|f| f.partial);
        let _ = writeln!(o, "  fleet       {}", red(f, partial));
    }
    let _ = writeln!(
        o,
        "  target      {}{}",
        m.target_url,
        if m.embedded {
            " (embedded reference verifier)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "  requests    scheduled {}  sent {}  completed {}  transport errors {}  cancelled {}",
        thousands(t.scheduled),
        thousands(t.sent),
        thousands(t.completed),
        thousands(t.transport_errors),
        thousands(t.cancelled)
    );
    for note in notes(r) {
        let _ = writeln!(o, "  {}", red(note, true));
    }
    for e in &r.endpoints {
        let _ = writeln!(
            o,
            "  endpoint    {} {}{}: {} sent, accepted {}, rejected {}, forbidden {}{}",
            e.method,
            e.path,
            e.required_scope
                .as_ref()
                .map_or(String::new(), |s| format!(" (scope {s})")),
            thousands(e.count),
            thousands(e.outcome(crate::model::Outcome::Accepted)),
            thousands(e.outcome(crate::model::Outcome::Rejected)),
            thousands(e.outcome(crate::model::Outcome::Forbidden)),
            {
                let false_answers = e.judged(crate::model::Judgement::FalseAccept)
                    + e.judged(crate::model::Judgement::FalseReject);
                if false_answers > 0 {
                    red(format!(", {} false", thousands(false_answers)), true)
                } else {
                    String::new()
                }
            }
        );
    }
    if let Some(line) = table::rate_limit_line(r) {
        let over = r.rate_limit.as_ref().is_some_and(|l| l.over_limit > 0);
        let _ = writeln!(o, "  rate limit  {}", red(line, over));
    }
    if let Some(line) = table::revocation_line(r) {
        let _ = writeln!(o, "  revocation  {}", red(line, r.totals.revoked_accepts > 0));
        for e in r.revocation.iter().flat_map(|rv| &rv.events) {
            let _ = writeln!(o, "    {}", red(table::revocation_event_line(e), e.accepted > 0));
        }
    }
    let warm = if r.warmup.sent > 0 {
        format!(
            " (after {:.1}s warmup: {} requests not counted)",
            r.warmup.duration_s,
            thousands(r.warmup.sent)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "  throughput  {:.1} responses/s over {:.2}s{warm}",
        t.throughput_rps, t.duration_s
    );
    if m.model == "closed" {
        let _ = writeln!(
            o,
            "  latency of all responses, µs resolution (closed model: from each send, nothing to correct):"
        );
        let _ = writeln!(
            o,
            "                                      {}",
            row(&r.latency_us.uncorrected)
        );
    } else {
        let _ = writeln!(o, "  latency of all responses, µs resolution:");
        let _ = writeln!(
            o,
            "    corrected   (from intended send)  {}",
            row(&r.latency_us.corrected)
        );
        let _ = writeln!(
            o,
            "    uncorrected (from actual send)    {}",
            row(&r.latency_us.uncorrected)
        );
    }
    if let Some(s) = &r.schedule {
        let _ = writeln!(
            o,
            "  schedule    send lag p50 {}  p99 {}  max {}; {} request(s) left more than {}ms late",
            micros(s.lag_us.p50),
            micros(s.lag_us.p99),
            micros(s.lag_us.max),
            thousands(s.late),
            s.late_after_ms
        );
    }
    let boundary = if t.boundary > 0 {
        format!(
            "  boundary {} (sent within the guard band around a token's expiry or nbf)",
            thousands(t.boundary)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "  verdicts    correct accepts {}  correct rejects {}  {}  {}{boundary}",
        thousands(t.correct_accepts),
        thousands(t.correct_rejects),
        red(
            format!("false accepts {}", thousands(t.false_accepts)),
            t.false_accepts > 0
        ),
        red(
            format!("false rejects {}", thousands(t.false_rejects)),
            t.false_rejects > 0
        ),
    );
    // Per class: the shared table, in fixed-width columns; alarms in red.
    let classes = table::classes(r)
        .without(&["expected"])
        .without_zero("boundary")
        .without_zero("other reason");
    const WIDTHS: [usize; 10] = [20, 9, 9, 9, 10, 8, 9, 9, 10, 10];
    let line = |cells: Vec<(String, bool)>| {
        let mut l = String::from(" ");
        for (i, (text, alarm)) in cells.into_iter().enumerate() {
            let w = WIDTHS.get(i).copied().unwrap_or(10);
            let padded = if i == 0 {
                format!("{text:<w$}")
            } else {
                format!("{text:>w$}")
            };
            l.push(' ');
            l.push_str(&red(padded, alarm));
        }
        l
    };
    let _ = writeln!(
        o,
        "\n{}",
        line(
            classes
                .columns
                .iter()
                .map(|c| (c.short.to_string(), false))
                .collect()
        )
    );
    for row in &classes.rows {
        let _ = writeln!(
            o,
            "{}",
            line(row.iter().map(|c| (c.text(), c.alarming())).collect())
        );
    }
    let codes: Vec<String> = r
        .status_codes
        .iter()
        .map(|(k, v)| format!("{k} × {}", thousands(*v)))
        .collect();
    let _ = writeln!(
        o,
        "\n  status codes      {}",
        if codes.is_empty() {
            "none".into()
        } else {
            codes.join(", ")
        }
    );
    let errs: Vec<String> = r
        .transport_errors
        .iter()
        .map(|(k, v)| format!("{k} × {}", thousands(*v)))
        .collect();
    let _ = writeln!(
        o,
        "  transport errors  {}",
        if errs.is_empty() {
            "none".into()
        } else {
            errs.join(", ")
        }
    );
    if !r.thresholds.is_empty() {
        let _ = writeln!(
            o,
            "\n  thresholds (latency is corrected unless named uncorrected):"
        );
        for v in &r.thresholds {
            let _ = writeln!(o, "    {}", red(v.to_string(), !v.passed));
        }
    }
    if m.batch_wrapped {
        let _ = writeln!(
            o,
            "  note: the {} tokens ran out and the batch started over; later requests replayed tokens",
            thousands(m.tokens)
        );
    }
    o
}

/// What the counts alone do not say: requests still due when the schedule ended, a target that
/// never accepted a connection, and a run limited by this machine's file descriptors.
/// What a streaming token source did, in one sentence: mint-bound requests, or that it kept
/// ahead.
pub fn stream_note(st: &crate::stats::results::StreamReport) -> String {
    if st.mint_bound > 0 {
        format!(
            "{} request(s) waited for their token (longest {}): minting could not keep up, and they are \
             measured from their intended time. Lower the rate, add threads, or use load.pool, load.reuse or a pre-minted batch",
            thousands(st.mint_bound),
            crate::text::micros(st.longest_wait_us)
        )
    } else {
        format!(
            "streamed: {} {} during the run, up to {} ahead of the requests; none was late",
            thousands(st.taken),
            if st.from == "batch" {
                "read from the batch"
            } else {
                "minted"
            },
            thousands(st.lead)
        )
    }
}

/// Seconds since the run began, from milliseconds.
fn at(ms: f64) -> String {
    format!("{:.2}s", ms / 1000.0)
}

/// What the identity provider saw, one line each: the fetches, each rotated key's gap, each
/// retired key's removal window, and the fetch-pattern checks that failed.
pub fn idp_lines(i: &crate::stats::results::IdpReport) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let events: Vec<String> = i
        .events
        .iter()
        .map(|e| format!("{} {} at {}", e.action, e.kid, at(e.at_ms as f64)))
        .collect();
    out.push((
        "idp",
        format!(
            "{} served the key set {} time(s) ({} answered 304 Not Modified), max-age {}{}",
            i.url,
            thousands(i.jwks_fetches),
            thousands(i.not_modified),
            crate::text::format_duration(std::time::Duration::from_secs_f64(i.max_age_s)),
            if events.is_empty() {
                String::new()
            } else {
                format!(
                    "; rotation{}: {}",
                    i.preset.as_ref().map_or(String::new(), |p| format!(" {p}")),
                    events.join(", ")
                )
            }
        ),
    ));
    for k in &i.keys {
        if let (Some(first), true) = (k.first_sent_ms, k.signs_from_ms.is_some_and(|f| f > 0)) {
            out.push((
                "rotation",
                match (k.first_accept_ms, k.rotation_gap_ms) {
                    (Some(acc), Some(gap)) => format!(
                        "{}: first token at {}, first accepted at {} (gap {}), {} false reject(s){}",
                        k.kid,
                        at(first),
                        at(acc),
                        crate::text::micros((gap * 1000.0) as u64),
                        thousands(k.false_rejects),
                        k.last_false_reject_ms
                            .map_or(String::new(), |l| format!(", the last at {}", at(l)))
                    ),
                    _ => format!(
                        "{}: first token at {}, never accepted: {} false reject(s) (an outage)",
                        k.kid,
                        at(first),
                        thousands(k.false_rejects)
                    ),
                },
            ));
        }
    }
    for k in &i.keys {
        if let Some(ret) = k.retired_ms {
            let stale = if k.stale_accepts > 0 {
                format!(
                    ", last accepted at {}; {} stale accept(s): a withdrawn key kept working",
                    k.last_stale_accept_ms.map_or("-".into(), at),
                    thousands(k.stale_accepts)
                )
            } else {
                ", never accepted after it".into()
            };
            let text = match (k.first_retired_reject_ms, k.removal_window_ms) {
                (Some(rj), Some(w)) => format!(
                    "{} retired at {}: first rejected at {} (window {}){stale}",
                    k.kid,
                    at(ret as f64),
                    at(rj),
                    crate::text::micros((w * 1000.0) as u64),
                ),
                _ if k.stale_accepts > 0 => {
                    format!(
                        "{} retired at {}: its tokens were never rejected{stale}",
                        k.kid,
                        at(ret as f64)
                    )
                }
                _ => format!(
                    "{} retired at {}: none of its tokens was answered after it",
                    k.kid,
                    at(ret as f64)
                ),
            };
            out.push(("removal", text));
        }
    }
    for c in i.checks.iter().filter(|c| !c.passed) {
        out.push(("idp check", format!("{} failed: {}", c.name, c.detail)));
    }
    out
}

pub fn notes(r: &Results) -> Vec<String> {
    let t = &r.totals;
    let err = |k: &str| r.transport_errors.get(k).copied().unwrap_or(0);
    let mut out = Vec::new();
    if let Some(i) = &r.idp {
        out.extend(
            idp_lines(i)
                .into_iter()
                .map(|(label, text)| format!("{label:<11} {text}")),
        );
    }
    if t.not_sent > 0 && r.meta.model == "open" && !r.meta.interrupted {
        out.push(format!(
            "note        {} request(s) were still due when the schedule ended (never sent: cancelled); \
             the target or the connections could not keep up",
            thousands(t.not_sent)
        ));
    }
    if let Some(st) = &r.stream {
        let label = if st.mint_bound > 0 {
            "mint-bound "
        } else {
            "tokens     "
        };
        out.push(format!("{label} {}", stream_note(st)));
    }
    if let Some(v) = r.classes.get("valid") {
        use crate::model::Judgement;
        let late = v.judged(Judgement::CorrectReject) + v.judged(Judgement::FalseAccept);
        if late > 0 {
            out.push(format!(
                "note        {} valid token(s) were sent outside their window (after exp or before nbf): \
                 a correct verifier refuses them",
                thousands(late)
            ));
        }
    }
    if t.rejected_other_reason > 0 {
        let classes: Vec<String> = r
            .classes
            .iter()
            .filter(|(_, c)| c.judged(crate::model::Judgement::RejectedOtherReason) > 0)
            .map(|(name, c)| {
                let stated: Vec<String> = c.reasons.iter().map(|(k, n)| format!("{k} × {n}")).collect();
                format!("{name} ({})", stated.join(", "))
            })
            .collect();
        out.push(format!(
            "note        {} token(s) were rejected for another reason than their class's: {}",
            thousands(t.rejected_other_reason),
            classes.join("; ")
        ));
    }
    let connect = err("connect_refused") + err("connect_timeout") + err("connect");
    if t.completed == 0 && connect > 0 {
        out.push(format!(
            "note        the target was unreachable: {} connect attempt(s) failed and none succeeded \
             (each connection backed off up to 1s between attempts)",
            thousands(connect)
        ));
    }
    if err("fd_limit") > 0 {
        out.push(format!(
            "note        limited by this machine, not the target: {} connect(s) found no free file descriptor \
             (ulimit -n)",
            thousands(err("fd_limit"))
        ));
    }
    out
}
