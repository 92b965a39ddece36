//! What an earlier run left behind, derived from the journal in one place
//! (for `run` and `journal show` alike): the unfinished run a new run may
//! continue, the steps it finished, and the applies whose outcome is
//! unknown (started and never known to have ended).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::journal::{Inputs, Loaded, Record};
use crate::model::Status;

/// The unfinished run a new run continues.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub run_id: String,
    pub started: String,
    pub inputs: Inputs,
}

/// What a new run takes from the journal.
#[derive(Debug, Default)]
pub struct Resume {
    /// The last run, when it did not finish (no `run_end`, or interrupted).
    pub unfinished: Option<Earlier>,
    /// Step key → the record of a step that finished in the unfinished run
    /// (ok, changed or skipped, as its last word).
    pub finished: HashMap<String, Record>,
    /// Step key → checkpoints reached, for every apply of the last run
    /// (however it ended) whose outcome is unknown.
    pub open_applies: BTreeMap<String, Vec<String>>,
    /// Step keys whose apply finished, and took effect, in the unfinished
    /// run: what a resumed run must not do again. Everything else is
    /// checked again (the cluster may have changed since; the journal only
    /// says what must not be repeated).
    pub applied: BTreeSet<String>,
}

impl Resume {
    /// What `--fresh` keeps: only the applies of unknown outcome, which
    /// are facts about the cluster, not about the run (forgetting one could
    /// send a change twice; `--resend STEP` forgets it on purpose).
    pub fn fresh(self) -> Resume {
        Resume {
            open_applies: self.open_applies,
            ..Resume::default()
        }
    }

    /// Forgets the unknown-outcome applies of step `id` (all its keys),
    /// returning the keys forgotten.
    pub fn resend(&mut self, id: &str) -> Vec<String> {
        let keys: Vec<String> = self
            .open_applies
            .keys()
            .filter(|k| crate::model::StepKey::parse(k).is_some_and(|key| key.id() == id))
            .cloned()
            .collect();
        for k in &keys {
            self.open_applies.remove(k);
        }
        keys
    }

    /// What the journal `loaded` leaves for the next run.
    pub fn of(loaded: &Loaded) -> Resume {
        let mut r = Resume::default();
        if let Some(run) = loaded.last_run() {
            r.open_applies = open_applies(run);
        }
        let Some(run) = loaded.unfinished_run() else {
            return r;
        };
        if let Some(Record::RunStart {
            run_id, ts, inputs, ..
        }) = run.first()
        {
            r.unfinished = Some(Earlier {
                run_id: run_id.clone(),
                started: ts.clone(),
                inputs: inputs.clone(),
            });
        }
        for rec in run {
            if let Record::ApplyEnd {
                step,
                ok: true,
                unknown: false,
                ..
            } = rec
            {
                r.applied.insert(step.clone());
            }
            if let Record::StepEnd { step, status, .. } = rec {
                if matches!(status, Status::Ok | Status::Changed | Status::Skipped) {
                    r.finished.insert(step.clone(), rec.clone());
                } else {
                    r.finished.remove(step);
                }
            }
        }
        r
    }
}

/// The applies of one run's records whose outcome is unknown: started and
/// not ended, or ended with `unknown: true`; each with the checkpoints it
/// reached.
pub fn open_applies(run: &[Record]) -> BTreeMap<String, Vec<String>> {
    let mut open: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut reached: HashMap<&str, Vec<String>> = HashMap::new();
    for r in run {
        match r {
            Record::ApplyStart { step, .. } => {
                open.insert(step.clone(), Vec::new());
            }
            Record::Checkpoint { step, name, .. } => {
                let names = reached.entry(step).or_default();
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
                reached.remove(step.as_str());
            }
            _ => {}
        }
    }
    for (step, names) in open.iter_mut() {
        *names = reached.remove(step.as_str()).unwrap_or_default();
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: &str) -> Record {
        Record::RunStart {
            run_id: id.into(),
            ts: "t".into(),
            pid: 1,
            inputs: Inputs::default(),
            resumes: None,
        }
    }

    fn apply_start(step: &str) -> Record {
        Record::ApplyStart {
            run_id: "r".into(),
            ts: "t".into(),
            step: step.into(),
            changes: Vec::new(),
        }
    }

    fn apply_end(step: &str, ok: bool, unknown: bool) -> Record {
        Record::ApplyEnd {
            run_id: "r".into(),
            ts: "t".into(),
            step: step.into(),
            ok,
            unknown,
            message: String::new(),
        }
    }

    fn checkpoint(step: &str, name: &str) -> Record {
        Record::Checkpoint {
            run_id: "r".into(),
            ts: "t".into(),
            step: step.into(),
            name: name.into(),
        }
    }

    fn end(step: &str, status: Status) -> Record {
        Record::StepEnd {
            run_id: "r".into(),
            ts: "t".into(),
            step: step.into(),
            module: None,
            name: None,
            status,
            message: String::new(),
            remedy: None,
            duration_ms: 0,
            changes: Vec::new(),
            output: Default::default(),
            ignored: false,
            from_journal: false,
        }
    }

    #[test]
    fn open_applies_are_cut_off_or_unknown_and_keep_their_checkpoints() {
        let run = vec![
            start("a"),
            apply_start("x"),
            checkpoint("x", "put-sent"),
            apply_end("x", false, true),
            apply_start("y"),
            apply_end("y", true, false),
            apply_start("z[2]"),
            checkpoint("z[2]", "h1"),
        ];
        let open = open_applies(&run);
        assert_eq!(
            open.into_iter().collect::<Vec<_>>(),
            vec![
                ("x".to_string(), vec!["put-sent".to_string()]),
                ("z[2]".to_string(), vec!["h1".to_string()]),
            ]
        );
    }

    #[test]
    fn a_finished_step_counts_until_a_later_problem_replaces_it() {
        let loaded = Loaded {
            records: vec![
                start("a"),
                end("s1", Status::Ok),
                end("s2", Status::Changed),
                end("s2", Status::Failed),
                end("s3", Status::Skipped),
            ],
            torn_bytes: None,
        };
        let r = Resume::of(&loaded);
        assert_eq!(r.unfinished.as_ref().unwrap().run_id, "a");
        let mut keys: Vec<&String> = r.finished.keys().collect();
        keys.sort();
        assert_eq!(keys, ["s1", "s3"]);
    }

    #[test]
    fn a_finished_run_leaves_only_its_unknown_applies() {
        let loaded = Loaded {
            records: vec![
                start("a"),
                apply_start("k"),
                apply_end("k", false, true),
                Record::RunEnd {
                    run_id: "a".into(),
                    ts: "t".into(),
                    status: "failed".into(),
                    exit_code: 1,
                },
            ],
            torn_bytes: None,
        };
        let r = Resume::of(&loaded);
        assert!(r.unfinished.is_none() && r.finished.is_empty());
        assert_eq!(r.open_applies.keys().collect::<Vec<_>>(), ["k"]);
    }
}
