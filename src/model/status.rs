//! Which statuses mean "accepted", "rejected", "forbidden" and "limited".

use super::Outcome;

/// Statuses that mean one thing: a list, or any 2xx.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum StatusSet {
    List(Vec<u16>),
    #[serde(serialize_with = "any_2xx")]
    Any2xx,
}

fn any_2xx<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("2xx")
}

impl StatusSet {
    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        match self {
            StatusSet::List(l) => l.contains(&status),
            StatusSet::Any2xx => (200..300).contains(&status),
        }
    }
}

/// The four status sets of a target, which turn a status into an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusSets {
    pub accept: StatusSet,
    pub reject: StatusSet,
    pub forbidden: StatusSet,
    pub limited: StatusSet,
}

impl Default for StatusSets {
    /// Any 2xx accepts, 401 rejects, 403 forbids, 429 limits.
    fn default() -> Self {
        StatusSets {
            accept: StatusSet::Any2xx,
            reject: StatusSet::List(vec![401]),
            forbidden: StatusSet::List(vec![403]),
            limited: StatusSet::List(vec![429]),
        }
    }
}

impl StatusSets {
    /// The outcome of a response with `status`: the first set, in the order accept, reject,
    /// forbidden, limited, that holds it; any other status is unexpected.
    pub fn outcome(&self, status: u16) -> Outcome {
        if self.accept.contains(status) {
            Outcome::Accepted
        } else if self.reject.contains(status) {
            Outcome::Rejected
        } else if self.forbidden.contains(status) {
            Outcome::Forbidden
        } else if self.limited.contains(status) {
            Outcome::Limited
        } else {
            Outcome::UnexpectedStatus
        }
    }
}
