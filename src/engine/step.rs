//! One step key, from its `when` to its result: render and type the
//! parameters, check (with `retries`), and after drift ask approval for a
//! disruptive step, apply inside a fsynced journal bracket, and re-check:
//! a step is `changed` only when the re-check is in sync. With `--check`
//! nothing is applied.

use std::path::PathBuf;
use std::sync::Arc;

use super::approve::{Approval, Approver};
use super::journal::JournalError;
use super::recorder::Recorder;
use crate::model::events::Events;
use crate::model::{Change, Facts, Status, StepKey, TextDiff};
use crate::playbook::Step;
use crate::playbook::typing::render_and_type;
use crate::tasks::{Check, Connections, StepContext, Task, TaskError};
use crate::template::{Scope, Templates, error_text};

/// The result of one step key, before it becomes an event and a record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub message: String,
    pub remedy: Option<String>,
    pub changes: Vec<Change>,
    pub output: Facts,
    /// In `--check`: the earlier step whose pending change this one waits on.
    pub after: Option<String>,
    pub diffs: Vec<TextDiff>,
    /// The change was made by the run this one resumes (the journal says
    /// so; the step's check may have confirmed it).
    pub from_journal: bool,
}

impl Outcome {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            message: message.into(),
            remedy: None,
            changes: Vec::new(),
            output: Facts::new(),
            after: None,
            diffs: Vec::new(),
            from_journal: false,
        }
    }

    pub fn failed(e: TaskError) -> Self {
        Outcome {
            remedy: e.remedy,
            output: *e.output,
            ..Outcome::new(Status::Failed, e.message)
        }
    }
}

/// What every step of a run shares.
pub struct StepEnv<'r> {
    pub check: bool,
    pub templates: &'r Templates,
    pub scope: &'r Arc<Scope>,
    pub state_dir: &'r PathBuf,
    pub conn: &'r Connections,
    pub events: &'r Events,
    pub recorder: &'r Recorder,
    pub approver: &'r dyn Approver,
}

/// One step key to run.
pub struct StepRun<'s> {
    pub step: &'s Step,
    pub key: &'s StepKey,
    /// Pending changes of earlier steps (`--check`).
    pub pending: &'s [(String, Change)],
    /// Checkpoints of an earlier apply of this key whose outcome is
    /// unknown (`None`: there was none).
    pub earlier_apply: Option<&'s [String]>,
    /// The run this one resumes applied this key (its recorded result):
    /// never apply it again; check it again where the module can.
    pub applied_before: Option<&'s Outcome>,
}

