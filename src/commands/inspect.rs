//! `jwtstorm inspect`: decode a token, explain its times, name its defects, and verify it when
//! given a key. Never touches the network.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::model::alg;
use crate::scenario::flags::settings;
use crate::scenario::resolve::{self, KeySource};
use crate::verifier::verify::Verifier;

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
            Some(v) if v.as_f64().is_some_and(|e| (e as i64) < now) => defects.push("expired".into()),
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

fn describe_time(t: i64, now: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    let when = humantime::format_rfc3339_seconds(at);
    let delta = Duration::from_secs(t.abs_diff(now));
    let rel = humantime::format_duration(delta).to_string();
    if t >= now {
        format!("{when} (in {rel})")
    } else {
        format!("{when} ({rel} ago)")
    }
}

/// Runs `jwtstorm inspect`.
pub fn run(args: InspectArgs) -> Result<i32, Failure> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| anyhow::anyhow!("reading stdin: {e}"))
            .or_bad_input()?;
        s
    } else {
        args.token.clone()
    };
    let token = token.trim().trim_start_matches("Bearer ").trim().to_string();
    if token.is_empty() {
        return Err(anyhow::anyhow!(
            "no token given (pass it as an argument or on stdin)"
        ))
        .or_bad_input();
    }
    let now = match &args.now {
        Some(t) => resolve::parse_now(t)
            .map_err(|e| anyhow::anyhow!("--now: {e}"))
            .or_bad_input()?,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    let found = inspect(&token, now);

    // Verify when a key source was given.
    let has_key = args.scenario.is_some()
        || args.keys.secret_file.is_some()
        || args.keys.secret_env.is_some()
        || args.keys.private_key_file.is_some()
        || args.keys.private_key_env.is_some()
        || args.keys.public_key_file.is_some()
        || args.keys.jwks_file.is_some()
        || args.keys.keys_dir.is_some();
    let verdict = if has_key {
        let mut s = settings(args.scenario.as_deref(), &args.keys, &args.policy)?;
        if s.keys.source == KeySource::Generate {
            return Err(anyhow::anyhow!(
                "inspect verifies with existing keys; generated keys cannot verify anything"
            ))
            .or_bad_input();
        }
        if s.keys.alg.is_none() {
            // Take the algorithm from the token when the user did not name one.
            s.keys.alg = found
                .header
                .as_ref()
                .and_then(|h| h.get("alg"))
                .and_then(Value::as_str)
                .and_then(|a| alg::parse(a).ok());
        }
        let (alg, keys) = s.load_keys().or_bad_input()?;
        let verifier = Verifier::new(s.policy(alg), &keys)
            .map_err(anyhow::Error::msg)
            .or_bad_input()?;
        Some(verifier.verify(token.as_bytes(), now))
    } else {
        None
    };

    if args.json {
        let mut v = serde_json::to_value(&found).expect("serializes");
        if let Some(r) = &verdict {
            v["verification"] = match r {
                Ok(ok) => json!({"accepted": true, "kid": ok.kid}),
                Err(reason) => {
                    json!({"accepted": false, "reason": reason.as_str(), "description": reason.description()})
                }
            };
        }
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
    } else {
        print_text(&found, now, verdict.as_ref());
    }
    Ok(match verdict {
        Some(Err(_)) => exit::VERDICT,
        _ => exit::OK,
    })
}

fn print_text(
    f: &Inspection,
    now: i64,
    verdict: Option<&Result<crate::verifier::verify::Verified, crate::verifier::verify::Reason>>,
) {
    println!(
        "size: {} ({} segments)",
        crate::text::format_bytes(f.size as u64),
        f.segments
    );
    if let Some(h) = &f.header {
        println!(
            "header:\n{}",
            indent(&serde_json::to_string_pretty(h).expect("json"))
        );
    }
    if let Some(c) = &f.claims {
        println!(
            "claims:\n{}",
            indent(&serde_json::to_string_pretty(c).expect("json"))
        );
        for name in ["iat", "nbf", "exp"] {
            if let Some(t) = c.get(name).and_then(Value::as_f64) {
                println!("  {name}: {}", describe_time(t as i64, now));
            }
        }
    }
    if let Some(n) = f.signature_bytes {
        println!("signature: {n} bytes");
    }
    if f.defects.is_empty() {
        println!("defects: none found");
    } else {
        println!("defects:");
        for d in &f.defects {
            println!("  - {d}");
        }
    }
    match verdict {
        None => println!("verification: not attempted (give a key to verify)"),
        Some(Ok(v)) => println!("verification: accepted (kid {})", v.kid.as_deref().unwrap_or("-")),
        Some(Err(r)) => println!("verification: rejected: {} ({})", r.as_str(), r.description()),
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}
