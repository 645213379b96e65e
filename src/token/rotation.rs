//! Key rotation on the run's clock: which keys the identity provider publishes, which key signs
//! new tokens, and which keys are retired, each a pure function of the time since the run began.
//!
//! The first key of the set is published and signs from the start. Events then publish a key
//! (it appears in the JWKS), sign with it (tokens minted from then on carry its kid) or retire
//! it (it leaves the JWKS; tokens it signed must be rejected from then on). The clock starts
//! when the run's first request is due; before that the schedule is at time zero.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::keys::KeyMaterial;

/// What an event does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Publish,
    SignWith,
    Retire,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::SignWith => "sign_with",
            Action::Retire => "retire",
        }
    }
}

/// One scheduled change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Since the run began.
    #[serde(rename = "at_ms", serialize_with = "as_millis")]
    pub at: Duration,
    pub action: Action,
    pub kid: String,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The two ready-made schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Publish the new key, wait out the JWKS max-age (plus a second), sign with it, wait again,
    /// retire the old key: a verifier that honours max-age never rejects a good token.
    Graceful,
    /// Publish and sign with the new key at the same moment (the outage a rotation can cause),
    /// then retire the old key once the max-age (plus a second) has passed.
    Abrupt,
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "graceful" => Ok(Preset::Graceful),
            "abrupt" => Ok(Preset::Abrupt),
            _ => Err(format!(
                "unknown rotation preset '{s}'; expected graceful or abrupt"
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::Graceful => "graceful",
            Preset::Abrupt => "abrupt",
        })
    }
}

impl Preset {
    /// The events of the preset starting at `at`, from key `old` to key `new`, for a JWKS
    /// served with `max_age`.
    pub fn events(self, at: Duration, max_age: Duration, old: &str, new: &str) -> Vec<Event> {
        let wait = max_age + Duration::from_secs(1);
        let ev = |at, action, kid: &str| Event {
            at,
            action,
            kid: kid.to_string(),
        };
        match self {
            Preset::Graceful => vec![
                ev(at, Action::Publish, new),
                ev(at + wait, Action::SignWith, new),
                ev(at + wait + wait, Action::Retire, old),
            ],
            Preset::Abrupt => vec![
                ev(at, Action::Publish, new),
                ev(at, Action::SignWith, new),
                ev(at + wait, Action::Retire, old),
            ],
        }
    }
}

/// When each key of the set is published, signs and is retired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub published: Option<Duration>,
    pub signs_from: Option<Duration>,
    /// When another key took over signing.
    pub signs_until: Option<Duration>,
    pub retired: Option<Duration>,
}

/// A clock that starts once, shared by the run, the token stream and the identity provider.
#[derive(Debug)]
pub struct RunClock {
    origin: Instant,
    /// Nanoseconds from `origin` to the start; `u64::MAX` until started.
    start: AtomicU64,
}

impl Default for RunClock {
    fn default() -> Self {
        RunClock {
            origin: Instant::now(),
            start: AtomicU64::new(u64::MAX),
        }
    }
}

impl RunClock {
    /// Starts the clock at `at` (a later call moves it: each replay starts it anew).
    pub fn start(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.origin).as_nanos() as u64;
        self.start.store(ns.min(u64::MAX - 1), Ordering::Release);
    }

    /// Whether the clock has started.
    pub fn started(&self) -> bool {
        self.start.load(Ordering::Acquire) != u64::MAX
    }

    /// Milliseconds from the start to `now` (negative before it, or before the start is set:
    /// then counted from when the clock was made, less than zero).
    pub fn offset_ms(&self, now: Instant) -> i64 {
        let since_origin = now.saturating_duration_since(self.origin).as_nanos() as i64;
        match self.start.load(Ordering::Acquire) {
            u64::MAX => -(since_origin.max(1) / 1_000_000).max(1),
            s => (since_origin - s as i64).div_euclid(1_000_000),
        }
    }

    /// The schedule's time at `now`: since the start, zero before it.
    pub fn at(&self, now: Instant) -> Duration {
        match self.start.load(Ordering::Acquire) {
            u64::MAX => Duration::ZERO,
            s => now
                .saturating_duration_since(self.origin)
                .saturating_sub(Duration::from_nanos(s)),
        }
    }

    /// The schedule's time now.
    pub fn now(&self) -> Duration {
        self.at(Instant::now())
    }
}

/// The key set and its schedule.
#[derive(Debug)]
pub struct Schedule {
    keys: Vec<KeyMaterial>,
    events: Vec<Event>,
    windows: Vec<Window>,
    /// Share of tokens signed with the latest retired key after its retirement.
    retired_share: f64,
    /// No events: every key is published from the start and tokens rotate kids by index.
    fixed: bool,
    clock: RunClock,
}

