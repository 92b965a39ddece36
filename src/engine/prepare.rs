//! Before the first step of a real run: the state directory, its lock,
//! the journal (a torn last line cut off), and what the journal leaves:
//! an unfinished run of the same inputs to resume, applies of unknown
//! outcome to carry forward. A dry run keeps no journal.

use super::RunError;
use super::lock::RunLock;
use super::recorder::{Opened, Recorder};
use super::resume::Resume;
use super::runner::RunOptions;
use crate::util::fsx;

/// What the state directory gave a real run.
pub(super) struct Prepared {
    pub recorder: Recorder,
    pub resume: Resume,
    pub warnings: Vec<String>,
    pub _lock: Option<RunLock>,
}

/// Takes the lock and opens the journal: a real run resumes an
/// unfinished run of the same inputs, and carries applies of unknown
/// outcome forward; `--fresh` forgets both.
pub(super) fn prepare(opts: &RunOptions, lock: Option<RunLock>) -> Result<Prepared, RunError> {
    if opts.check {
        return Ok(Prepared {
            recorder: Recorder::disabled(),
            resume: Resume::default(),
            warnings: Vec::new(),
            _lock: lock,
        });
    }
    let dir = &opts.state_dir;
    fsx::ensure_dir(dir).map_err(|source| RunError::StateDir {
        dir: dir.clone(),
        source,
    })?;
    let lock = match lock {
        Some(l) => l,
        None => RunLock::acquire(dir).map_err(RunError::Locked)?,
    };
    let mut warnings = Vec::new();
    if let Some(stale) = &lock.stale {
        warnings.push(format!(
            "an earlier run ({stale}) ended without releasing the state directory; taking it over"
        ));
    }
    let opened = Opened::open(dir, opts.fresh)?;
    if let Some(torn) = opened.loaded.torn_bytes {
        warnings.push(format!(
                "the journal's last record was torn by a crash ({torn} bytes); it was cut off and the step it described will be checked again"
            ));
    }
    let mut resume = Resume::of(&opened.loaded);
    if opts.fresh {
        resume = resume.fresh();
    }
    if opts.forget_unknown && !resume.open_applies.is_empty() {
        warnings.push(format!(
            "the simulated cluster was reset (--fresh): forgetting the applies of unknown outcome sent to the previous one ({})",
            resume.open_applies.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        resume.open_applies.clear();
    }
    for id in &opts.resend {
        let forgotten = resume.resend(id);
        if forgotten.is_empty() {
            return Err(RunError::NothingToResend {
                step: id.clone(),
                open: resume.open_applies.keys().cloned().collect(),
            });
        }
        warnings.push(format!(
            "--resend {id}: forgetting that an earlier apply of {} may have taken effect; it will be sent again if its check finds drift",
            forgotten.join(", ")
        ));
    }
    for (key, checkpoints) in &resume.open_applies {
        if opts.fresh {
            let reached = if checkpoints.is_empty() {
                String::new()
            } else {
                format!(" (it reached: {})", checkpoints.join(", "))
            };
            let id = crate::model::StepKey::parse(key)
                .map(|k| k.id().to_string())
                .unwrap_or_else(|| key.clone());
            warnings.push(format!(
                "--fresh keeps what no run may forget: an earlier apply of {key} has an unknown outcome{reached}; its check reads the cluster back before anything is sent. After checking the cluster, --resend {id} sends it again"
            ));
        }
    }
    if let Some(earlier) = &resume.unfinished {
        let diffs = opts.inputs.differences(&earlier.inputs);
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
        &opts.inputs,
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
