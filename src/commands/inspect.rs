//! `jwtstorm inspect`: decode a token, explain its times, name its defects, and verify it when
//! given a key. Never touches the network.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::scenario::flags::settings;
use crate::scenario::resolve::{self, KeySource};
use crate::verifier::inspect::{Inspection, describe_time, inspect};
use crate::verifier::verify::Verifier;

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
        if s.keys.alg.is_none() && !matches!(s.keys.source, KeySource::Dir(_)) {
            // Never from the token's header (the mistake behind algorithm confusion): from
            // --algorithms, else the key's own (a key set names it), else the default.
            s.keys.alg = s.verifier.algorithms.as_ref().and_then(|a| a.first().copied());
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
