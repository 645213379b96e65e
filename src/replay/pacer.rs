//! Pacing for the open model: when the i-th request is due, as a small trait. A fixed rate is
//! one stage; stages step or ramp linearly between rates. The schedule is a pure function of
//! the request index, so connections claim indices and sleep until their due time: no timer per
//! tick, and a late request keeps its intended time.

use std::time::Duration;

use crate::model::Stage;

/// An arrival schedule.
pub trait Pacer: Send + Sync {
    /// When request `i` (counting from 0) is due, from the start of the run; `None` once the
    /// schedule has ended.
    fn due(&self, i: u64) -> Option<Duration>;
    /// How many requests are due strictly before `elapsed`.
    fn due_before(&self, elapsed: Duration) -> u64;
    /// The schedule's length.
    fn length(&self) -> Duration;
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    /// Rate at the start and end of the segment.
    r0: f64,
    r1: f64,
    /// Requests due before the segment starts (fractional).
    before: f64,
}

impl Segment {
    /// Requests due in the first `t` seconds of the segment.
    fn count(&self, t: f64) -> f64 {
        self.r0 * t + (self.r1 - self.r0) * t * t / (2.0 * self.len)
    }

    fn total(&self) -> f64 {
        self.count(self.len)
    }

    /// Seconds into the segment at which `n` requests have become due.
    fn time_of(&self, n: f64) -> f64 {
        let a = (self.r1 - self.r0) / (2.0 * self.len);
        let b = self.r0;
        if a.abs() < 1e-12 {
            return if b > 0.0 { n / b } else { 0.0 };
        }
        // The stable root of a t^2 + b t - n = 0.
        let disc = (b * b + 4.0 * a * n).max(0.0);
        let denom = b + disc.sqrt();
        if denom <= 0.0 {
            0.0
        } else {
            (2.0 * n / denom).min(self.len)
        }
    }
}

/// Stages of fixed or linearly ramping rates, back to back.
#[derive(Debug, Clone)]
pub struct Staged {
    segments: Vec<Segment>,
    total: f64,
    length: f64,
}

impl Staged {
    /// A schedule from stages; a ramping stage starts at the previous stage's rate.
    pub fn new(stages: &[Stage]) -> Staged {
        let mut segments = Vec::with_capacity(stages.len());
        let mut start = 0.0;
        let mut before = 0.0;
        let mut prev_rate = stages.first().map_or(0.0, |s| s.rate);
        for s in stages {
            let len = s.duration.as_secs_f64();
            let r0 = if s.ramp { prev_rate } else { s.rate };
            let seg = Segment {
                start,
                len,
                r0,
                r1: s.rate,
                before,
            };
            before += seg.total();
            start += len;
            prev_rate = s.rate;
            segments.push(seg);
        }
        Staged {
            segments,
            total: before,
            length: start,
        }
    }

    /// A single fixed rate for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Staged {
        Staged::new(&[Stage {
            duration,
            rate,
            ramp: false,
        }])
    }

    /// The scheduled arrival rate `elapsed` into the run (0 after the end).
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        if t >= self.length {
            return 0.0;
        }
        self.segments
            .iter()
            .rev()
            .find(|s| s.start <= t)
            .map_or(0.0, |s| s.r0 + (s.r1 - s.r0) * (t - s.start) / s.len)
    }

    /// The number of requests the whole schedule holds.
    pub fn total(&self) -> u64 {
        // Rounding guards against 999.9999 for a schedule of exactly 1000.
        let t = (self.total * 1e6).round() / 1e6;
        t.ceil() as u64
    }
}

impl Pacer for Staged {
    fn due(&self, i: u64) -> Option<Duration> {
        if i >= self.total() {
            return None;
        }
        let n = i as f64;
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.before <= n + 1e-9 && s.total() > 0.0)?;
        let t = seg.start + seg.time_of(n - seg.before);
        Some(Duration::from_secs_f64(t.min(self.length)))
    }

    fn due_before(&self, elapsed: Duration) -> u64 {
        let t = elapsed.as_secs_f64();
        if t >= self.length {
            return self.total();
        }
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.start <= t)
            .expect("the first segment starts at 0");
        let n = seg.before + seg.count(t - seg.start);
        (((n * 1e6).round() / 1e6).ceil() as u64).min(self.total())
    }

    fn length(&self) -> Duration {
        Duration::from_secs_f64(self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, rate: f64, ramp: bool) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            rate,
            ramp,
        }
    }

    #[test]
    fn constant_rate_spaces_requests_evenly() {
        let p = Staged::constant(1000.0, Duration::from_secs(2));
        assert_eq!(p.total(), 2000);
        assert_eq!(p.due(0), Some(Duration::ZERO));
        assert_eq!(p.due(500), Some(Duration::from_millis(500)));
        assert_eq!(p.due(1999).unwrap().as_micros(), 1_999_000);
        assert_eq!(p.due(2000), None);
        assert_eq!(p.due_before(Duration::from_millis(10)), 10);
        assert_eq!(p.due_before(Duration::from_secs(5)), 2000);
    }

    #[test]
    fn stages_step_and_ramp() {
        // 1 s at 100/s, then 2 s ramping 100 -> 300/s (400 requests), then 1 s at 50/s.
        let p = Staged::new(&[s(1, 100.0, false), s(2, 300.0, true), s(1, 50.0, false)]);
        assert_eq!(p.total(), 100 + 400 + 50);
        assert_eq!(p.length(), Duration::from_secs(4));
        assert_eq!(p.due_before(Duration::from_secs(1)), 100);
        assert_eq!(p.due_before(Duration::from_secs(3)), 500);
        // Halfway through the ramp: 100 + (100 * 1 + 100 * 1 / 2) = 250 due.
        assert_eq!(p.due_before(Duration::from_secs(2)), 250);
        let t = p.due(250).unwrap().as_secs_f64();
        assert!((t - 2.0).abs() < 1e-6, "{t}");
        // Due times never go backwards.
        let mut last = Duration::ZERO;
        for i in 0..p.total() {
            let d = p.due(i).unwrap();
            assert!(d >= last, "request {i}");
            last = d;
        }
        assert!(last < Duration::from_secs(4));
        assert_eq!(p.rate_at(Duration::from_millis(500)), 100.0);
        assert!((p.rate_at(Duration::from_secs(2)) - 200.0).abs() < 1e-9);
        assert_eq!(p.rate_at(Duration::from_millis(3500)), 50.0);
        assert_eq!(p.rate_at(Duration::from_secs(9)), 0.0);
    }

    #[test]
    fn a_zero_rate_stage_is_a_pause() {
        let p = Staged::new(&[s(1, 10.0, false), s(1, 0.0, false), s(1, 10.0, false)]);
        assert_eq!(p.total(), 20);
        assert_eq!(p.due(10).unwrap(), Duration::from_secs(2));
    }
}
