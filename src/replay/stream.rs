//! The streaming token source: tokens minted (or read from a batch file) while the run goes,
//! by a producer thread working a bounded lead ahead of the requests, in chunks handed to the
//! connections through a short queue. Memory holds the lead, never the run: an unbounded run
//! sends a new token every request, each minted with the clock of the moment it was minted.
//!
//! Token `i` of a minted stream is token `i` of a batch minted with the same seed and clock
//! (only the time claims follow the clock). With a count the stream wraps, token `count` being
//! token 0 again, minted anew. `order = "shuffle"` shuffles within each chunk; `reuse` replays a
//! token from a window of the most recent fresh ones.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rayon::prelude::*;

use super::tokens::{Formatter, NO_KEY, Picked};
use crate::token::batch::BatchReader;
use crate::token::classes::{Expect, TokenClass};
use crate::token::mint::Minter;
use crate::token::rng::TokenRng;
use crate::token::rotation::Schedule;

/// The most tokens per chunk, the unit the producer mints and the queue holds (a sixteenth of
/// the lead, so that no token waits much longer than the lead to be sent).
pub const CHUNK: u64 = 1024;
/// The fewest tokens per chunk.
pub const MIN_CHUNK: u64 = 16;
/// Fresh tokens `reuse` picks from.
pub const RECENT: usize = 4096;
/// The most memory the lead may take, whatever the rate.
pub const LEAD_BYTES: u64 = 64 << 20;
/// The longest a stream waits for its first lead before the run starts.
pub const PREFILL: Duration = Duration::from_secs(3);
/// How far ahead of the requests the producer mints, in time at the scheduled rate.
pub const LEAD_TIME: Duration = Duration::from_secs(2);

/// Where a stream's tokens come from.
pub enum Fill {
    /// Minted: `clock` gives the Unix second each chunk is minted at.
    Mint {
        minter: Arc<Minter>,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
        pool: rayon::ThreadPool,
        /// Sign with the key the rotation names at the moment of minting (and a share with the
        /// latest retired key), holding back near a change so tokens are not minted long before it.
        rotation: Option<Arc<Schedule>>,
    },
    /// Read from a batch file, reopened at its end.
    Batch { path: PathBuf },
}

/// How a stream runs.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Distinct token indices before the stream wraps; `None`: never.
    pub count: Option<u64>,
    /// Tokens kept ready ahead of the requests (a multiple of the chunk is used).
    pub lead: u64,
    /// Connections that may each hold one token being taken (bounds what must stay queued).
    pub concurrency: usize,
    pub shuffle: bool,
    pub reuse: f64,
    pub seed: u64,
    /// How long the lead lasts at the scheduled rate (a rotation holds minting back this close
    /// to a change of signing key).
    pub lead_time: Duration,
    /// Whose share of the token indices this stream makes: position `p` is token
    /// `segment.global(p)` (modulo the count), so no two segments send the same token.
    pub segment: crate::model::Segment,
}

/// The lead for a peak scheduled rate and tokens of about `token_bytes`: [`LEAD_TIME`] of
/// tokens (eight chunks in the closed model, which has no schedule: at a low closed-loop rate
/// that is many seconds of tokens), at most [`LEAD_BYTES`], at least four of the smallest
/// chunks.
///
/// `ttl` (minted tokens' lifetime) shortens the lead to a tenth of it, so a token is never sent
/// near its end of life because it waited in the queue.
pub fn lead_for(peak_rate: Option<f64>, token_bytes: u64, ttl: Option<Duration>) -> u64 {
    let time = ttl.map_or(LEAD_TIME, |t| (t / 10).min(LEAD_TIME));
    let by_time = peak_rate.map_or(8 * CHUNK, |r| (r * time.as_secs_f64()).ceil() as u64);
    let by_bytes = LEAD_BYTES / token_bytes.max(1);
    by_time.min(by_bytes).max(4 * MIN_CHUNK)
}

/// The chunk for a lead: a sixteenth of it, between [`MIN_CHUNK`] and [`CHUNK`], so a slow
/// signer hands tokens over steadily rather than in bursts.
fn chunk_for(lead: u64) -> u64 {
    (lead / 16).clamp(MIN_CHUNK, CHUNK)
}

/// One chunk of ready tokens.
struct Chunk {
    /// The stream position of its first token.
    first: u64,
    data: Bytes,
    ends: Vec<u32>,
    classes: Vec<TokenClass>,
    expects: Vec<Expect>,
    /// The token index of each slot (its line in a batch).
    indices: Vec<u64>,
    /// The signing key's slot of each token ([`NO_KEY`] without rotation).
    keys: Vec<u8>,
}

