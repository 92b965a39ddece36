//! The recorder: the one writer of the journal. It builds every record
//! (run start and end, step results, apply brackets, checkpoints), owns the
//! run id, knows which apply is open, and is the only code that creates,
//! rotates or clears journal files. Every line passes through secret
//! redaction and is written with one `write`; the records around an apply
//! are fsynced before the run goes on.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::journal::{self, Inputs, JournalError, Loaded, PREV_FILE, Record};
use super::step::Outcome;
use crate::model::{Change, Checkpoint};
use crate::util::fsx::open_private;
use crate::util::secret::redact;

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

/// The journal file, open for appending.
struct JournalFile {
    file: File,
    path: PathBuf,
}

impl JournalFile {
    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn append(&mut self, record: &impl serde::Serialize, sync: bool) -> Result<(), JournalError> {
        let json = serde_json::to_string(record).unwrap_or_default();
        let mut line = match redact(&json) {
            std::borrow::Cow::Borrowed(_) => json,
            std::borrow::Cow::Owned(masked) => masked,
        };
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.io(e))?;
        if sync {
            self.file.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

/// The journal as a run found it: opened (a torn last line cut off) and
/// read, before the run decides whether it resumes.
pub struct Opened {
    file: JournalFile,
    pub loaded: Loaded,
}

impl Opened {
    /// Opens the journal in `dir`, cutting off a torn last line. `fresh`
    /// moves a damaged journal aside instead of failing.
    pub fn open(dir: &Path, fresh: bool) -> Result<Opened, JournalError> {
        let path = journal::path_in(dir);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let loaded = match journal::read(dir) {
            Ok(l) => l,
            Err(JournalError::Damaged { .. }) if fresh => {
                let aside = dir.join(format!(
                    "journal.damaged-{}.jsonl",
                    humantime::format_rfc3339_seconds(SystemTime::now())
                ));
                std::fs::rename(&path, &aside).map_err(io)?;
                Loaded::default()
            }
            Err(e) => return Err(e),
        };
        let file = open_private(&path, true).map_err(io)?;
        if let Some(torn) = loaded.torn_bytes {
            let len = file.metadata().map_err(io)?.len();
            file.set_len(len - torn as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(Opened {
            file: JournalFile { file, path },
            loaded,
        })
    }

    /// Starts recording. A run that does not resume starts a new journal:
    /// the previous one becomes `journal.prev.jsonl` (replacing an older
    /// one), so the journal stays as long as one run.
    pub fn start(self, resuming: bool) -> Result<Recorder, JournalError> {
        let mut file = self.file;
        let len = file.file.metadata().map_err(|e| file.io(e))?.len();
        if !resuming && len > 0 {
            let dir = file.path.parent().unwrap_or(Path::new(".")).to_path_buf();
            std::fs::rename(&file.path, dir.join(PREV_FILE)).map_err(|e| file.io(e))?;
            file.file = open_private(&file.path, true).map_err(|e| file.io(e))?;
            // Make the rename and the new file durable before records go in.
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| file.io(e))?;
        }
        Ok(Recorder::with(Some(file)))
    }
}

struct Inner {
    file: Option<JournalFile>,
    /// The step key whose apply has started and not ended, and the
    /// checkpoints it reached in this run.
    open_apply: Option<String>,
    reached: Vec<String>,
}

/// Writes the journal of one run (or nothing, for `--check`).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    run_id: Arc<str>,
}

impl Recorder {
    fn with(file: Option<JournalFile>) -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(Inner {
                file,
                open_apply: None,
                reached: Vec::new(),
            })),
            run_id: new_run_id().into(),
        }
    }

    /// A recorder that writes nothing (a dry run keeps no journal).
    pub fn disabled() -> Recorder {
        Recorder::with(None)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn write(&self, record: impl serde::Serialize, sync: bool) -> Result<(), JournalError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.file.as_mut() {
            Some(f) => f.append(&record, sync),
            None => Ok(()),
        }
    }

    pub fn run_start(&self, inputs: &Inputs, resumes: Option<&str>) -> Result<(), JournalError> {
        self.write(
            Record::RunStart {
                run_id: self.run_id.to_string(),
                ts: now(),
                pid: std::process::id(),
                inputs: inputs.clone(),
                resumes: resumes.map(str::to_string),
            },
            true,
        )
    }

    /// Carries an earlier run's apply of unknown outcome into this run's
    /// journal (with the checkpoints it reached), so that a later run still
    /// knows, however this one ends.
    pub fn carry_open_apply(&self, key: &str, checkpoints: &[String]) -> Result<(), JournalError> {
        self.write(
            Record::ApplyStart {
                run_id: self.run_id.to_string(),
                ts: now(),
                step: key.to_string(),
                changes: Vec::new(),
            },
            true,
        )?;
        for name in checkpoints {
            self.checkpoint(key, name)?;
        }
        Ok(())
    }

    pub fn checkpoint(&self, key: &str, name: &str) -> Result<(), JournalError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.open_apply.as_deref() == Some(key) {
                inner.reached.push(name.to_string());
            }
        }
        self.write(
            Record::Checkpoint {
                run_id: self.run_id.to_string(),
                ts: now(),
                step: key.to_string(),
                name: name.to_string(),
            },
            true,
        )
    }

    /// Opens the bracket of an apply (fsynced before the apply starts).
    pub fn apply_start(&self, key: &str, changes: &[Change]) -> Result<(), JournalError> {
        self.write(
            Record::ApplyStart {
                run_id: self.run_id.to_string(),
                ts: now(),
                step: key.to_string(),
                changes: changes.to_vec(),
            },
            true,
        )?;
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open_apply = Some(key.to_string());
        Ok(())
    }

    /// Closes an apply's bracket. `unknown`: it may or may not have taken
    /// effect, so later runs read the state back before acting.
    pub fn apply_end(
        &self,
        key: &str,
        ok: bool,
        unknown: bool,
        message: &str,
    ) -> Result<(), JournalError> {
        self.write(
            Record::ApplyEnd {
                run_id: self.run_id.to_string(),
                ts: now(),
                step: key.to_string(),
                ok,
                unknown,
                message: message.to_string(),
            },
            true,
        )?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.open_apply.as_deref() == Some(key) {
            inner.open_apply = None;
        }
        Ok(())
    }

    /// Closes the bracket of an apply that was cut off (interrupted, or
    /// timed out): its outcome is unknown. Returns the checkpoints the
    /// apply had reached, when there was an open apply.
    pub fn close_open_apply(&self, message: &str) -> Result<Option<Vec<String>>, JournalError> {
        let (open, reached) = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            (inner.open_apply.clone(), inner.reached.clone())
        };
        match open {
            Some(key) => {
                self.apply_end(&key, false, true, message)?;
                Ok(Some(reached))
            }
            None => Ok(None),
        }
    }

    /// The result of one step key. `from_journal`: restored from an
    /// earlier run's record, not run again.
    #[allow(clippy::too_many_arguments)]
    pub fn step_end(
        &self,
        key: &str,
        module: &str,
        name: Option<&str>,
        o: &Outcome,
        duration_ms: u64,
        ignored: bool,
        from_journal: bool,
    ) -> Result<(), JournalError> {
        // Written from borrowed parts: a step's output may be large (a
        // fan-out's hosts), and is not copied to be recorded.
        self.write(
            StepEndLine {
                kind: "step_end",
                run_id: &self.run_id,
                ts: now(),
                step: key,
                module: Some(module),
                name,
                status: o.status,
                message: &o.message,
                remedy: o.remedy.as_deref(),
                duration_ms,
                changes: &o.changes,
                output: &o.output,
                ignored,
                from_journal,
            },
            false,
        )
    }

    pub fn run_end(&self, status: &str, exit_code: i32) -> Result<(), JournalError> {
        self.write(
            Record::RunEnd {
                run_id: self.run_id.to_string(),
                ts: now(),
                status: status.to_string(),
                exit_code,
            },
            true,
        )
    }

    /// A task's handle for recording checkpoints of step `key`.
    pub fn checkpointer(&self, key: &str) -> StepCheckpoint {
        StepCheckpoint {
            recorder: self.clone(),
            key: key.to_string(),
        }
    }
}

