//! The runner: the loop over the plan. For each step it decides whether it
//! runs (selection, an earlier stop, `requires`, a result the journal
//! already holds), runs it through [`StepEnv`] under its timeout and the
//! interrupt signal, and turns the result into an event and a journal
//! record. Preparing the state directory (lock, journal, resume) comes
//! first; a dry run (`--check`) keeps no journal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::approve::Approver;
use super::journal::{Inputs, Record};
use super::lock::RunLock;
use super::plan::Plan;
use super::recorder::{Opened, Recorder};
use super::resume::Resume;
use super::step::{Outcome, StepEnv, StepRun};
use super::{RunError, RunStatus};
use crate::model::events::{Event, Events, RunEnd, RunStart, StepEnd, StepStart};
use crate::model::{Status, StepKey};
use crate::playbook::{Playbook, Step};
use crate::tasks::Connections;
use crate::template::{Scope, Templates, to_value};
use crate::util::fsx;

pub struct RunOptions {
    pub check: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub start_at: Option<String>,
    pub fresh: bool,
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

/// What the state directory gave a real run.
struct Prepared {
    recorder: Recorder,
    resume: Resume,
    warnings: Vec<String>,
    _lock: Option<RunLock>,
}

/// Counts of final statuses, and whether the run had a problem.
struct Tally {
    counts: BTreeMap<&'static str, usize>,
    problem: bool,
}

impl Tally {
    fn add(&mut self, status: Status) {
        *self.counts.entry(status.json_name()).or_default() += 1;
    }
}

impl Runner<'_> {
    /// Takes the lock and opens the journal: a real run resumes an
    /// unfinished run of the same inputs, and carries applies of unknown
    /// outcome forward; `--fresh` forgets both.
    fn prepare(&mut self) -> Result<Prepared, RunError> {
        if self.opts.check {
            return Ok(Prepared {
                recorder: Recorder::disabled(),
                resume: Resume::default(),
                warnings: Vec::new(),
                _lock: self.lock.take(),
            });
        }
        let dir = &self.opts.state_dir;
        fsx::ensure_dir(dir).map_err(|source| RunError::StateDir {
            dir: dir.clone(),
            source,
        })?;
        let lock = match self.lock.take() {
            Some(l) => l,
            None => RunLock::acquire(dir).map_err(RunError::Locked)?,
        };
        let mut warnings = Vec::new();
        if let Some(stale) = &lock.stale {
            warnings.push(format!(
                "an earlier run ({stale}) ended without releasing the state directory; taking it over"
            ));
        }
        let opened = Opened::open(dir, self.opts.fresh)?;
        if let Some(torn) = opened.loaded.torn_bytes {
            warnings.push(format!(
                "the journal's last record was torn by a crash ({torn} bytes); it was cut off and the step it described will be checked again"
            ));
        }
        let resume = if self.opts.fresh {
            Resume::default()
        } else {
            Resume::of(&opened.loaded)
        };
        if let Some(earlier) = &resume.unfinished {
            let diffs = self.opts.inputs.differences(&earlier.inputs);
            if !diffs.is_empty() {
                return Err(RunError::InputsChanged {
                    dir: dir.clone(),
                    started: earlier.started.clone(),
                    what: diffs.join("; "),
                });
            }
        }
        let recorder = opened.start(resume.unfinished.is_some())?;
        recorder.run_start(
            &self.opts.inputs,
            resume.unfinished.as_ref().map(|e| e.run_id.as_str()),
        )?;
        for (key, checkpoints) in &resume.open_applies {
            recorder.carry_open_apply(key, checkpoints)?;
        }
        Ok(Prepared {
            recorder,
            resume,
            warnings,
            _lock: Some(lock),
        })
    }