/// The longest a schedule may run: 366 days.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

impl Schedule {
    /// Every key published from the start, none retired.
    pub fn fixed(keys: Vec<KeyMaterial>) -> Result<Schedule, String> {
        if keys.is_empty() {
            return Err("the key set is empty".into());
        }
        let windows = keys
            .iter()
            .map(|_| Window {
                published: Some(Duration::ZERO),
                signs_from: Some(Duration::ZERO),
                ..Window::default()
            })
            .collect();
        Ok(Schedule {
            keys,
            events: Vec::new(),
            windows,
            retired_share: 0.0,
            fixed: true,
            clock: RunClock::default(),
        })
    }

    /// A schedule of `events` over `keys` (kids distinct); the first key is published and signs
    /// from the start. Checks that every event is possible when it happens.
    pub fn new(
        keys: Vec<KeyMaterial>,
        mut events: Vec<Event>,
        retired_share: f64,
    ) -> Result<Schedule, String> {
        if keys.is_empty() {
            return Err("the key set is empty".into());
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(format!("two keys have the kid '{}'", k.kid));
            }
        }
        if !(0.0..=1.0).contains(&retired_share) {
            return Err(format!(
                "retired_share must be between 0 and 100%, got {retired_share}"
            ));
        }
        // Stable: events at one moment apply in the order written (publish, then sign_with).
        events.sort_by_key(|e| e.at);
        let mut windows = vec![Window::default(); keys.len()];
        windows[0].published = Some(Duration::ZERO);
        windows[0].signs_from = Some(Duration::ZERO);
        let mut signer = 0usize;
        for e in &events {
            let at = crate::text::format_duration(e.at);
            if e.at > LONGEST {
                return Err(format!(
                    "{} {} at {at}: events lie within 366 days",
                    e.action.name(),
                    e.kid
                ));
            }
            let slot = keys.iter().position(|k| k.kid == e.kid).ok_or_else(|| {
                let names: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
                format!(
                    "{} at {at} names key '{}', which is not in the key set ({})",
                    e.action.name(),
                    e.kid,
                    names.join(", ")
                )
            })?;
            let w = &mut windows[slot];
            match e.action {
                Action::Publish => {
                    if w.retired.is_some() {
                        return Err(format!("publish {} at {at}: the key is already retired", e.kid));
                    }
                    if w.published.is_some() {
                        return Err(format!("publish {} at {at}: the key is already published", e.kid));
                    }
                    w.published = Some(e.at);
                }
                Action::SignWith => {
                    if w.published.is_none() || w.retired.is_some() {
                        return Err(format!(
                            "sign_with {} at {at}: only a published key that is not retired can sign; publish it first",
                            e.kid
                        ));
                    }
                    if slot != signer {
                        windows[signer].signs_until = Some(e.at);
                        let w = &mut windows[slot];
                        w.signs_from = Some(e.at);
                        w.signs_until = None;
                        signer = slot;
                    }
                }
                Action::Retire => {
                    if w.published.is_none() || w.retired.is_some() {
                        return Err(format!("retire {} at {at}: the key is not published", e.kid));
                    }
                    if slot == signer {
                        return Err(format!(
                            "retire {} at {at}: tokens are still signed with it; sign_with another key first",
                            e.kid
                        ));
                    }
                    w.retired = Some(e.at);
                }
            }
        }
        Ok(Schedule {
            keys,
            events,
            windows,
            retired_share,
            fixed: false,
            clock: RunClock::default(),
        })
    }

    pub fn keys(&self) -> &[KeyMaterial] {
        &self.keys
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn clock(&self) -> &RunClock {
        &self.clock
    }

    pub fn retired_share(&self) -> f64 {
        self.retired_share
    }

    /// Whether the key set never changes (kids then rotate by token index, as without an IdP).
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The slots of the keys in the JWKS at `t`.
    pub fn published_at(&self, t: Duration) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&i| {
                let w = &self.windows[i];
                w.published.is_some_and(|p| p <= t) && w.retired.is_none_or(|r| t < r)
            })
            .collect()
    }

    /// The key set's version at `t`: how many publish and retire events have happened.
    pub fn version_at(&self, t: Duration) -> u32 {
        self.events
            .iter()
            .filter(|e| e.action != Action::SignWith && e.at <= t)
            .count() as u32
    }

    /// The moments the published set changes, with the version from then on (version 0 at 0).
    pub fn versions(&self) -> Vec<(Duration, u32)> {
        let mut out = vec![(Duration::ZERO, self.version_at(Duration::ZERO))];
        for e in &self.events {
            if e.action != Action::SignWith {
                let v = self.version_at(e.at);
                if out.last().is_some_and(|l| l.1 != v) {
                    out.push((e.at, v));
                }
            }
        }
        out
    }

    /// The slot of the key that signs tokens minted at `t`.
    pub fn signer_at(&self, t: Duration) -> usize {
        (0..self.keys.len())
            .find(|&i| {
                let w = &self.windows[i];
                w.signs_from.is_some_and(|f| f <= t) && w.signs_until.is_none_or(|u| t < u)
            })
            .unwrap_or(0)
    }

    /// Whether key `slot` is retired at `t`.
    pub fn is_retired(&self, slot: usize, t: Duration) -> bool {
        self.windows
            .get(slot)
            .and_then(|w| w.retired)
            .is_some_and(|r| r <= t)
    }

    /// The most recently retired key at `t`, whose tokens a share of the run keeps sending.
    pub fn latest_retired(&self, t: Duration) -> Option<usize> {
        (0..self.keys.len())
            .filter(|&i| self.windows[i].retired.is_some_and(|r| r <= t))
            .max_by_key(|&i| self.windows[i].retired)
    }

    /// The first moment after `t` at which minting changes (a new signer, or a retirement that
    /// starts the retired share).
    pub fn next_mint_change(&self, t: Duration) -> Option<Duration> {
        self.events
            .iter()
            .filter(|e| e.action != Action::Publish && e.at > t)
            .map(|e| e.at)
            .next()
    }

    /// The keys that take over signing during the run (their rotation gap is measured).
    pub fn incoming(&self, slot: usize) -> bool {
        !self.fixed && self.windows[slot].signs_from.is_some_and(|f| f > Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    fn keys(n: usize) -> Vec<KeyMaterial> {
        (0..n)
            .map(|i| {
                let mut k = KeyMaterial::generate(Algorithm::ES256, None).unwrap();
                k.kid = format!("k{}", i + 1);
                k
            })
            .collect()
    }

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn graceful_preset_publishes_signs_then_retires() {
        let ev = Preset::Graceful.events(s(10), s(3), "k1", "k2");
        let sch = Schedule::new(keys(2), ev, 0.1).unwrap();
        assert_eq!(sch.published_at(s(9)), vec![0]);
        assert_eq!(sch.published_at(s(10)), vec![0, 1]);
        assert_eq!(sch.signer_at(s(13)), 0);
        assert_eq!(sch.signer_at(s(14)), 1);
        assert!(!sch.is_retired(0, s(17)) && sch.is_retired(0, s(18)));
        assert_eq!(sch.published_at(s(18)), vec![1]);
        assert_eq!(sch.latest_retired(s(18)), Some(0));
        assert_eq!(sch.latest_retired(s(17)), None);
        assert_eq!(sch.versions(), vec![(s(0), 0), (s(10), 1), (s(18), 2)]);
        assert_eq!(sch.next_mint_change(s(0)), Some(s(14)));
        assert_eq!(sch.next_mint_change(s(14)), Some(s(18)));
        assert!(sch.incoming(1) && !sch.incoming(0));
    }

    #[test]
    fn abrupt_preset_signs_when_it_publishes() {
        let sch = Schedule::new(keys(2), Preset::Abrupt.events(s(5), s(2), "k1", "k2"), 0.0).unwrap();
        assert_eq!(sch.signer_at(s(5)), 1);
        assert_eq!(sch.published_at(s(5)), vec![0, 1]);
        assert!(sch.is_retired(0, s(8)));
    }

    #[test]
    fn impossible_events_are_named() {
        let ev = |at, action, kid: &str| Event {
            at: s(at),
            action,
            kid: kid.into(),
        };
        let cases = [
            (vec![ev(5, Action::SignWith, "k2")], "publish it first"),
            (vec![ev(5, Action::Retire, "k1")], "sign_with another key first"),
            (vec![ev(5, Action::Publish, "k9")], "not in the key set (k1, k2)"),
            (vec![ev(5, Action::Publish, "k1")], "already published"),
            (
                vec![
                    ev(1, Action::Publish, "k2"),
                    ev(2, Action::SignWith, "k2"),
                    ev(3, Action::Retire, "k1"),
                    ev(4, Action::SignWith, "k1"),
                ],
                "only a published key",
            ),
        ];
        for (events, want) in cases {
            let err = Schedule::new(keys(2), events, 0.0).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn the_clock_reads_zero_until_started() {
        let c = RunClock::default();
        assert_eq!(c.now(), Duration::ZERO);
        assert!(c.offset_ms(Instant::now()) < 0);
        let start = Instant::now();
        c.start(start);
        assert!(c.started());
        assert_eq!(c.at(start + s(2)), s(2));
        assert_eq!(c.offset_ms(start + Duration::from_millis(1500)), 1500);
        assert_eq!(c.at(start), Duration::ZERO);
    }
}