impl StepEnv<'_> {
    /// Runs one step key: `when`, typing, check, apply, re-check.
    pub async fn run(&self, r: &StepRun<'_>) -> Result<Outcome, JournalError> {
        let scope_value = self.scope.value();
        if let Some((expr, _)) = &r.step.when {
            match self.templates.eval_bool(expr, &scope_value) {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(Outcome::new(
                        Status::Skipped,
                        format!("`when: {expr}` is false"),
                    ));
                }
                Err(e) => {
                    return Ok(Outcome::new(
                        Status::Failed,
                        format!("`when: {expr}`: {}", error_text(&e)),
                    ));
                }
            }
        }
        let task = match render_and_type(r.step, self.templates, self.scope, &scope_value) {
            Ok(t) => t,
            Err(e) => return Ok(Outcome::new(Status::Failed, e.to_string())),
        };
        if let Some(before) = r.applied_before
            && !task.verifiable()
        {
            // Nothing can tell whether it still holds: the journal's word.
            return Ok(Outcome {
                from_journal: true,
                ..before.clone()
            });
        }
        let key = r.key.to_string();
        let checkpointer = self.recorder.checkpointer(&key);
        let cx = StepContext {
            key: r.key,
            check_mode: self.check,
            templates: self.templates,
            scope: self.scope,
            state_dir: self.state_dir,
            pending: r.pending,
            conn: self.conn,
            events: self.events,
            interrupted_apply: r.earlier_apply.is_some(),
            earlier_checkpoints: r.earlier_apply.unwrap_or_default(),
            checkpointer: &checkpointer,
        };
        self.check_and_apply(r, &key, &task, &cx).await
    }

    async fn check_with_retries(
        &self,
        step: &Step,
        task: &Task,
        cx: &StepContext<'_>,
    ) -> Result<Check, TaskError> {
        let mut attempt = 0;
        loop {
            let r = task.check(cx).await;
            let settled = matches!(
                r,
                Ok(Check::InSync { .. }) | Ok(Check::Drift { .. }) | Ok(Check::AfterPending { .. })
            );
            // A dry run does not wait: nothing it does can change the answer.
            if settled || attempt >= step.retries || self.check {
                return r;
            }
            attempt += 1;
            tokio::time::sleep(step.delay).await;
        }
    }

    async fn check_and_apply(
        &self,
        r: &StepRun<'_>,
        key: &str,
        task: &Task,
        cx: &StepContext<'_>,
    ) -> Result<Outcome, JournalError> {
        let check = match self.check_with_retries(r.step, task, cx).await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::failed(e)),
        };
        if let Some(before) = r.applied_before {
            return Ok(reconfirm(before, check));
        }
        let (message, changes, output) = match check {
            Check::InSync { message, output } => {
                if r.earlier_apply.is_some() && !self.check {
                    // The earlier apply's outcome is known now: it took
                    // effect (or was not needed). Close its bracket.
                    self.recorder
                        .apply_end(key, true, false, "read back: in sync")?;
                }
                return Ok(Outcome {
                    output,
                    ..Outcome::new(Status::Ok, message)
                });
            }
            Check::Blocked {
                reason,
                remedy,
                output,
            } => {
                return Ok(Outcome {
                    remedy: Some(remedy),
                    output,
                    ..Outcome::new(Status::Blocked, reason)
                });
            }
            Check::AfterPending { after, message } => {
                let status = if self.check {
                    Status::WouldChange
                } else {
                    Status::Failed
                };
                return Ok(Outcome {
                    after: Some(after.clone()),
                    ..Outcome::new(status, format!("after {after}: {message}"))
                });
            }
            Check::Drift {
                message,
                changes,
                output,
            } => (message, changes, output),
        };
        let diffs: Vec<TextDiff> = changes.iter().filter_map(|c| c.diff.clone()).collect();
        if self.check {
            return Ok(Outcome {
                changes,
                output,
                diffs,
                ..Outcome::new(Status::WouldChange, message)
            });
        }
        if task.disruptive()
            && let Approval::Refused(why) = self.approver.approve(key, &changes).await
        {
            return Ok(Outcome {
                changes,
                remedy: Some("re-run with --yes to approve this disruptive step (rehearse first with --check or --sandbox)".into()),
                ..Outcome::new(Status::Failed, format!("{message}: disruptive, needs approval ({why}); nothing was applied"))
            });
        }

        // Apply, bracketed by fsynced journal records.
        self.recorder.apply_start(key, &changes)?;
        let applied = task.apply(cx, &changes).await;
        match &applied {
            Ok(_) => self.recorder.apply_end(key, true, false, "applied")?,
            Err(e) => self
                .recorder
                .apply_end(key, false, e.outcome_unknown, &e.message)?,
        }
        let mut facts = match applied {
            Ok(f) => f,
            Err(e) => {
                return Ok(Outcome {
                    changes,
                    ..Outcome::failed(e)
                });
            }
        };
        if !task.changed(&facts) {
            let mut merged = output;
            merged.append(&mut facts);
            return Ok(Outcome {
                output: merged,
                ..Outcome::new(
                    Status::Ok,
                    format!(
                        "{}: `changed_when` says nothing changed",
                        changes
                            .iter()
                            .map(|c| c.summary.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            });
        }
        let mut merged = output;
        merged.append(&mut facts);
        let done = changes
            .iter()
            .map(|c| c.summary.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let changed = Outcome {
            changes,
            diffs,
            output: merged,
            ..Outcome::new(
                Status::Changed,
                if done.is_empty() {
                    message
                } else {
                    format!("done: {done}")
                },
            )
        };
        if !task.verifiable() {
            return Ok(changed);
        }
        Ok(self.recheck(r.step, task, cx, changed).await)
    }

    /// Re-checks after an apply: `changed` only when the state is now in
    /// sync (retrying as the step's `retries`/`delay` say).
    async fn recheck(
        &self,
        step: &Step,
        task: &Task,
        cx: &StepContext<'_>,
        changed: Outcome,
    ) -> Outcome {
        let mut attempt = 0;
        loop {
            match task.check(cx).await {
                Ok(Check::InSync { output, .. }) => {
                    let mut o = changed;
                    o.output.extend(output);
                    return o;
                }
                r if attempt >= step.retries => {
                    let detail = match r {
                        Ok(Check::Drift { message, .. }) => format!("still finds drift: {message}"),
                        Ok(Check::Blocked { reason, .. }) => format!("is blocked: {reason}"),
                        Ok(Check::AfterPending { message, .. }) => message,
                        Ok(Check::InSync { .. }) => unreachable!("handled above"),
                        Err(e) => format!("failed: {e}"),
                    };
                    return Outcome {
                        remedy: Some("add `retries`/`delay` if the change takes time to show, or look at the target".into()),
                        status: Status::Failed,
                        message: format!("applied, but the re-check {detail}"),
                        diffs: Vec::new(),
                        ..changed
                    };
                }
                _ => {
                    attempt += 1;
                    tokio::time::sleep(step.delay).await;
                }
            }
        }
    }
}

/// A resumed step the earlier run applied, checked again: in sync is the
/// earlier change confirmed; drift is a failure, never a second apply
/// (the target changed since, or the journal was edited).
fn reconfirm(before: &Outcome, check: Check) -> Outcome {
    match check {
        Check::InSync { output, .. } => {
            let mut o = before.clone();
            o.output.extend(output);
            o.message = format!("{} (checked again: in sync)", before.message);
            o.from_journal = true;
            o
        }
        Check::Drift {
            message,
            changes,
            output,
        } => Outcome {
            changes,
            output,
            remedy: Some("look at the target: it changed since the earlier run, or the journal was edited; `--fresh` starts over and applies again".into()),
            ..Outcome::new(
                Status::Failed,
                format!("the journal records this step as applied, and its check finds drift now: {message}"),
            )
        },
        Check::Blocked {
            reason,
            remedy,
            output,
        } => Outcome {
            remedy: Some(remedy),
            output,
            ..Outcome::new(Status::Blocked, reason)
        },
        Check::AfterPending { after, message } => Outcome {
            after: Some(after.clone()),
            ..Outcome::new(Status::Failed, format!("after {after}: {message}"))
        },
    }
}
