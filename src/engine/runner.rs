//! The runner: for each step, check; apply only after drift; re-check after
//! apply (a step is `changed` only when the re-check is in sync). With
//! `--check` nothing is applied and later steps that wait on an earlier
//! pending change say so. The journal records every step and brackets every
//! apply with fsynced records, so an interrupted run resumes safely.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::journal::{Inputs, Journal, JournalError, Record};
use super::lock::{LockError, RunLock};
use crate::model::events::{Event, Events, RunEnd, RunStart, Status, StepEnd, StepStart};
use crate::playbook::{Playbook, Step};
use crate::tasks::{Change, Check, Connections, Facts, StepContext, Task, TaskError, TextDiff};
use crate::template::{Scope, Templates, error_text, is_template, to_value};
use crate::util::fsx as state;
use crate::yaml::{Kind, Node};

/// Exit codes (SPEC §2).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const WOULD_CHANGE: i32 = 3;
    pub const LOCKED: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}

pub struct RunOptions {
    pub check: bool,
    pub yes: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub start_at: Option<String>,
    pub fresh: bool,
    pub state_dir: PathBuf,
    /// Whether a disruptive step may ask on the terminal.
    pub interactive: bool,
    pub inputs: Inputs,
}

/// A fatal problem before or around the steps (not a step result).
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
            RunError::Locked(LockError::Held { .. }) => exit::LOCKED,
            RunError::InputsChanged { .. } | RunError::NoSuchStep(_) => exit::USAGE,
            _ => exit::FAILED,
        }
    }
}

/// The result of one step, before it becomes an event.
struct Outcome {
    status: Status,
    message: String,
    remedy: Option<String>,
    changes: Vec<Change>,
    output: Facts,
    after: Option<String>,
    diffs: Vec<TextDiff>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            message: message.into(),
            remedy: None,
            changes: Vec::new(),
            output: Facts::new(),
            after: None,
            diffs: Vec::new(),
        }
    }

    fn failed(e: TaskError) -> Self {
        Outcome {
            remedy: e.remedy,
            output: *e.output,
            ..Outcome::new(Status::Failed, e.message)
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn new_run_id() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}-{:x}",
        t.as_secs(),
        std::process::id() ^ t.subsec_nanos()
    )
}

/// Listens for SIGINT/SIGTERM; the receiver turns true on the first one.
pub fn interrupt_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let _ = tx.send(true);
            // A second signal ends the process at once.
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            std::process::exit(exit::INTERRUPTED);
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        }
    });
    rx
}

async fn cancelled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

pub struct Runner<'a> {
    pb: &'a Playbook,
    opts: &'a RunOptions,
    templates: &'a Templates,
    scope: Arc<Scope>,
    events: Events,
    conn: &'a Connections,
    journal: Arc<std::sync::Mutex<Option<Journal>>>,
    run_id: String,
    /// (step id, change) for every pending change in `--check`.
    pending: Vec<(String, Change)>,
    /// Register name → step id.
    registers: HashMap<String, String>,
    /// The step whose apply is under way (for an interruption).
    applying: Option<String>,
    /// The state directory's lock, when the caller took it already.
    lock: Option<RunLock>,
    /// Steps whose apply an interrupted run started without a clean end.
    interrupted_applies: HashSet<String>,
    /// Checkpoints those interrupted applies had reached.
    checkpoints: HashMap<String, Vec<String>>,
}

/// Appends a record to the journal, if the run has one.
fn append(
    journal: &std::sync::Mutex<Option<Journal>>,
    record: &Record,
    sync: bool,
) -> Result<(), JournalError> {
    match journal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        Some(j) => j.append(record, sync),
        None => Ok(()),
    }
}

/// Lets a task record, durably, that its apply reached a point of no return
/// (`put-sent`), so a resumed run knows whether the earlier apply may have
/// had an effect.
pub struct Checkpointer {
    journal: Arc<std::sync::Mutex<Option<Journal>>>,
    run_id: String,
    step: String,
}

impl crate::model::Checkpoint for Checkpointer {
    fn record(&self, name: &str) -> Result<(), String> {
        append(
            &self.journal,
            &Record::Checkpoint {
                run_id: self.run_id.clone(),
                ts: now(),
                step: self.step.clone(),
                name: name.to_string(),
            },
            true,
        )
        .map_err(|e| e.to_string())
    }
}

