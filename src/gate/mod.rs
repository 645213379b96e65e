//! Gating a run: thresholds evaluated against its results, comparison with a baseline, and
//! CI-native output (JUnit, GitHub step summary and annotations).

pub mod baseline;
pub mod ci;
pub mod compare;
pub mod diff;
pub mod junit;
pub mod thresholds;
