//! Property tests over every parser that takes outside input: no input panics, and every
//! scenario error names the file, and for a value its line, column and key. The same entry
//! points are the cargo-fuzz targets in `fuzz/`. `JWTSTORM_PROPTEST_CASES` raises the number of
//! cases (default 256 per property, well under a minute in all); the inputs are drawn from a
//! fixed seed, so CI is repeatable, and `JWTSTORM_PROPTEST_SEED` (a number, or `random`)
//! explores others.

use std::path::Path;

use jwtstorm::scenario::Loaded;
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::scenario::run::RunSettings;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("JWTSTORM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let rng_seed = match std::env::var("JWTSTORM_PROPTEST_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(n) => proptest::test_runner::RngSeed::Fixed(n.parse().unwrap_or(20_261_201)),
        None => proptest::test_runner::RngSeed::Fixed(20_261_201),
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..ProptestConfig::default()
    }
}

const SECTIONS: &[(&str, &[&str])] = &[
    (
        "target",
        &[
            "embedded",
            "url",
            "method",
            "token",
            "headers",
            "body",
            "accept",
            "reject",
            "timeout",
            "connect_timeout",
            "http",
            "transport",
            "max_body",
            "insecure",
            "boundary_guard",
        ],
    ),
    (
        "load",
        &[
            "model",
            "rate",
            "stages",
            "concurrency",
            "duration",
            "requests",
            "warmup",
            "threads",
            "order",
            "seed",
            "reuse",
            "pool",
            "grace",
        ],
    ),
    (
        "keys",
        &["alg", "generate", "count", "rsa_bits", "kid", "secret_env"],
    ),
    (
        "verifier",
        &[
            "algorithms",
            "audience",
            "issuer",
            "leeway",
            "check_nbf",
            "required_claims",
            "max_token_size",
        ],
    ),
    (
        "tokens",
        &[
            "count", "seed", "now", "ttl", "nbf", "iat", "jti", "size", "claims", "mix",
        ],
    ),
    ("report", &["dir", "formats"]),
    ("gate", &["abort_on_fail", "abort_after"]),
    (
        "capacity",
        &[
            "slo",
            "start_rate",
            "max_rate",
            "growth",
            "precision",
            "step",
            "settle",
            "confirm",
            "max_steps",
            "budget",
        ],
    ),
    (
        "thresholds",
        &["p99", "\"valid.p99\"", "error_rate", "throughput"],
    ),
];

/// A TOML value of any type, including the edge values that found panics before.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("TOML has no NaN literal here", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        Just("9223372036854775807".to_string()),
        Just("\"1e20\"".to_string()),
        Just("\"18446744073709551615s\"".to_string()),
        Just("\"2s\"".to_string()),
        Just("\"10k\"".to_string()),
        Just("\"0.1%\"".to_string()),
        Just("\"< 20ms\"".to_string()),
        Just("\"open\"".to_string()),
        Just("\"HS256\"".to_string()),
        Just("\"http://127.0.0.1:1/\"".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9 _:./%<=-]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|kv| {
                let items: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
        ]
    })
}

/// A scenario built from the real sections and keys, with values of any type.
fn scenario() -> impl Strategy<Value = String> {
    let entry = (0..SECTIONS.len(), any::<prop::sample::Index>(), value());
    prop::collection::vec(entry, 0..8).prop_map(|entries| {
        let mut by_section: Vec<Vec<String>> = vec![Vec::new(); SECTIONS.len()];
        for (s, key, v) in entries {
            let keys = SECTIONS[s].1;
            by_section[s].push(format!("{} = {v}", keys[key.index(keys.len())]));
        }
        let mut text = String::from("[target]\nembedded = true\n");
        for (i, lines) in by_section.iter().enumerate() {
            if lines.is_empty() {
                continue;
            }
            text.push_str(&format!("[{}]\n", SECTIONS[i].0));
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
        }
        text
    })
}

/// `file:line:col: key: message` (or `[table]: ...` for an unknown key).
fn names_its_place(location: &str, message: &str) -> bool {
    let has_position = location.starts_with("f.toml:") && location.matches(':').count() == 2;
    let key = message
        .split(": ")
        .next()
        .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_.[]\"".contains(c)));
    key && (has_position || location == "f.toml")
}

