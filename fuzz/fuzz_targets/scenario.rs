//! Scenario parse and validate: any text, no panic; every error names the file.
#![no_main]

use std::path::Path;

use jwtstorm::scenario::Loaded;
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::scenario::run::RunSettings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Loaded::parse(Path::new("f.toml"), text.to_string()) {
        Err(e) => assert!(e.location.starts_with("f.toml"), "{e}"),
        Ok(l) => {
            for e in [
                Settings::from_scenario(&l).err(),
                RunSettings::from_scenario(&l).err(),
                jwtstorm::capacity::from_scenario(&l).err(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(e.location.starts_with("f.toml"), "{e}");
            }
        }
    }
});
