//! Gating a run: thresholds evaluated against its results.

pub mod thresholds;