impl Chunk {
    fn picked(&self, slot: usize) -> Picked {
        let start = if slot == 0 {
            0
        } else {
            self.ends[slot - 1] as usize
        };
        Picked {
            value: self.data.slice(start..self.ends[slot] as usize),
            class: self.classes[slot],
            expect: self.expects[slot],
            index: self.indices[slot],
            reused: false,
            key: self.keys.get(slot).copied().unwrap_or(NO_KEY),
        }
    }
}

struct Inner {
    settings: StreamSettings,
    /// Tokens per chunk.
    chunk: u64,
    queue: Mutex<VecDeque<Arc<Chunk>>>,
    /// Stream positions ready (exclusive).
    ready: AtomicU64,
    /// Fresh tokens handed out.
    taken: AtomicU64,
    /// The producer stopped (told to, or failed).
    done: AtomicBool,
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
    recent: Mutex<VecDeque<Picked>>,
    /// The batch file was read past its end and reopened.
    reopened: AtomicBool,
}

/// What a stream did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Fresh tokens handed to requests.
    pub taken: u64,
    /// Tokens minted or read.
    pub made: u64,
    /// The lead, in tokens.
    pub lead: u64,
}

/// A running token stream; dropping it stops the producer.
pub struct Stream {
    inner: Arc<Inner>,
    producer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Stream {
    /// Starts the producer and waits until the first lead is ready (so the run's first second
    /// is not mint-bound by the start itself). A batch that cannot be read fails here.
    pub fn start(fill: Fill, fmt: Formatter, settings: StreamSettings) -> Result<Stream, String> {
        let chunk = chunk_for(settings.lead);
        let lead = settings.lead.div_ceil(chunk).max(2) * chunk;
        let settings = StreamSettings { lead, ..settings };
        let inner = Arc::new(Inner {
            settings,
            chunk,
            queue: Mutex::new(VecDeque::new()),
            ready: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            done: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
            notify: tokio::sync::Notify::new(),
            recent: Mutex::new(VecDeque::new()),
            reopened: AtomicBool::new(false),
        });
        let mut producer = Producer::new(fill, fmt)?;
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("jwtstorm-tokens".into())
            .spawn(move || producer.run(&worker))
            .map_err(|e| format!("starting the token stream: {e}"))?;
        let stream = Stream {
            inner,
            producer: Mutex::new(Some(handle)),
        };
        // The first lead before the clock starts, for at most PREFILL: a signer too slow for
        // the rate starts anyway, and its requests are counted as mint-bound.
        let started = Instant::now();
        while stream.inner.ready.load(Ordering::Acquire) < lead
            && !stream.inner.done.load(Ordering::Acquire)
            && started.elapsed() < PREFILL
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(why) = stream.failure() {
            return Err(why);
        }
        Ok(stream)
    }

    /// Why the producer failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.failure.lock().map_or(None, |f| f.clone())
    }

    /// The token for request `i` and how long it waited for one; `None` once the stream has
    /// failed (its reason in [`Stream::failure`]).
    pub async fn take(&self, i: u64) -> Option<(Picked, Duration)> {
        let inner = &*self.inner;
        let s = &inner.settings;
        if s.reuse > 0.0 && inner.taken.load(Ordering::Relaxed) > 0 {
            let mut rng = TokenRng::new(s.seed ^ 0x5eed_5eed, i);
            if rng.next_f64() < s.reuse {
                let recent = inner.recent.lock().ok()?;
                if !recent.is_empty() {
                    let mut pick = TokenRng::new(s.seed ^ 0xface, i);
                    let mut p = recent[pick.below(recent.len() as u64) as usize].clone();
                    p.reused = true;
                    return Some((p, Duration::ZERO));
                }
            }
        }
        let position = inner.taken.fetch_add(1, Ordering::Relaxed);
        // Set once the token was not ready at the first look.
        let mut began: Option<Instant> = None;
        loop {
            let notified = inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if position < inner.ready.load(Ordering::Acquire) {
                let picked = self.at(position)?;
                if s.reuse > 0.0
                    && let Ok(mut recent) = inner.recent.lock()
                {
                    if recent.len() >= RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(picked.clone());
                }
                return Some((picked, began.map_or(Duration::ZERO, |b| b.elapsed())));
            }
            if inner.done.load(Ordering::Acquire) {
                return None;
            }
            began.get_or_insert_with(Instant::now);
            notified.await;
        }
    }

    fn at(&self, position: u64) -> Option<Picked> {
        let queue = self.inner.queue.lock().ok()?;
        let Some(chunk) = queue.front().and_then(|f| {
            position
                .checked_sub(f.first)
                .and_then(|d| queue.get((d / self.inner.chunk) as usize))
        }) else {
            drop(queue);
            self.fail(format!(
                "internal error: token {position} left the queue before it was sent"
            ));
            return None;
        };
        Some(chunk.picked((position - chunk.first) as usize))
    }

