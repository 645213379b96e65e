//! The tokens a run replays, held in memory ready to send: each one already formatted for its
//! placement (`Bearer ...`, `name=...`, or a whole path with the query), in one shared buffer
//! so a request takes a zero-copy slice. Plus the order requests take them in.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use rayon::prelude::*;

use crate::model::{Placement, Segment};
use crate::token::batch::{BatchError, BatchReader};
use crate::token::classes::{Expect, TokenClass};
use crate::token::mint::Minter;
use crate::token::rng::TokenRng;

/// Memory per token beyond its value: the end offset, the class and the expectation.
const PER_TOKEN_OVERHEAD: u64 = 8 + 1 + 24;

/// Formats a token for its placement into `out`.
#[derive(Debug, Clone)]
pub struct Formatter {
    placement: Placement,
    /// For query placement: the path and query the token is appended to.
    path_prefix: String,
}

impl Formatter {
    /// A formatter for `placement`; `path_and_query` is the target's (query placement only).
    pub fn new(placement: Placement, path_and_query: &str) -> Formatter {
        let path_prefix = match &placement {
            Placement::Query(name) => {
                let sep = if path_and_query.contains('?') { '&' } else { '?' };
                format!("{path_and_query}{sep}{name}=")
            }
            _ => String::new(),
        };
        Formatter {
            placement,
            path_prefix,
        }
    }

    /// Appends `token` formatted for the placement.
    pub fn push(&self, token: &[u8], out: &mut BytesMut) {
        match &self.placement {
            Placement::Bearer => {
                out.extend_from_slice(b"Bearer ");
                out.extend_from_slice(token);
            }
            Placement::Header(_) => out.extend_from_slice(token),
            Placement::Cookie(name) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"=");
                out.extend_from_slice(token);
            }
            Placement::Query(_) => {
                out.extend_from_slice(self.path_prefix.as_bytes());
                for &b in token {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        out.extend_from_slice(&[b]);
                    } else {
                        out.extend_from_slice(format!("%{b:02X}").as_bytes());
                    }
                }
            }
        }
    }
}

impl Formatter {
    /// The token inside a value [`Formatter::push`] made (`None` when it was not made so).
    pub fn raw(&self, value: &[u8]) -> Option<Vec<u8>> {
        match &self.placement {
            Placement::Bearer => value.strip_prefix(b"Bearer ").map(<[u8]>::to_vec),
            Placement::Header(_) => Some(value.to_vec()),
            Placement::Cookie(name) => value
                .strip_prefix(name.as_bytes())
                .and_then(|v| v.strip_prefix(b"="))
                .map(<[u8]>::to_vec),
            Placement::Query(_) => {
                let v = value.strip_prefix(self.path_prefix.as_bytes())?;
                let mut out = Vec::with_capacity(v.len());
                let mut i = 0;
                while i < v.len() {
                    if v[i] == b'%' {
                        let hex = std::str::from_utf8(v.get(i + 1..i + 3)?).ok()?;
                        out.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 3;
                    } else {
                        out.push(v[i]);
                        i += 1;
                    }
                }
                Some(out)
            }
        }
    }
}

/// One block of minted tokens: formatted values, their end offsets, classes and expectations.
type Block = (BytesMut, Vec<u64>, Vec<TokenClass>, Vec<Expect>);

/// Tokens in memory, formatted for sending.
#[derive(Debug, Clone)]
pub struct TokenStore {
    data: Bytes,
    /// End offset of each token in `data` (u64: a batch may exceed 4 GiB).
    ends: Vec<u64>,
    classes: Vec<TokenClass>,
    expects: Vec<Expect>,
    /// Whose share of the batch this is: token `i` here is the batch's token
    /// `segment.global(i)`.
    segment: Segment,
}

impl TokenStore {
    /// About how many bytes of memory [`TokenStore::mint`] would take for the minter's batch,
    /// from the first few tokens: each token's formatted value plus its offset, class and
    /// expectation.
    pub fn estimate_minted(minter: &Minter, fmt: &Formatter, segment: Segment) -> u64 {
        let count = segment.share_below(minter.config().count);
        let sample = count.min(64);
        let (mut token, mut scratch, mut data) = (Vec::new(), Vec::new(), BytesMut::new());
        for i in 0..sample {
            token.clear();
            minter.mint_into(i, &mut token, &mut scratch);
            fmt.push(&token, &mut data);
        }
        let per_token = data.len() as u64 / sample.max(1) + PER_TOKEN_OVERHEAD;
        per_token.saturating_mul(count)
    }

