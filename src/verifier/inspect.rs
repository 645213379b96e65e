//! Inspection without a key: decode a token, list its structural defects, explain its times.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::model::alg;

use crate::units::MAX_NOW;

/// What inspection found in a token, without any key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    pub size: usize,
    pub segments: usize,
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub signature_bytes: Option<usize>,
    pub defects: Vec<String>,
}

/// Decodes a token and lists its structural defects.
pub fn inspect(token: &str, now: i64) -> Inspection {
    let parts: Vec<&str> = token.split('.').collect();
    let mut defects = Vec::new();
    if parts.len() != 3 {
        defects.push(format!("has {} segments; a JWS has 3", parts.len()));
    }
    let decode_json = |seg: &str, what: &str, defects: &mut Vec<String>| -> Option<Value> {
        match B64.decode(seg.trim_end_matches('=')) {
            Err(_) => {
                defects.push(format!("the {what} is not base64url"));
                None
            }
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v.is_object() => Some(v),
                Ok(_) => {
                    defects.push(format!("the {what} is JSON but not an object"));
                    None
                }
                Err(_) => {
                    defects.push(format!("the {what} is not JSON"));
                    None
                }
            },
        }
    };
    let header = parts.first().and_then(|h| decode_json(h, "header", &mut defects));
    let claims = parts.get(1).and_then(|p| decode_json(p, "payload", &mut defects));
    let signature_bytes = parts.get(2).and_then(|s| B64.decode(s).ok()).map(|s| s.len());
    if parts.len() >= 3 && signature_bytes.is_none() {
        defects.push("the signature is not base64url".into());
    }
    if let Some(h) = &header {
        match h.get("alg").and_then(Value::as_str) {
            None => defects.push("the header has no alg".into()),
            Some(a) if a.eq_ignore_ascii_case("none") => {
                defects.push(format!("alg is '{a}': an unsigned token"))
            }
            Some(a) if alg::parse(a).is_err() => {
                defects.push(format!("alg '{a}' is not a known JWS algorithm"))
            }
            Some(_) => {}
        }
        if h.get("crit").is_some() {
            defects
                .push("the header has crit: a verifier must reject extensions it does not understand".into());
        }
        if h.get("jwk").is_some() {
            defects.push("the header embeds a jwk: trusting it lets anyone sign".into());
        }
        if h.get("jku").is_some() || h.get("x5u").is_some() {
            defects.push("the header points at a key URL (jku/x5u)".into());
        }
    }
    if signature_bytes == Some(0) {
        defects.push("the signature is empty".into());
    } else if let (Some(n), Some(sig)) = (signature_bytes, parts.get(2))
        && n > 0
        && B64.decode(sig).is_ok_and(|b| b.iter().all(|x| *x == 0))
    {
        defects.push("the signature is all zeros (psychic signature)".into());
    }
    if let Some(c) = &claims {
        match c.get("exp") {
            None => defects.push("no exp: the token never expires".into()),
            Some(v) if !v.is_number() => defects.push("exp is not a number".into()),
            Some(v) if v.as_f64().is_some_and(|e| (e as i64) <= now) => defects.push("expired".into()),
            _ => {}
        }
        if let Some(nbf) = c.get("nbf").and_then(Value::as_f64)
            && nbf as i64 > now
        {
            defects.push("not valid yet (nbf is in the future)".into());
        }
    }
    Inspection {
        size: token.len(),
        segments: parts.len(),
        header,
        claims,
        signature_bytes,
        defects,
    }
}

/// A claim's time for people: `2026-01-01T00:00:00Z (in 15m)`. Times outside 1970 to 9999
/// are shown as numbers, never formatted (which would overflow).
pub fn describe_time(t: i64, now: i64) -> String {
    if !(0..=MAX_NOW).contains(&t) {
        return format!("{t} (outside 1970 to 9999)");
    }
    let at = UNIX_EPOCH + Duration::from_secs(t as u64);
    let when = humantime::format_rfc3339_seconds(at);
    let delta = Duration::from_secs(t.abs_diff(now));
    let rel = humantime::format_duration(delta).to_string();
    if t >= now {
        format!("{when} (in {rel})")
    } else {
        format!("{when} ({rel} ago)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_beyond_year_9999_are_shown_not_formatted() {
        assert_eq!(
            describe_time(MAX_NOW + 1, 0),
            "253402300800 (outside 1970 to 9999)"
        );
        assert_eq!(describe_time(-5, 0), "-5 (outside 1970 to 9999)");
        assert!(describe_time(60, 0).starts_with("1970-01-01T00:01:00Z (in 1m"));
        for exp in ["1e300", "253402300800", "-1e300", "9223372036854775807"] {
            let payload = B64.encode(format!("{{\"exp\":{exp},\"nbf\":{exp},\"iat\":{exp}}}"));
            let token = format!("{}.{payload}.c2ln", B64.encode("{\"alg\":\"HS256\"}"));
            let found = inspect(&token, 1_700_000_000);
            let c = found.claims.unwrap();
            for name in ["iat", "nbf", "exp"] {
                let t = c[name].as_f64().unwrap();
                let _ = describe_time(t as i64, 1_700_000_000);
            }
        }
    }
}
