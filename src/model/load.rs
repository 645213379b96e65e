//! The shape of the load: closed or open loop, the stages of an open-loop schedule, token order.

use std::time::Duration;

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// N connections, each sending its next request when the last one finishes.
    Closed,
    /// Requests scheduled at a fixed arrival rate, whatever the target does.
    Open,
}

/// One stage of an open-loop schedule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stage {
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Requests per second at the end of the stage (and all through it unless `ramp`).
    pub rate: f64,
    /// Move linearly from the previous stage's rate to `rate`.
    pub ramp: bool,
}

/// A revocation during the run (`load.revoke`): at `at`, a `share` of the `valid` tokens
/// already sent are put on the revocation list, and from then on a `replay` share of the
/// requests sends one of them again, to be refused.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Revocation {
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    pub share: f64,
    pub replay: f64,
}

/// Requests replaying revoked tokens, by default: a tenth.
pub const DEFAULT_REVOKED_REPLAY: f64 = 0.1;

/// Token order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Sequential,
    Shuffle,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Model {
    /// The name results.json uses.
    pub fn name(self) -> &'static str {
        match self {
            Model::Closed => "closed",
            Model::Open => "open",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(Model::Closed),
            "open" => Ok(Model::Open),
            other => Err(format!("'{other}': expected closed or open")),
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sequential" => Ok(Order::Sequential),
            "shuffle" => Ok(Order::Shuffle),
            other => Err(format!("'{other}': expected sequential or shuffle")),
        }
    }
}

/// One process's share of a run spread over several (the pods of a Kubernetes Indexed Job):
/// segment `index` of `count` takes the global request indices `index`, `index + count`, ...
/// and the token indices alike, so the segments together make exactly the single-process run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub index: u64,
    pub count: u64,
}

impl Default for Segment {
    fn default() -> Self {
        Segment::WHOLE
    }
}

impl Segment {
    /// The whole run in one process.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };
    /// The most segments a run may have.
    pub const MAX: u64 = 100_000;

    /// Segment `index` of `count`, checked.
    pub fn new(index: u64, count: u64) -> Result<Segment, String> {
        if count == 0 || count > Self::MAX {
            return Err(format!("{count} segments: expected 1 to {}", Self::MAX));
        }
        if index >= count {
            return Err(format!(
                "segment {index} of {count}: segments are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Segment { index, count })
    }

    /// Whether this is the whole run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The global index of this segment's `local`-th request (or token).
    pub fn global(&self, local: u64) -> u64 {
        local.saturating_mul(self.count).saturating_add(self.index)
    }

    /// How many of the global indices `0..n` are this segment's.
    pub fn share_below(&self, n: u64) -> u64 {
        if n > self.index {
            (n - self.index - 1) / self.count + 1
        } else {
            0
        }
    }

    /// This segment's share of `n` things split as evenly as possible (connections): the
    /// first `n % count` segments take one more.
    pub fn share_of(&self, n: usize) -> usize {
        let count = self.count as usize;
        n / count + usize::from((self.index as usize) < n % count)
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Segment {
    type Err = String;
    /// `I/N`, such as `0/4`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}': expected INDEX/COUNT, such as 0/4"))?;
        let num = |t: &str, what: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{s}': the {what} '{t}' is not a whole number"))
        };
        Segment::new(num(i, "index")?, num(n, "count")?).map_err(|e| format!("'{s}': {e}"))
    }
}

#[cfg(test)]
mod segment_tests {
    use super::Segment;

    #[test]
    fn segments_partition_the_indices() {
        for count in 1..7u64 {
            for n in 0..40u64 {
                let mut seen = vec![0u32; n as usize];
                let mut total = 0;
                for index in 0..count {
                    let s = Segment::new(index, count).unwrap();
                    let k = s.share_below(n);
                    total += k;
                    for local in 0..k {
                        seen[s.global(local) as usize] += 1;
                    }
                    assert!(s.global(k) >= n);
                }
                assert_eq!(total, n);
                assert!(seen.iter().all(|&c| c == 1));
                let conns: usize = (0..count)
                    .map(|i| Segment::new(i, count).unwrap().share_of(n as usize))
                    .sum();
                assert_eq!(conns, n as usize);
            }
        }
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Segment>().unwrap(), Segment { index: 2, count: 4 });
        assert!("4/4".parse::<Segment>().unwrap_err().contains("numbered 0 to 3"));
        assert!("1/0".parse::<Segment>().is_err());
        assert!("x/2".parse::<Segment>().unwrap_err().contains("index 'x'"));
        assert!("3".parse::<Segment>().is_err());
    }
}
