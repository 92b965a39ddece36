//! Events: what the engine tells reporters. The JSON form is a stable wire
//! format (`"v": 1`), documented in the README.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Change, Facts};

/// The status of a step.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    WouldChange,
    Skipped,
    Blocked,
    Failed,
}

impl Status {
    /// The human word for the status.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::WouldChange => "would change",
            Status::Skipped => "skipped",
            Status::Blocked => "blocked",
            Status::Failed => "failed",
        }
    }

    pub fn json_name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::WouldChange => "would_change",
            Status::Skipped => "skipped",
            Status::Blocked => "blocked",
            Status::Failed => "failed",
        }
    }

    pub fn is_problem(self) -> bool {
        matches!(self, Status::Blocked | Status::Failed)
    }

    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::Changed,
        Status::WouldChange,
        Status::Skipped,
        Status::Blocked,
        Status::Failed,
    ];
}

#[derive(Debug, Clone, Serialize)]
pub struct RunStart {
    pub playbook: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub digest: String,
    pub check: bool,
    pub resumed: bool,
    pub run_id: String,
    pub steps: usize,
    pub state_dir: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepStart {
    pub step: String,
    pub module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepEnd {
    pub step: String,
    pub module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: Status,
    pub changes: Vec<Change>,
    pub message: String,
    /// What a person can do about a blocked or failed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    pub duration_ms: u64,
    /// Shared with the template scope (a fan-out's output is held once).
    pub output: std::sync::Arc<Facts>,
    /// The step finished in an earlier, interrupted run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_journal: bool,
    /// Failed or blocked, but `ignore_errors: true`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// In `--check`: the earlier step whose pending change this one waits on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Before/after texts for `--diff` (not serialised).
    #[serde(skip)]
    pub diffs: Vec<super::TextDiff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostResult {
    pub step: String,
    pub host: String,
    pub status: String,
    /// Why the host failed or warned (`dns`, `refused`, `timeout`, `auth`,
    /// `host_key`, `sudo`, ...); absent when it is fine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    pub message: String,
    pub duration_ms: u64,
    /// How many hosts the step fans out to, when known (for "12/50 hosts").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunEnd {
    pub status: String,
    pub exit_code: i32,
    pub counts: BTreeMap<&'static str, usize>,
    pub duration_ms: u64,
}

/// Everything a reporter may be told.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStart(RunStart),
    StepStart(StepStart),
    StepEnd(StepEnd),
    Host(HostResult),
    /// Something the user should know that is not a step result.
    Warning {
        message: String,
    },
    /// The run stopped outside any step: invalid input (exit 2), a locked
    /// state directory (4), a state directory or journal it cannot use (1).
    /// A `run_end` with status `error` follows; there may be no `run_start`.
    Error {
        message: String,
    },
    /// A long wait is still going (people only: not written as JSON).
    /// `message` says what is awaited, without a count of time: a renderer
    /// shows `elapsed_s` and `expected_s`, when set, itself (a bar that
    /// keeps moving on a terminal, `12s elapsed of about 60s expected` in a
    /// log), so no text goes stale between two events.
    Progress {
        step: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        elapsed_s: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expected_s: Option<f64>,
    },
    RunEnd(RunEnd),
}

/// A reporter renders events. It never decides anything.
pub trait Reporter: Send {
    fn event(&mut self, ev: &Event);
    /// Called once at the end, for reporters that write files.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the engine and tasks send events. Reporters run on their own thread
/// and receive them in order, so a task can stream per-host results while
/// it runs.
#[derive(Clone)]
pub struct Events(std::sync::mpsc::Sender<Event>);

impl Events {
    pub fn emit(&self, ev: Event) {
        // The reporter thread outlives every sender; a send cannot fail
        // unless that thread panicked, and then there is nowhere to report.
        let _ = self.0.send(ev);
    }

    /// Events that go nowhere (for tests and `validate`).
    pub fn discard() -> Events {
        let (tx, rx) = std::sync::mpsc::channel();
        drop(rx);
        Events(tx)
    }
}

/// Starts a reporter thread. Drop every [`Events`] clone, then join the
/// handle: it returns the reporter's `finish` result.
pub fn spawn_reporter(
    mut reporter: Box<dyn Reporter>,
) -> (Events, std::thread::JoinHandle<std::io::Result<()>>) {
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let handle = std::thread::spawn(move || {
        for ev in rx {
            reporter.event(&ev);
        }
        reporter.finish()
    });
    (Events(tx), handle)
}
