//! The tables every report shows, defined once: which columns, and which figure of the results
//! goes in each cell. The text summary, summary.md and report.html render the same [`Table`]s
//! in their own markup (and may leave out columns they have no room for).

use crate::model::{Judgement, Outcome};
use crate::stats::results::Results;
use crate::text::{micros, thousands};

/// One column: its heading in documents, a shorter one for the terminal, and whether it holds
/// words (left-aligned) rather than figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub label: &'static str,
    pub short: &'static str,
    pub words: bool,
}

/// What a cell holds; each renderer decides how an alarm looks.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A name or a word.
    Text(String),
    /// A count, shown with thousands separators.
    Count(u64),
    /// A count that is bad news when it is not zero (false accepts, false rejects).
    Alarm(u64),
    /// A latency in microseconds, or `-` when nothing was measured.
    Micros(Option<u64>),
    /// Responses per second.
    PerSecond(f64),
    /// A failed check, marked as bad.
    Failed,
}

impl Cell {
    /// The cell as plain text.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Count(n) | Cell::Alarm(n) => thousands(*n),
            Cell::Micros(Some(us)) => micros(*us),
            Cell::Micros(None) => "-".into(),
            Cell::PerSecond(v) => format!("{v:.1}/s"),
            Cell::Failed => "FAIL".into(),
        }
    }

    /// Whether the cell should be marked as bad.
    pub fn alarming(&self) -> bool {
        matches!(self, Cell::Alarm(n) if *n > 0) || *self == Cell::Failed
    }
}

/// Columns and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The same table without the columns whose labels are given.
    pub fn without(mut self, labels: &[&str]) -> Table {
        let keep: Vec<bool> = self.columns.iter().map(|c| !labels.contains(&c.label)).collect();
        let mut i = 0;
        self.columns.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        for row in &mut self.rows {
            let mut i = 0;
            row.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        self
    }
}

impl Table {
    /// The same table without the column `label` when every cell in it is zero (a column that
    /// only matters when something happened, such as answers near a token's boundary).
    pub fn without_zero(self, label: &str) -> Table {
        let Some(i) = self.columns.iter().position(|c| c.label == label) else {
            return self;
        };
        let zero = self
            .rows
            .iter()
            .all(|r| matches!(r.get(i), Some(Cell::Count(0) | Cell::Alarm(0)) | None));
        if zero { self.without(&[label]) } else { self }
    }
}

const fn col(label: &'static str, short: &'static str) -> Column {
    Column {
        label,
        short,
        words: false,
    }
}

const fn words(label: &'static str) -> Column {
    Column {
        label,
        short: label,
        words: true,
    }
}

/// Totals over the measured phase: one row.
pub fn totals(r: &Results) -> Table {
    let t = &r.totals;
    Table {
        columns: vec![
            col("scheduled", "scheduled"),
            col("completed", "completed"),
            col("accepted", "accepted"),
            col("rejected", "rejected"),
            col("forbidden", "forbidden"),
            col("limited", "limited"),
            col("unexpected status", "unexpected"),
            col("transport errors", "errors"),
            col("cancelled", "cancelled"),
            col("false accepts", "false acc"),
            col("false rejects", "false rej"),
            col("throughput", "throughput"),
        ],
        rows: vec![vec![
            Cell::Count(t.scheduled),
            Cell::Count(t.completed),
            Cell::Count(t.accepted),
            Cell::Count(t.rejected),
            Cell::Count(t.forbidden),
            Cell::Count(t.limited),
            Cell::Count(t.unexpected_status),
            Cell::Count(t.transport_errors),
            Cell::Count(t.cancelled),
            Cell::Alarm(t.false_accepts),
            Cell::Alarm(t.false_rejects),
            Cell::PerSecond(t.throughput_rps),
        ]],
    }
    // Shown when the target answered any: most APIs under test never do.
    .without_zero("forbidden")
    .without_zero("limited")
}

/// The reasons the target stated per class (reason-aware judging), beside the reason each
/// class deserves; empty when the target states none.
pub fn reasons(r: &Results) -> Table {
    let rows = r
        .classes
        .iter()
        .filter(|(_, c)| !c.reasons.is_empty())
        .map(|(name, c)| {
            let deserved = name
                .parse::<crate::token::classes::TokenClass>()
                .map_or("-", |k| k.reason());
            let stated: Vec<String> = c
                .reasons
                .iter()
                .map(|(k, n)| format!("{k} × {}", thousands(*n)))
                .collect();
            vec![
                Cell::Text(name.clone()),
                Cell::Text(deserved.to_string()),
                Cell::Text(stated.join(", ")),
                Cell::Alarm(c.judged(Judgement::RejectedOtherReason)),
            ]
        })
        .collect();
    Table {
        columns: vec![
            words("class"),
            words("deserved"),
            words("stated by the target"),
            col("other reason", "other rsn"),
        ],
        rows,
    }
}

