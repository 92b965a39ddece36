//! The engine: the plan of a run, the check → apply → re-check of each
//! step, the journal (written by the recorder alone) and resume, the lock.
//! The engine never reads stdin or writes to a terminal: approval comes
//! from an [`Approver`], results go out as events, and the CLI turns the
//! typed result ([`RunStatus`] or [`RunError`]) into an exit code.

use std::path::PathBuf;

pub mod approve;
pub mod journal;
pub mod lock;
mod plan;
pub mod recorder;
pub mod resume;
pub mod runner;
mod step;
#[cfg(test)]
mod tests;

pub use approve::{Approval, ApprovalFuture, Approver};
pub use runner::{RunOptions, Runner};

use crate::model::exit;
use journal::JournalError;
use lock::LockError;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every step in sync or applied (with `--check`: nothing would change).
    Ok,
    /// `--check` found changes a real run would make.
    WouldChange,
    /// A step failed or is blocked.
    Failed,
    /// SIGINT/SIGTERM: the journal is consistent; run again to resume.
    Interrupted,
}

impl RunStatus {
    /// The `status` of `run_end` events and records.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::WouldChange => "would_change",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Ok => exit::OK,
            RunStatus::WouldChange => exit::WOULD_CHANGE,
            RunStatus::Failed => exit::FAILED,
            RunStatus::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// A problem before or around the steps (not a step result).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Locked(LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot create the state directory {dir}: {source}")]
    StateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "an unfinished run (started {started}) in {dir} cannot be resumed: {what}.\n  Run the same playbook, inventory and variables to resume it, or pass --fresh to start over"
    )]
    InputsChanged {
        dir: PathBuf,
        started: String,
        what: String,
    },
    #[error("--start-at `{0}`: no step has that id")]
    NoSuchStep(String),
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Locked(e) => e.exit_code(),
            RunError::InputsChanged { .. } | RunError::NoSuchStep(_) => exit::USAGE,
            RunError::Journal(_) | RunError::StateDir { .. } => exit::FAILED,
        }
    }
}
