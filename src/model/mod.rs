//! Types every layer shares: what a step changes ([`Change`]), what it
//! registers ([`Facts`]), its [`Status`], the identity of a step run
//! ([`StepKey`]), the events reporters render, the checkpoint interface a
//! task records progress through, and the exit codes of the contract.
//! This module uses only [`crate::util`].

use serde::{Deserialize, Serialize};

pub mod events;
pub mod key;

pub use events::Status;
pub use key::StepKey;

/// Registered output of a step: a JSON object.
pub type Facts = serde_json::Map<String, serde_json::Value>;

/// One difference between the actual and the desired state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// What changes, as a stable key (`cluster_config.calico_kdd`, `run`).
    pub key: String,
    /// A one-line description for humans.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<serde_json::Value>,
    /// Before/after text of a changed file, for `--diff` (never stored).
    #[serde(skip)]
    pub diff: Option<TextDiff>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextDiff {
    pub name: String,
    pub before: String,
    pub after: String,
}

impl Change {
    pub fn new(key: impl Into<String>, summary: impl Into<String>) -> Self {
        Change {
            key: key.into(),
            summary: summary.into(),
            from: None,
            to: None,
            diff: None,
        }
    }
}

/// Lets a task record, durably, that its apply reached a point of no return
/// (`put-sent`, or one host of a fan-out done), so that a resumed run knows
/// what an interrupted apply may already have done.
pub trait Checkpoint: Send + Sync {
    fn record(&self, name: &str) -> Result<(), String>;
}

/// Exit codes (SPEC §2): the CLI maps typed results to these.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const WOULD_CHANGE: i32 = 3;
    pub const LOCKED: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}
