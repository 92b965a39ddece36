//! The engine: the plan of a run, the check → apply → re-check of each
//! step, the journal (written by the recorder alone) and resume, the lock.
//! The engine never reads stdin or writes to a terminal: approval comes
//! from an [`Approver`], results go out as events, and the CLI turns the
//! typed result ([`RunStatus`] or [`RunError`]) into an exit code.

use std::path::PathBuf;

pub mod approve;
mod items;
pub mod journal;
pub mod lock;
mod plan;
mod prepare;
pub mod recorder;
pub mod resume;
mod run_state;
pub mod runner;
mod step;
#[cfg(test)]
mod tests;

pub use approve::{Approval, ApprovalFuture, Approver};
pub use plan::{check_selection, selected_steps};
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
    #[error("cannot use the state directory {dir}: {source}")]
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
    #[error("--start-at `{id}`: no step has that id{}", did_you_mean(suggestion))]
    NoSuchStep {
        id: String,
        suggestion: Option<String>,
    },
    #[error(
        "--resend {step}: step `{step}` has no earlier apply of unknown outcome{}",
        if open.is_empty() { String::new() } else { format!(" (these do: {})", open.join(", ")) }
    )]
    NothingToResend { step: String, open: Vec<String> },
    #[error(
        "{flag} `{tag}`: no step has that tag{}; {known} (a selection that matched nothing would check nothing)",
        did_you_mean(suggestion)
    )]
    UnknownTag {
        flag: &'static str,
        tag: String,
        suggestion: Option<String>,
        known: String,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Locked(e) => e.exit_code(),
            RunError::InputsChanged { .. }
            | RunError::NoSuchStep { .. }
            | RunError::UnknownTag { .. }
            | RunError::NothingToResend { .. } => exit::USAGE,
            RunError::Journal(_) | RunError::StateDir { .. } => exit::FAILED,
        }
    }
}
