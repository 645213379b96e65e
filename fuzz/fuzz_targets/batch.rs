//! The batch reader: any bytes after the magic line, no panic; errors name the file and line.
#![no_main]

use jwtstorm::token::batch::{BatchReader, MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = format!("{MAGIC}\n").into_bytes();
    bytes.extend_from_slice(data);
    if let Ok(reader) = BatchReader::new(&bytes[..], "b.jwts".into()) {
        for entry in reader {
            if let Err(e) = entry {
                assert!(e.to_string().starts_with("b.jwts:"), "{e}");
            }
        }
    }
});
