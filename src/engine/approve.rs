//! Approval of disruptive steps. The engine asks an [`Approver`] the CLI
//! supplies (a terminal prompt, `--yes`, or a refusal when there is no one
//! to ask), so the engine itself never reads stdin or writes to a terminal.

use std::future::Future;
use std::pin::Pin;

use crate::model::Change;

/// The answer to "apply these disruptive changes now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved,
    /// Not approved, and why (`not approved at the prompt`, `no terminal to
    /// ask on`).
    Refused(String),
}

pub type ApprovalFuture<'a> = Pin<Box<dyn Future<Output = Approval> + Send + 'a>>;

pub trait Approver: Send + Sync {
    /// Asks whether step `key` may make `changes` now.
    fn approve<'a>(&'a self, key: &'a str, changes: &'a [Change]) -> ApprovalFuture<'a>;
}

/// Approves everything (`--yes`).
pub struct ApproveAll;

impl Approver for ApproveAll {
    fn approve<'a>(&'a self, _: &'a str, _: &'a [Change]) -> ApprovalFuture<'a> {
        Box::pin(async { Approval::Approved })
    }
}

/// Refuses everything, saying why (no terminal and no `--yes`).
pub struct RefuseAll(pub String);

impl Approver for RefuseAll {
    fn approve<'a>(&'a self, _: &'a str, _: &'a [Change]) -> ApprovalFuture<'a> {
        Box::pin(async move { Approval::Refused(self.0.clone()) })
    }
}
