//! Errors at the top: each carries the exit code it means.

use std::fmt;

/// Exit codes: each means one thing.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A threshold or comparison failed.
    pub const VERDICT: i32 = 1;
    /// Bad usage, scenario, key or input.
    pub const BAD_INPUT: i32 = 2;
    /// The run could not proceed (target unreachable, port in use, I/O failure).
    pub const CANNOT_PROCEED: i32 = 3;
    /// Interrupted; results are still written.
    pub const INTERRUPTED: i32 = 130;
}

/// An error with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// A library error that knows which exit code it means; `?` turns it into a [`Failure`].
pub trait ExitCode {
    /// The exit code from [`exit`].
    fn exit_code(&self) -> i32;
}

impl<E: ExitCode + std::error::Error + Send + Sync + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            code: e.exit_code(),
            error: e.into(),
        }
    }
}

/// Marks an error as bad input (exit 2).
pub fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: exit::BAD_INPUT,
        error: error.into(),
    }
}

/// Marks an error as "cannot proceed" (exit 3).
pub fn cannot_proceed(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: exit::CANNOT_PROCEED,
        error: error.into(),
    }
}

/// Adds `bad_input`/`cannot_proceed` to results.
pub trait ResultExt<T> {
    /// Maps the error to exit code 2.
    fn or_bad_input(self) -> Result<T, Failure>;
    /// Maps the error to exit code 3.
    fn or_cannot_proceed(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn or_bad_input(self) -> Result<T, Failure> {
        self.map_err(bad_input)
    }
    fn or_cannot_proceed(self) -> Result<T, Failure> {
        self.map_err(cannot_proceed)
    }
}
