//! The vocabulary of one request's fate: its [`Outcome`] (by status set or transport failure),
//! the [`Judgement`] against the answer the token deserved, and the [`ErrorKind`] of a request
//! that got no status; [`PerOutcome`] holds one value per outcome.

use serde::{Deserialize, Serialize};

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A status in the accept set.
    Accepted,
    /// A status in the reject set (401: the token is not good).
    Rejected,
    /// A status in the forbidden set (403: a good token without the right to this request,
    /// RFC 6750 `insufficient_scope`).
    Forbidden,
    /// A status in the limited set (429: the caller is over its rate limit). Neither a
    /// verdict on the token nor an error: counted apart.
    Limited,
    /// Any other status (500, 302, ...).
    UnexpectedStatus,
    /// No status at all: the connection or the exchange failed.
    TransportError,
}

/// How many outcomes there are.
pub const OUTCOMES: usize = 6;

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; OUTCOMES] = [
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Forbidden,
        Outcome::Limited,
        Outcome::UnexpectedStatus,
        Outcome::TransportError,
    ];

    /// The outcome's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Forbidden => "forbidden",
            Outcome::Limited => "limited",
            Outcome::UnexpectedStatus => "unexpected_status",
            Outcome::TransportError => "transport_error",
        }
    }

    /// Whether the request got a status (every outcome but a transport error).
    pub fn has_status(self) -> bool {
        self != Outcome::TransportError
    }

    /// Whether the answer refuses the token: rejected or forbidden.
    pub fn is_refusal(self) -> bool {
        matches!(self, Outcome::Rejected | Outcome::Forbidden)
    }
}

/// The answer a correct verifier owes a token at the moment it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deserved {
    Accept,
    /// Rejected as not a good token (401).
    Reject,
    /// A good token refused for lack of scope (403).
    Forbid,
    /// The specs leave the answer to the implementation: accepting and refusing are both
    /// right, never false.
    Either,
}

/// The outcome judged against what the token deserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    CorrectAccept,
    CorrectReject,
    /// An invalid token was let in: a security failure.
    FalseAccept,
    /// A valid token was refused: an outage for real users.
    FalseReject,
    /// No answer to judge (unexpected status or transport error).
    NoVerdict,
    /// An answer sent within the guard band around a token's expiry or `nbf`: either answer is
    /// right, so it is counted apart and never as a false accept or reject.
    Boundary,
    /// Rejected, as it should be, but for another reason than its class's (reason-aware
    /// judging only).
    RejectedOtherReason,
    /// An answer to a token the specs let a verifier accept or refuse (`expect = either`):
    /// counted apart, never false.
    Either,
}

impl Judgement {
    /// Every judgement, in report order.
    pub const ALL: [Judgement; 8] = [
        Judgement::CorrectAccept,
        Judgement::CorrectReject,
        Judgement::FalseAccept,
        Judgement::FalseReject,
        Judgement::NoVerdict,
        Judgement::Boundary,
        Judgement::RejectedOtherReason,
        Judgement::Either,
    ];

    /// The judgement's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Judgement::CorrectAccept => "correct_accept",
            Judgement::CorrectReject => "correct_reject",
            Judgement::FalseAccept => "false_accept",
            Judgement::FalseReject => "false_reject",
            Judgement::NoVerdict => "no_verdict",
            Judgement::Boundary => "boundary",
            Judgement::RejectedOtherReason => "rejected_other_reason",
            Judgement::Either => "either",
        }
    }

    /// Judges `outcome` for a token that deserved `deserved`, sent `near` a boundary of its
    /// validity window or not.
    pub fn judge_near(outcome: Outcome, deserved: Deserved, near: bool) -> Judgement {
        match (outcome, near) {
            (Outcome::Accepted | Outcome::Rejected | Outcome::Forbidden, true) => Judgement::Boundary,
            _ => Judgement::judge(outcome, deserved),
        }
    }

    /// Judges `outcome` for a token that deserved `deserved`. A refusal of the other kind (a
    /// 403 for an expired token, a 401 for one that lacks a scope) is a correct refusal for
    /// the wrong reason; a limited answer (429) judges nothing.
    pub fn judge(outcome: Outcome, deserved: Deserved) -> Judgement {
        match (outcome, deserved) {
            (Outcome::Accepted | Outcome::Rejected | Outcome::Forbidden, Deserved::Either) => {
                Judgement::Either
            }
            (Outcome::Accepted, Deserved::Accept) => Judgement::CorrectAccept,
            (Outcome::Accepted, _) => Judgement::FalseAccept,
            (Outcome::Rejected, Deserved::Reject) | (Outcome::Forbidden, Deserved::Forbid) => {
                Judgement::CorrectReject
            }
            (Outcome::Rejected | Outcome::Forbidden, Deserved::Accept) => Judgement::FalseReject,
            (Outcome::Rejected | Outcome::Forbidden, _) => Judgement::RejectedOtherReason,
            _ => Judgement::NoVerdict,
        }
    }
}

impl Deserved {
    /// `Accept` or `Reject`.
    pub fn of(should_accept: bool) -> Deserved {
        if should_accept {
            Deserved::Accept
        } else {
            Deserved::Reject
        }
    }
}

