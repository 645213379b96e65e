//! Statistical inference over what a run keeps: distribution-free confidence intervals of a
//! percentile from the order statistics of an HdrHistogram, the dispersion of per-second
//! blocks (how clustered slow requests or errors are), intervals of a share (Wilson) and of a
//! difference of two estimates (MOVER, Newcombe), a rate ratio (quasi-Poisson) and the
//! prediction interval that several baseline runs give.
//!
//! References: Hahn & Meeker, *Statistical Intervals* (1991) (distribution-free intervals for
//! quantiles, prediction intervals); McCullagh & Nelder, *Generalized Linear Models* (1989)
//! (quasi-likelihood dispersion); Wilson, *JASA* (1927); Newcombe, *Stat. Med.* (1998); Zou &
//! Donner, *Stat. Med.* (2008) (MOVER).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// A closed interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    /// The interval scaled by `k` (k > 0).
    pub fn scaled(self, k: f64) -> Interval {
        Interval {
            lo: self.lo * k,
            hi: self.hi * k,
        }
    }
}

/// The two-sided standard normal quantile for `confidence` (0.99 gives 2.576).
pub fn z(confidence: f64) -> f64 {
    Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// The two-sided Student t quantile for `confidence` with `df` degrees of freedom.
pub fn t(confidence: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d.inverse_cdf(1.0 - (1.0 - confidence) / 2.0),
        Err(_) => f64::INFINITY,
    }
}

/// Samples each run needs before percentile `p` is compared: about 10 / (1 − p), so that at
/// least ten samples lie above it (20 for p50, 1,000 for p99, 10,000 for p99.9).
pub fn samples_needed(p: f64) -> u64 {
    (10.0 / (1.0 - p)).round() as u64
}

/// The value of rank `rank` (1-based, clamped to the histogram) in `h`.
pub fn value_at_rank(h: &Histogram<u64>, rank: u64) -> u64 {
    let rank = rank.clamp(1, h.len().max(1));
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            return h.highest_equivalent(v.value_iterated_to());
        }
    }
    h.max()
}

/// The `p` percentile of `h`, as the results report it (the value of rank ⌈p·n⌉).
pub fn quantile(h: &Histogram<u64>, p: f64) -> u64 {
    value_at_rank(h, (p * h.len() as f64).ceil() as u64)
}

/// A distribution-free interval for the `p` percentile: the order statistics whose ranks bound
/// the binomial count below it (normal approximation, valid once n(1 − p) ≥ 10), the variance
/// inflated by `dispersion` (≥ 1) when samples come in clusters.
pub fn quantile_interval(h: &Histogram<u64>, p: f64, z: f64, dispersion: f64) -> Interval {
    let n = h.len() as f64;
    let half = z * (n * p * (1.0 - p) * dispersion.max(1.0)).sqrt();
    let lo = (n * p - half).floor().max(1.0) as u64;
    let hi = ((n * p + half).ceil() + 1.0).min(n) as u64;
    Interval {
        lo: value_at_rank(h, lo) as f64,
        hi: value_at_rank(h, hi) as f64,
    }
}

/// The width of the bucket holding `v`: below this two values are not told apart.
pub fn resolution(h: &Histogram<u64>, v: u64) -> u64 {
    h.highest_equivalent(v) - h.lowest_equivalent(v) + 1
}

/// Pearson dispersion of per-block counts `(n, x)` (x of n samples in a block were "hits")
/// against the binomial: Σ (x − nπ)² / (nπ(1 − π)) / (k − 1). Independent samples give about
/// 1; clustered ones more. At least 1; 1 with fewer than two blocks or no variation possible.
pub fn binomial_dispersion(blocks: &[(u64, u64)]) -> f64 {
    let blocks: Vec<(f64, f64)> = blocks
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|&(n, x)| (n as f64, x as f64))
        .collect();
    if blocks.len() < 2 {
        return 1.0;
    }
    let (n, x) = blocks.iter().fold((0.0, 0.0), |(a, b), (n, x)| (a + n, b + x));
    let pi = x / n;
    if pi <= 0.0 || pi >= 1.0 {
        return 1.0;
    }
    let chi: f64 = blocks
        .iter()
        .map(|(n, x)| (x - n * pi).powi(2) / (n * pi * (1.0 - pi)))
        .sum();
    (chi / (blocks.len() - 1) as f64).max(1.0)
}

