//! Errors that stop a run before a verdict, each mapped to an exit code.

use crate::spec::Diagnostic;

/// Why labgrade could not grade. Every variant exits 2: a verdict was never reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Spec(Diagnostic),
    #[error("{0}")]
    Config(Diagnostic),
    #[error("{0}")]
    Environment(String),
    #[error("interrupted")]
    Interrupted,
    /// The lab ran past its overall deadline and was stopped (the report so far is written).
    #[error(
        "lab {lab} did not finish within its deadline of {secs} s; it was stopped, and the report holds the checks that finished (raise it with --deadline-secs)"
    )]
    Deadline { lab: String, secs: u64 },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Interrupted => 130,
            _ => 2,
        }
    }
}

/// Exit codes of a finished run.
pub mod exit {
    pub const PASSED: i32 = 0;
    pub const NOT_PASSED: i32 = 1;
}
