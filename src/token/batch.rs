//! The batch file: one token per line, written while minting and read back as a stream.
//!
//! ```text
//! #jwtstorm-batch v1
//! valid<TAB>accept@..1764346561<TAB>eyJhbGciOi...
//! expired<TAB>reject<TAB>eyJhbGciOi...
//! ```
//! Lines starting with `#` are comments. Each other line holds three tab-separated columns: the
//! token class, the expected answer (`reject`, `accept`, or `accept@FROM..UNTIL`: accepted when
//! FROM <= now < UNTIL in Unix seconds, rejected otherwise) and the token. `cut -f3` gives bare
//! tokens. A manifest (`<batch>.manifest.json`) beside it records how the batch was made.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::classes::{Expect, TokenClass};
use super::mint::Minter;

/// The first line of every batch file.
pub const MAGIC: &str = "#jwtstorm-batch v1";

/// Tokens minted per ordered chunk; bounds memory whatever the count.
const CHUNK: u64 = 32 * 1024;
/// Tokens per parallel work item inside a chunk.
const BLOCK: u64 = 512;

/// One line of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub class: TokenClass,
    pub expect: Expect,
    pub token: String,
}

/// A bad line in a batch file, with its file and line number.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: u64,
        message: String,
    },
    #[error("reading '{path}': {err}")]
    Io { path: String, err: std::io::Error },
}

/// Parses one batch line (without its newline).
pub fn parse_line(line: &str) -> Result<BatchEntry, String> {
    let mut cols = line.splitn(3, '\t');
    let (Some(class), Some(expect), Some(token)) = (cols.next(), cols.next(), cols.next()) else {
        return Err("expected three tab-separated columns: class, expect, token".into());
    };
    Ok(BatchEntry {
        class: class.parse()?,
        expect: expect.parse()?,
        token: token.to_string(),
    })
}

/// The longest batch line read: class, expectation and a token of up to [`MAX_TOKEN_BYTES`].
pub const MAX_LINE_BYTES: u64 = MAX_TOKEN_BYTES as u64 + 4096;

/// The largest token jwtstorm mints or replays (1 MiB; verifiers refuse far less).
pub const MAX_TOKEN_BYTES: usize = 1 << 20;

/// Streams the entries of a batch file without loading it whole.
pub struct BatchReader<R> {
    reader: R,
    path: String,
    line_no: u64,
    buf: Vec<u8>,
}

/// Reads one line of at most [`MAX_LINE_BYTES`] into `buf` (cleared first); `Ok(false)` at the end.
fn read_bounded_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> Result<bool, String> {
    buf.clear();
    let n = std::io::Read::take(reader, MAX_LINE_BYTES + 1)
        .read_until(b'\n', buf)
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(false);
    }
    if buf.len() as u64 > MAX_LINE_BYTES {
        return Err(format!(
            "the line is longer than {MAX_LINE_BYTES} bytes, more than any batch line holds"
        ));
    }
    Ok(true)
}

impl BatchReader<BufReader<File>> {
    /// Opens a batch file and checks its first line.
    pub fn open(path: &Path) -> Result<Self, BatchError> {
        let io = |err| BatchError::Io {
            path: path.display().to_string(),
            err,
        };
        let file = File::open(path).map_err(io)?;
        Self::new(
            BufReader::with_capacity(1 << 20, file),
            path.display().to_string(),
        )
    }
}

impl<R: BufRead> BatchReader<R> {
    /// Wraps a reader; `path` names it in errors.
    pub fn new(mut reader: R, path: String) -> Result<Self, BatchError> {
        let mut first = Vec::new();
        read_bounded_line(&mut reader, &mut first).map_err(|message| BatchError::Line {
            path: path.clone(),
            line: 1,
            message,
        })?;
        if String::from_utf8_lossy(&first).trim_end() != MAGIC {
            return Err(BatchError::Line {
                path,
                line: 1,
                message: format!("not a jwtstorm batch file (the first line must be '{MAGIC}')"),
            });
        }
        Ok(BatchReader {
            reader,
            path,
            line_no: 1,
            buf: Vec::new(),
        })
    }
}

impl<R: BufRead> Iterator for BatchReader<R> {
    type Item = Result<BatchEntry, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line_no += 1;
            let fail = |message: String| BatchError::Line {
                path: self.path.clone(),
                line: self.line_no,
                message,
            };
            match read_bounded_line(&mut self.reader, &mut self.buf) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(message) => return Some(Err(fail(message))),
            }
            let line = match std::str::from_utf8(&self.buf) {
                Ok(l) => l.trim_end_matches(['\n', '\r']),
                Err(e) => {
                    return Some(Err(fail(format!(
                        "not UTF-8 text (invalid byte at column {})",
                        e.valid_up_to() + 1
                    ))));
                }
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            return Some(parse_line(line).map_err(|message| BatchError::Line {
                path: self.path.clone(),
                line: self.line_no,
                message,
            }));
        }
    }
}

/// What minting a batch produced.
#[derive(Debug, Clone, Serialize)]
pub struct MintOutcome {
    pub count: u64,
    pub per_class: BTreeMap<TokenClass, u64>,
    pub bytes: u64,
    pub seconds: f64,
    pub threads: usize,
    pub interrupted: bool,
}

