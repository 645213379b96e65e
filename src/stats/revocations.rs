//! Revocation during a run (`load.revoke`): what each revocation put on the list, and how the
//! target answered the revoked tokens replayed after it: how long until it first refused one
//! (the revocation lag), and how many it still let in (stale accepts).

use serde::{Deserialize, Serialize};

use crate::model::Outcome;

/// The most revocations a run records.
pub const MAX_EVENTS: usize = 16;

/// What one revocation did, as the replay engine saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// When it took effect, in microseconds since the run began.
    pub at_us: u64,
    /// Tokens put on the list.
    pub revoked: u64,
    /// Chosen tokens that carry no `jti` and so could not be listed (they stay valid).
    pub without_jti: u64,
    /// More tokens were chosen than a revocation lists at most; the rest stayed valid.
    pub capped: bool,
}

/// The answers to one revocation's replayed tokens, in one recorder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventTally {
    pub replays: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Any other answer (forbidden, limited, unexpected, a transport error).
    pub other: u64,
    /// When the first request the target rejected left (µs since the run began).
    pub first_rejected_us: Option<u64>,
    /// When the last request the target accepted left.
    pub last_accepted_us: Option<u64>,
}

/// Per revocation, the answers to its replayed tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationTally {
    pub events: Vec<EventTally>,
}

impl RevocationTally {
    /// Counts an answer to a token revoked by `event`, sent `sent_us` into the run.
    pub fn answer(&mut self, event: usize, sent_us: u64, outcome: Outcome) {
        if event >= MAX_EVENTS {
            return;
        }
        if self.events.len() <= event {
            self.events.resize(event + 1, EventTally::default());
        }
        let e = &mut self.events[event];
        e.replays += 1;
        match outcome {
            Outcome::Accepted => {
                e.accepted += 1;
                e.last_accepted_us = e.last_accepted_us.max(Some(sent_us));
            }
            Outcome::Rejected => {
                e.rejected += 1;
                e.first_rejected_us = Some(e.first_rejected_us.map_or(sent_us, |f| f.min(sent_us)));
            }
            _ => e.other += 1,
        }
    }

    /// Adds another recorder's tally.
    pub fn merge(&mut self, other: &RevocationTally) {
        if self.events.len() < other.events.len() {
            self.events.resize(other.events.len(), EventTally::default());
        }
        for (a, b) in self.events.iter_mut().zip(&other.events) {
            a.replays += b.replays;
            a.accepted += b.accepted;
            a.rejected += b.rejected;
            a.other += b.other;
            a.first_rejected_us = match (a.first_rejected_us, b.first_rejected_us) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            a.last_accepted_us = a.last_accepted_us.max(b.last_accepted_us);
        }
    }
}

/// Revocation in results.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevocationReport {
    /// The list file the run kept (`revoked.txt` in the results folder).
    pub list: String,
    /// Where the identity provider served it, with `[idp]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ids on the list when the run began (those `revoked` tokens carry).
    pub initial: u64,
    /// Ids on it at the end.
    pub entries: u64,
    pub events: Vec<RevocationEvent>,
}

/// One revocation during the run and how the target followed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevocationEvent {
    /// When it was scheduled, in seconds since the run began.
    pub at_s: f64,
    /// Share of the `valid` tokens sent before it that it revoked.
    pub share: f64,
    /// Share of the requests after it that replay a revoked token.
    pub replay: f64,
    /// When it took effect (the list changed); absent when the run ended first.
    pub fired_at_s: Option<f64>,
    pub revoked: u64,
    pub without_jti: u64,
    pub capped: bool,
    /// Requests that replayed one of its tokens, and their answers.
    pub replays: u64,
    /// Accepted after the revocation: stale accepts (counted as false accepts of class
    /// `revoked`, and in `revoked_accepts`).
    pub accepted: u64,
    pub rejected: u64,
    pub other: u64,
    /// The revocation lag: from taking effect until the first replayed token the target
    /// rejected was sent; absent when it rejected none.
    pub lag_s: Option<f64>,
    /// From taking effect until the last replayed token the target accepted was sent.
    pub last_accept_after_s: Option<f64>,
}

impl RevocationEvent {
    /// The event as the run planned it and as it went.
    pub fn of(planned: &crate::model::Revocation, fired: Option<&Fired>, tally: Option<&EventTally>) -> Self {
        let t = tally.copied().unwrap_or_default();
        let secs = |us: u64| us as f64 / 1e6;
        let since = |at: Option<u64>| match (fired, at) {
            (Some(f), Some(x)) => Some(secs(x.saturating_sub(f.at_us))),
            _ => None,
        };
        RevocationEvent {
            at_s: planned.at.as_secs_f64(),
            share: planned.share,
            replay: planned.replay,
            fired_at_s: fired.map(|f| secs(f.at_us)),
            revoked: fired.map_or(0, |f| f.revoked),
            without_jti: fired.map_or(0, |f| f.without_jti),
            capped: fired.is_some_and(|f| f.capped),
            replays: t.replays,
            accepted: t.accepted,
            rejected: t.rejected,
            other: t.other,
            lag_s: since(t.first_rejected_us),
            last_accept_after_s: since(t.last_accepted_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_merge_and_give_the_lag() {
        let (mut a, mut b) = (RevocationTally::default(), RevocationTally::default());
        a.answer(0, 1_500_000, Outcome::Accepted);
        a.answer(0, 2_400_000, Outcome::Rejected);
        b.answer(0, 2_100_000, Outcome::Rejected);
        b.answer(0, 2_200_000, Outcome::Accepted);
        b.answer(1, 9_000_000, Outcome::Limited);
        a.merge(&b);
        let e = a.events[0];
        assert_eq!((e.replays, e.accepted, e.rejected), (4, 2, 2));
        assert_eq!(e.first_rejected_us, Some(2_100_000));
        assert_eq!(e.last_accepted_us, Some(2_200_000));
        assert_eq!(a.events[1].other, 1);
        let planned = crate::model::Revocation {
            at: std::time::Duration::from_secs(1),
            share: 0.1,
            replay: 0.1,
        };
        let fired = Fired {
            at_us: 1_000_000,
            revoked: 40,
            ..Fired::default()
        };
        let r = RevocationEvent::of(&planned, Some(&fired), Some(&e));
        assert!((r.lag_s.unwrap() - 1.1).abs() < 1e-9);
        assert!((r.last_accept_after_s.unwrap() - 1.2).abs() < 1e-9);
        let unfired = RevocationEvent::of(&planned, None, None);
        assert_eq!(
            (unfired.fired_at_s, unfired.lag_s, unfired.revoked),
            (None, None, 0)
        );
    }
}
