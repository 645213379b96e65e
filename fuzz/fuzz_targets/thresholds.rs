//! The threshold grammar (`--threshold`, `[thresholds]`, `--slo`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jwtstorm::gate::thresholds::parse_one(text);
    if let Some((name, condition)) = text.split_once('=') {
        let _ = jwtstorm::gate::thresholds::parse(name, condition);
    }
});