fn check_scenario(text: &str) -> Result<(), String> {
    let loaded = match Loaded::parse(Path::new("f.toml"), text.to_string()) {
        Ok(l) => l,
        Err(e) => {
            return if names_its_place(&e.location, &e.message) {
                Ok(())
            } else {
                Err(format!("parse error without its place: {e}\n{text}"))
            };
        }
    };
    for result in [
        Settings::from_scenario(&loaded).map(|_| ()),
        RunSettings::from_scenario(&loaded).map(|_| ()),
        jwtstorm::capacity::from_scenario(&loaded).map(|_| ()),
    ] {
        if let Err(e) = result
            && !names_its_place(&e.location, &e.message)
        {
            return Err(format!("validation error without its place: {e}\n{text}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scenarios_never_panic_and_errors_name_their_place(text in scenario()) {
        check_scenario(&text).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_scenario_text_never_panics(text in "\\PC{0,200}") {
        let _ = check_scenario(&text);
    }

    #[test]
    fn quantity_parsers_never_panic(text in "[0-9eE.+_ kmgKMGsmhdayus%-]{0,24}") {
        let _ = jwtstorm::units::parse_duration(&text);
        let _ = jwtstorm::units::parse_count(&text);
        let _ = jwtstorm::units::parse_percent(&text);
        let _ = jwtstorm::scenario::resolve::parse_now(&text);
        let _ = jwtstorm::scenario::resolve::parse_offset(&text);
        if let Ok(d) = jwtstorm::units::parse_duration(&text) {
            prop_assert!(d <= jwtstorm::units::MAX_DURATION);
        }
    }

    #[test]
    fn the_threshold_grammar_never_panics(text in "[a-z_.0-9]{0,16} ?[<>=!]{0,2} ?[0-9.eE]{0,8}(ms|us|s|%|/s)?") {
        let _ = jwtstorm::gate::thresholds::parse_one(&text);
    }

    #[test]
    fn batch_lines_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = b"#jwtstorm-batch v1\n".to_vec();
        bytes.extend_from_slice(&body);
        if let Ok(reader) = jwtstorm::token::batch::BatchReader::new(&bytes[..], "b.jwts".into()) {
            for entry in reader {
                if let Err(e) = entry {
                    prop_assert!(e.to_string().starts_with("b.jwts:"), "{e}");
                }
            }
        }
    }

    #[test]
    fn tokens_are_decoded_and_verified_without_panic(token in "[A-Za-z0-9_=.-]{0,120}") {
        let _ = jwtstorm::verifier::inspect::inspect(&token, 1_700_000_000);
        let key = jwtstorm::token::keys::KeyMaterial::from_secret(
            jsonwebtoken::Algorithm::HS256,
            None,
            b"an-hmac-secret-of-32-bytes-or-more!!".to_vec(),
            "t",
        )
        .unwrap();
        let verifier = jwtstorm::verifier::verify::Verifier::new(
            jwtstorm::token::policy::Policy::for_alg(jsonwebtoken::Algorithm::HS256),
            &[key],
        )
        .unwrap();
        let _ = verifier.verify(token.as_bytes(), 1_700_000_000);
    }

    #[test]
    fn tokens_with_any_json_claims_never_panic(claims in value()) {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let payload = format!("{{\"exp\": {c}, \"nbf\": {c}, \"iat\": {c}}}", c = claims.replace(" = ", ": "));
        let token = format!("{}.{}.c2ln", b64("{\"alg\":\"HS256\"}"), b64(&payload));
        let found = jwtstorm::verifier::inspect::inspect(&token, 1_700_000_000);
        if let Some(c) = found.claims {
            for name in ["exp", "nbf", "iat"] {
                if let Some(t) = c.get(name).and_then(|v| v.as_f64()) {
                    let _ = jwtstorm::verifier::inspect::describe_time(t as i64, 1_700_000_000);
                }
            }
        }
    }

    #[test]
    fn results_files_never_panic(text in "\\PC{0,200}") {
        let _ = serde_json::from_str::<jwtstorm::stats::results::Results>(&text);
    }
}
