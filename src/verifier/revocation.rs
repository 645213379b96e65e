//! The reference verifier's revocation list: read from a file at start, re-read when the
//! file changes (its length or modification time), looked at no more often than the poll
//! interval, as a service that syncs a deny-list from storage does. A file that turns bad or
//! goes missing keeps the last good list in force and is counted.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::token::revocation::{self, ListError};

/// The shortest poll interval allowed.
pub const MIN_POLL: Duration = Duration::from_millis(10);
/// The poll interval by default.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Where the list comes from and how often it is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSource {
    pub path: PathBuf,
    pub poll: Duration,
}

/// A revocation list kept in step with its file.
#[derive(Debug)]
pub struct Watch {
    source: ListSource,
    ids: RwLock<Arc<HashSet<String>>>,
    /// The file's (length, modification time) when last read.
    stamp: Mutex<Option<(u64, SystemTime)>>,
    /// Times the list was read again after a change.
    pub reloads: AtomicU64,
    /// Times a changed file could not be read (the last good list stayed).
    pub failures: AtomicU64,
    /// Ids in force.
    pub entries: AtomicU64,
}

fn stamp_of(path: &std::path::Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

impl Watch {
    /// Reads the list now; an unreadable or bad file is an error here (at start), only a
    /// counted failure later.
    pub fn open(source: ListSource) -> Result<Watch, ListError> {
        let stamp = stamp_of(&source.path);
        let ids = revocation::read(&source.path)?;
        Ok(Watch {
            entries: AtomicU64::new(ids.len() as u64),
            ids: RwLock::new(Arc::new(ids)),
            stamp: Mutex::new(stamp),
            source,
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// Whether `jti` is revoked.
    pub fn contains(&self, jti: &str) -> bool {
        self.ids.read().is_ok_and(|ids| ids.contains(jti))
    }

    /// Looks at the file once: reads it again if it changed. Returns whether the list did.
    pub fn check(&self) -> bool {
        let now = stamp_of(&self.source.path);
        {
            let Ok(mut last) = self.stamp.lock() else {
                return false;
            };
            if now == *last {
                return false;
            }
            *last = now;
        }
        match revocation::read(&self.source.path) {
            Ok(ids) => {
                self.entries.store(ids.len() as u64, Ordering::Relaxed);
                if let Ok(mut cur) = self.ids.write() {
                    *cur = Arc::new(ids);
                }
                self.reloads.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The poll interval.
    pub fn poll(&self) -> Duration {
        self.source.poll
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.source.path
    }
}

/// Looks at the file every poll interval until `stop` changes.
pub async fn follow(watch: Arc<Watch>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(watch.poll().max(MIN_POLL));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {
                let w = watch.clone();
                // File reads stay off the request threads' hot path.
                let _ = tokio::task::spawn_blocking(move || w.check()).await;
            }
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_and_a_bad_one_keeps_the_old_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        std::fs::write(&path, "a\n").unwrap();
        let w = Watch::open(ListSource {
            path: path.clone(),
            poll: DEFAULT_POLL,
        })
        .unwrap();
        assert!(w.contains("a") && !w.contains("b"));
        assert!(!w.check());
        std::fs::write(&path, "a\nbb\n").unwrap();
        assert!(w.check());
        assert!(w.contains("bb"));
        std::fs::write(&path, "a\nbad id\nccc\n").unwrap();
        assert!(!w.check());
        assert!(w.contains("bb") && !w.contains("ccc"));
        assert_eq!(w.failures.load(Ordering::Relaxed), 1);
        assert!(
            Watch::open(ListSource {
                path: dir.path().join("missing"),
                poll: DEFAULT_POLL
            })
            .is_err()
        );
    }
}