    fn fail(&self, why: String) {
        if let Ok(mut f) = self.inner.failure.lock() {
            f.get_or_insert(why);
        }
        self.inner.done.store(true, Ordering::Release);
        self.inner.stop.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether the stream went past its count (or a batch past its end) and started over.
    pub fn wrapped(&self) -> bool {
        let taken = self.inner.taken.load(Ordering::Relaxed);
        self.inner.reopened.load(Ordering::Relaxed) || self.own_count().is_some_and(|c| taken > c)
    }

    /// Distinct token indices handed out so far.
    pub fn distinct(&self) -> u64 {
        let taken = self.inner.taken.load(Ordering::Relaxed);
        self.own_count().map_or(taken, |c| taken.min(c))
    }

    /// This segment's share of the count.
    fn own_count(&self) -> Option<u64> {
        let s = &self.inner.settings;
        s.count.map(|c| s.segment.share_below(c))
    }

    /// Counts so far.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            taken: self.inner.taken.load(Ordering::Relaxed),
            made: self.inner.ready.load(Ordering::Relaxed),
            lead: self.inner.settings.lead,
        }
    }

    /// Stops the producer and waits for it.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        if let Some(h) = self.producer.lock().ok().and_then(|mut p| p.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A seeded Fisher-Yates shuffle of chunk number `chunk`'s slots.
fn shuffle<T>(v: &mut [T], seed: u64, chunk: u64) {
    TokenRng::new(seed ^ 0x5417_f1e5, chunk).shuffle(v);
}

/// The producer's own state.
struct Producer {
    fill: Fill,
    fmt: Formatter,
    /// Open batch reader and the line index of its next token.
    reader: Option<(BatchReader<std::io::BufReader<std::fs::File>>, u64)>,
    next: u64,
}

impl Producer {
    fn new(fill: Fill, fmt: Formatter) -> Result<Producer, String> {
        let reader = match &fill {
            Fill::Batch { path } => Some((BatchReader::open(path).map_err(|e| e.to_string())?, 0)),
            Fill::Mint { .. } => None,
        };
        Ok(Producer {
            fill,
            fmt,
            reader,
            next: 0,
        })
    }