    /// About how many bytes of memory [`TokenStore::load`] would take for a batch file.
    pub fn estimate_loaded(path: &std::path::Path) -> u64 {
        // A line holds the class and expectation too, which roughly pays for the overhead.
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// Mints `segment`'s share of `minter`'s batch in parallel (the whole batch for
    /// [`Segment::WHOLE`]); `None` when `stop` was set before it finished.
    pub fn mint(
        minter: &Minter,
        fmt: &Formatter,
        pool: &rayon::ThreadPool,
        stop: &std::sync::atomic::AtomicBool,
        segment: Segment,
    ) -> Option<TokenStore> {
        Self::mint_first(
            minter,
            segment.share_below(minter.config().count),
            fmt,
            pool,
            stop,
            segment,
        )
    }

    /// Mints the first `count` tokens of `segment`'s share in parallel: the batch's tokens
    /// `segment.global(0..count)`, each the same token a single process mints at that index.
    pub fn mint_first(
        minter: &Minter,
        count: u64,
        fmt: &Formatter,
        pool: &rayon::ThreadPool,
        stop: &std::sync::atomic::AtomicBool,
        segment: Segment,
    ) -> Option<TokenStore> {
        const BLOCK: u64 = 4096;
        let blocks: Vec<Block> = pool.install(|| {
            (0..count.div_ceil(BLOCK))
                .into_par_iter()
                .map(|b| {
                    if stop.load(Ordering::Relaxed) {
                        return (BytesMut::new(), Vec::new(), Vec::new(), Vec::new());
                    }
                    let (start, end) = (b * BLOCK, ((b + 1) * BLOCK).min(count));
                    let n = (end - start) as usize;
                    let mut data = BytesMut::with_capacity(n * 330);
                    let (mut ends, mut classes, mut expects) = (
                        Vec::with_capacity(n),
                        Vec::with_capacity(n),
                        Vec::with_capacity(n),
                    );
                    let (mut token, mut scratch) = (Vec::with_capacity(512), Vec::with_capacity(512));
                    for i in start..end {
                        token.clear();
                        let (class, expect) = minter.mint_into(segment.global(i), &mut token, &mut scratch);
                        fmt.push(&token, &mut data);
                        ends.push(data.len() as u64);
                        classes.push(class);
                        expects.push(expect);
                    }
                    (data, ends, classes, expects)
                })
                .collect()
        });
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        Some(Self::join(blocks, segment))
    }

    /// Loads `segment`'s share of a batch file (its lines `segment.global(0..)`), checking
    /// every line.
    pub fn load(path: &std::path::Path, fmt: &Formatter, segment: Segment) -> Result<TokenStore, BatchError> {
        Self::load_first(path, fmt, u64::MAX, segment)
    }

    /// Loads the first `count` tokens of `segment`'s share of a batch file and checks every
    /// line of it (the rest is read without being kept, so a batch streamed during a run is
    /// known to be sound).
    pub fn load_first(
        path: &std::path::Path,
        fmt: &Formatter,
        count: u64,
        segment: Segment,
    ) -> Result<TokenStore, BatchError> {
        let mut data = BytesMut::new();
        let (mut ends, mut classes, mut expects) = (Vec::new(), Vec::new(), Vec::new());
        for (line, entry) in BatchReader::open(path)?.enumerate() {
            let e = entry?;
            if classes.len() as u64 >= count || line as u64 % segment.count != segment.index {
                continue;
            }
            fmt.push(e.token.as_bytes(), &mut data);
            ends.push(data.len() as u64);
            classes.push(e.class);
            expects.push(e.expect);
        }
        if classes.is_empty() {
            return Err(BatchError::Line {
                path: path.display().to_string(),
                line: 1,
                message: if segment.is_whole() {
                    "the batch holds no tokens".into()
                } else {
                    format!("the batch holds no token for segment {segment}")
                },
            });
        }
        Ok(TokenStore {
            data: data.freeze(),
            ends,
            classes,
            expects,
            segment,
        })
    }

    fn join(blocks: Vec<Block>, segment: Segment) -> TokenStore {
        let total: usize = blocks.iter().map(|b| b.0.len()).sum();
        let n: usize = blocks.iter().map(|b| b.1.len()).sum();
        let mut data = BytesMut::with_capacity(total);
        let (mut ends, mut classes, mut expects) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (d, e, c, x) in blocks {
            let base = data.len() as u64;
            data.extend_from_slice(&d);
            ends.extend(e.into_iter().map(|v| v + base));
            classes.extend(c);
            expects.extend(x);
        }
        TokenStore {
            data: data.freeze(),
            ends,
            classes,
            expects,
            segment,
        }
    }

    /// How many tokens the store holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of formatted token values held.
    pub fn bytes(&self) -> u64 {
        self.data.len() as u64
    }

    /// The formatted value of token `i` (a zero-copy slice).
    pub fn value(&self, i: usize) -> Bytes {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.data.slice(start..self.ends[i] as usize)
    }

    /// Of the `valid` tokens: how many, how many are expired at `now`, and how many more
    /// expire by `end` (Unix seconds).
    pub fn expiry(&self, now: i64, end: i64) -> (u64, u64, u64) {
        let (mut valid, mut expired, mut expiring) = (0, 0, 0);
        for i in 0..self.len() {
            let (class, expect) = self.label(i);
            if class != TokenClass::Valid {
                continue;
            }
            valid += 1;
            if let Expect::AcceptWithin { until: Some(u), .. } = expect {
                if u <= now {
                    expired += 1;
                } else if u <= end {
                    expiring += 1;
                }
            }
        }
        (valid, expired, expiring)
    }

    /// Token `i`'s class and expected answer.
    pub fn label(&self, i: usize) -> (TokenClass, Expect) {
        (self.classes[i], self.expects[i])
    }

    /// Token `i`'s index in the whole batch (its line in a batch file).
    pub fn batch_index(&self, i: usize) -> u64 {
        self.segment.global(i as u64)
    }
}

/// The token a request sends, with its label.
#[derive(Debug, Clone)]
pub struct Picked {
    /// Formatted for the placement.
    pub value: Bytes,
    pub class: TokenClass,
    pub expect: Expect,
    /// Its index in the batch (or stream), for samples.
    pub index: u64,
    /// Whether it replays a token already sent.
    pub reused: bool,
    /// The slot (in the rotation's key set) of the key that signed it; [`NO_KEY`] when the
    /// run does not rotate keys.
    pub key: u8,
}

/// [`Picked::key`] of a token whose key does not matter to its answer.
pub const NO_KEY: u8 = u8::MAX;

/// Where a replay's tokens come from: a batch in memory in a chosen order, or a stream.
pub enum Tokens {
    Store {
        store: std::sync::Arc<TokenStore>,
        selector: Selector,
    },
    Stream(std::sync::Arc<super::stream::Stream>),
}

impl Tokens {
    /// The token for request `i` and how long it waited to be ready (a stream that fell
    /// behind); `None` when the stream failed.
    pub async fn pick(&self, i: u64) -> Option<(Picked, std::time::Duration)> {
        match self {
            Tokens::Store { store, selector } => {
                let (ti, reused) = selector.pick(i);
                let (class, expect) = store.label(ti);
                Some((
                    Picked {
                        value: store.value(ti),
                        class,
                        expect,
                        index: store.batch_index(ti),
                        reused,
                        key: NO_KEY,
                    },
                    std::time::Duration::ZERO,
                ))
            }
            Tokens::Stream(s) => s.take(i).await,
        }
    }

