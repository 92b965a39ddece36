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
use crate::util::text::suggest;
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
        check_selection(pb, &opts.tags, &opts.skip_tags, opts.start_at.as_deref())?;
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

    /// Stops the run at `key` whatever the mode (MKE rejected the
    /// credentials: nothing after may log in again).
    pub fn stop(&mut self, key: &str) {
        self.stopped_at = Some(key.to_string());
    }

    /// Why nothing more runs, once a real run stopped at a problem.
    pub fn stopped(&self) -> Option<String> {
        self.stopped_at
            .as_ref()
            .map(|at| format!("not run: the run stopped at `{at}`"))
    }

    /// Why `step` does not run at all, if it does not.
    pub fn skip_reason(&mut self, step: &Step) -> Option<String> {
        if self.opts.start_at.as_deref() == Some(step.id.as_str()) {
            self.reached_start = true;
        }
        if let Some(why) = self.stopped() {
            Some(why)
        } else if !self.reached_start {
            Some("before --start-at".to_string())
        } else if !self.selected(step) {
            Some("not selected by --tags/--skip-tags".to_string())
        } else {
            None
        }
    }

    fn selected(&self, step: &Step) -> bool {
        tag_selected(step, &self.opts.tags, &self.opts.skip_tags)
    }

    /// A blocked outcome when an earlier step that `step` requires has not
    /// passed (ok or changed; in `--check`, `would change` counts, since
    /// the real run makes it pass first).
    pub fn unmet_requires(&self, step: &Step) -> Option<Outcome> {
        let unmet: Vec<(&str, Option<Status>)> = step
            .requires
            .iter()
            .map(|r| (r.as_str(), self.passed.get(r.as_str()).copied()))
            .filter(|(_, st)| {
                !matches!(
                    (st, self.opts.check),
                    (Some(Status::Ok | Status::Changed), _) | (Some(Status::WouldChange), true)
                )
            })
            .collect();
        if unmet.is_empty() {
            return None;
        }
        let names = |pick: fn(Option<Status>) -> bool| {
            unmet
                .iter()
                .filter(|(_, st)| pick(*st))
                .map(|(r, _)| format!("`{r}`"))
                .collect::<Vec<_>>()
        };
        // A gate that ran and did not pass wants fixing; one this run left
        // out (selection, `when`) wants running.
        let failed = names(|st| st.is_some_and(Status::is_problem));
        let left_out = names(|st| !st.is_some_and(Status::is_problem));
        let mut remedies = Vec::new();
        if !failed.is_empty() {
            remedies.push(format!(
                "fix {} first (see what to do about {} above)",
                failed.join(", "),
                if failed.len() == 1 { "it" } else { "them" }
            ));
        }
        if !left_out.is_empty() {
            remedies.push(format!(
                "run the whole playbook (without --start-at, --tags or --skip-tags that leave out {}), and let those steps pass first",
                left_out.join(", ")
            ));
        }
        let all: Vec<String> = unmet.iter().map(|(r, _)| format!("`{r}`")).collect();
        Some(Outcome {
            remedy: Some(remedies.join("; ")),
            ..Outcome::new(
                Status::Blocked,
                format!(
                    "requires {} to have passed in this run, and {}",
                    all.join(", "),
                    match (failed.is_empty(), left_out.is_empty()) {
                        (false, true) => "it did not (blocked or failed)".to_string(),
                        (true, false) => "it did not run (left out or skipped)".to_string(),
                        _ => format!(
                            "{} did not pass and {} did not run",
                            failed.join(", "),
                            left_out.join(", ")
                        ),
                    }
                ),
            )
        })
    }

    /// Takes note of a step's result: its status for later `requires`, a
    /// problem that stops a real run, and pending changes in `--check`.
    /// `key` is the step key (`ID`, or `ID[N]` for a loop's item); a
    /// looping step's status for `requires` is its worst item's.
    pub fn record(&mut self, step: &Step, key: &str, o: &Outcome, ignored: bool) {
        let before = self.passed.get(&step.id).copied();
        self.passed
            .insert(step.id.clone(), super::items::worst(before, o.status));
        if o.status.is_problem() && !ignored && !self.opts.check {
            self.stopped_at = Some(key.to_string());
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

/// Whether `--tags` and `--skip-tags` select `step`.
fn tag_selected(step: &Step, tags: &[String], skip_tags: &[String]) -> bool {
    let has = |t: &str| step.tags.iter().any(|s| s == t);
    if skip_tags.iter().any(|t| has(t)) {
        return false;
    }
    if has("never") && !tags.iter().any(|t| has(t)) {
        return false;
    }
    tags.is_empty() || has("always") || tags.iter().any(|t| has(t))
}

/// The steps a run with this selection may run (from `--start-at` on,
/// selected by the tags).
pub fn selected_steps<'p>(
    pb: &'p Playbook,
    tags: &[String],
    skip_tags: &[String],
    start_at: Option<&str>,
) -> Vec<&'p Step> {
    let first = start_at
        .and_then(|id| pb.steps.iter().position(|s| s.id == id))
        .unwrap_or(0);
    pb.steps[first..]
        .iter()
        .filter(|s| tag_selected(s, tags, skip_tags))
        .collect()
}

/// Tags with a meaning of their own: `always` runs whatever `--tags`
/// says, `never` runs only when named.
const SPECIAL_TAGS: &[&str] = &["always", "never"];

/// A selection that cannot select silently nothing: every `--tags` and
/// `--skip-tags` value is a tag some step has (or `always`/`never`), and
/// `--start-at` names a step.
pub fn check_selection(
    pb: &Playbook,
    tags: &[String],
    skip_tags: &[String],
    start_at: Option<&str>,
) -> Result<(), RunError> {
    let known = pb.tags();
    for (flag, values) in [("--tags", tags), ("--skip-tags", skip_tags)] {
        for tag in values {
            if known.contains(&tag.as_str()) || SPECIAL_TAGS.contains(&tag.as_str()) {
                continue;
            }
            return Err(RunError::UnknownTag {
                flag,
                tag: tag.clone(),
                suggestion: suggest(tag, known.iter().copied()).map(str::to_string),
                known: if known.is_empty() {
                    "no step has a tag".to_string()
                } else {
                    format!("tags in this playbook: {}", known.join(", "))
                },
            });
        }
    }
    if let Some(target) = start_at
        && !pb.steps.iter().any(|s| s.id == target)
    {
        let ids = pb.steps.iter().map(|s| s.id.as_str());
        return Err(RunError::NoSuchStep {
            id: target.to_string(),
            suggestion: suggest(target, ids)
                .or_else(|| {
                    let dashed = target.replace('_', "-");
                    pb.steps
                        .iter()
                        .map(|s| s.id.as_str())
                        .find(|id| *id == dashed)
                })
                .map(str::to_string),
        });
    }
    Ok(())
}

fn collect_strings<'n>(node: &'n Node, out: &mut Vec<&'n str>) {
    match &node.kind {
        Kind::Str(s) => out.push(s),
        Kind::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Kind::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}
