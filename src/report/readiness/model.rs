//! The report's data: what a run was, what each step found, and what that
//! means for the upgrade. Built from events; knows nothing of rendering.

use std::collections::HashMap;

use serde_json::Value;

use super::hosts::{HostRow, host_rows, value_text};
use crate::model::events::{Event, HostResult, Status, StepEnd};
use crate::model::{Change, Facts};

/// Whether the cluster is ready for `mkectl upgrade`, as far as the run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every step is in sync or was applied.
    Ready,
    /// A `--check` run found changes a real run would make.
    Pending,
    /// A step is blocked or failed, or the run did not finish.
    NotReady,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Pending => "pending changes",
            Verdict::NotReady => "not ready",
        }
    }

    /// A CSS class / stable key.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Pending => "pending",
            Verdict::NotReady => "not-ready",
        }
    }
}

/// The cluster as the standard steps registered it; each part is absent
/// when no step reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    pub mke_version: Option<String>,
    pub target: Option<String>,
    pub managers: Option<u64>,
    pub workers: Option<u64>,
    pub nodes: Option<u64>,
}

/// One step as it ended.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub end: StepEnd,
    /// Per-host rows: from the step's registered `hosts`, else from its
    /// `host` events.
    pub hosts: Vec<HostRow>,
}

/// A run, for the readiness report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The playbook's `name:`, else its path.
    pub title: Option<String>,
    pub playbook: Option<String>,
    /// The inventory and the MKE API the run used, when the caller knows.
    pub inventory: Option<String>,
    pub mke_host: Option<String>,
    pub run_id: Option<String>,
    pub check: bool,
    pub resumed: bool,
    /// RFC 3339, UTC.
    pub started: Option<String>,
    pub finished: Option<String>,
    pub duration_ms: Option<u64>,
    /// The `run_end` status and exit code; absent if the run did not end.
    pub status: Option<String>,
    pub exit_code: Option<i32>,
    pub warnings: Vec<String>,
    /// Why the run stopped outside any step (invalid input, a locked state
    /// directory).
    pub errors: Vec<String>,
    pub steps: Vec<StepRow>,
    /// Where the data came from, for the footer ("this run", "the journal
    /// in .mkeprep").
    pub source: String,
    /// When the report was rendered (RFC 3339, UTC).
    pub generated: String,
    /// `host` events of steps that have not ended yet.
    pending_hosts: HashMap<String, Vec<HostResult>>,
}

