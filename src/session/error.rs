//! What can stop a session before or while it runs, each with the exit code it means.

use std::path::PathBuf;

use crate::error::{ExitCode, exit};
use crate::scenario::ScenarioError;
use crate::token::batch::BatchError;
use crate::token::keys::KeyError;

/// Why a run could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The scenario file, or a value in it, is wrong.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A flag, or a combination of flags and scenario values, is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A key could not be loaded or used.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The batch file could not be read.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The TLS settings could not be built.
    #[error("{0}")]
    Tls(String),
    /// The preflight could not reach the target; the message names the cause.
    #[error("{0}")]
    Unreachable(String),
    /// The target's host name did not resolve.
    #[error("cannot resolve '{host}'")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The results folder or file could not be created: a bad path, refused before any work.
    #[error("cannot create '{}'", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Ctrl-C or SIGTERM arrived before the replay began (while minting).
    #[error("interrupted before anything was sent")]
    Interrupted,
    /// A runtime, thread pool or the embedded verifier could not start.
    #[error("{what}")]
    Start {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ExitCode for SessionError {
    fn exit_code(&self) -> i32 {
        match self {
            SessionError::Scenario(_)
            | SessionError::Invalid(_)
            | SessionError::Keys(_)
            | SessionError::Batch(_)
            | SessionError::Tls(_)
            | SessionError::Output { .. } => exit::BAD_INPUT,
            SessionError::Resolve { .. } | SessionError::Start { .. } | SessionError::Unreachable(_) => {
                exit::CANNOT_PROCEED
            }
            SessionError::Interrupted => exit::INTERRUPTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_means_its_exit_code() {
        let io = || std::io::Error::other("x");
        let cases = [
            (SessionError::Invalid("bad".into()), exit::BAD_INPUT),
            (
                SessionError::Output {
                    path: "out".into(),
                    source: io(),
                },
                exit::BAD_INPUT,
            ),
            (
                SessionError::Resolve {
                    host: "example.invalid".into(),
                    source: io(),
                },
                exit::CANNOT_PROCEED,
            ),
            (
                SessionError::Start {
                    what: "starting",
                    source: io(),
                },
                exit::CANNOT_PROCEED,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            assert_eq!(crate::error::Failure::from(e).code, code);
        }
    }
}
