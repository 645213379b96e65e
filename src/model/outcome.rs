//! The vocabulary of one request's fate: its [`Outcome`] (by status set or transport failure),
//! the [`Judgement`] against the answer the token deserved, and the [`ErrorKind`] of a request
//! that got no status; [`PerOutcome`] holds one value per outcome.

use serde::{Deserialize, Serialize};

use super::StatusSet;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A status in the accept set.
    Accepted,
    /// A status in the reject set.
    Rejected,
    /// Any other status (500, 429, 302, ...).
    UnexpectedStatus,
    /// No status at all: the connection or the exchange failed.
    TransportError,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::UnexpectedStatus,
        Outcome::TransportError,
    ];

    /// The outcome's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::UnexpectedStatus => "unexpected_status",
            Outcome::TransportError => "transport_error",
        }
    }

    /// The outcome of a response with `status`.
    pub fn of_status(status: u16, accept: &StatusSet, reject: &StatusSet) -> Outcome {
        if accept.contains(status) {
            Outcome::Accepted
        } else if reject.contains(status) {
            Outcome::Rejected
        } else {
            Outcome::UnexpectedStatus
        }
    }
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
}

impl Judgement {
    /// Every judgement, in report order.
    pub const ALL: [Judgement; 7] = [
        Judgement::CorrectAccept,
        Judgement::CorrectReject,
        Judgement::FalseAccept,
        Judgement::FalseReject,
        Judgement::NoVerdict,
        Judgement::Boundary,
        Judgement::RejectedOtherReason,
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
        }
    }

    /// Judges `outcome` for a token that should (or should not) be accepted, sent `near` a
    /// boundary of its validity window or not.
    pub fn judge_near(outcome: Outcome, should_accept: bool, near: bool) -> Judgement {
        match (outcome, near) {
            (Outcome::Accepted | Outcome::Rejected, true) => Judgement::Boundary,
            _ => Judgement::judge(outcome, should_accept),
        }
    }

    /// Judges `outcome` for a token that should (or should not) be accepted.
    pub fn judge(outcome: Outcome, should_accept: bool) -> Judgement {
        match (outcome, should_accept) {
            (Outcome::Accepted, true) => Judgement::CorrectAccept,
            (Outcome::Accepted, false) => Judgement::FalseAccept,
            (Outcome::Rejected, false) => Judgement::CorrectReject,
            (Outcome::Rejected, true) => Judgement::FalseReject,
            _ => Judgement::NoVerdict,
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
pub struct PerOutcome<T>(pub [T; 4]);

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
    /// Answers with a status: accepted, rejected and unexpected.
    pub fn completed(&self) -> u64 {
        self[Outcome::Accepted] + self[Outcome::Rejected] + self[Outcome::UnexpectedStatus]
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
pub struct PerJudgement(pub [u64; 7]);

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

    #[test]
    fn outcomes_and_verdicts() {
        let accept = StatusSet::Any2xx;
        let reject = StatusSet::List(vec![401, 403]);
        assert_eq!(Outcome::of_status(204, &accept, &reject), Outcome::Accepted);
        assert_eq!(Outcome::of_status(403, &accept, &reject), Outcome::Rejected);
        assert_eq!(
            Outcome::of_status(500, &accept, &reject),
            Outcome::UnexpectedStatus
        );
        assert_eq!(Judgement::judge(Outcome::Accepted, false), Judgement::FalseAccept);
        assert_eq!(Judgement::judge(Outcome::Rejected, true), Judgement::FalseReject);
        assert_eq!(
            Judgement::judge(Outcome::Rejected, false),
            Judgement::CorrectReject
        );
        assert_eq!(
            Judgement::judge(Outcome::TransportError, false),
            Judgement::NoVerdict
        );
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
        for outcome in [Outcome::Accepted, Outcome::Rejected] {
            for should in [true, false] {
                assert_eq!(Judgement::judge_near(outcome, should, true), Judgement::Boundary);
            }
        }
        assert_eq!(
            Judgement::judge_near(Outcome::Accepted, false, false),
            Judgement::FalseAccept
        );
        assert_eq!(
            Judgement::judge_near(Outcome::TransportError, true, true),
            Judgement::NoVerdict
        );
        for (i, j) in Judgement::ALL.iter().enumerate() {
            assert_eq!(*j as usize, i);
        }
    }

    #[test]
    fn per_outcome_is_indexed_by_the_outcome() {
        let mut c = PerOutcome::<u64>::default();
        c[Outcome::Rejected] += 2;
        c[Outcome::TransportError] += 1;
        assert_eq!(c.0, [0, 2, 0, 1]);
        assert_eq!((c.completed(), c.total()), (2, 3));
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }
}
