//! The runner: the loop over the plan. For each step it decides whether it
//! runs (selection, an earlier stop, `requires`, a result the journal
//! already holds), runs it through [`StepEnv`] under its timeout and the
//! interrupt signal, and turns the result into an event and a journal
//! record. Preparing the state directory (lock, journal, resume) comes
//! first; a dry run (`--check`) keeps no journal.

use std::ops::ControlFlow as Flow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::approve::Approver;
use super::items;
use super::journal::Inputs;
use super::lock::RunLock;
use super::plan::Plan;
use super::prepare::prepare;
use super::run_state::{Run, Tally};
use super::step::{Outcome, StepEnv, StepRun};
use super::{RunError, RunStatus};
use crate::model::events::{Event, Events, RunEnd, RunStart, StepEnd, StepStart};
use crate::model::{Facts, Status, StepKey};
use crate::playbook::{Playbook, Step};
use crate::tasks::Connections;
use crate::template::{OutputView, Scope, Templates, to_value};

pub struct RunOptions {
    pub check: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub start_at: Option<String>,
    pub fresh: bool,
    /// Steps whose earlier apply of unknown outcome to forget (`--resend`).
    pub resend: Vec<String>,
    /// Forget every apply of unknown outcome: the cluster they went to is
    /// gone (`--sandbox --fresh` resets the simulated cluster).
    pub forget_unknown: bool,
    pub state_dir: PathBuf,
    pub inputs: Inputs,
}

pub struct Runner<'a> {
    pub pb: &'a Playbook,
    pub opts: &'a RunOptions,
    pub templates: &'a Templates,
    pub scope: Arc<Scope>,
    pub events: Events,
    pub conn: &'a Connections,
    pub approver: &'a dyn Approver,
    /// The state directory's lock, when the caller took it already.
    pub lock: Option<RunLock>,
}