    /// Whether requests went past the last token and started over.
    pub fn wrapped(&self) -> bool {
        match self {
            Tokens::Store { selector, .. } => selector.wrapped(),
            Tokens::Stream(s) => s.wrapped(),
        }
    }

    /// Distinct tokens the replay had (a stream: handed out so far).
    pub fn distinct(&self) -> u64 {
        match self {
            Tokens::Store { selector, .. } => selector.len(),
            Tokens::Stream(s) => s.distinct(),
        }
    }
}

/// Which token each request sends: batch order or a seeded shuffle, optionally limited to a pool
/// of the first N tokens, with a share of requests replaying a token already sent.
#[derive(Debug)]
pub struct Selector {
    order: Option<Vec<u32>>,
    len: u64,
    reuse: f64,
    seed: u64,
    /// Fresh tokens handed out so far.
    cursor: AtomicU64,
}

impl Selector {
    /// A selector over `len` tokens (after the pool limit).
    pub fn new(len: usize, pool: Option<u64>, shuffle: bool, reuse: f64, seed: u64) -> Selector {
        let len = pool.map_or(len as u64, |p| p.min(len as u64));
        let order = shuffle.then(|| {
            let mut v: Vec<u32> = (0..len as u32).collect();
            TokenRng::new(seed, u64::MAX).shuffle(&mut v);
            v
        });
        Selector {
            order,
            len,
            reuse,
            seed,
            cursor: AtomicU64::new(0),
        }
    }

