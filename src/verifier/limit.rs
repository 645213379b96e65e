//! The reference verifier's rate limiter: a token bucket per subject (or one for everyone),
//! filled at the declared rate up to its burst. A request over the limit is answered 429 with
//! `Retry-After`, the whole seconds until the bucket holds a request again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::{LimitKey, RateLimit};

/// Buckets kept at most; when full, the ones that have refilled (idle callers) are dropped, and
/// if none has, the new caller shares one overflow bucket, so memory stays bounded whatever
/// subjects a client invents.
pub const MAX_BUCKETS: usize = 100_000;
const OVERFLOW: &str = "\u{0}overflow";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by the limit's key.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one request from the bucket of `sub` (or the global one) at `now`: `Ok` when it
    /// may pass, else `Err(wait)`, how long until the bucket holds one again.
    pub fn take(&self, sub: Option<&str>, now: Instant) -> Result<(), Duration> {
        let key = match self.limit.key {
            LimitKey::Global => "",
            // A verified token without `sub` is one caller among those without.
            LimitKey::Sub => sub.unwrap_or(""),
        };
        let (rate, burst) = (self.limit.rate.per_second, f64::from(self.limit.burst));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= MAX_BUCKETS {
            buckets
                .retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let key = if !buckets.contains_key(key) && buckets.len() >= MAX_BUCKETS {
            OVERFLOW
        } else {
            key
        };
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1 (delay-seconds
/// cannot say less, and 0 would invite an immediate retry).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(spec: &str, key: LimitKey, burst: Option<u32>) -> Limiter {
        Limiter::new(RateLimit::new(spec.parse().unwrap(), key, burst))
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_the_rate() {
        let l = limiter("10/s", LimitKey::Sub, Some(5));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.take(Some("a"), t0).is_ok());
        }
        let wait = l.take(Some("a"), t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // Another subject has its own bucket.
        assert!(l.take(Some("b"), t0).is_ok());
        // A second later: ten more (the bucket holds at most five at a time).
        let t1 = t0 + Duration::from_secs(1);
        let passed = (0..20).filter(|_| l.take(Some("a"), t1).is_ok()).count();
        assert_eq!(passed, 5);
        // Over ten seconds at 100 requests a second, about ten a second pass.
        let l = limiter("10/s", LimitKey::Global, None);
        let passed = (0..1000)
            .filter(|i| {
                let sub = format!("s{}", i % 7);
                l.take(Some(&sub), t0 + Duration::from_millis(i * 10)).is_ok()
            })
            .count();
        assert!((100..=111).contains(&passed), "{passed}");
        assert_eq!(retry_after_seconds(Duration::from_millis(20)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(2100)), 3);
    }

    #[test]
    fn invented_subjects_cannot_grow_the_table_without_bound() {
        let l = limiter("1/h", LimitKey::Sub, Some(1));
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS + 10) {
            let _ = l.take(Some(&format!("u{i}")), t0);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_BUCKETS + 1);
    }
}
