//! Human-friendly quantities used by flags and scenario files: durations (`250ms`, `2s`, `15m`),
//! counts (`10k`, `1m`, `200_000`) and percentages (`0.1%`).

use std::time::Duration;

/// The longest duration any flag or scenario key takes: a year and a day. Every time jwtstorm
/// adds up (a schedule, a deadline, an expiry) stays far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The latest time jwtstorm mints, judges or shows as a date: 9999-12-31T23:59:59Z. With a
/// lifetime and a leeway of at most [`MAX_DURATION`] each, no claim it computes can overflow.
pub const MAX_NOW: i64 = 253_402_300_799;

/// Parses a duration such as `250ms`, `2s`, `1m30s`, `15m` or `1h`. A bare number is seconds.
/// Durations above [`MAX_DURATION`] are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (expected something like 250ms, 2s or 15m)".into());
    }
    let d = if let Ok(secs) = t.parse::<f64>() {
        duration_from_secs(secs, text)?
    } else {
        humantime::parse_duration(t).map_err(|e| {
            format!("invalid duration '{text}' ({e}); expected something like 250ms, 2s or 15m")
        })?
    };
    if d > MAX_DURATION {
        return Err(format!(
            "duration '{text}' is longer than the longest jwtstorm takes (366 days)"
        ));
    }
    Ok(d)
}

fn duration_from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "invalid duration '{text}': must be a non-negative number of seconds"
        ));
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "duration '{text}' is longer than the longest jwtstorm takes (366 days)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a count such as `1000`, `200_000`, `10k` or `1m` (k = 1,000, m = 1,000,000).
pub fn parse_count(text: &str) -> Result<u64, String> {
    let t: String = text.trim().chars().filter(|c| *c != '_').collect();
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000u64),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000u64),
        Some('g' | 'G') => (&t[..t.len() - 1], 1_000_000_000u64),
        _ => (t.as_str(), 1u64),
    };
    let bad = || format!("invalid count '{text}'; expected a whole number such as 5000, 10k or 1m");
    if let Ok(n) = digits.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    let f: f64 = digits.parse().map_err(|_| bad())?;
    let v = f * mult as f64;
    if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

/// Parses an arrival rate in requests per second: `500`, `2.5k`, `1m`, `0.5`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t: String = text.trim().chars().filter(|c| *c != '_').collect();
    let t = t.strip_suffix("/s").unwrap_or(&t);
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        _ => (t, 1.0),
    };
    let v: f64 = digits.parse().map_err(|_| {
        format!("invalid rate '{text}'; expected requests per second such as 500, 2k or 1.5k")
    })?;
    let v = v * mult;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid rate '{text}': must be a non-negative number"));
    }
    Ok(v)
}

/// Parses a percentage such as `0.1%` into a fraction (0.001). A bare number is a fraction.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid percentage '{text}'; expected something like 0.1% or 0.001"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid percentage '{text}': must be non-negative"));
    }
    Ok(v / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1").is_err());
        // Huge values are refused, never a panic.
        for huge in [
            "1e20",
            "99999999999999999999",
            "18446744073709551615s",
            "367days",
            "1e300",
            "inf",
            "NaN",
        ] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        assert_eq!(parse_duration("366days").unwrap(), MAX_DURATION);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1000").unwrap(), 1000);
        assert_eq!(parse_count("200_000").unwrap(), 200_000);
        assert_eq!(parse_count("10k").unwrap(), 10_000);
        assert_eq!(parse_count("1m").unwrap(), 1_000_000);
        assert_eq!(parse_count("1.5k").unwrap(), 1_500);
        assert!(parse_count("1.5").is_err());
        assert!(parse_count("ten").is_err());
        assert!(parse_count("-3").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2k").unwrap(), 2000.0);
        assert_eq!(parse_rate("1.5k").unwrap(), 1500.0);
        assert_eq!(parse_rate("500/s").unwrap(), 500.0);
        assert!(parse_rate("fast").is_err() && parse_rate("-1").is_err() && parse_rate("inf").is_err());
    }

    #[test]
    fn percents() {
        assert!((parse_percent("0.1%").unwrap() - 0.001).abs() < 1e-12);
        assert!((parse_percent("5 %").unwrap() - 0.05).abs() < 1e-12);
        assert!((parse_percent("0.02").unwrap() - 0.02).abs() < 1e-12);
        assert!(parse_percent("x%").is_err());
        assert!(parse_percent("-1%").is_err());
    }
}