impl Default for Report {
    fn default() -> Self {
        Report::new()
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Report {
    pub fn new() -> Report {
        Report {
            title: None,
            playbook: None,
            inventory: None,
            mke_host: None,
            run_id: None,
            check: false,
            resumed: false,
            started: None,
            finished: None,
            duration_ms: None,
            status: None,
            exit_code: None,
            warnings: Vec::new(),
            errors: Vec::new(),
            steps: Vec::new(),
            source: "this run".into(),
            generated: now(),
            pending_hosts: HashMap::new(),
        }
    }

    /// Takes in one event.
    pub fn apply(&mut self, ev: &Event) {
        match ev {
            Event::RunStart(r) => {
                self.title = Some(r.name.clone().unwrap_or_else(|| r.playbook.clone()));
                self.playbook = Some(r.playbook.clone());
                self.run_id = Some(r.run_id.clone());
                self.check = r.check;
                self.resumed = r.resumed;
                self.started.get_or_insert_with(now);
            }
            Event::StepStart(_) | Event::Progress { .. } => {}
            Event::Host(h) => self
                .pending_hosts
                .entry(h.step.clone())
                .or_default()
                .push(h.clone()),
            Event::StepEnd(s) => {
                let events = self.pending_hosts.remove(&s.step).unwrap_or_default();
                let hosts = host_rows(&s.output, &events);
                self.steps.push(StepRow {
                    end: s.clone(),
                    hosts,
                });
            }
            Event::Warning { message } => self.warnings.push(message.clone()),
            Event::Error { message } => self.errors.push(message.clone()),
            Event::RunEnd(r) => {
                self.status = Some(r.status.clone());
                self.exit_code = Some(r.exit_code);
                self.duration_ms = Some(r.duration_ms);
                self.finished.get_or_insert_with(now);
            }
        }
    }

    /// Steps that stop the upgrade (blocked or failed, not ignored).
    pub fn problems(&self) -> impl Iterator<Item = &StepRow> {
        self.steps
            .iter()
            .filter(|s| s.end.status.is_problem() && !s.end.ignored)
    }

    pub fn count(&self, status: Status) -> usize {
        self.steps.iter().filter(|s| s.end.status == status).count()
    }

    pub fn verdict(&self) -> Verdict {
        let ended_badly = !matches!(self.status.as_deref(), Some("ok" | "would_change"));
        if ended_badly || !self.errors.is_empty() || self.problems().next().is_some() {
            Verdict::NotReady
        } else if self.count(Status::WouldChange) > 0
            || self.status.as_deref() == Some("would_change")
        {
            Verdict::Pending
        } else {
            Verdict::Ready
        }
    }

    /// One sentence saying why the verdict is what it is.
    pub fn reason(&self) -> String {
        let ids = |st: Status| -> Vec<String> {
            self.problems()
                .filter(|s| s.end.status == st)
                .map(|s| s.end.step.clone())
                .collect()
        };
        match self.verdict() {
            Verdict::NotReady => {
                let mut parts = Vec::new();
                for st in [Status::Blocked, Status::Failed] {
                    let list = ids(st);
                    if !list.is_empty() {
                        parts.push(format!("{} {}", st.word(), list.join(", ")));
                    }
                }
                let run = match self.status.as_deref() {
                    Some("interrupted") => {
                        Some("the run was interrupted: run the same command again to resume")
                    }
                    None => Some("the run did not finish (no end was recorded)"),
                    _ => None,
                };
                if let Some(r) = run {
                    parts.push(r.to_string());
                }
                if let Some(e) = self.errors.first() {
                    let first = e.lines().next().unwrap_or_default();
                    parts.push(if self.steps.is_empty() {
                        format!("the run stopped before its steps: {first}")
                    } else {
                        format!("the run stopped: {first}")
                    });
                }
                if parts.is_empty() {
                    parts.push(format!(
                        "the run ended {} (exit {})",
                        self.status.as_deref().unwrap_or("unknown"),
                        self.exit_code.map_or("?".into(), |c| c.to_string())
                    ));
                }
                let mut text = parts.join("; ");
                if self.problems().next().is_some() {
                    text.push_str(": see what to do below");
                }
                text
            }
            Verdict::Pending => {
                let n = self.count(Status::WouldChange);
                format!(
                    "a dry run (--check) found {n} step{} a real run would change; nothing was changed",
                    if n == 1 { "" } else { "s" }
                )
            }
            Verdict::Ready => {
                let changed = self.count(Status::Changed);
                if changed > 0 {
                    format!(
                        "every step is in sync; this run applied {changed} change{}",
                        if changed == 1 { "" } else { "s" }
                    )
                } else {
                    "every step is in sync; nothing needed changing".into()
                }
            }
        }
    }

    /// The cluster as registered by the standard modules: `mke_version`
    /// (version, target), `hosts` (managers, workers), `mke_health` (node
    /// and manager counts when no `hosts` step counted them).
    pub fn cluster(&self) -> Cluster {
        let mut c = Cluster::default();
        let text = |o: &Facts, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let num = |o: &Facts, k: &str| o.get(k).and_then(Value::as_u64);
        for s in &self.steps {
            let o = &s.end.output;
            match s.end.module.as_str() {
                "mke_version" => {
                    c.mke_version = c.mke_version.take().or_else(|| text(o, "version"));
                    c.target = c.target.take().or_else(|| text(o, "target"));
                }
                "hosts" => {
                    if let (Some(m), Some(w)) = (num(o, "managers"), num(o, "workers")) {
                        c.managers.get_or_insert(m);
                        c.workers.get_or_insert(w);
                        c.nodes.get_or_insert(m + w);
                    }
                }
                "mke_health" => {
                    if let (None, Some(n)) = (c.nodes, num(o, "nodes")) {
                        c.nodes = Some(n);
                    }
                    if let (None, Some(m)) = (c.managers, num(o, "managers")) {
                        c.managers = Some(m);
                    }
                }
                _ => {}
            }
        }
        if let (Some(n), Some(m), None) = (c.nodes, c.managers, c.workers) {
            c.workers = n.checked_sub(m);
        }
        c
    }

    /// Changes applied (`changed`) or proposed (`would change`), with their
    /// step.
    pub fn changes(&self) -> Vec<(&StepRow, &Change)> {
        self.steps
            .iter()
            .filter(|s| matches!(s.end.status, Status::Changed | Status::WouldChange))
            .flat_map(|s| s.end.changes.iter().map(move |c| (s, c)))
            .collect()
    }
}

impl Report {
    /// The header's facts as (label, value), in display order; parts no
    /// step reported say so instead of disappearing.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let c = self.cluster();
        let mut out = Vec::new();
        out.push((
            "Cluster",
            match (&c.mke_version, &c.target) {
                (Some(v), Some(t)) => format!("MKE {v}, upgrading to MKE 4k {t}"),
                (Some(v), None) => format!("MKE {v}"),
                (None, Some(t)) => format!("MKE version not read; target MKE 4k {t}"),
                (None, None) => "MKE version not read (no mke_version step finished)".into(),
            },
        ));
        out.push((
            "Nodes",
            match (c.nodes, c.managers, c.workers) {
                (Some(n), Some(m), Some(w)) => format!(
                    "{n} ({m} manager{}, {w} worker{})",
                    if m == 1 { "" } else { "s" },
                    if w == 1 { "" } else { "s" }
                ),
                (Some(n), _, _) => n.to_string(),
                _ => "not counted (no hosts or mke_health step finished)".into(),
            },
        ));
        if let Some(host) = &self.mke_host {
            out.push(("MKE API", host.clone()));
        }
        if let Some(inv) = &self.inventory {
            out.push(("Inventory", inv.clone()));
        }
        if let Some(p) = &self.playbook {
            let title = self.title.as_deref().unwrap_or(p);
            out.push((
                "Playbook",
                if title == p {
                    p.clone()
                } else {
                    format!("{title} ({p})")
                },
            ));
        }
        let mut run = vec![if self.check {
            "dry run (--check): nothing was changed".to_string()
        } else {
            "real run".to_string()
        }];
        if self.resumed {
            run.push("resumed an interrupted run".into());
        }
        if let Some(id) = &self.run_id {
            run.push(format!("id {id}"));
        }
        out.push(("Run", run.join("; ")));
        let mut timing = Vec::new();
        if let Some(t) = &self.started {
            timing.push(format!("started {t}"));
        }
        if let Some(t) = &self.finished {
            timing.push(format!("ended {t}"));
        }
        match self.duration_ms {
            Some(ms) => timing.push(format!("took {}", crate::report::human_ms(ms))),
            None => timing.push("did not finish".into()),
        }
        out.push(("Timing", timing.join(", ")));
        let counts: Vec<String> = Status::ALL
            .iter()
            .map(|&st| (st, self.count(st)))
            .filter(|(_, n)| *n > 0)
            .map(|(st, n)| format!("{n} {}", st.word()))
            .collect();
        out.push((
            "Steps",
            if counts.is_empty() {
                "none ran".into()
            } else {
                counts.join(", ")
            },
        ));
        if let (Some(st), Some(code)) = (&self.status, self.exit_code) {
            out.push(("Result", format!("{} (exit {code})", st.replace('_', " "))));
        }
        out
    }
}

/// Notes on a step beyond its status: restored from the journal, errors
/// ignored, waiting on an earlier step's change.
pub fn step_notes(end: &StepEnd) -> Vec<String> {
    let mut notes = Vec::new();
    if end.from_journal {
        notes.push("finished in the interrupted run this one resumed".to_string());
    }
    if end.ignored {
        notes.push("ignore_errors: does not stop the run".into());
    }
    if let Some(a) = &end.after {
        notes.push(format!("depends on the change of {a}"));
    }
    notes
}

/// A change's value for people: `false`, `"text"` without quotes, or `—`.
pub fn change_value(v: Option<&Value>) -> String {
    v.and_then(value_text).unwrap_or_else(|| "—".into())
}
