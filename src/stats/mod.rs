//! Recording and summarizing: per-worker recorders, the timeline, and the results file.

pub mod diff;
pub mod inference;
pub mod limits;
pub mod merge;
pub mod recorder;
pub mod results;
pub mod revocations;
pub mod timeline;
