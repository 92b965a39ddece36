//! What every step key of one run shares: the plan, the counts, the
//! recorder, what the journal left, and the interrupt signal.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::RunError;
use super::journal::Record;
use super::plan::Plan;
use super::recorder::Recorder;
use super::resume::Resume;
use super::runner::Runner;
use super::step::Outcome;
use crate::model::{Status, StepKey};
use crate::playbook::Step;

/// Counts of final statuses, and whether the run had a problem.
pub(super) struct Tally {
    pub counts: BTreeMap<&'static str, usize>,
    pub problem: bool,
}

impl Tally {
    pub fn add(&mut self, status: Status) {
        *self.counts.entry(status.json_name()).or_default() += 1;
    }
}

/// What every step key of one run shares.
pub(super) struct Run<'r, 'p> {
    pub plan: Plan<'p>,
    pub tally: Tally,
    pub recorder: &'r Recorder,
    pub resume: &'r Resume,
    pub interrupt: watch::Receiver<bool>,
}

impl Run<'_, '_> {
    /// The result a resumed run takes from the journal for `key`: the
    /// unfinished run finished it (for a loop's item, with the same item).
    pub fn journaled(&self, key: &str, item: Option<&serde_json::Value>) -> Option<Outcome> {
        let Record::StepEnd {
            status,
            message,
            changes,
            output,
            remedy,
            ..
        } = self.resume.finished.get(key)?.clone()
        else {
            return None;
        };
        if item.is_some() && output.get("item") != item {
            return None;
        }
        Some(Outcome {
            changes,
            output,
            remedy,
            ..Outcome::new(status, message)
        })
    }

    /// What the run this one resumes applied for `key`, never to be
    /// applied again: its recorded result (for a loop's item, only when the
    /// item is the same one), or, when the run died between the apply and
    /// the step's record, the apply's word.
    pub fn applied_before(&self, key: &str, item: Option<&serde_json::Value>) -> Option<Outcome> {
        if !self.resume.applied.contains(key) {
            return None;
        }
        if self.resume.finished.contains_key(key) {
            return self.journaled(key, item);
        }
        Some(Outcome::new(
            Status::Changed,
            "applied by the run this one resumes",
        ))
    }

    /// Records and reports a step key's outcome.
    pub fn finish(
        &mut self,
        runner: &Runner<'_>,
        step: &Step,
        key: &StepKey,
        o: Outcome,
        ms: u64,
        ignored: bool,
    ) -> Result<(), RunError> {
        self.record(step, key, &o, ms, ignored)?;
        runner.end(step, key, o, ms, ignored, false);
        Ok(())
    }

    /// Everything of a step key's end but its event: the plan, the
    /// journal's `step_end`, the tally.
    pub fn record(
        &mut self,
        step: &Step,
        key: &StepKey,
        o: &Outcome,
        ms: u64,
        ignored: bool,
    ) -> Result<(), RunError> {
        let name = key.to_string();
        if o.status.is_problem() && !ignored {
            self.tally.problem = true;
        }
        self.plan.record(step, &name, o, ignored);
        self.recorder.step_end(
            &name,
            step.module,
            step.name.as_deref(),
            o,
            ms,
            ignored,
            o.from_journal,
        )?;
        self.tally.add(o.status);
        Ok(())
    }
}