    fn run(&mut self, inner: &Inner) {
        let s = &inner.settings;
        // Positions a slow connection may still be about to read.
        let chunk = inner.chunk;
        let margin = s.concurrency as u64 + 2 * chunk;
        while !inner.stop.load(Ordering::Acquire) {
            let taken = inner.taken.load(Ordering::Relaxed);
            if let Ok(mut q) = inner.queue.lock() {
                while q.front().is_some_and(|c| c.first + chunk + margin <= taken) {
                    q.pop_front();
                }
            }
            let want = taken + s.lead;
            if self.next >= want || self.hold(s.lead_time) {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            // One chunk per minting thread a round, so a slow signer hands over each chunk as
            // soon as it is signed instead of after sixteen.
            let per_round = match &self.fill {
                Fill::Mint { pool, .. } => pool.current_num_threads().clamp(1, 16) as u64,
                Fill::Batch { .. } => 16,
            };
            let chunks = (want - self.next).div_ceil(chunk).min(per_round);
            match self.make(chunks, chunk, s, &inner.reopened) {
                Ok(made) => {
                    let end = made.last().map_or(self.next, |c| c.first + c.ends.len() as u64);
                    if let Ok(mut q) = inner.queue.lock() {
                        q.extend(made.into_iter().map(Arc::new));
                    }
                    self.next = end;
                    inner.ready.store(end, Ordering::Release);
                    inner.notify.notify_waiters();
                }
                Err(why) => {
                    if let Ok(mut f) = inner.failure.lock() {
                        f.get_or_insert(why);
                    }
                    break;
                }
            }
        }
        inner.done.store(true, Ordering::Release);
        inner.notify.notify_waiters();
    }

    /// Whether a change of signing key (or a retirement) is due within `lead_time` of now: the
    /// producer then waits for it rather than mint tokens under the old schedule that would be
    /// sent after the change. Before the run's clock starts nothing is held.
    fn hold(&self, lead_time: Duration) -> bool {
        let Fill::Mint {
            rotation: Some(r), ..
        } = &self.fill
        else {
            return false;
        };
        if !r.clock().started() {
            return false;
        }
        let t = r.clock().now();
        r.next_mint_change(t).is_some_and(|e| e - t < lead_time)
    }

    /// The token index of stream position `p` (before a shuffle within its chunk): the
    /// segment's `p`-th index, wrapping at the count.
    fn index(p: u64, s: &StreamSettings) -> u64 {
        let g = s.segment.global(p);
        s.count.map_or(g, |c| g % c.max(1))
    }

    fn make(
        &mut self,
        chunks: u64,
        chunk: u64,
        s: &StreamSettings,
        reopened: &AtomicBool,
    ) -> Result<Vec<Chunk>, String> {
        let firsts: Vec<u64> = (0..chunks).map(|k| self.next + k * chunk).collect();
        let slots = |first: u64| -> Vec<u64> {
            let mut v: Vec<u64> = (first..first + chunk).map(|p| Self::index(p, s)).collect();
            if s.shuffle {
                shuffle(&mut v, s.seed, first / chunk);
            }
            v
        };
        match &self.fill {
            Fill::Mint {
                minter,
                clock,
                pool,
                rotation,
            } => {
                let fmt = &self.fmt;
                let seed = s.seed;
                Ok(pool.install(|| {
                    firsts
                        .par_iter()
                        .map(|&first| {
                            let now = clock();
                            // The key of the moment, and the retired key a share keeps using.
                            let keyed = rotation.as_ref().map(|r| {
                                let t = r.clock().now();
                                (r.signer_at(t), r.latest_retired(t), r.retired_share())
                            });
                            let indices = slots(first);
                            let mut data = BytesMut::with_capacity(indices.len() * 330);
                            let (mut ends, mut classes, mut expects, mut keys) = (
                                Vec::with_capacity(indices.len()),
                                Vec::with_capacity(indices.len()),
                                Vec::with_capacity(indices.len()),
                                Vec::with_capacity(indices.len()),
                            );
                            let (mut token, mut scratch) = (Vec::with_capacity(512), Vec::with_capacity(512));
                            for (n, &i) in indices.iter().enumerate() {
                                token.clear();
                                let (class, expect) = match keyed {
                                    None => {
                                        keys.push(NO_KEY);
                                        minter.mint_at(i, now, &mut token, &mut scratch)
                                    }
                                    Some((signer, retired, share)) => {
                                        // Drawn by stream position, so each use of an index draws anew.
                                        let old = retired.filter(|_| {
                                            share > 0.0
                                                && TokenRng::new(seed ^ 0x0e71_2ed0, first + n as u64)
                                                    .next_f64()
                                                    < share
                                        });
                                        let slot = old.unwrap_or(signer);
                                        keys.push(slot as u8);
                                        minter.mint_with(
                                            i,
                                            now,
                                            slot,
                                            old.is_some(),
                                            &mut token,
                                            &mut scratch,
                                        )
                                    }
                                };
                                fmt.push(&token, &mut data);
                                ends.push(data.len() as u32);
                                classes.push(class);
                                expects.push(expect);
                            }
                            Chunk {
                                first,
                                data: data.freeze(),
                                ends,
                                classes,
                                expects,
                                indices,
                                keys,
                            }
                        })
                        .collect()
                }))
            }
            Fill::Batch { path } => {
                let mut out = Vec::with_capacity(firsts.len());
                for first in firsts {
                    let mut entries = Vec::with_capacity(chunk as usize);
                    while entries.len() < chunk as usize {
                        let wrap_at = s.count;
                        let (reader, line) = self.reader.as_mut().ok_or("the batch is not open")?;
                        let next = if wrap_at.is_some_and(|c| *line >= c) {
                            None
                        } else {
                            reader.next()
                        };
                        match next {
                            Some(Ok(e)) => {
                                // Another segment's line is read (and checked) but not kept.
                                if *line % s.segment.count == s.segment.index {
                                    entries.push((*line, e));
                                }
                                *line += 1;
                            }
                            Some(Err(e)) => return Err(e.to_string()),
                            None => {
                                if *line <= s.segment.index {
                                    return Err(if s.segment.is_whole() {
                                        format!("'{}': the batch holds no tokens", path.display())
                                    } else {
                                        format!(
                                            "'{}': the batch holds no token for segment {}",
                                            path.display(),
                                            s.segment
                                        )
                                    });
                                }
                                // Start over from the first token, as a batch in memory wraps.
                                self.reader = Some((BatchReader::open(path).map_err(|e| e.to_string())?, 0));
                                reopened.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                    if s.shuffle {
                        shuffle(&mut entries, s.seed, first / chunk);
                    }
                    let mut data = BytesMut::new();
                    let (mut ends, mut classes, mut expects, mut indices) =
                        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                    for (line, e) in entries {
                        self.fmt.push(e.token.as_bytes(), &mut data);
                        ends.push(data.len() as u32);
                        classes.push(e.class);
                        expects.push(e.expect);
                        indices.push(line);
                    }
                    out.push(Chunk {
                        first,
                        data: data.freeze(),
                        ends,
                        classes,
                        expects,
                        indices,
                        keys: Vec::new(),
                    });
                }
                Ok(out)
            }
        }
    }
}
