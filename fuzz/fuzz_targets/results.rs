//! The results.json reader that `report` and `compare` use, and rendering what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<jwtstorm::stats::results::Results>(data) {
        let _ = jwtstorm::report::summary::render(&r, false);
        let _ = jwtstorm::report::markdown::render(&r);
    }
});
