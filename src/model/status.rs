//! Which statuses mean "accepted" and which mean "rejected".

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