/// Correctness per token class: what it deserved, what it got, and its corrected latency.
pub fn classes(r: &Results) -> Table {
    let rows = r
        .classes
        .iter()
        .map(|(name, c)| {
            let all = c.latency_us.corrected.get("all").filter(|p| p.count > 0);
            vec![
                Cell::Text(name.clone()),
                Cell::Text(c.expected().into()),
                Cell::Count(c.count),
                Cell::Count(c.outcome(Outcome::Accepted)),
                Cell::Count(c.outcome(Outcome::Rejected)),
                Cell::Count(c.outcome(Outcome::Forbidden)),
                Cell::Count(c.outcome(Outcome::Limited)),
                Cell::Count(c.outcome(Outcome::UnexpectedStatus)),
                Cell::Count(c.outcome(Outcome::TransportError)),
                Cell::Alarm(c.judged(Judgement::FalseAccept)),
                Cell::Alarm(c.judged(Judgement::FalseReject)),
                Cell::Count(c.judged(Judgement::Boundary)),
                Cell::Alarm(c.judged(Judgement::RejectedOtherReason)),
                Cell::Micros(all.map(|p| p.p50)),
                Cell::Micros(all.map(|p| p.p99)),
            ]
        })
        .collect();
    Table {
        columns: vec![
            words("class"),
            words("expected"),
            col("count", "count"),
            col("accepted", "accepted"),
            col("rejected", "rejected"),
            col("forbidden", "forbidden"),
            col("limited", "limited"),
            col("unexpected status", "unexpected"),
            col("transport error", "errors"),
            col("false accepts", "false acc"),
            col("false rejects", "false rej"),
            col("boundary", "boundary"),
            col("other reason", "other rsn"),
            col("p50 (corr.)", "p50 corr"),
            col("p99 (corr.)", "p99 corr"),
        ],
        rows,
    }
    .without_zero("forbidden")
    .without_zero("limited")
}

/// Answers per endpoint (several endpoints only; empty otherwise).
pub fn endpoints(r: &Results) -> Table {
    let rows = r
        .endpoints
        .iter()
        .map(|e| {
            let share = e.count as f64 / r.endpoints.iter().map(|x| x.count).sum::<u64>().max(1) as f64;
            vec![
                Cell::Text(format!("{} {}", e.method, e.path)),
                Cell::Text(e.required_scope.clone().unwrap_or_else(|| "-".into())),
                Cell::Count(e.count),
                Cell::Text(format!("{:.1}%", share * 100.0)),
                Cell::Count(e.outcome(Outcome::Accepted)),
                Cell::Count(e.outcome(Outcome::Rejected)),
                Cell::Count(e.outcome(Outcome::Forbidden)),
                Cell::Count(e.outcome(Outcome::Limited)),
                Cell::Alarm(e.judged(Judgement::FalseAccept)),
                Cell::Alarm(e.judged(Judgement::FalseReject)),
                Cell::Micros((e.latency_us.count > 0).then_some(e.latency_us.p50)),
                Cell::Micros((e.latency_us.count > 0).then_some(e.latency_us.p99)),
            ]
        })
        .collect();
    Table {
        columns: vec![
            words("endpoint"),
            words("scope"),
            col("count", "count"),
            col("share", "share"),
            col("accepted", "accepted"),
            col("rejected", "rejected"),
            col("forbidden", "forbidden"),
            col("limited", "limited"),
            col("false accepts", "false acc"),
            col("false rejects", "false rej"),
            col("p50 (corr.)", "p50 corr"),
            col("p99 (corr.)", "p99 corr"),
        ],
        rows,
    }
    .without_zero("limited")
}