/// Why a request got no status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listens on the port.
    ConnectRefused,
    /// The connection was not established within the connect timeout.
    ConnectTimeout,
    /// Any other failure to connect (DNS, unreachable, ...).
    Connect,
    /// No file descriptor for a new connection (EMFILE, ENFILE): the machine's limit, not the
    /// target's.
    FdLimit,
    /// TLS handshake or certificate failure.
    Tls,
    /// No complete response within the request timeout.
    Timeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before a complete response.
    Closed,
    /// The response body failed mid-way.
    Body,
    /// The response broke HTTP.
    Protocol,
    /// The request could not be built (a token that is not a valid header value, say).
    Request,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Connect,
        ErrorKind::FdLimit,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Body,
        ErrorKind::Protocol,
        ErrorKind::Request,
        ErrorKind::Other,
    ];

    /// Whether the connection could not be made at all (the connect back-off applies).
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectRefused | ErrorKind::ConnectTimeout | ErrorKind::Connect | ErrorKind::FdLimit
        )
    }

    /// The kind's name in results.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::FdLimit => "fd_limit",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Body => "body",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Request => "request",
            ErrorKind::Other => "other",
        }
    }
}

/// One value per [`Outcome`], indexed by the outcome rather than by position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerOutcome<T>(pub [T; OUTCOMES]);

impl<T> std::ops::Index<Outcome> for PerOutcome<T> {
    type Output = T;
    fn index(&self, o: Outcome) -> &T {
        &self.0[o as usize]
    }
}

impl<T> std::ops::IndexMut<Outcome> for PerOutcome<T> {
    fn index_mut(&mut self, o: Outcome) -> &mut T {
        &mut self.0[o as usize]
    }
}

impl PerOutcome<u64> {
    /// Answers with a status: every outcome but transport errors.
    pub fn completed(&self) -> u64 {
        self.total() - self[Outcome::TransportError]
    }

    /// Every request counted, with or without a status.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &PerOutcome<u64>) {
        for o in Outcome::ALL {
            self[o] += other[o];
        }
    }
}

/// One count per [`Judgement`], indexed by the judgement rather than by position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerJudgement(pub [u64; 8]);

impl std::ops::Index<Judgement> for PerJudgement {
    type Output = u64;
    fn index(&self, j: Judgement) -> &u64 {
        &self.0[j as usize]
    }
}

impl std::ops::IndexMut<Judgement> for PerJudgement {
    fn index_mut(&mut self, j: Judgement) -> &mut u64 {
        &mut self.0[j as usize]
    }
}

impl PerJudgement {
    /// Adds another set of counts.
    pub fn add(&mut self, other: &PerJudgement) {
        for j in Judgement::ALL {
            self[j] += other[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StatusSets;

    #[test]
    fn outcomes_and_verdicts() {
        use Deserved::*;
        let sets = StatusSets::default();
        assert_eq!(sets.outcome(204), Outcome::Accepted);
        assert_eq!(sets.outcome(401), Outcome::Rejected);
        assert_eq!(sets.outcome(403), Outcome::Forbidden);
        assert_eq!(sets.outcome(429), Outcome::Limited);
        assert_eq!(sets.outcome(500), Outcome::UnexpectedStatus);
        assert_eq!(
            Judgement::judge(Outcome::Accepted, Reject),
            Judgement::FalseAccept
        );
        assert_eq!(
            Judgement::judge(Outcome::Accepted, Forbid),
            Judgement::FalseAccept
        );
        assert_eq!(
            Judgement::judge(Outcome::Rejected, Accept),
            Judgement::FalseReject
        );
        assert_eq!(
            Judgement::judge(Outcome::Forbidden, Accept),
            Judgement::FalseReject
        );
        assert_eq!(
            Judgement::judge(Outcome::Rejected, Reject),
            Judgement::CorrectReject
        );
        assert_eq!(
            Judgement::judge(Outcome::Forbidden, Forbid),
            Judgement::CorrectReject
        );
        // The other kind of refusal.
        assert_eq!(
            Judgement::judge(Outcome::Forbidden, Reject),
            Judgement::RejectedOtherReason
        );
        assert_eq!(
            Judgement::judge(Outcome::Rejected, Forbid),
            Judgement::RejectedOtherReason
        );
        for d in [Accept, Reject, Forbid] {
            assert_eq!(Judgement::judge(Outcome::Limited, d), Judgement::NoVerdict);
            assert_eq!(Judgement::judge(Outcome::TransportError, d), Judgement::NoVerdict);
        }
    }

    #[test]
    fn names_match_the_serialized_form() {
        for v in Judgement::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name());
        }
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.name());
        }
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn answers_near_a_boundary_are_neither_false() {
        for outcome in [Outcome::Accepted, Outcome::Rejected, Outcome::Forbidden] {
            for should in [true, false] {
                assert_eq!(
                    Judgement::judge_near(outcome, Deserved::of(should), true),
                    Judgement::Boundary
                );
            }
        }
        assert_eq!(
            Judgement::judge_near(Outcome::Accepted, Deserved::Reject, false),
            Judgement::FalseAccept
        );
        for o in [Outcome::TransportError, Outcome::Limited] {
            assert_eq!(
                Judgement::judge_near(o, Deserved::Accept, true),
                Judgement::NoVerdict
            );
        }
        for (i, j) in Judgement::ALL.iter().enumerate() {
            assert_eq!(*j as usize, i);
        }
    }

    #[test]
    fn per_outcome_is_indexed_by_the_outcome() {
        let mut c = PerOutcome::<u64>::default();
        c[Outcome::Rejected] += 2;
        c[Outcome::TransportError] += 1;
        c[Outcome::Limited] += 4;
        assert_eq!(c.0, [0, 2, 0, 4, 0, 1]);
        assert_eq!((c.completed(), c.total()), (6, 7));
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }
}