impl<'a> Runner<'a> {
    pub fn new(
        pb: &'a Playbook,
        opts: &'a RunOptions,
        templates: &'a Templates,
        scope: Arc<Scope>,
        events: Events,
        conn: &'a Connections,
    ) -> Self {
        let registers = pb
            .steps
            .iter()
            .filter_map(|s| Some((s.register.clone()?, s.id.clone())))
            .collect();
        Runner {
            pb,
            opts,
            templates,
            scope,
            events,
            conn,
            journal: Arc::default(),
            run_id: new_run_id(),
            pending: Vec::new(),
            registers,
            applying: None,
            lock: None,
            interrupted_applies: HashSet::new(),
            checkpoints: HashMap::new(),
        }
    }

    /// Uses a lock the caller already holds (taken before anything else
    /// touched the state directory).
    pub fn with_lock(mut self, lock: Option<RunLock>) -> Self {
        self.lock = lock;
        self
    }

    fn emit(&mut self, ev: Event) {
        self.events.emit(ev);
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }

    fn journal(&self, record: Record, sync: bool) -> Result<(), JournalError> {
        append(&self.journal, &record, sync)
    }

    /// Runs the playbook; returns the exit code.
    pub async fn run(mut self, mut interrupt: watch::Receiver<bool>) -> Result<i32, RunError> {
        let started = Instant::now();
        if let Some(target) = &self.opts.start_at
            && !self.pb.steps.iter().any(|s| &s.id == target)
        {
            return Err(RunError::NoSuchStep(target.clone()));
        }

        // Lock, journal and resume (a real run only).
        let mut _lock = None;
        let mut finished: HashMap<String, Record> = HashMap::new();
        let mut resumes = None;
        let mut warnings = Vec::new();
        if !self.opts.check {
            let dir = &self.opts.state_dir;
            state::ensure_dir(dir).map_err(|source| RunError::StateDir {
                dir: dir.clone(),
                source,
            })?;
            let lock = match self.lock.take() {
                Some(l) => l,
                None => RunLock::acquire(dir).map_err(RunError::Locked)?,
            };
            if let Some(stale) = &lock.stale {
                warnings.push(format!(
                    "an earlier run ({stale}) ended without releasing the state directory; taking it over"
                ));
            }
            _lock = Some(lock);
            let (journal, loaded) = Journal::open(dir, self.opts.fresh)?;
            if let Some(torn) = loaded.torn_bytes {
                warnings.push(format!(
                    "the journal's last record was torn by a crash ({torn} bytes); it was cut off and the step it described will be checked again"
                ));
            }
            // Applies whose outcome is unknown (cut off, timed out, or failed
            // without knowing whether they took effect) in the last run,
            // however that run ended. They are carried into this run's
            // journal, so a later run still knows; --fresh forgets them.
            if let (Some(run), false) = (loaded.last_run(), self.opts.fresh) {
                let mut open: HashSet<String> = HashSet::new();
                for r in run {
                    match r {
                        Record::ApplyStart { step, .. } => {
                            open.insert(step.clone());
                        }
                        Record::Checkpoint { step, name, .. } => {
                            let names = self.checkpoints.entry(step.clone()).or_default();
                            if !names.contains(name) {
                                names.push(name.clone());
                            }
                        }
                        Record::ApplyEnd {
                            step,
                            unknown: false,
                            ..
                        } => {
                            open.remove(step);
                            self.checkpoints.remove(step);
                        }
                        _ => {}
                    }
                }
                self.checkpoints.retain(|step, _| open.contains(step));
                self.interrupted_applies = open;
            }
            if let (Some(run), false) = (loaded.unfinished_run(), self.opts.fresh) {
                if let Some(Record::RunStart {
                    inputs, ts, run_id, ..
                }) = run.first()
                {
                    let diffs = self.opts.inputs.differences(inputs);
                    if !diffs.is_empty() {
                        return Err(RunError::InputsChanged {
                            dir: dir.clone(),
                            started: ts.clone(),
                            what: diffs.join("; "),
                        });
                    }
                    resumes = Some(run_id.clone());
                }
                for r in run {
                    if let Record::StepEnd { step, status, .. } = r {
                        if matches!(status, Status::Ok | Status::Changed | Status::Skipped) {
                            finished.insert(step.clone(), r.clone());
                        } else {
                            finished.remove(step);
                        }
                    }
                }
            }
            *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(if resumes.is_some() {
                journal
            } else {
                journal.start_over()?
            });
            let record = Record::RunStart {
                run_id: self.run_id.clone(),
                ts: now(),
                pid: std::process::id(),
                inputs: self.opts.inputs.clone(),
                resumes: resumes.clone(),
            };
            self.journal(record, true)?;
            let mut carried: Vec<&String> = self.interrupted_applies.iter().collect();
            carried.sort();
            for step in carried {
                self.journal(
                    Record::ApplyStart {
                        run_id: self.run_id.clone(),
                        ts: now(),
                        step: step.clone(),
                        changes: Vec::new(),
                    },
                    true,
                )?;
                for name in self.checkpoints.get(step).into_iter().flatten() {
                    self.journal(
                        Record::Checkpoint {
                            run_id: self.run_id.clone(),
                            ts: now(),
                            step: step.clone(),
                            name: name.clone(),
                        },
                        true,
                    )?;
                }
            }
        }

        self.emit(Event::RunStart(RunStart {
            playbook: self.pb.path.display().to_string(),
            name: self.pb.name.clone(),
            digest: self.pb.digest.clone(),
            check: self.opts.check,
            resumed: resumes.is_some(),
            run_id: self.run_id.clone(),
            steps: self.pb.steps.len(),
            state_dir: self.opts.state_dir.display().to_string(),
        }));
        for w in warnings {
            self.warn(w);
        }

        let mut counts: BTreeMap<&'static str, usize> =
            Status::ALL.iter().map(|s| (s.json_name(), 0)).collect();
        let mut problem = false;
        let mut interrupted = false;
        let mut stopped_at: Option<String> = None;
        let mut reached_start = self.opts.start_at.is_none();
        // Final status of every step so far (for `requires`).
        let mut passed: HashMap<String, Status> = HashMap::new();

        for step in &self.pb.steps {
            if self.opts.start_at.as_deref() == Some(step.id.as_str()) {
                reached_start = true;
            }
            let skip_reason = if let Some(at) = &stopped_at {
                Some(format!("not run: the run stopped at `{at}`"))
            } else if !reached_start {
                Some("before --start-at".to_string())
            } else if !self.selected(step) {
                Some("not selected by --tags/--skip-tags".to_string())
            } else {
                None
            };
            if let Some(reason) = skip_reason {
                self.emit_end(step, Outcome::new(Status::Skipped, reason), 0, false, false);
                *counts.entry(Status::Skipped.json_name()).or_default() += 1;
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
            }) = finished.get(&step.id).cloned()
            {
                self.scope
                    .set_output(&step.id, step.register.as_deref(), to_value(&output));
                let outcome = Outcome {
                    changes,
                    output,
                    remedy,
                    ..Outcome::new(status, message)
                };
                self.journal_step_end(step, &outcome, duration_ms, false, true)?;
                self.emit(Event::StepStart(StepStart {
                    step: step.id.clone(),
                    module: step.module.to_string(),
                    name: step.name.clone(),
                }));
                self.emit_end(step, outcome, duration_ms, true, false);
                *counts.entry(status.json_name()).or_default() += 1;
                passed.insert(step.id.clone(), status);
                continue;
            }

            if *interrupt.borrow() {
                interrupted = true;
                break;
            }
            let unmet: Vec<&String> = step
                .requires
                .iter()
                .filter(|r| {
                    // In --check, a gate that would change counts: the real
                    // run makes it pass first.
                    let ok = match passed.get(r.as_str()) {
                        Some(Status::Ok | Status::Changed) => true,
                        Some(Status::WouldChange) => self.opts.check,
                        _ => false,
                    };
                    !ok
                })
                .collect();
            if !unmet.is_empty() {
                let names = unmet
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let o = Outcome {
                    remedy: Some(format!(
                        "run the whole playbook (without --start-at, --tags or --skip-tags that leave out {names}), and let those steps pass first"
                    )),
                    ..Outcome::new(
                        Status::Blocked,
                        format!(
                            "requires {names} to have passed in this run, and it did not (skipped or not ok)"
                        ),
                    )
                };
                self.emit(Event::StepStart(StepStart {
                    step: step.id.clone(),
                    module: step.module.to_string(),
                    name: step.name.clone(),
                }));
                problem = true;
                if !self.opts.check {
                    stopped_at = Some(step.id.clone());
                }
                *counts.entry(Status::Blocked.json_name()).or_default() += 1;
                passed.insert(step.id.clone(), Status::Blocked);
                self.emit_end(step, o, 0, false, false);
                continue;
            }
            self.emit(Event::StepStart(StepStart {
                step: step.id.clone(),
                module: step.module.to_string(),
                name: step.name.clone(),
            }));
            let t0 = Instant::now();
            let result = {
                let fut = self.execute(step);
                let timed = async {
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
                };
                tokio::select! {
                    r = timed => Some(r),
                    _ = cancelled(&mut interrupt) => None,
                }
            };
            let ms = t0.elapsed().as_millis() as u64;
            let outcome = match result {
                None => {
                    self.close_open_apply(
                        "interrupted during apply: the next run checks again before anything else",
                    )?;
                    interrupted = true;
                    *counts.entry(Status::Failed.json_name()).or_default() += 1;
                    let o = Outcome::new(Status::Failed, "interrupted");
                    self.emit_end(step, o, ms, false, false);
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(o)) => o,
            };
            // An apply the step's timeout cut off: close its bracket.
            self.close_open_apply(&outcome.message)?;
            let ignored = outcome.status.is_problem() && step.ignore_errors;
            if outcome.status.is_problem() && !ignored {
                problem = true;
                if !self.opts.check {
                    stopped_at = Some(step.id.clone());
                }
            }
            if self.opts.check && outcome.status == Status::WouldChange {
                for c in &outcome.changes {
                    self.pending.push((step.id.clone(), c.clone()));
                }
                if outcome.changes.is_empty() {
                    self.pending.push((
                        step.id.clone(),
                        Change::new(format!("step:{}", step.id), "pending"),
                    ));
                }
            }
            self.scope.set_output(
                &step.id,
                step.register.as_deref(),
                to_value(&outcome.output),
            );
            self.journal_step_end(step, &outcome, ms, ignored, false)?;
            *counts.entry(outcome.status.json_name()).or_default() += 1;
            passed.insert(step.id.clone(), outcome.status);
            self.emit_end(step, outcome, ms, false, ignored);
        }

