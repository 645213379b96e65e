//! Fault and latency knobs of the reference server: added delay, a concurrency limit, stalls,
//! failure, close and hang rates, and the deliberately vulnerable mode.

use std::time::Duration;

use serde_json::json;

/// Added service time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    Fixed(Duration),
    Uniform(Duration, Duration),
}

impl std::str::FromStr for Delay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (lo, hi) = (crate::units::parse_duration(a)?, crate::units::parse_duration(b)?);
                if lo > hi {
                    return Err(format!("delay range '{s}': the low end is above the high end"));
                }
                Ok(Delay::Uniform(lo, hi))
            }
            None => Ok(Delay::Fixed(crate::units::parse_duration(s)?)),
        }
    }
}

/// Fault and latency knobs; all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knobs {
    pub delay: Option<Delay>,
    pub max_concurrency: Option<usize>,
    /// `(stall, every)`: no response leaves during the first `stall` of every `every`.
    pub stall: Option<(Duration, Duration)>,
    pub fail_rate: f64,
    pub close_rate: f64,
    pub hang_rate: f64,
    /// Skip the signature and algorithm checks: a deliberately broken verifier.
    pub vulnerable: bool,
    /// Close each connection after this many responses (`Connection: close`), as servers with
    /// a keep-alive request limit do.
    pub keepalive_max: Option<u64>,
    /// State another reason than the real one (`expired` answered as `bad_signature`): a
    /// verifier that rejects for the wrong reason, for testing reason-aware judging.
    pub misreport: Vec<(super::verify::Reason, super::verify::Reason)>,
    /// Answer 429 with `Retry-After` to verified tokens over this limit (token bucket per
    /// subject or global).
    pub rate_limit: Option<crate::model::RateLimit>,
    /// Further protected paths, each with the scope it needs, if any (403 `insufficient_scope`
    /// without it).
    pub scoped_paths: Vec<(String, Option<String>)>,
    /// Refuse tokens whose `jti` a revocation list file names (401 `revoked`), re-reading the
    /// file when it changes.
    pub revocation: Option<super::revocation::ListSource>,
}

impl Knobs {
    pub(super) fn describe(&self) -> serde_json::Value {
        json!({
            "delay": self.delay.map(|d| match d {
                Delay::Fixed(x) => format!("{x:?}"),
                Delay::Uniform(a, b) => format!("{a:?}..{b:?}"),
            }),
            "max_concurrency": self.max_concurrency,
            "scoped_paths": self.scoped_paths.iter().map(|(p, s)| format!("{p}={}", s.as_deref().unwrap_or(""))).collect::<Vec<_>>(),
            "rate_limit": self.rate_limit.map(|l| format!("{} per {} (burst {})", l.rate, l.key.name(), l.burst)),
            "revocation_list": self.revocation.as_ref().map(|r| format!("{} (polled every {:?})", r.path.display(), r.poll)),
            "stall": self.stall.map(|(s, e)| format!("{s:?} every {e:?}")),
            "fail_rate": self.fail_rate,
            "close_rate": self.close_rate,
            "hang_rate": self.hang_rate,
            "vulnerable": self.vulnerable,
            "keepalive_max": self.keepalive_max,
            "misreport": self.misreport.iter().map(|(a, b)| format!("{}={}", a.as_str(), b.as_str())).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse() {
        assert_eq!(
            "2ms".parse::<Delay>().unwrap(),
            Delay::Fixed(Duration::from_millis(2))
        );
        assert_eq!(
            "1ms..5ms".parse::<Delay>().unwrap(),
            Delay::Uniform(Duration::from_millis(1), Duration::from_millis(5))
        );
        assert!("5ms..1ms".parse::<Delay>().is_err());
    }
}