impl MintOutcome {
    /// Tokens minted per second of wall time.
    pub fn tokens_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.count as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Mints `minter`'s whole batch into `sink` in index order, in parallel on `pool`, one bounded
/// chunk at a time. `progress` is called after each chunk with the tokens done so far; `stop`
/// ends minting early at a chunk boundary.
pub fn mint_to_writer<W: Write>(
    minter: &Minter,
    pool: &rayon::ThreadPool,
    sink: &mut W,
    stop: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> std::io::Result<MintOutcome> {
    let started = Instant::now();
    let count = minter.config().count;
    let mut per_class: BTreeMap<TokenClass, u64> = BTreeMap::new();
    let mut bytes = MAGIC.len() as u64 + 1;
    sink.write_all(MAGIC.as_bytes())?;
    sink.write_all(b"\n")?;
    // A producer thread mints chunk N+1 on the pool while this thread writes chunk N; the
    // bounded channel keeps at most two chunks in memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<(Vec<u8>, [u64; CLASSES])>)>(1);
    let mut done = 0u64;
    let mut write_error = None;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut start = 0u64;
            while start < count && !stop.load(Ordering::Relaxed) {
                let end = (start + CHUNK).min(count);
                let blocks = pool.install(|| mint_chunk(minter, start, end));
                if tx.send((end, blocks)).is_err() {
                    break;
                }
                start = end;
            }
        });
        for (end, blocks) in rx.iter() {
            if write_error.is_some() {
                continue;
            }
            for (buf, counts) in &blocks {
                if let Err(e) = sink.write_all(buf) {
                    write_error = Some(e);
                    break;
                }
                bytes += buf.len() as u64;
                for (i, n) in counts.iter().enumerate() {
                    if *n > 0 {
                        *per_class.entry(TokenClass::ALL[i]).or_default() += n;
                    }
                }
            }
            if write_error.is_some() {
                // Stop the producer; the receiver is drained so it never blocks.
                stop.store(true, Ordering::Relaxed);
                continue;
            }
            done = end;
            progress(done);
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    let interrupted = done < count;
    sink.flush()?;
    Ok(MintOutcome {
        count: done,
        per_class,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        threads: pool.current_num_threads(),
        interrupted,
    })
}

/// One count per token class.
const CLASSES: usize = TokenClass::ALL.len();

/// Mints tokens `start..end` in parallel blocks, in index order.
fn mint_chunk(minter: &Minter, start: u64, end: u64) -> Vec<(Vec<u8>, [u64; CLASSES])> {
    (start..end)
        .step_by(BLOCK as usize)
        .collect::<Vec<u64>>()
        .into_par_iter()
        .map(|block_start| {
            let block_end = (block_start + BLOCK).min(end);
            let mut out = Vec::with_capacity(((block_end - block_start) * 320) as usize);
            let mut scratch = Vec::with_capacity(512);
            let mut counts = [0u64; CLASSES];
            for i in block_start..block_end {
                let class = minter.mint_line(i, &mut out, &mut scratch);
                counts[class as usize] += 1;
            }
            (out, counts)
        })
        .collect()
}

/// A file written under a temporary name and renamed into place only when complete, so an
/// interrupted or failed write never leaves a file that looks whole.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<path>.partial`, failing early on a bad path.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".partial");
        let tmp = path.with_file_name(name);
        let file = File::create(&tmp)?;
        crate::interrupt::register_partial(&tmp);
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The writer for the content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("open until committed")
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> std::io::Result<()> {
        let writer = self.writer.take().expect("open until committed");
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let renamed = std::fs::rename(&self.tmp, &self.path);
        crate::interrupt::forget_partial(&self.tmp);
        renamed
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
            crate::interrupt::forget_partial(&self.tmp);
        }
    }
}

/// The manifest beside a batch: how it was made, never the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool_version: String,
    pub minted_at: String,
    pub now: i64,
    pub seed: u64,
    pub count: u64,
    pub complete: bool,
    pub alg: String,
    pub keys: Vec<ManifestKey>,
    pub policy: serde_json::Value,
    pub ttl_s: u64,
    pub nbf_offset_s: Option<i64>,
    pub iat: bool,
    pub jti: bool,
    pub size: Option<usize>,
    pub claims: BTreeMap<String, serde_json::Value>,
    pub mix: BTreeMap<String, f64>,
    pub per_class: BTreeMap<String, u64>,
    pub bytes: u64,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub threads: usize,
}

/// A key as the manifest names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestKey {
    pub kid: String,
    pub fingerprint: String,
}

impl Manifest {
    /// The manifest of a batch `minter` wrote: its settings, keys by kid and fingerprint (never
    /// the key material), and the counts of `o`.
    pub fn of(minter: &Minter, o: &MintOutcome) -> Manifest {
        let c = minter.config();
        Manifest {
            format: MAGIC.trim_start_matches('#').to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            minted_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            now: c.now,
            seed: c.seed,
            count: o.count,
            complete: !o.interrupted,
            alg: crate::model::alg::name(c.alg).to_string(),
            keys: c
                .keys
                .iter()
                .map(|k| ManifestKey {
                    kid: k.kid.clone(),
                    fingerprint: k.fingerprint.clone(),
                })
                .collect(),
            policy: serde_json::to_value(&c.policy).expect("policy serializes"),
            ttl_s: c.ttl,
            nbf_offset_s: c.nbf_offset,
            iat: c.iat,
            jti: c.jti,
            size: c.size,
            claims: c.claims.source.clone(),
            mix: c.mix.iter().map(|(k, w)| (k.name().to_string(), *w)).collect(),
            per_class: o
                .per_class
                .iter()
                .map(|(k, n)| (k.name().to_string(), *n))
                .collect::<BTreeMap<_, _>>(),
            bytes: o.bytes,
            seconds: o.seconds,
            tokens_per_second: o.tokens_per_second(),
            threads: o.threads,
        }
    }
}

/// The manifest path for a batch path: `<batch>.manifest.json`.
pub fn manifest_path(batch: &Path) -> PathBuf {
    let mut name = batch.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".manifest.json");
    batch.with_file_name(name)
}