/// Dispersion of per-block counts against the Poisson: sample variance over mean, at least 1.
pub fn poisson_dispersion(counts: &[u64]) -> f64 {
    if counts.len() < 2 {
        return 1.0;
    }
    let k = counts.len() as f64;
    let mean = counts.iter().sum::<u64>() as f64 / k;
    if mean <= 0.0 {
        return 1.0;
    }
    let var = counts.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (var / mean).max(1.0)
}

/// The Wilson score interval of the share x / n.
pub fn wilson(x: f64, n: f64, z: f64) -> Interval {
    if n <= 0.0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    }
}

/// MOVER: the interval of `c − b` from an interval of each (Zou & Donner 2008).
pub fn mover(b: f64, ib: Interval, c: f64, ic: Interval) -> Interval {
    let d = c - b;
    Interval {
        lo: d - ((c - ic.lo).powi(2) + (ib.hi - b).powi(2)).sqrt(),
        hi: d + ((ic.hi - c).powi(2) + (b - ib.lo).powi(2)).sqrt(),
    }
}

/// Newcombe's hybrid score interval of the difference of shares xc/nc − xb/nb; each count is
/// divided by its dispersion first (the effective sample size of clustered events).
pub fn share_difference(xb: u64, nb: u64, phi_b: f64, xc: u64, nc: u64, phi_c: f64, z: f64) -> Interval {
    let (pb, pc) = (xb as f64 / nb.max(1) as f64, xc as f64 / nc.max(1) as f64);
    let ib = wilson(xb as f64 / phi_b, nb as f64 / phi_b, z);
    let ic = wilson(xc as f64 / phi_c, nc as f64 / phi_c, z);
    mover(pb, ib, pc, ic)
}

/// The interval of the ratio of two rates, (nc / tc) / (nb / tb), from counts with
/// quasi-Poisson dispersion: exp(ln r ± z·√(φb/nb + φc/nc)). `None` without counts.
pub fn rate_ratio(
    nb: u64,
    tb: f64,
    phi_b: f64,
    nc: u64,
    tc: f64,
    phi_c: f64,
    z: f64,
) -> Option<(f64, Interval)> {
    if nb == 0 || nc == 0 || tb <= 0.0 || tc <= 0.0 {
        return None;
    }
    let r = (nc as f64 / tc) / (nb as f64 / tb);
    let se = (phi_b / nb as f64 + phi_c / nc as f64).sqrt();
    Some((
        r,
        Interval {
            lo: r * (-z * se).exp(),
            hi: r * (z * se).exp(),
        },
    ))
}