/// The target's limiter per subject against the declared limit; empty without one.
pub fn rate_limit(r: &Results) -> Table {
    let Some(rl) = &r.rate_limit else {
        return Table {
            columns: Vec::new(),
            rows: Vec::new(),
        };
    };
    let opt = |v: Option<u64>| Cell::Text(v.map_or("-".into(), thousands));
    let rows = rl
        .subjects
        .iter()
        .map(|s| {
            vec![
                Cell::Text(s.subject.clone()),
                Cell::Count(s.sent),
                Cell::Count(s.accepted),
                Cell::Count(s.limited),
                Cell::Count(s.peak_accepted_per_s),
                opt(s.limited_from_per_s),
                Cell::Text(s.effective_per_s.map_or("-".into(), |e| format!("{e:.1}/s"))),
                Cell::Count(s.allowed.floor() as u64),
                if s.over_limit {
                    Cell::Failed
                } else {
                    Cell::Text("no".into())
                },
            ]
        })
        .collect();
    Table {
        columns: vec![
            words("subject"),
            col("sent", "sent"),
            col("accepted", "accepted"),
            col("limited", "limited"),
            col("peak accepted/s", "peak acc/s"),
            col("limited from (sent/s)", "limited at"),
            col("effective limit", "effective"),
            col("allowed", "allowed"),
            col("over the limit", "over"),
        ],
        rows,
    }
}

/// The revocation list in one line: its file (and URL), ids at the start and end, and the
/// revoked tokens accepted; `None` without one.
pub fn revocation_line(r: &Results) -> Option<String> {
    let rv = r.revocation.as_ref()?;
    let mut line = format!(
        "list {} ({} id(s) at the start, {} at the end)",
        rv.list,
        thousands(rv.initial),
        thousands(rv.entries)
    );
    if let Some(url) = &rv.url {
        line.push_str(&format!(", served at {url}"));
    }
    line.push_str(&format!(
        "; {} revoked token(s) accepted",
        thousands(r.totals.revoked_accepts)
    ));
    Some(line)
}

/// One revocation during the run in a line.
pub fn revocation_event_line(e: &crate::stats::revocations::RevocationEvent) -> String {
    let Some(fired) = e.fired_at_s else {
        return format!("at {:.1}s: the run ended before it", e.at_s);
    };
    let mut line = format!(
        "at {fired:.1}s: {} revoked ({:.1}% of the valid tokens sent), {} replayed: {} accepted after, {} rejected",
        thousands(e.revoked),
        e.share * 100.0,
        thousands(e.replays),
        thousands(e.accepted),
        thousands(e.rejected)
    );
    if e.other > 0 {
        line.push_str(&format!(", {} other", thousands(e.other)));
    }
    match e.lag_s {
        Some(lag) => line.push_str(&format!("; lag {lag:.3}s")),
        None => line.push_str("; never rejected one"),
    }
    if let Some(last) = e.last_accept_after_s {
        line.push_str(&format!(", last accepted {last:.3}s after"));
    }
    if e.without_jti > 0 {
        line.push_str(&format!("; {} chosen without a jti", thousands(e.without_jti)));
    }
    if e.capped {
        line.push_str(&format!(
            "; capped at {} chosen tokens",
            thousands(crate::replay::revoke::MAX_PER_EVENT as u64)
        ));
    }
    line
}

/// Each revocation during the run and how the target followed it; empty without one.
pub fn revocations(r: &Results) -> Table {
    let events = r.revocation.as_ref().map_or(&[][..], |rv| &rv.events[..]);
    let secs = |v: Option<f64>| Cell::Text(v.map_or("-".into(), |x| format!("{x:.3}s")));
    let rows = events
        .iter()
        .map(|e| {
            vec![
                Cell::Text(format!("{:.1}s", e.at_s)),
                Cell::Text(format!("{:.1}%", e.share * 100.0)),
                Cell::Count(e.revoked),
                Cell::Count(e.replays),
                if e.accepted > 0 {
                    Cell::Text(format!("{} (!)", thousands(e.accepted)))
                } else {
                    Cell::Count(0)
                },
                Cell::Count(e.rejected),
                Cell::Count(e.other),
                secs(e.lag_s),
                secs(e.last_accept_after_s),
            ]
        })
        .collect();
    Table {
        columns: vec![
            col("at", "at"),
            col("share", "share"),
            col("revoked", "revoked"),
            col("replayed", "replayed"),
            col("accepted after", "stale acc"),
            col("rejected", "rejected"),
            col("other", "other"),
            col("lag (first rejection)", "lag"),
            col("last accept after", "last acc"),
        ],
        rows,
    }
}

