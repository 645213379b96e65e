//! Token decoding as `inspect` does it, and verification by the reference verifier.
#![no_main]

use std::sync::OnceLock;

use jsonwebtoken::Algorithm;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::inspect::{describe_time, inspect};
use jwtstorm::verifier::verify::Verifier;
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let key = KeyMaterial::from_secret(
            Algorithm::HS256,
            None,
            b"an-hmac-secret-of-32-bytes-or-more!!".to_vec(),
            "f",
        )
        .unwrap();
        Verifier::new(Policy::for_alg(Algorithm::HS256), &[key]).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = verifier().verify(data, 1_700_000_000);
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let found = inspect(token, 1_700_000_000);
    if let Some(c) = found.claims {
        for name in ["iat", "nbf", "exp"] {
            if let Some(t) = c.get(name).and_then(serde_json::Value::as_f64) {
                let _ = describe_time(t as i64, 1_700_000_000);
            }
        }
    }
});
