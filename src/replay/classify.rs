//! What a response means: its outcome (by status set or transport failure), and the verdict
//! against the outcome the token deserved.

use serde::{Deserialize, Serialize};

use crate::scenario::run::StatusSet;

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
pub enum Verdict {
    CorrectAccept,
    CorrectReject,
    /// An invalid token was let in: a security failure.
    FalseAccept,
    /// A valid token was refused: an outage for real users.
    FalseReject,
    /// No answer to judge (unexpected status or transport error).
    NoVerdict,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 5] = [
        Verdict::CorrectAccept,
        Verdict::CorrectReject,
        Verdict::FalseAccept,
        Verdict::FalseReject,
        Verdict::NoVerdict,
    ];

    /// The verdict's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::CorrectAccept => "correct_accept",
            Verdict::CorrectReject => "correct_reject",
            Verdict::FalseAccept => "false_accept",
            Verdict::FalseReject => "false_reject",
            Verdict::NoVerdict => "no_verdict",
        }
    }

    /// Judges `outcome` for a token that should (or should not) be accepted.
    pub fn judge(outcome: Outcome, should_accept: bool) -> Verdict {
        match (outcome, should_accept) {
            (Outcome::Accepted, true) => Verdict::CorrectAccept,
            (Outcome::Accepted, false) => Verdict::FalseAccept,
            (Outcome::Rejected, false) => Verdict::CorrectReject,
            (Outcome::Rejected, true) => Verdict::FalseReject,
            _ => Verdict::NoVerdict,
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
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Body,
        ErrorKind::Protocol,
        ErrorKind::Request,
        ErrorKind::Other,
    ];

    /// The kind's name in results.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Connect => "connect",
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

    /// Classifies an I/O error from connecting.
    pub fn of_connect(e: &std::io::Error) -> ErrorKind {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            std::io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
            _ => ErrorKind::Connect,
        }
    }

    /// Classifies an error from an exchange by walking its sources.
    pub fn of_error(e: &(dyn std::error::Error + 'static)) -> ErrorKind {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut fallback = ErrorKind::Other;
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => ErrorKind::Reset,
                    std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::NotConnected => ErrorKind::Closed,
                    std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
                    std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                    std::io::ErrorKind::InvalidData => ErrorKind::Tls,
                    _ => ErrorKind::Other,
                };
            }
            if let Some(h) = err.downcast_ref::<hyper::Error>() {
                if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                    fallback = ErrorKind::Closed;
                } else if h.is_parse() || h.is_parse_status() {
                    return ErrorKind::Protocol;
                } else if h.is_body_write_aborted() || h.is_user() {
                    fallback = ErrorKind::Request;
                } else if h.is_timeout() {
                    return ErrorKind::Timeout;
                }
            }
            cur = err.source();
        }
        fallback
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
        assert_eq!(Verdict::judge(Outcome::Accepted, false), Verdict::FalseAccept);
        assert_eq!(Verdict::judge(Outcome::Rejected, true), Verdict::FalseReject);
        assert_eq!(Verdict::judge(Outcome::Rejected, false), Verdict::CorrectReject);
        assert_eq!(Verdict::judge(Outcome::TransportError, false), Verdict::NoVerdict);
    }

    #[test]
    fn names_match_the_serialized_form() {
        for v in Verdict::ALL {
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
    fn io_errors_are_classified() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(ErrorKind::of_connect(&e), ErrorKind::ConnectRefused);
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(ErrorKind::of_error(&e), ErrorKind::Reset);
    }
}
