//! Reading input files with a bound: only regular files, and never more than a cap, so that
//! `/dev/zero` or a runaway file named as a key, a scenario or a body fails at once instead of
//! filling memory.

use std::io::Read;
use std::path::Path;

/// Key files, JWKS files and secrets: 1 MiB is far more than any key.
pub const KEY_CAP: u64 = 1 << 20;
/// Scenario files and request bodies.
pub const TEXT_CAP: u64 = 16 << 20;
/// Results files (they hold encoded histograms).
pub const RESULTS_CAP: u64 = 1 << 30;

/// Reads a whole regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > cap {
        return Err(too_big(cap));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    // The length can change under us; never read past the cap.
    file.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(too_big(cap));
    }
    Ok(out)
}

/// As [`read_capped`], as UTF-8 text.
pub fn read_capped_text(path: &Path, cap: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, cap)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn too_big(cap: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("larger than {} bytes, the most jwtstorm reads here", cap),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_big_files_are_refused() {
        let e = read_capped(Path::new("/dev/zero"), KEY_CAP).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 2048]).unwrap();
        let e = read_capped(&big, 1024).unwrap_err();
        assert!(e.to_string().contains("larger than 1024 bytes"), "{e}");
        assert_eq!(read_capped(&big, 4096).unwrap().len(), 2048);
        std::fs::write(&big, [0xff, 0xfe]).unwrap();
        assert!(
            read_capped_text(&big, 10)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
        assert!(
            read_capped(dir.path(), 10).is_err(),
            "a folder is not a regular file"
        );
    }
}