/// [`Record::StepEnd`] as written, from borrowed parts (the same line;
/// a unit test reads it back as the record).
#[derive(serde::Serialize)]
struct StepEndLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    run_id: &'a str,
    ts: String,
    step: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    status: crate::model::Status,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remedy: Option<&'a str>,
    duration_ms: u64,
    changes: &'a [Change],
    output: &'a crate::model::Facts,
    ignored: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    from_journal: bool,
}

/// Records checkpoints of one step's apply (see [`Checkpoint`]).
pub struct StepCheckpoint {
    recorder: Recorder,
    key: String,
}

impl Checkpoint for StepCheckpoint {
    fn record(&self, name: &str) -> Result<(), String> {
        self.recorder
            .checkpoint(&self.key, name)
            .map_err(|e| e.to_string())
    }
}

/// Deletes the journal and the previous run's journal in `dir` (the caller
/// holds the state directory's lock). Returns the journal's path when
/// there was one.
pub fn clear(dir: &Path) -> Result<Option<PathBuf>, JournalError> {
    let path = journal::path_in(dir);
    let io = |path: &Path, source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let prev = dir.join(PREV_FILE);
    match std::fs::remove_file(&prev) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&prev, e)),
        _ => {}
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn a_step_end_line_reads_back_as_the_record() {
        let mut o = Outcome::new(Status::Changed, "done: x");
        o.remedy = Some("r".into());
        o.changes = vec![Change::new("k", "set k")];
        o.output.insert("n".into(), 5.into());
        let line = serde_json::to_string(&StepEndLine {
            kind: "step_end",
            run_id: "run",
            ts: "t".into(),
            step: "a[2]",
            module: Some("command"),
            name: Some("N"),
            status: o.status,
            message: &o.message,
            remedy: o.remedy.as_deref(),
            duration_ms: 7,
            changes: &o.changes,
            output: &o.output,
            ignored: true,
            from_journal: true,
        })
        .unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        // Byte for byte what the record itself writes.
        assert_eq!(serde_json::to_string(&back).unwrap(), line);
        let Record::StepEnd {
            run_id,
            step,
            module,
            name,
            status,
            message,
            remedy,
            duration_ms,
            changes,
            output,
            ignored,
            from_journal,
            ..
        } = back
        else {
            panic!("{line}")
        };
        assert_eq!(
            (
                run_id.as_str(),
                step.as_str(),
                module.as_deref(),
                name.as_deref()
            ),
            ("run", "a[2]", Some("command"), Some("N"))
        );
        assert_eq!(
            (status, message.as_str(), remedy.as_deref()),
            (Status::Changed, "done: x", Some("r"))
        );
        assert_eq!((duration_ms, ignored, from_journal), (7, true, true));
        assert_eq!((changes, output), (o.changes, o.output));
    }

    #[test]
    fn a_bare_step_end_line_is_the_records_bytes_too() {
        let o = Outcome::new(Status::Ok, "in sync");
        let line = serde_json::to_string(&StepEndLine {
            kind: "step_end",
            run_id: "run",
            ts: "t".into(),
            step: "b",
            module: None,
            name: None,
            status: o.status,
            message: &o.message,
            remedy: None,
            duration_ms: 0,
            changes: &o.changes,
            output: &o.output,
            ignored: false,
            from_journal: false,
        })
        .unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), line);
        assert!(
            !line.contains("from_journal") && line.contains("\"ignored\":false"),
            "{line}"
        );
    }
}
