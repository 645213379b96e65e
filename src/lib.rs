//! jwtstorm: stress-test JWT verification. Mint labelled token batches, replay them against a
//! verifier under load, and check that every token got the answer it deserved.
//!
//! The binary is a thin shell over [`run`]; integration tests call it in-process.

pub mod capacity;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod error;
pub mod files;
pub mod gate;
pub mod idp;
pub mod interrupt;
pub mod model;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod session;
pub mod stats;
pub mod text;
pub mod tls;
pub mod token;
pub mod units;
pub mod verifier;

pub use error::{Failure, exit};

/// Runs one parsed command line and returns the exit code it earned.
pub fn run(cli: cli::Cli) -> Result<i32, Failure> {
    commands::dispatch(cli)
}
