//! The live line on stderr, redrawn every second on a terminal.

use std::io::Write;
use std::time::Duration;

use crate::model::Outcome;
use crate::replay::engine::Live;
use crate::text::{micros, thousands};

/// Draws the live line.
pub struct LiveLine {
    pub total: Duration,
    /// Open model: the schedule, whose rate at each moment the achieved rate is shown against.
    pub schedule: Option<std::sync::Arc<crate::replay::pacer::Staged>>,
    pub colour: bool,
    /// The identity provider's fetches (`[idp]`): the key set's, and any of the attacker's.
    pub fetches: Option<std::sync::Arc<crate::idp::FetchLog>>,
}

impl LiveLine {
    /// The line for one tick, without the carriage return.
    pub fn render(&self, l: &Live) -> String {
        let s = &l.so_far;
        let q = |q: f64| {
            if s.latency.is_empty() {
                "-".to_string()
            } else {
                micros(s.latency.value_at_quantile(q))
            }
        };
        let rate = match &self.schedule {
            Some(p) => format!("{:.0}/{:.0} req/s", l.rate, p.rate_at(l.elapsed)),
            None => format!("{:.0} req/s", l.rate),
        };
        let fa = format!("false accepts {}", thousands(s.false_accepts));
        let fa = if self.colour && s.false_accepts > 0 {
            format!("\x1b[1;31m{fa}\x1b[0m")
        } else {
            fa
        };
        // A streaming source that falls behind says so: those requests left late.
        let mint = if s.mint_bound > 0 {
            let m = format!("  mint-bound {}", thousands(s.mint_bound));
            if self.colour {
                format!("\x1b[1;33m{m}\x1b[0m")
            } else {
                m
            }
        } else {
            String::new()
        };
        let jwks = match &self.fetches {
            Some(log) => {
                use crate::idp::Document;
                let attacker = log.count(Document::AttackerJwks) + log.count(Document::AttackerCert);
                let text = format!("  jwks fetches {}", thousands(log.count(Document::Jwks)));
                if attacker > 0 {
                    let a = format!("  jku/x5u fetches {}", thousands(attacker));
                    format!(
                        "{text}{}",
                        if self.colour {
                            format!("\x1b[1;31m{a}\x1b[0m")
                        } else {
                            a
                        }
                    )
                } else {
                    text
                }
            }
            None => String::new(),
        };
        // Forbidden and limited answers, when the target gives any.
        let more: String = [Outcome::Forbidden, Outcome::Limited]
            .iter()
            .filter(|o| s.outcomes[**o] > 0)
            .map(|o| format!("{} {}  ", o.name(), thousands(s.outcomes[*o])))
            .collect();
        format!(
            "{}[{:>5.1}s / {:.0}s, {:.0}s left] {rate}  p50 {}  p99 {} (corrected)  accepted {}  rejected {}  {more}errors {}  {fa}{mint}{jwks}",
            if l.stopping { "stopping " } else { "" },
            l.elapsed.as_secs_f64(),
            self.total.as_secs_f64(),
            self.total.saturating_sub(l.elapsed).as_secs_f64(),
            q(0.5),
            q(0.99),
            thousands(s.outcomes[Outcome::Accepted]),
            thousands(s.outcomes[Outcome::Rejected]),
            thousands(s.outcomes[Outcome::UnexpectedStatus] + s.outcomes[Outcome::TransportError]),
        )
    }

    /// Redraws the line in place on stderr.
    pub fn draw(&self, l: &Live) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.render(l));
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn clear(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::timeline::Second;

    #[test]
    fn forbidden_and_limited_show_only_when_there_are_any() {
        let line = LiveLine {
            total: Duration::from_secs(10),
            schedule: None,
            colour: false,
            fetches: None,
        };
        let mut so_far = Second::default();
        so_far.outcomes[Outcome::Accepted] = 1200;
        let mut live = Live {
            elapsed: Duration::from_secs(2),
            so_far,
            rate: 600.0,
            stopping: false,
        };
        let text = line.render(&live);
        assert!(text.contains("accepted 1,200  rejected 0  errors 0"), "{text}");
        assert!(!text.contains("limited") && !text.contains("forbidden"), "{text}");
        live.so_far.outcomes[Outcome::Limited] = 34;
        let text = line.render(&live);
        assert!(text.contains("rejected 0  limited 34  errors 0"), "{text}");
    }
}