    /// Runs the playbook.
    pub async fn run(
        mut self,
        mut interrupt: watch::Receiver<bool>,
    ) -> Result<RunStatus, RunError> {
        let started = Instant::now();
        let mut plan = Plan::new(self.pb, self.opts, self.templates)?;
        let prepared = self.prepare()?;
        let recorder = &prepared.recorder;
        let resume = &prepared.resume;
        self.events.emit(Event::RunStart(RunStart {
            playbook: self.pb.path.display().to_string(),
            name: self.pb.name.clone(),
            digest: self.pb.digest.clone(),
            check: self.opts.check,
            resumed: resume.unfinished.is_some(),
            run_id: recorder.run_id().to_string(),
            steps: self.pb.steps.len(),
            state_dir: self.opts.state_dir.display().to_string(),
        }));
        for message in &prepared.warnings {
            self.events.emit(Event::Warning {
                message: message.clone(),
            });
        }
        let env = StepEnv {
            check: self.opts.check,
            templates: self.templates,
            scope: &self.scope,
            state_dir: &self.opts.state_dir,
            conn: self.conn,
            events: &self.events,
            recorder,
            approver: self.approver,
        };
        let mut tally = Tally {
            counts: Status::ALL.iter().map(|s| (s.json_name(), 0)).collect(),
            problem: false,
        };
        let mut interrupted = false;

        for step in &self.pb.steps {
            let key = StepKey::step(step.id.as_str());
            let name = key.to_string();
            if let Some(reason) = plan.skip_reason(step) {
                self.end(step, &key, Outcome::new(Status::Skipped, reason), 0, false);
                tally.add(Status::Skipped);
                continue;
            }
            if let Some(Record::StepEnd {
                status,
                message,
                duration_ms,
                changes,
                output,
                remedy,
                ..
            }) = resume.finished.get(&name).cloned()
            {
                let o = Outcome {
                    changes,
                    output,
                    remedy,
                    ..Outcome::new(status, message)
                };
                self.scope
                    .set_output(&step.id, step.register.as_deref(), to_value(&o.output));
                recorder.step_end(
                    &name,
                    step.module,
                    step.name.as_deref(),
                    &o,
                    duration_ms,
                    false,
                    true,
                )?;
                self.start(step, &key);
                plan.record(step, &o, false);
                tally.add(status);
                self.end_from_journal(step, &key, o, duration_ms);
                continue;
            }
            if *interrupt.borrow() {
                interrupted = true;
                break;
            }
            self.start(step, &key);
            if let Some(o) = plan.unmet_requires(step) {
                tally.problem = true;
                tally.add(Status::Blocked);
                plan.record(step, &o, false);
                self.end(step, &key, o, 0, false);
                continue;
            }
            let t0 = Instant::now();
            let run = StepRun {
                step,
                key: &key,
                pending: plan.pending(),
                earlier_apply: resume.open_applies.get(&name).map(Vec::as_slice),
            };
            let result = tokio::select! {
                r = with_timeout(step, env.run(&run)) => Some(r),
                _ = interrupt.wait_for(|v| *v) => None,
            };
            let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
            let outcome = match result {
                None => {
                    recorder.close_open_apply(
                        "interrupted during apply: the next run checks again before anything else",
                    )?;
                    interrupted = true;
                    tally.add(Status::Failed);
                    self.end(
                        step,
                        &key,
                        Outcome::new(Status::Failed, "interrupted"),
                        ms,
                        false,
                    );
                    break;
                }
                Some(r) => plan.explain_in_check(step, r?),
            };
            // An apply the step's timeout cut off: close its bracket.
            recorder.close_open_apply(&outcome.message)?;
            let ignored = outcome.status.is_problem() && step.ignore_errors;
            tally.problem |= outcome.status.is_problem() && !ignored;
            plan.record(step, &outcome, ignored);
            self.scope.set_output(
                &step.id,
                step.register.as_deref(),
                to_value(&outcome.output),
            );
            recorder.step_end(
                &name,
                step.module,
                step.name.as_deref(),
                &outcome,
                ms,
                ignored,
                false,
            )?;
            tally.add(outcome.status);
            self.end(step, &key, outcome, ms, ignored);
        }

        let status = if interrupted {
            RunStatus::Interrupted
        } else if tally.problem {
            RunStatus::Failed
        } else if self.opts.check && tally.counts.get("would_change").is_some_and(|n| *n > 0) {
            RunStatus::WouldChange
        } else {
            RunStatus::Ok
        };
        recorder.run_end(status.name(), status.exit_code())?;
        self.events.emit(Event::RunEnd(RunEnd {
            status: status.name().to_string(),
            exit_code: status.exit_code(),
            counts: tally.counts,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }));
        Ok(status)
    }

    fn start(&self, step: &Step, key: &StepKey) {
        self.events.emit(Event::StepStart(StepStart {
            step: key.to_string(),
            module: step.module.to_string(),
            name: step.name.clone(),
        }));
    }

    fn end(&self, step: &Step, key: &StepKey, o: Outcome, ms: u64, ignored: bool) {
        self.emit_end(step, key, o, ms, false, ignored);
    }

    fn end_from_journal(&self, step: &Step, key: &StepKey, o: Outcome, ms: u64) {
        self.emit_end(step, key, o, ms, true, false);
    }

    fn emit_end(
        &self,
        step: &Step,
        key: &StepKey,
        o: Outcome,
        ms: u64,
        from_journal: bool,
        ignored: bool,
    ) {
        self.events.emit(Event::StepEnd(StepEnd {
            step: key.to_string(),
            module: step.module.to_string(),
            name: step.name.clone(),
            status: o.status,
            changes: o.changes,
            message: o.message,
            remedy: o.remedy,
            duration_ms: ms,
            output: o.output,
            from_journal,
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