/// The half-width of the prediction interval for one more run, from the values several
/// baseline runs gave: t(k − 1) · s · √(1 + 1/k). `None` with fewer than two.
pub fn prediction_half_width(values: &[f64], confidence: f64) -> Option<f64> {
    let k = values.len();
    if k < 2 {
        return None;
    }
    let kf = k as f64;
    let mean = values.iter().sum::<f64>() / kf;
    let s = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (kf - 1.0)).sqrt();
    Some(t(confidence, kf - 1.0) * s * (1.0 + 1.0 / kf).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::recorder::histogram;

    fn uniform(from: u64, to: u64) -> Histogram<u64> {
        let mut h = histogram();
        for v in from..=to {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn quantiles_ranks_and_their_interval() {
        assert!((z(0.99) - 2.5758).abs() < 1e-3);
        assert!((z(0.95) - 1.96).abs() < 1e-3);
        assert!((t(0.99, 4.0) - 4.604).abs() < 1e-2);
        assert_eq!(samples_needed(0.99), 1000);
        assert_eq!(samples_needed(0.999), 10_000);
        assert_eq!(samples_needed(0.5), 20);
        let h = uniform(1, 1000);
        assert_eq!(value_at_rank(&h, 1), 1);
        assert_eq!(value_at_rank(&h, 990), 990);
        assert_eq!(quantile(&h, 0.99), h.value_at_quantile(0.99));
        // n = 1000, p = 0.5: ±2.576·√250 ≈ ±41 ranks.
        let i = quantile_interval(&h, 0.5, z(0.99), 1.0);
        assert!(
            (455.0..=462.0).contains(&i.lo) && (540.0..=546.0).contains(&i.hi),
            "{i:?}"
        );
        // Clustering widens it: four times the variance, twice the width.
        let w = quantile_interval(&h, 0.5, z(0.99), 4.0);
        assert!(w.lo < i.lo - 30.0 && w.hi > i.hi + 30.0, "{w:?}");
    }

    #[test]
    fn dispersion_sees_clusters() {
        // Ten blocks of 1,000 with 10 hits each: exactly binomial-like or tighter, so 1.
        assert_eq!(binomial_dispersion(&[(1000, 10); 10]), 1.0);
        // The same 100 hits all in one block: strongly clustered.
        let mut b = vec![(1000, 0); 10];
        b[3].1 = 100;
        assert!(binomial_dispersion(&b) > 50.0);
        assert_eq!(binomial_dispersion(&[(1000, 10)]), 1.0);
        assert_eq!(poisson_dispersion(&[1000, 1000, 1000]), 1.0);
        assert!(poisson_dispersion(&[100, 1900, 100, 1900]) > 100.0);
    }

    #[test]
    fn shares_and_rates() {
        let w = wilson(0.0, 100.0, z(0.95));
        assert_eq!(w.lo, 0.0);
        assert!((w.hi - 0.037).abs() < 0.001, "{w:?}");
        // 10/1000 vs 40/1000 differ; 10/1000 vs 12/1000 do not.
        let z99 = z(0.99);
        assert!(share_difference(10, 1000, 1.0, 40, 1000, 1.0, z99).lo > 0.0);
        let same = share_difference(10, 1000, 1.0, 12, 1000, 1.0, z99);
        assert!(same.lo < 0.0 && same.hi > 0.0);
        // With dispersion 10 the 40 are no longer surprising.
        assert!(share_difference(10, 1000, 10.0, 40, 1000, 10.0, z99).lo < 0.0);
        let (r, i) = rate_ratio(5000, 5.0, 1.0, 4500, 5.0, 1.0, z99).unwrap();
        assert!((r - 0.9).abs() < 1e-9 && i.hi < 1.0, "{i:?}");
        let (_, i) = rate_ratio(5000, 5.0, 1.0, 4950, 5.0, 1.0, z99).unwrap();
        assert!(i.lo < 1.0 && i.hi > 1.0, "{i:?}");
        assert!(rate_ratio(0, 5.0, 1.0, 10, 5.0, 1.0, z99).is_none());
    }

    #[test]
    fn mover_and_prediction() {
        let i = mover(
            100.0,
            Interval { lo: 90.0, hi: 110.0 },
            130.0,
            Interval { lo: 120.0, hi: 140.0 },
        );
        assert!((i.lo - (30.0 - 200f64.sqrt())).abs() < 1e-9);
        assert!((i.hi - (30.0 + 200f64.sqrt())).abs() < 1e-9);
        assert_eq!(prediction_half_width(&[1.0], 0.99), None);
        assert_eq!(prediction_half_width(&[5.0, 5.0, 5.0], 0.99), Some(0.0));
        let h = prediction_half_width(&[1.0, 2.0, 3.0], 0.99).unwrap();
        assert!((h - 9.925 * (4.0f64 / 3.0).sqrt()).abs() < 0.01, "{h}");
    }
}
