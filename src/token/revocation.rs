//! The revocation list: the `jti`s of tokens that must be refused although they verify (a JWT
//! cannot be recalled, so careful APIs keep a deny-list). Its format, read and written by
//! jwtstorm and by the reference verifier, and the ids `revoked` tokens carry.
//!
//! The format (`revoked.txt`): UTF-8 text, one `jti` per line; surrounding spaces are trimmed,
//! and blank lines and lines starting with `#` are ignored. A `jti` is 1 to [`MAX_JTI_LEN`]
//! bytes of visible ASCII. A list holds at most [`MAX_ENTRIES`] ids and [`MAX_FILE_BYTES`].

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::rng;

/// The list's file name, beside a batch and in a run's results folder.
pub const FILE_NAME: &str = "revoked.txt";
/// The longest `jti` a list may hold, in bytes.
pub const MAX_JTI_LEN: usize = 256;
/// The most ids a list may hold.
pub const MAX_ENTRIES: usize = 1_000_000;
/// The largest list file read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// How many ids `revoked` tokens draw from: the list written at the start of a run or beside a
/// batch names all of them, so a token minted during the run is on it before it is sent.
pub const POOL: u64 = 1024;
/// Mixed into the seed for the pool's ids, so they never equal a `valid` token's `jti`.
const POOL_SALT: u64 = 0x7265_766f_6b65_6421;

/// What is wrong with a list: where, and why.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
}

/// The `jti` the `revoked` token with index `index` of a batch minted with `seed` carries: one
/// of the [`POOL`] ids of [`pool`].
pub fn jti(seed: u64, index: u64) -> String {
    pool_id(seed, index % POOL)
}

fn pool_id(seed: u64, k: u64) -> String {
    // `r` first: 17 characters, never the 16 of a valid token's jti.
    format!("r{:016x}", rng::jti(seed ^ POOL_SALT, k))
}

/// Every id `revoked` tokens of a batch minted with `seed` carry.
pub fn pool(seed: u64) -> Vec<String> {
    (0..POOL).map(|k| pool_id(seed, k)).collect()
}

/// The list file's text for `ids`, with a header comment saying what it is.
pub fn render(ids: &[String]) -> String {
    let mut out = String::with_capacity(ids.len() * 18 + 120);
    out.push_str("# jwtstorm revocation list: one jti a line; a token whose jti is listed must be refused\n");
    for id in ids {
        out.push_str(id);
        out.push('\n');
    }
    out
}

/// Whether `id` may stand in a list.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_JTI_LEN {
        return Err(format!(
            "a jti is 1 to {MAX_JTI_LEN} bytes, this one {}",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("a jti is visible ASCII; this one holds {c:?}"));
    }
    Ok(())
}

/// Reads a list's text (`path` names it in errors).
pub fn parse(text: &str, path: &str) -> Result<HashSet<String>, ListError> {
    let mut ids = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        let err = |message: String| ListError::Line {
            path: path.to_string(),
            line: n + 1,
            message,
        };
        check_id(id).map_err(err)?;
        if ids.len() >= MAX_ENTRIES {
            return Err(err(format!("a list holds at most {MAX_ENTRIES} ids")));
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

/// Reads a list file, at most [`MAX_FILE_BYTES`] of it.
pub fn read(path: &Path) -> Result<HashSet<String>, ListError> {
    let shown = path.display().to_string();
    let io = |source| ListError::Io {
        path: shown.clone(),
        source,
    };
    let mut text = String::new();
    let n = std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if n as u64 > MAX_FILE_BYTES {
        return Err(ListError::Line {
            path: shown,
            line: 1,
            message: format!("the list is larger than {} MiB", MAX_FILE_BYTES >> 20),
        });
    }
    parse(&text, &shown)
}

/// The `jti` a compact JWS carries, when its payload decodes and has a string one.
pub fn jti_of(token: &[u8]) -> Option<String> {
    let payload = token.split(|b| *b == b'.').nth(1)?;
    let v: serde_json::Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    v.get("jti")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_round_trips_and_bad_lines_are_named() {
        let ids = pool(7);
        assert_eq!(ids.len() as u64, POOL);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        assert_eq!(jti(7, 3), ids[3]);
        assert_eq!(jti(7, POOL + 3), ids[3]);
        let back = parse(&render(&ids), "l").unwrap();
        assert_eq!(back.len(), ids.len());
        let set = parse("# c\n\n  a1  \nb2\n", "l").unwrap();
        assert!(set.contains("a1") && set.contains("b2") && set.len() == 2);
        let e = parse("ok\nhas space\n", "x.txt").unwrap_err().to_string();
        assert!(e.starts_with("x.txt:2:"), "{e}");
        let long = "a".repeat(MAX_JTI_LEN + 1);
        assert!(parse(&long, "l").is_err());
    }

    #[test]
    fn a_tokens_jti_is_read() {
        let p = B64.encode(br#"{"sub":"u","jti":"abc"}"#);
        assert_eq!(jti_of(format!("h.{p}.s").as_bytes()).as_deref(), Some("abc"));
        assert_eq!(jti_of(b"h.notbase64!.s"), None);
        let p = B64.encode(br#"{"jti":5}"#);
        assert_eq!(jti_of(format!("h.{p}.s").as_bytes()), None);
    }
}
