//! The duration, count, percentage, clock and offset parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = jwtstorm::units::parse_duration(text) {
        assert!(d <= jwtstorm::units::MAX_DURATION);
    }
    let _ = jwtstorm::units::parse_count(text);
    let _ = jwtstorm::units::parse_percent(text);
    let _ = jwtstorm::scenario::resolve::parse_now(text);
    let _ = jwtstorm::scenario::resolve::parse_offset(text);
});
