//! Revocation during a run (`load.revoke`). Requests offer the fresh `valid` tokens they send;
//! each planned revocation keeps a seeded share of them. At its moment the first request past
//! it puts their `jti`s on the revocation list (the file, written whole and renamed into
//! place, and the identity provider's copy), and from then on a share of the requests replays
//! one of the revoked tokens, which a correct verifier must refuse.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;

use super::tokens::{Formatter, NO_KEY, Picked};
use crate::model::Revocation;
use crate::stats::revocations::Fired;
use crate::token::classes::{Expect, TokenClass};
use crate::token::revocation;
use crate::token::rng::TokenRng;

/// The most tokens one revocation puts on the list; a larger share is capped (and says so).
pub const MAX_PER_EVENT: usize = 10_000;
/// Marks "no revocation pending" in [`Revoker::next_at_us`].
const NONE_PENDING: u64 = u64::MAX;

/// The revocation list a run keeps: its file, and the identity provider's copy.
pub struct ListSink {
    path: PathBuf,
    initial: Vec<String>,
    ids: Mutex<Vec<String>>,
    doc: Option<crate::idp::RevocationDoc>,
}

impl ListSink {
    /// A list at `path` starting with `initial`, written now.
    pub fn create(
        path: PathBuf,
        initial: Vec<String>,
        doc: Option<crate::idp::RevocationDoc>,
    ) -> std::io::Result<ListSink> {
        let sink = ListSink {
            path,
            ids: Mutex::new(initial.clone()),
            initial,
            doc,
        };
        sink.write(&sink.initial)?;
        Ok(sink)
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Ids on the list at the start.
    pub fn initial(&self) -> u64 {
        self.initial.len() as u64
    }

    /// Ids on the list now.
    pub fn len(&self) -> u64 {
        self.ids.lock().map_or(0, |i| i.len() as u64)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Back to the initial list (each replay of a session starts from it).
    pub fn reset(&self) -> std::io::Result<()> {
        if let Ok(mut ids) = self.ids.lock() {
            ids.clone_from(&self.initial);
        }
        self.write(&self.initial)
    }

    /// Adds `more` and writes the whole list.
    fn add(&self, more: Vec<String>) -> std::io::Result<()> {
        let all = {
            let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
            ids.extend(more);
            ids.clone()
        };
        self.write(&all)
    }

    /// Writes the list to a temporary file renamed into place, so a reader never sees half of
    /// it, and replaces the served copy.
    fn write(&self, ids: &[String]) -> std::io::Result<()> {
        let text = revocation::render(ids);
        let tmp = self.path.with_extension("txt.partial");
        std::fs::write(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(doc) = &self.doc
            && let Ok(mut d) = doc.write()
        {
            *d = Bytes::from(text);
        }
        Ok(())
    }
}

/// A revoked token ready to replay.
#[derive(Clone)]
struct Revoked {
    value: Bytes,
    index: u64,
    event: u8,
}

/// Revocations of one replay.
pub struct Revoker {
    events: Vec<Revocation>,
    seed: u64,
    fmt: Formatter,
    sink: Arc<ListSink>,
    /// The next revocation to take effect, and its moment in µs ([`NONE_PENDING`] after the
    /// last).
    next: AtomicUsize,
    next_at_us: AtomicU64,
    /// Per revocation, the tokens chosen so far: (index, value).
    chosen: Mutex<Vec<Vec<(u64, Bytes)>>>,
    chosen_over: Vec<AtomicU64>,
    /// Revoked tokens by index, and in order for replaying.
    by_index: RwLock<Arc<HashMap<u64, u8>>>,
    replayable: RwLock<Arc<Vec<Revoked>>>,
    replayed: AtomicU64,
    fired: Mutex<Vec<Option<Fired>>>,
    /// The latest revocation in force (its replay share applies), +1; 0 before the first.
    in_force: AtomicUsize,
    errors: Mutex<Option<String>>,
}

/// What a request sends after the revoker has had its say.
pub enum Verdict {
    /// The token as picked.
    Unchanged,
    /// The picked token is one revoked by revocation `event`: refuse it.
    IsRevoked(u8),
    /// Replay this revoked token instead (revoked by `event`).
    Replay(Picked, u8),
}

fn chance(seed: u64, salt: u64, n: u64) -> f64 {
    TokenRng::new(seed ^ salt, n).next_f64()
}

impl Revoker {
    /// Revocations `events` (sorted by time) over tokens formatted by `fmt`, listed in `sink`.
    pub fn new(events: Vec<Revocation>, seed: u64, fmt: Formatter, sink: Arc<ListSink>) -> Revoker {
        let n = events.len();
        Revoker {
            next_at_us: AtomicU64::new(events.first().map_or(NONE_PENDING, |e| e.at.as_micros() as u64)),
            next: AtomicUsize::new(0),
            chosen: Mutex::new(vec![Vec::new(); n]),
            chosen_over: (0..n).map(|_| AtomicU64::new(0)).collect(),
            by_index: RwLock::new(Arc::default()),
            replayable: RwLock::new(Arc::default()),
            replayed: AtomicU64::new(0),
            fired: Mutex::new(vec![None; n]),
            in_force: AtomicUsize::new(0),
            errors: Mutex::new(None),
            events,
            seed,
            fmt,
            sink,
        }
    }

    /// The list.
    pub fn sink(&self) -> &ListSink {
        &self.sink
    }

    /// Has its say on request `g`, leaving `offset` into the run, which picked `picked`.
    pub fn on_request(&self, g: u64, offset: Duration, picked: &Picked) -> Verdict {
        let us = offset.as_micros() as u64;
        if us >= self.next_at_us.load(Ordering::Relaxed) {
            self.fire_due(us);
        }
        let in_force = self.in_force.load(Ordering::Acquire);
        if in_force > 0 {
            let replay = self.events[in_force - 1].replay;
            if chance(self.seed, 0x7265_706c_6179, g) < replay {
                let pool = self.replayable.read().map(|p| p.clone()).unwrap_or_default();
                if !pool.is_empty() {
                    let k = self.replayed.fetch_add(1, Ordering::Relaxed) % pool.len() as u64;
                    let r = &pool[k as usize];
                    return Verdict::Replay(
                        Picked {
                            value: r.value.clone(),
                            class: TokenClass::Revoked,
                            expect: Expect::Reject,
                            index: r.index,
                            reused: true,
                            key: NO_KEY,
                        },
                        r.event,
                    );
                }
            }
            if picked.class == TokenClass::Valid
                && let Some(e) = self
                    .by_index
                    .read()
                    .ok()
                    .and_then(|m| m.get(&picked.index).copied())
            {
                return Verdict::IsRevoked(e);
            }
        }
        if picked.class == TokenClass::Valid && !picked.reused {
            self.offer(picked);
        }
        Verdict::Unchanged
    }

    /// Keeps a fresh valid token for each pending revocation whose share draws it.
    fn offer(&self, picked: &Picked) {
        let first = self.next.load(Ordering::Relaxed);
        for (e, ev) in self.events.iter().enumerate().skip(first) {
            if chance(self.seed, 0x6368_6f73_656e ^ e as u64, picked.index) >= ev.share {
                continue;
            }
            let Ok(mut chosen) = self.chosen.lock() else {
                return;
            };
            if chosen[e].len() < MAX_PER_EVENT {
                // A copy: a streamed token's value would otherwise keep its whole chunk alive.
                chosen[e].push((picked.index, Bytes::copy_from_slice(&picked.value)));
            } else {
                self.chosen_over[e].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Puts every revocation due by `us` into force.
    fn fire_due(&self, us: u64) {
        let Ok(mut chosen) = self.chosen.lock() else {
            return;
        };
        loop {
            let e = self.next.load(Ordering::Relaxed);
            let Some(ev) = self.events.get(e) else { break };
            if (ev.at.as_micros() as u64) > us {
                break;
            }
            let picked = std::mem::take(&mut chosen[e]);
            self.fire(e, us, picked);
            let next = e + 1;
            self.next.store(next, Ordering::Relaxed);
            self.next_at_us.store(
                self.events
                    .get(next)
                    .map_or(NONE_PENDING, |n| n.at.as_micros() as u64),
                Ordering::Relaxed,
            );
        }
    }

    fn fire(&self, e: usize, us: u64, picked: Vec<(u64, Bytes)>) {
        let mut by_index = self.by_index.read().map(|m| (**m).clone()).unwrap_or_default();
        let mut pool = self.replayable.read().map(|p| (**p).clone()).unwrap_or_default();
        let (mut ids, mut without_jti) = (Vec::new(), 0);
        for (index, value) in picked {
            if by_index.contains_key(&index) {
                continue;
            }
            let jti = self.fmt.raw(&value).and_then(|t| revocation::jti_of(&t));
            match jti {
                Some(j) if revocation::check_id(&j).is_ok() => {
                    ids.push(j);
                    by_index.insert(index, e as u8);
                    pool.push(Revoked {
                        value,
                        index,
                        event: e as u8,
                    });
                }
                _ => without_jti += 1,
            }
        }
        let revoked = ids.len() as u64;
        if let Err(err) = self.sink.add(ids)
            && let Ok(mut slot) = self.errors.lock()
        {
            slot.get_or_insert(format!(
                "writing the revocation list {}: {err}",
                self.sink.path.display()
            ));
        }
        if let Ok(mut m) = self.by_index.write() {
            *m = Arc::new(by_index);
        }
        if let Ok(mut p) = self.replayable.write() {
            *p = Arc::new(pool);
        }
        if let Ok(mut f) = self.fired.lock() {
            f[e] = Some(Fired {
                at_us: us,
                revoked,
                without_jti,
                capped: self.chosen_over[e].load(Ordering::Relaxed) > 0,
            });
        }
        self.in_force.store(e + 1, Ordering::Release);
    }

    /// What each revocation did (`None`: the run ended before it).
    pub fn fired(&self) -> Vec<Option<Fired>> {
        self.fired.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The planned revocations.
    pub fn events(&self) -> &[Revocation] {
        &self.events
    }

    /// Why the list could not be written, if it could not.
    pub fn error(&self) -> Option<String> {
        self.errors.lock().ok().and_then(|e| e.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Placement;
    use base64::Engine;

    fn token(i: u64, jti: bool) -> Picked {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let payload = if jti {
            format!("{{\"sub\":\"u{i}\",\"jti\":\"j{i}\"}}")
        } else {
            format!("{{\"sub\":\"u{i}\"}}")
        };
        Picked {
            value: Bytes::from(format!("Bearer {}.{}.sig", b64("{}"), b64(&payload))),
            class: TokenClass::Valid,
            expect: Expect::AcceptWithin {
                from: None,
                until: None,
            },
            index: i,
            reused: false,
            key: NO_KEY,
        }
    }

    #[test]
    fn a_revocation_lists_a_share_of_what_was_sent_and_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        let sink = Arc::new(ListSink::create(path.clone(), vec!["r0".into()], None).unwrap());
        let events = vec![Revocation {
            at: Duration::from_secs(1),
            share: 0.5,
            replay: 0.25,
        }];
        let r = Revoker::new(events, 3, Formatter::new(Placement::Bearer, "/"), sink.clone());
        for i in 0..1000 {
            assert!(matches!(
                r.on_request(i, Duration::from_millis(i), &token(i, i % 10 != 0)),
                Verdict::Unchanged
            ));
        }
        let (mut replays, mut refused) = (0, 0);
        for i in 1000..3000 {
            match r.on_request(i, Duration::from_millis(i), &token(i % 1000, true)) {
                Verdict::Replay(p, 0) => {
                    assert_eq!(p.class, TokenClass::Revoked);
                    replays += 1;
                }
                Verdict::IsRevoked(0) => refused += 1,
                Verdict::Unchanged => {}
                _ => panic!("another event"),
            }
        }
        let f = r.fired()[0].unwrap();
        assert_eq!(f.at_us, 1_000_000);
        // About half of the 1000 were chosen; a tenth of those had no jti.
        assert!((400..600).contains(&(f.revoked + f.without_jti)), "{f:?}");
        assert!(f.without_jti > 20 && f.without_jti < 80, "{f:?}");
        assert!((400..600).contains(&replays), "{replays}");
        assert!(refused > 500, "{refused}");
        let listed = revocation::read(&path).unwrap();
        assert_eq!(listed.len() as u64, f.revoked + 1);
        assert!(listed.contains("r0"));
        sink.reset().unwrap();
        assert_eq!(revocation::read(&path).unwrap().len(), 1);
    }
}