        let (status, code) = if interrupted {
            ("interrupted", exit::INTERRUPTED)
        } else if problem {
            ("failed", exit::FAILED)
        } else if self.opts.check && counts.get("would_change").copied().unwrap_or(0) > 0 {
            ("would_change", exit::WOULD_CHANGE)
        } else {
            ("ok", exit::OK)
        };
        let rec = Record::RunEnd {
            run_id: self.run_id.clone(),
            ts: now(),
            status: status.to_string(),
            exit_code: code,
        };
        self.journal(rec, true)?;
        self.emit(Event::RunEnd(RunEnd {
            status: status.to_string(),
            exit_code: code,
            counts,
            duration_ms: started.elapsed().as_millis() as u64,
        }));
        Ok(code)
    }

    /// Closes the bracket of an apply that was cut off (interrupted or
    /// timed out): its outcome is unknown, so later runs read back first.
    fn close_open_apply(&mut self, message: &str) -> Result<(), JournalError> {
        let Some(step) = self.applying.take() else {
            return Ok(());
        };
        let rec = Record::ApplyEnd {
            run_id: self.run_id.clone(),
            ts: now(),
            step,
            ok: false,
            unknown: true,
            message: message.to_string(),
        };
        self.journal(rec, true)
    }

    fn selected(&self, step: &Step) -> bool {
        let has = |t: &str| step.tags.iter().any(|s| s == t);
        if self.opts.skip_tags.iter().any(|t| has(t)) {
            return false;
        }
        if has("never") && !self.opts.tags.iter().any(|t| has(t)) {
            return false;
        }
        self.opts.tags.is_empty() || has("always") || self.opts.tags.iter().any(|t| has(t))
    }

    fn journal_step_end(
        &mut self,
        step: &Step,
        o: &Outcome,
        ms: u64,
        ignored: bool,
        from_journal: bool,
    ) -> Result<(), JournalError> {
        let rec = Record::StepEnd {
            run_id: self.run_id.clone(),
            ts: now(),
            step: step.id.clone(),
            module: Some(step.module.to_string()),
            name: step.name.clone(),
            status: o.status,
            message: o.message.clone(),
            remedy: o.remedy.clone(),
            duration_ms: ms,
            changes: o.changes.clone(),
            output: o.output.clone(),
            ignored,
            from_journal,
        };
        self.journal(rec, false)
    }

    fn emit_end(&mut self, step: &Step, o: Outcome, ms: u64, from_journal: bool, ignored: bool) {
        self.emit(Event::StepEnd(StepEnd {
            step: step.id.clone(),
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

    /// In `--check`: the earlier step with a pending change that this step's
    /// templates read.
    fn waits_on(&self, step: &Step) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let pending: HashSet<&str> = self.pending.iter().map(|(s, _)| s.as_str()).collect();
        let mut strings: Vec<&str> = Vec::new();
        collect_strings(&step.params, &mut strings);
        let mut names = HashSet::new();
        for s in strings {
            // Templates, and plain strings that are expressions (`assert.that`).
            let found = if is_template(s) {
                self.templates.nested_names(s)
            } else {
                self.templates.expression_names(s)
            };
            if let Ok(n) = found {
                names.extend(n);
            }
        }
        if let Some((expr, _)) = &step.when
            && let Ok(n) = self.templates.expression_names(expr)
        {
            names.extend(n);
        }
        for name in &names {
            let mut parts = name.split('.');
            let top = parts.next().unwrap_or_default();
            let id = if top == "steps" {
                parts.next().map(|id| {
                    self.pb
                        .steps
                        .iter()
                        .find(|s| s.id == id || s.id.replace('-', "_") == id)
                        .map(|s| s.id.clone())
                        .unwrap_or_else(|| id.to_string())
                })
            } else {
                self.registers.get(top).cloned()
            };
            if let Some(id) = id
                && pending.contains(id.as_str())
            {
                return Some(id);
            }
        }
        None
    }

    /// Turns a problem in `--check` into `would change` when it waits on an
    /// earlier pending change.
    fn explain_in_check(&self, step: &Step, mut o: Outcome) -> Outcome {
        if self.opts.check
            && o.status.is_problem()
            && let Some(after) = self.waits_on(step)
        {
            o.message = format!(
                "after {after}: checked again once it is applied ({})",
                o.message
            );
            o.status = Status::WouldChange;
            o.after = Some(after);
            o.remedy = None;
        }
        o
    }

    async fn execute(&mut self, step: &Step) -> Result<Outcome, JournalError> {
        let scope_value = self.scope.value();
        if let Some((expr, _)) = &step.when {
            match self.templates.eval_bool(expr, &scope_value) {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(Outcome::new(
                        Status::Skipped,
                        format!("`when: {expr}` is false"),
                    ));
                }
                Err(e) => {
                    let o = Outcome::new(
                        Status::Failed,
                        format!("`when: {expr}`: {}", error_text(&e)),
                    );
                    return Ok(self.explain_in_check(step, o));
                }
            }
        }
        let task = match self.typed(step, &scope_value) {
            Ok(t) => t,
            Err(msg) => return Ok(self.explain_in_check(step, Outcome::new(Status::Failed, msg))),
        };
        let pending = std::mem::take(&mut self.pending);
        let out = self.check_and_apply(step, &task, &pending).await;
        self.pending = pending;
        let o = out?;
        Ok(self.explain_in_check(step, o))
    }

    /// Renders and types the step's parameters.
    fn typed(&self, step: &Step, scope: &minijinja::Value) -> Result<Task, String> {
        let json = self
            .templates
            .render_json(&step.params.to_json(), scope)
            .map_err(|e| {
                format!(
                    "{} line {}: {}",
                    self.pb.path.display(),
                    step.pos.line,
                    error_text(&e)
                )
            })?;
        match Task::from_json(step.module, json) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => {
                let at = step.params.locate(e.path());
                Err(format!(
                    "{}:{}:{}: invalid parameter `{}` for `{}` after templating: {}",
                    self.pb.path.display(),
                    at.pos.line,
                    at.pos.col,
                    e.path(),
                    step.module,
                    e.inner()
                ))
            }
            None => Err(format!("unknown module `{}`", step.module)),
        }
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
            if settled || attempt >= step.retries || self.opts.check {
                return r;
            }
            attempt += 1;
            tokio::time::sleep(step.delay).await;
        }
    }

    async fn check_and_apply(
        &mut self,
        step: &Step,
        task: &Task,
        pending: &[(String, Change)],
    ) -> Result<Outcome, JournalError> {
        let state_dir = self.opts.state_dir.clone();
        let scope = self.scope.clone();
        let events = self.events.clone();
        let checkpointer = Checkpointer {
            journal: self.journal.clone(),
            run_id: self.run_id.clone(),
            step: step.id.clone(),
        };
        let cx = StepContext {
            step_id: &step.id,
            check_mode: self.opts.check,
            templates: self.templates,
            scope: &scope,
            state_dir: &state_dir,
            pending,
            conn: self.conn,
            events: &events,
            interrupted_apply: self.interrupted_applies.contains(&step.id),
            earlier_checkpoints: self
                .checkpoints
                .get(&step.id)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            checkpointer: &checkpointer,
        };
        let check = match self.check_with_retries(step, task, &cx).await {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::failed(e)),
        };
        let (message, changes, output) = match check {
            Check::InSync { message, output } => {
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
                let status = if self.opts.check {
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
        if self.opts.check {
            return Ok(Outcome {
                changes,
                output,
                diffs,
                ..Outcome::new(Status::WouldChange, message)
            });
        }
        if task.disruptive() && !self.opts.yes {
            let approved = self.opts.interactive && confirm(step, &changes).await;
            if !approved {
                let why = if self.opts.interactive {
                    "not approved at the prompt"
                } else {
                    "no terminal to ask on"
                };
                return Ok(Outcome {
                    changes,
                    remedy: Some("re-run with --yes to approve this disruptive step (rehearse first with --check or --sandbox)".into()),
                    ..Outcome::new(Status::Failed, format!("{message}: disruptive, needs approval ({why}); nothing was applied"))
                });
            }
        }

        // Apply, bracketed by fsynced journal records.
        self.journal(
            Record::ApplyStart {
                run_id: self.run_id.clone(),
                ts: now(),
                step: step.id.clone(),
                changes: changes.clone(),
            },
            true,
        )?;
        self.applying = Some(step.id.clone());
        let applied = task.apply(&cx, &changes).await;
        self.applying = None;
        let (ok, unknown, apply_msg) = match &applied {
            Ok(_) => (true, false, "applied".to_string()),
            Err(e) => (false, e.outcome_unknown, e.message.clone()),
        };
        self.journal(
            Record::ApplyEnd {
                run_id: self.run_id.clone(),
                ts: now(),
                step: step.id.clone(),
                ok,
                unknown,
                message: apply_msg,
            },
            true,
        )?;
        let mut facts = match applied {
            Ok(f) => f,
            Err(e) => {
                let mut o = Outcome::failed(e);
                o.changes = changes;
                return Ok(o);
            }
        };
        let mut merged = output;
        merged.append(&mut facts);
        let done = changes
            .iter()
            .map(|c| c.summary.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let changed = Outcome {
            changes: changes.clone(),
            diffs: diffs.clone(),
            output: merged.clone(),
            ..Outcome::new(
                Status::Changed,
                if done.is_empty() {
                    message.clone()
                } else {
                    format!("done: {done}")
                },
            )
        };
        if !task.verifiable() {
            return Ok(changed);
        }

        // Re-check: `changed` only when the state is now in sync.
        let mut attempt = 0;
        loop {
            match task.check(&cx).await {
                Ok(Check::InSync { output, .. }) => {
                    let mut o = changed;
                    o.output.extend(output);
                    return Ok(o);
                }
                r if attempt >= step.retries => {
                    let detail = match r {
                        Ok(Check::Drift { message, .. }) => format!("still finds drift: {message}"),
                        Ok(Check::Blocked { reason, .. }) => format!("is blocked: {reason}"),
                        Ok(Check::AfterPending { message, .. }) => message,
                        Ok(Check::InSync { .. }) => unreachable!("handled above"),
                        Err(e) => format!("failed: {e}"),
                    };
                    return Ok(Outcome {
                        changes,
                        output: merged,
                        remedy: Some("add `retries`/`delay` if the change takes time to show, or look at the target".into()),
                        ..Outcome::new(Status::Failed, format!("applied, but the re-check {detail}"))
                    });
                }
                _ => {
                    attempt += 1;
                    tokio::time::sleep(step.delay).await;
                }
            }
        }
    }
}

fn collect_strings<'n>(node: &'n Node, out: &mut Vec<&'n str>) {
    match &node.kind {
        Kind::Str(s) => out.push(s),
        Kind::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Kind::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

/// Asks on the terminal before a disruptive apply.
async fn confirm(step: &Step, changes: &[Change]) -> bool {
    let mut text = format!(
        "\nStep `{}` is disruptive and makes these changes:\n",
        step.id
    );
    for c in changes {
        text.push_str(&format!("  - {}\n", c.summary));
    }
    text.push_str("Apply them now? Type `yes` to approve: ");
    let text = crate::util::secret::redact(&text).into_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        // Live progress bars stay off the terminal while the question is open.
        crate::report::live::suspend(|| {
            let mut err = std::io::stderr();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                return false;
            }
            line.trim().eq_ignore_ascii_case("yes")
        })
    })
    .await
    .unwrap_or(false)
}

/// Whether prompts can be shown and answered.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// How long a sleep between retries may be shown as.
pub fn describe(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
