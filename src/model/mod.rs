//! The bottom layer: the vocabulary every other layer shares. It imports nothing else of the
//! crate, so a type two layers need lives here, below both.

pub mod alg;
pub mod format;
pub mod limit;
pub mod load;
pub mod metric;
pub mod outcome;
pub mod reason;
pub mod request;
pub mod status;

pub use format::Format;
pub use limit::{LimitKey, Rate, RateLimit};
pub use load::{Model, Order, Revocation, Segment, Stage};
pub use metric::{Metric, Unit};
pub use outcome::{Deserved, ErrorKind, Judgement, OUTCOMES, Outcome, PerJudgement, PerOutcome};
pub use reason::ReasonMap;
pub use request::{HttpVersion, Placement, TransportKind};
pub use status::{StatusSet, StatusSets};