impl Runner<'_> {
    /// Runs the playbook.
    pub async fn run(mut self, interrupt: watch::Receiver<bool>) -> Result<RunStatus, RunError> {
        let started = Instant::now();
        let plan = Plan::new(self.pb, self.opts, self.templates)?;
        let prepared = prepare(self.opts, self.lock.take())?;
        let resume = &prepared.resume;
        self.events.emit(Event::RunStart(RunStart {
            playbook: self.pb.path.display().to_string(),
            name: self.pb.name.clone(),
            digest: self.pb.digest.clone(),
            check: self.opts.check,
            resumed: resume.unfinished.is_some(),
            run_id: prepared.recorder.run_id().to_string(),
            steps: self.pb.steps.len(),
            state_dir: self.opts.state_dir.display().to_string(),
        }));
        for message in &prepared.warnings {
            self.events.emit(Event::Warning {
                message: message.clone(),
            });
        }
        let mut run = Run {
            plan,
            tally: Tally {
                counts: Status::ALL.iter().map(|s| (s.json_name(), 0)).collect(),
                problem: false,
            },
            recorder: &prepared.recorder,
            resume,
            interrupt,
        };
        let mut interrupted = false;
        for step in &self.pb.steps {
            if let Some(reason) = run.plan.skip_reason(step) {
                self.skip(&mut run, step, &StepKey::step(step.id.as_str()), reason);
                continue;
            }
            let flow = match &step.items {
                None => {
                    let key = StepKey::step(step.id.as_str());
                    match self.run_key(&mut run, step, &key, None).await? {
                        Flow::Break(()) => Flow::Break(()),
                        Flow::Continue(_) => Flow::Continue(()),
                    }
                }
                Some(_) => self.run_loop(&mut run, step).await?,
            };
            if flow.is_break() {
                interrupted = true;
                break;
            }
        }

        let status = if interrupted {
            RunStatus::Interrupted
        } else if run.tally.problem {
            RunStatus::Failed
        } else if self.opts.check && run.tally.counts.get("would_change").is_some_and(|n| *n > 0) {
            RunStatus::WouldChange
        } else {
            RunStatus::Ok
        };
        run.recorder.run_end(status.name(), status.exit_code())?;
        self.events.emit(Event::RunEnd(RunEnd {
            status: status.name().to_string(),
            exit_code: status.exit_code(),
            counts: run.tally.counts,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }));
        Ok(status)
    }

    /// A step with `loop:`: one step key per item, then the step's register
    /// (`results` and counts).
    async fn run_loop(&self, run: &mut Run<'_, '_>, step: &Step) -> Result<Flow<()>, RunError> {
        let key = StepKey::step(step.id.as_str());
        let items = match items::evaluate(step, self.templates, &self.scope) {
            Ok(items) => items,
            Err(message) => {
                self.start(step, &key);
                let o = Outcome::new(Status::Failed, message);
                run.finish(self, step, &key, o, 0, false)?;
                return Ok(Flow::Continue(()));
            }
        };
        if items.is_empty() {
            self.skip(run, step, &key, "`loop` has no items");
        }
        let mut results = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = StepKey::iteration(step.id.as_str(), i + 1);
            let _iteration = self.scope.enter_iteration(to_value(item), i, items.len());
            if let Some(reason) = run.plan.stopped() {
                self.skip(run, step, &key, reason);
                results.push((Status::Skipped, items::item_output(Facts::new(), item)));
                continue;
            }
            match self.run_key(run, step, &key, Some(item)).await? {
                Flow::Break(()) => return Ok(Flow::Break(())),
                Flow::Continue(done) => results.push(done),
            }
        }
        self.scope.set_output(
            &step.id,
            step.register.as_deref(),
            OutputView::of(Arc::new(items::aggregate(&results))),
        );
        Ok(Flow::Continue(()))
    }

    /// One step key: from the journal when a resumed run finished it,
    /// else gated by `requires`, run under its timeout and the interrupt,
    /// recorded and reported. Gives the key's status and output, or
    /// `Break` when the run was interrupted.
    async fn run_key(
        &self,
        run: &mut Run<'_, '_>,
        step: &Step,
        key: &StepKey,
        item: Option<&serde_json::Value>,
    ) -> Result<Flow<(), (Status, Facts)>, RunError> {
        let name = key.to_string();
        // What the run this one resumes applied is never applied again;
        // everything else is checked again.
        let applied_before = run.applied_before(&name, item);
        if *run.interrupt.borrow() {
            return Ok(Flow::Break(()));
        }
        self.start(step, key);
        if let Some(o) = run.plan.unmet_requires(step) {
            run.tally.problem = true;
            let done = (
                o.status,
                item.map(|i| items::item_output(Facts::new(), i))
                    .unwrap_or_default(),
            );
            run.finish(self, step, key, o, 0, false)?;
            return Ok(Flow::Continue(done));
        }
        let env = StepEnv {
            check: self.opts.check,
            templates: self.templates,
            scope: &self.scope,
            state_dir: &self.opts.state_dir,
            conn: self.conn,
            events: &self.events,
            recorder: run.recorder,
            approver: self.approver,
        };
        let t0 = Instant::now();
        let job = StepRun {
            step,
            key,
            pending: run.plan.pending(),
            earlier_apply: run.resume.open_applies.get(&name).map(Vec::as_slice),
            applied_before: applied_before.as_ref(),
        };
        let result = tokio::select! {
            r = with_timeout(step, env.run(&job)) => Some(r),
            _ = run.interrupt.wait_for(|v| *v) => None,
        };
        let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        let Some(result) = result else {
            let closed = run.recorder.close_open_apply(
                "interrupted during apply: the next run checks again before anything else",
            )?;
            // Say how far it got: the journal knows.
            let message = match closed {
                None => "interrupted before anything was applied".to_string(),
                Some(reached) if reached.is_empty() => "interrupted during its apply, before any point of no return; the next run checks it again before anything else".to_string(),
                Some(reached) => format!(
                    "interrupted during its apply, after `{}`: its effect is unknown until the next run reads it back (it sends nothing before that)",
                    reached.join("`, `")
                ),
            };
            run.tally.add(Status::Failed);
            let o = Outcome::new(Status::Failed, message);
            self.end(step, key, o, ms, false, false);
            return Ok(Flow::Break(()));
        };
        let mut outcome = run.plan.explain_in_check(step, result?);
        if let Ok(client) = &self.conn.mke
            && let Some(denied) = client.denied()
        {
            // No fallback may hide rejected credentials, and nothing after
            // may log in again: the run stops here, in --check too.
            outcome.status = Status::Failed;
            outcome.message = denied.to_string();
            outcome.remedy = Some(
                "check MKE_USERNAME and MKE_PASSWORD (or --password-file); if the account is locked, ask its directory's administrators".into(),
            );
            outcome.after = None;
            run.tally.problem = true;
            run.plan.stop(&name);
        }
        if let Some(item) = item {
            outcome.output = items::item_output(std::mem::take(&mut outcome.output), item);
        }
        // An apply the step's timeout cut off: close its bracket.
        run.recorder.close_open_apply(&outcome.message)?;
        let ignored = outcome.status.is_problem() && step.ignore_errors;
        run.tally.problem |= outcome.status.is_problem() && !ignored;
        // A loop's item hands its output to the loop's register; a plain
        // step's output is shared by the event and the template scope.
        let kept = item.map(|_| outcome.output.clone()).unwrap_or_default();
        let status = outcome.status;
        run.record(step, key, &outcome, ms, ignored)?;
        self.end(step, key, outcome, ms, ignored, item.is_none());
        Ok(Flow::Continue((status, kept)))
    }

    /// Reports a step key that does not run, and why.
    fn skip(&self, run: &mut Run<'_, '_>, step: &Step, key: &StepKey, reason: impl Into<String>) {
        self.end(
            step,
            key,
            Outcome::new(Status::Skipped, reason),
            0,
            false,
            false,
        );
        run.tally.add(Status::Skipped);
    }

    fn start(&self, step: &Step, key: &StepKey) {
        self.events.emit(Event::StepStart(StepStart {
            step: key.to_string(),
            module: step.module.to_string(),
            name: self.name_of(step),
        }));
    }

    /// The step's name, rendered (a name may use `item`, variables and
    /// earlier outputs; one that cannot render is shown as written).
    fn name_of(&self, step: &Step) -> Option<String> {
        let name = step.name.as_deref()?;
        Some(
            self.templates
                .render_str(name, &self.scope.value())
                .unwrap_or_else(|_| name.to_string()),
        )
    }

    /// Emits a step key's `step_end`. `publish`: its output becomes
    /// `steps.ID` (and its register) first, so that the event's rendered
    /// name may use it; one output shared by the event and the scope.
    pub(super) fn end(
        &self,
        step: &Step,
        key: &StepKey,
        o: Outcome,
        ms: u64,
        ignored: bool,
        publish: bool,
    ) {
        let output = Arc::new(o.output);
        if publish {
            self.scope.set_output(
                &step.id,
                step.register.as_deref(),
                OutputView::of(output.clone()),
            );
        }
        self.events.emit(Event::StepEnd(StepEnd {
            step: key.to_string(),
            module: step.module.to_string(),
            name: self.name_of(step),
            status: o.status,
            changes: o.changes,
            message: o.message,
            remedy: o.remedy,
            duration_ms: ms,
            output,
            from_journal: o.from_journal,
            ignored,
            after: o.after,
            diffs: o.diffs,
        }));
    }
}

/// Runs a step's future under its `timeout`, if it has one.
async fn with_timeout<T>(
    step: &Step,
    fut: impl std::future::Future<Output = Result<Outcome, T>>,
) -> Result<Outcome, T> {
    match step.timeout {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Ok(Outcome::new(
                Status::Failed,
                format!("timed out after {}", humantime::format_duration(limit)),
            )),
        },
        None => fut.await,
    }
}