/// What the limited answers' `Retry-After` said and how the run honoured it, in one line;
/// `None` without limited answers or a declared limit.
pub fn rate_limit_line(r: &Results) -> Option<String> {
    let rl = r.rate_limit.as_ref()?;
    let mut parts = Vec::new();
    if let Some(d) = &rl.declared {
        parts.push(format!(
            "declared {} per {} (burst {})",
            d.rate,
            d.key.name(),
            thousands(u64::from(d.burst))
        ));
    }
    let limited = rl.with_retry_after + rl.without_retry_after;
    parts.push(format!("{} limited", thousands(limited)));
    if rl.with_retry_after > 0 {
        parts.push(format!(
            "Retry-After p50 {} ms, max {} ms",
            thousands(rl.retry_after_ms.p50),
            thousands(rl.retry_after_ms.max)
        ));
    }
    if rl.without_retry_after > 0 {
        parts.push(format!(
            "{} without Retry-After",
            thousands(rl.without_retry_after)
        ));
    }
    if rl.respect_retry_after {
        if rl.waits > 0 {
            parts.push(format!(
                "honoured: {} pause(s), {} ms in all",
                thousands(rl.waits),
                thousands(rl.waited_ms)
            ));
        }
        if rl.early + rl.obeyed > 0 {
            parts.push(format!(
                "next request of a limited caller: {} too soon (p50 {} ms early), {} after its Retry-After",
                thousands(rl.early),
                thousands(rl.early_by_ms.p50),
                thousands(rl.obeyed)
            ));
        }
    }
    if rl.declared.is_some() {
        parts.push(format!("{} subject(s) over the limit", thousands(rl.over_limit)));
    }
    if rl.untracked_requests > 0 {
        parts.push(format!(
            "{} request(s) not followed per subject (over 64 subjects or after the first hour)",
            thousands(rl.untracked_requests)
        ));
    }
    Some(parts.join("; "))
}

/// Seconds into the run, from milliseconds, or `-`.
fn at_s(ms: Option<u64>) -> Cell {
    Cell::Text(ms.map_or("-".into(), |m| format!("{:.2} s", m as f64 / 1000.0)))
}

/// A span in milliseconds, or `-`.
fn span_ms(ms: Option<f64>) -> Cell {
    Cell::Text(ms.map_or("-".into(), |m| format!("{m:.0} ms")))
}

/// The identity provider's keys: schedule, answers, rotation gap and removal window; `None`
/// without `[idp]`.
pub fn idp_keys(r: &Results) -> Option<Table> {
    let i = r.idp.as_ref()?;
    Some(Table {
        columns: vec![
            words("kid"),
            col("published", "published"),
            col("signs from", "signs from"),
            col("retired", "retired"),
            col("sent", "sent"),
            col("accepted", "accepted"),
            col("rejected", "rejected"),
            col("false rejects", "false rej"),
            col("stale accepts", "stale acc"),
            col("rotation gap", "gap"),
            col("removal window", "removal"),
        ],
        rows: i
            .keys
            .iter()
            .map(|k| {
                vec![
                    Cell::Text(k.kid.clone()),
                    at_s(k.published_ms),
                    at_s(k.signs_from_ms),
                    at_s(k.retired_ms),
                    Cell::Count(k.sent),
                    Cell::Count(k.accepted),
                    Cell::Count(k.rejected),
                    Cell::Alarm(k.false_rejects),
                    Cell::Alarm(k.stale_accepts),
                    span_ms(k.rotation_gap_ms),
                    span_ms(k.removal_window_ms),
                ]
            })
            .collect(),
    })
}

/// The checks of the target's fetch pattern; `None` without `[idp]`.
pub fn idp_checks(r: &Results) -> Option<Table> {
    let i = r.idp.as_ref()?;
    Some(Table {
        columns: vec![words("fetch check"), words("result"), words("detail")],
        rows: i
            .checks
            .iter()
            .map(|c| {
                vec![
                    Cell::Text(c.name.clone()),
                    if c.passed {
                        Cell::Text("pass".into())
                    } else {
                        Cell::Failed
                    },
                    Cell::Text(c.detail.clone()),
                ]
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_dropped_with_their_cells() {
        let t = Table {
            columns: vec![col("a", "a"), col("b", "b"), col("c", "c")],
            rows: vec![vec![Cell::Count(1), Cell::Alarm(2), Cell::Micros(None)]],
        }
        .without(&["b"]);
        assert_eq!(t.columns, [col("a", "a"), col("c", "c")]);
        assert_eq!(t.rows[0], [Cell::Count(1), Cell::Micros(None)]);
        assert_eq!(t.rows[0][1].text(), "-");
        assert!(Cell::Alarm(1).alarming() && !Cell::Alarm(0).alarming() && !Cell::Count(5).alarming());
        assert_eq!(Cell::PerSecond(1998.44).text(), "1998.4/s");
    }
}
