//! Which steps run, and what they wait on: selection by `--tags`,
//! `--skip-tags` and `--start-at`, a real run stopping at its first
//! problem, `requires` gates, and in `--check` the pending changes of
//! earlier steps that a later step's answer depends on.

use std::collections::{HashMap, HashSet};

use super::RunError;
use super::runner::RunOptions;
use super::step::Outcome;
use crate::model::{Change, Status};
use crate::playbook::{Playbook, Step};
use crate::template::{Templates, is_template};
use crate::yaml::{Kind, Node};

pub struct Plan<'a> {
    pb: &'a Playbook,
    opts: &'a RunOptions,
    templates: &'a Templates,
    /// Register name → step id.
    registers: HashMap<&'a str, &'a str>,
    reached_start: bool,
    /// A real run stops at its first problem: the step it stopped at.
    stopped_at: Option<String>,
    /// Final status of every step so far (for `requires`).
    passed: HashMap<String, Status>,
    /// In `--check`: (step id, change) of every pending change so far.
    pending: Vec<(String, Change)>,
}

impl<'a> Plan<'a> {
    /// Checks the selection against the playbook (an unknown `--start-at`
    /// step is a usage error, before anything is contacted).
    pub fn new(
        pb: &'a Playbook,
        opts: &'a RunOptions,
        templates: &'a Templates,
    ) -> Result<Self, RunError> {
        if let Some(target) = &opts.start_at
            && !pb.steps.iter().any(|s| &s.id == target)
        {
            return Err(RunError::NoSuchStep(target.clone()));
        }
        Ok(Plan {
            pb,
            opts,
            templates,
            registers: pb
                .steps
                .iter()
                .filter_map(|s| Some((s.register.as_deref()?, s.id.as_str())))
                .collect(),
            reached_start: opts.start_at.is_none(),
            stopped_at: None,
            passed: HashMap::new(),
            pending: Vec::new(),
        })
    }

    /// Why `step` does not run at all, if it does not.
    pub fn skip_reason(&mut self, step: &Step) -> Option<String> {
        if self.opts.start_at.as_deref() == Some(step.id.as_str()) {
            self.reached_start = true;
        }
        if let Some(at) = &self.stopped_at {
            Some(format!("not run: the run stopped at `{at}`"))
        } else if !self.reached_start {
            Some("before --start-at".to_string())
        } else if !self.selected(step) {
            Some("not selected by --tags/--skip-tags".to_string())
        } else {
            None
        }
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

    /// A blocked outcome when an earlier step that `step` requires has not
    /// passed (ok or changed; in `--check`, `would change` counts, since
    /// the real run makes it pass first).
    pub fn unmet_requires(&self, step: &Step) -> Option<Outcome> {
        let unmet: Vec<String> = step
            .requires
            .iter()
            .filter(|r| {
                !matches!(
                    (self.passed.get(r.as_str()), self.opts.check),
                    (Some(Status::Ok | Status::Changed), _) | (Some(Status::WouldChange), true)
                )
            })
            .map(|r| format!("`{r}`"))
            .collect();
        if unmet.is_empty() {
            return None;
        }
        let names = unmet.join(", ");
        Some(Outcome {
            remedy: Some(format!(
                "run the whole playbook (without --start-at, --tags or --skip-tags that leave out {names}), and let those steps pass first"
            )),
            ..Outcome::new(
                Status::Blocked,
                format!(
                    "requires {names} to have passed in this run, and it did not (skipped or not ok)"
                ),
            )
        })
    }

    /// Takes note of a step's result: its status for later `requires`, a
    /// problem that stops a real run, and pending changes in `--check`.
    pub fn record(&mut self, step: &Step, o: &Outcome, ignored: bool) {
        self.passed.insert(step.id.clone(), o.status);
        if o.status.is_problem() && !ignored && !self.opts.check {
            self.stopped_at = Some(step.id.clone());
        }
        if self.opts.check && o.status == Status::WouldChange {
            for c in &o.changes {
                self.pending.push((step.id.clone(), c.clone()));
            }
            if o.changes.is_empty() {
                self.pending.push((
                    step.id.clone(),
                    Change::new(format!("step:{}", step.id), "pending"),
                ));
            }
        }
    }

    /// Pending changes of earlier steps, in `--check`.
    pub fn pending(&self) -> &[(String, Change)] {
        &self.pending
    }

    /// In `--check`: turns a problem into `would change` when the step's
    /// templates read the output of an earlier step with a pending change.
    pub fn explain_in_check(&self, step: &Step, mut o: Outcome) -> Outcome {
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

    /// The earlier step with a pending change that `step`'s templates read.
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
                self.registers.get(top).map(|s| s.to_string())
            };
            if let Some(id) = id
                && pending.contains(id.as_str())
            {
                return Some(id);
            }
        }
        None
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