    /// The token for request `i`, and whether it replays one already sent.
    pub fn pick(&self, i: u64) -> (usize, bool) {
        let fresh_so_far = self.cursor.load(Ordering::Relaxed);
        let reuse = self.reuse > 0.0 && fresh_so_far > 0 && {
            let mut rng = TokenRng::new(self.seed ^ 0x5eed_5eed, i);
            rng.next_f64() < self.reuse
        };
        let position = if reuse {
            let mut rng = TokenRng::new(self.seed ^ 0xface, i);
            rng.below(fresh_so_far.min(self.len))
        } else {
            self.cursor.fetch_add(1, Ordering::Relaxed) % self.len
        };
        let index = match &self.order {
            Some(o) => o[position as usize] as usize,
            None => position as usize,
        };
        (index, reuse)
    }

    /// Whether requests have gone past the last token and started over.
    pub fn wrapped(&self) -> bool {
        self.cursor.load(Ordering::Relaxed) > self.len
    }

    /// Distinct tokens available.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no token is available.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_placement() {
        let mut out = BytesMut::new();
        Formatter::new(Placement::Bearer, "/p").push(b"a.b.c", &mut out);
        Formatter::new(Placement::Cookie("jwt".into()), "/p").push(b"a.b.c", &mut out);
        Formatter::new(Placement::Query("t".into()), "/p?x=1").push(b"a b", &mut out);
        assert_eq!(&out[..], b"Bearer a.b.cjwt=a.b.c/p?x=1&t=a%20b");
        for p in [
            Placement::Bearer,
            Placement::Cookie("jwt".into()),
            Placement::Header("x-t".into()),
            Placement::Query("t".into()),
        ] {
            let f = Formatter::new(p, "/p?x=1");
            let mut v = BytesMut::new();
            f.push(b"a b.c", &mut v);
            assert_eq!(f.raw(&v).as_deref(), Some(&b"a b.c"[..]));
        }
    }

    #[test]
    fn sequential_wraps_and_shuffle_is_a_permutation() {
        let s = Selector::new(5, None, false, 0.0, 1);
        let picks: Vec<usize> = (0..7).map(|i| s.pick(i).0).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 4, 0, 1]);
        assert!(s.wrapped());
        let s = Selector::new(100, None, true, 0.0, 7);
        let mut picks: Vec<usize> = (0..100).map(|i| s.pick(i).0).collect();
        assert_ne!(picks, (0..100).collect::<Vec<_>>());
        picks.sort();
        assert_eq!(picks, (0..100).collect::<Vec<_>>());
        assert!(!s.wrapped());
    }

    #[test]
    fn reuse_and_pool() {
        let s = Selector::new(10_000, None, false, 0.5, 3);
        let reused = (0..10_000).filter(|i| s.pick(*i).1).count();
        assert!((4_000..6_000).contains(&reused), "{reused}");
        let s = Selector::new(10_000, Some(10), false, 0.0, 3);
        assert!((0..1000).all(|i| s.pick(i).0 < 10));
    }
}
