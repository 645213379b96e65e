//! The shape of the load: closed or open loop, the stages of an open-loop schedule, token order.

use std::time::Duration;

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// N connections, each sending its next request when the last one finishes.
    Closed,
    /// Requests scheduled at a fixed arrival rate, whatever the target does.
    Open,
}

/// One stage of an open-loop schedule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stage {
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Requests per second at the end of the stage (and all through it unless `ramp`).
    pub rate: f64,
    /// Move linearly from the previous stage's rate to `rate`.
    pub ramp: bool,
}

/// Token order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Sequential,
    Shuffle,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Model {
    /// The name results.json uses.
    pub fn name(self) -> &'static str {
        match self {
            Model::Closed => "closed",
            Model::Open => "open",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(Model::Closed),
            "open" => Ok(Model::Open),
            other => Err(format!("'{other}': expected closed or open")),
        }
    }
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sequential" => Ok(Order::Sequential),
            "shuffle" => Ok(Order::Shuffle),
            other => Err(format!("'{other}': expected sequential or shuffle")),
        }
    }
}
