//! A declared rate limit: `100/s` per subject or over every caller, with its burst. The
//! reference verifier enforces one (a token bucket); a run checks a target's against one.

use std::fmt;
use std::str::FromStr;

/// Whose requests a limit counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// One bucket per token subject (`sub`).
    Sub,
    /// One bucket for every caller.
    Global,
}

impl LimitKey {
    pub fn name(self) -> &'static str {
        match self {
            LimitKey::Sub => "sub",
            LimitKey::Global => "global",
        }
    }
}

impl FromStr for LimitKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sub" => Ok(LimitKey::Sub),
            "global" => Ok(LimitKey::Global),
            _ => Err(format!("invalid rate-limit key '{s}'; expected sub or global")),
        }
    }
}

/// A rate: requests per second, written `N/s`, `N/m` (per minute) or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rate {
    /// Requests per second (may be fractional: `30/m` is 0.5).
    pub per_second: f64,
}

/// The highest rate a limit may declare.
pub const MAX_LIMIT_RATE: f64 = 10_000_000.0;

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid rate '{s}': {why} (write N/s, N/m or N/h, as in 100/s)");
        let (n, per) = s.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
        let n: f64 = n.trim().parse().map_err(|_| bad("the count is not a number"))?;
        let seconds = match per.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(bad("the period is not s, m or h")),
        };
        let per_second = n / seconds;
        if !per_second.is_finite() || per_second <= 0.0 || per_second > MAX_LIMIT_RATE {
            return Err(bad("the rate must be above 0 and at most 10,000,000/s"));
        }
        Ok(Rate { per_second })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_second >= 1.0 || self.per_second == 0.0 {
            write!(f, "{}/s", trim(self.per_second))
        } else {
            write!(f, "{}/m", trim(self.per_second * 60.0))
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A rate limit: so many requests per second per key, with a burst (the bucket's size).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    pub rate: Rate,
    pub key: LimitKey,
    /// Requests a full bucket lets through at once; at least 1.
    pub burst: u32,
}

impl RateLimit {
    /// A limit whose burst is one second's worth of requests (at least 1), as `serve` uses
    /// unless told otherwise.
    pub fn new(rate: Rate, key: LimitKey, burst: Option<u32>) -> RateLimit {
        let default = (rate.per_second.ceil() as u32).max(1);
        RateLimit {
            rate,
            key,
            burst: burst.unwrap_or(default).max(1),
        }
    }

    /// The most requests a bucket can let through over `seconds`: a full bucket, then the rate.
    pub fn allows_over(&self, seconds: f64) -> f64 {
        f64::from(self.burst) + self.rate.per_second * seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        assert_eq!("100/s".parse::<Rate>().unwrap().per_second, 100.0);
        assert_eq!("30/m".parse::<Rate>().unwrap().per_second, 0.5);
        assert_eq!("7200/h".parse::<Rate>().unwrap().per_second, 2.0);
        assert_eq!("2.5/s".parse::<Rate>().unwrap().to_string(), "2.5/s");
        assert_eq!("30/m".parse::<Rate>().unwrap().to_string(), "30/m");
        for bad in ["100", "0/s", "-1/s", "x/s", "5/day", "1e9/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!("sub".parse::<LimitKey>().unwrap(), LimitKey::Sub);
        assert!("ip".parse::<LimitKey>().is_err());
    }

    #[test]
    fn the_burst_defaults_to_one_second() {
        let r = RateLimit::new("50/s".parse().unwrap(), LimitKey::Sub, None);
        assert_eq!(r.burst, 50);
        assert_eq!(r.allows_over(2.0), 150.0);
        let slow = RateLimit::new("30/m".parse().unwrap(), LimitKey::Global, None);
        assert_eq!(slow.burst, 1);
        assert_eq!(
            RateLimit::new("5/s".parse().unwrap(), LimitKey::Sub, Some(0)).burst,
            1
        );
    }
}
