//! The journal's format: `journal.jsonl` in the state directory, one JSON
//! record per line ([`Record`]), and reading it back ([`read`]), including
//! a torn last line (a crash during a write). Writing is the
//! [`super::recorder::Recorder`]'s alone.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::events::Status;
use crate::util::fsx::read_private;

/// The journal file in the state directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
use crate::model::{Change, Facts};

/// What a run was started with; a resume requires the same.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Inputs {
    pub playbook: String,
    pub playbook_digest: String,
    #[serde(default)]
    pub inventory: Option<String>,
    #[serde(default)]
    pub inventory_digest: Option<String>,
    /// `-e` variables (values redacted if secret).
    #[serde(default)]
    pub extra_vars: BTreeMap<String, serde_json::Value>,
    /// The MKE host the run talks to, if any.
    #[serde(default)]
    pub target: Option<String>,
    /// When the playbook reads other files (`vars_files`, `include`s):
    /// each file, the playbook first, path → SHA-256 (all in
    /// `playbook_digest` too), so a refused resume names what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

impl Inputs {
    /// What differs from `earlier`, in words; empty when resumable.
    pub fn differences(&self, earlier: &Inputs) -> Vec<String> {
        let mut out = Vec::new();
        if self.playbook_digest != earlier.playbook_digest {
            let files = file_differences(&self.playbook, &earlier.files, &self.files);
            if self.playbook != earlier.playbook {
                out.push(format!(
                    "the playbook is {} now, was {}",
                    self.playbook, earlier.playbook
                ));
            } else if files.is_empty() {
                out.push(format!("the playbook {} was edited", self.playbook));
            }
            out.extend(files);
        }
        if self.inventory_digest != earlier.inventory_digest {
            out.push(match (&earlier.inventory, &self.inventory) {
                (None, Some(p)) => format!("an inventory is given now ({p}), none was"),
                (Some(p), None) => format!("no inventory is given now, {p} was"),
                (Some(a), Some(b)) if a != b => format!("the inventory is {b} now, was {a}"),
                (_, Some(p)) => format!("the inventory {p} was edited"),
                _ => "the inventory changed".to_string(),
            });
        }
        let keys: std::collections::BTreeSet<&String> = self
            .extra_vars
            .keys()
            .chain(earlier.extra_vars.keys())
            .collect();
        for k in keys {
            match (earlier.extra_vars.get(k), self.extra_vars.get(k)) {
                (Some(a), Some(b)) if a != b => {
                    out.push(format!("variable `{k}` is {b} now, was {a}"))
                }
                (None, Some(b)) => out.push(format!("variable `{k}` = {b} is new")),
                (Some(a), None) => out.push(format!("variable `{k}` (was {a}) is no longer given")),
                _ => {}
            }
        }
        if self.target != earlier.target {
            out.push(format!(
                "the MKE host is {} now, was {}",
                self.target.as_deref().unwrap_or("unset"),
                earlier.target.as_deref().unwrap_or("unset")
            ));
        }
        out
    }
}

/// What changed among the files a playbook reads, in words.
fn file_differences(
    playbook: &str,
    earlier: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, digest) in now {
        match earlier.get(path) {
            Some(d) if d != digest && path == playbook => {
                out.push(format!("the playbook {path} was edited"))
            }
            Some(d) if d != digest => out.push(format!("{path} (read by the playbook) was edited")),
            None => out.push(format!("the playbook reads {path} now")),
            _ => {}
        }
    }
    for path in earlier.keys().filter(|p| !now.contains_key(*p)) {
        out.push(format!("the playbook no longer reads {path}"));
    }
    out
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    RunStart {
        run_id: String,
        ts: String,
        pid: u32,
        inputs: Inputs,
        #[serde(default)]
        resumes: Option<String>,
    },
    ApplyStart {
        run_id: String,
        ts: String,
        step: String,
        changes: Vec<Change>,
    },
    ApplyEnd {
        run_id: String,
        ts: String,
        step: String,
        ok: bool,
        /// The apply may or may not have taken effect (cut off, timed out,
        /// or failed without knowing): the step stays open for later runs.
        #[serde(default)]
        unknown: bool,
        message: String,
    },
    StepEnd {
        run_id: String,
        ts: String,
        step: String,
        /// The step's module and name (absent in journals written before
        /// 0.2, so that they still resume).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        status: Status,
        message: String,
        /// What a person can do about a blocked or failed step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remedy: Option<String>,
        duration_ms: u64,
        #[serde(default)]
        changes: Vec<Change>,
        #[serde(default)]
        output: Facts,
        #[serde(default)]
        ignored: bool,
        /// Restored from an earlier run's record, not run again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        from_journal: bool,
    },
    /// A task's apply reached a named point (for example `put-sent`).
    Checkpoint {
        run_id: String,
        ts: String,
        step: String,
        name: String,
    },
    RunEnd {
        run_id: String,
        ts: String,
        status: String,
        exit_code: i32,
    },
}

impl Record {
    pub fn run_id(&self) -> &str {
        match self {
            Record::RunStart { run_id, .. }
            | Record::ApplyStart { run_id, .. }
            | Record::ApplyEnd { run_id, .. }
            | Record::StepEnd { run_id, .. }
            | Record::Checkpoint { run_id, .. }
            | Record::RunEnd { run_id, .. } => run_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the journal {path} is damaged at line {line} ({reason}); inspect it, then start over with --fresh (the damaged journal is kept aside) or `mkeprep journal clear`"
    )]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The journal as read from disk.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: Option<usize>,
}

impl Loaded {
    /// The records of the last run, if it did not finish (no `run_end`, or
    /// ended interrupted).
    pub fn unfinished_run(&self) -> Option<&[Record]> {
        let start = self
            .records
            .iter()
            .rposition(|r| matches!(r, Record::RunStart { .. }))?;
        let run = &self.records[start..];
        let ended = run
            .iter()
            .any(|r| matches!(r, Record::RunEnd { status, .. } if status != "interrupted"));
        (!ended).then_some(run)
    }

    /// The records of the last run, however it ended.
    pub fn last_run(&self) -> Option<&[Record]> {
        let start = self
            .records
            .iter()
            .rposition(|r| matches!(r, Record::RunStart { .. }))?;
        Some(&self.records[start..])
    }

    /// Records grouped by run, oldest first.
    pub fn runs(&self) -> Vec<&[Record]> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, r) in self.records.iter().enumerate() {
            if matches!(r, Record::RunStart { .. }) {
                if let Some(s) = start {
                    out.push(&self.records[s..i]);
                }
                start = Some(i);
            }
        }
        if let Some(s) = start {
            out.push(&self.records[s..]);
        }
        out
    }
}

/// The journal of the run before the current one.
pub const PREV_FILE: &str = "journal.prev.jsonl";

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

/// Parses journal text. `Ok((records, torn))`: `torn` is the byte offset of
/// a torn last line.
fn parse(text: &str, path: &Path) -> Result<(Vec<Record>, Option<usize>), JournalError> {
    let mut records = Vec::new();
    let mut offset = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        let complete = line.ends_with('\n');
        let body = line.trim_end_matches('\n');
        if body.trim().is_empty() && complete {
            offset += line.len();
            continue;
        }
        match serde_json::from_str::<Record>(body) {
            Ok(r) if complete => records.push(r),
            // A last line without its newline, or one that does not parse,
            // is a write the crash interrupted.
            _ if last => return Ok((records, Some(offset))),
            Ok(_) => unreachable!("only the last line can lack a newline"),
            Err(e) => {
                return Err(JournalError::Damaged {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
        }
        offset += line.len();
    }
    Ok((records, None))
}

/// Reads the journal without changing it (for `journal show` and `--check`).
pub fn read(dir: &Path) -> Result<Loaded, JournalError> {
    read_path(&path_in(dir))
}

/// Reads a journal file (the current one or `journal.prev.jsonl`).
pub fn read_path(path: &Path) -> Result<Loaded, JournalError> {
    let path = path.to_path_buf();
    let text = match read_private(&path) {
        Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(None) => return Ok(Loaded::default()),
        Err(source) => return Err(JournalError::Io { path, source }),
    };
    let (records, torn) = parse(&text, &path)?;
    Ok(Loaded {
        records,
        torn_bytes: torn.map(|o| text.len() - o),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(run: &str, status: &str) -> String {
        serde_json::to_string(&Record::RunEnd {
            run_id: run.into(),
            ts: "t".into(),
            status: status.into(),
            exit_code: 0,
        })
        .unwrap()
    }

    #[test]
    fn torn_last_line_is_detected_and_middle_damage_is_an_error() {
        let p = Path::new("j");
        let good = end("a", "ok");
        let text = format!("{good}\n{{\"type\":\"run_st");
        let (recs, torn) = parse(&text, p).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(torn, Some(good.len() + 1));
        // A complete-looking but unparsable last line is torn too.
        let (_, torn) = parse(&format!("{good}\n{{garbage}}\n"), p).unwrap();
        assert_eq!(torn, Some(good.len() + 1));
        let e = parse(&format!("{{garbage}}\n{good}\n"), p).unwrap_err();
        assert!(matches!(e, JournalError::Damaged { line: 1, .. }));
    }

    #[test]
    fn interrupted_runs_are_unfinished() {
        let start = |id: &str| {
            serde_json::to_string(&Record::RunStart {
                run_id: id.into(),
                ts: "t".into(),
                pid: 1,
                inputs: Inputs::default(),
                resumes: None,
            })
            .unwrap()
        };
        let text = format!("{}\n{}\n{}\n", start("a"), end("a", "ok"), start("b"));
        let (records, _) = parse(&text, Path::new("j")).unwrap();
        let l = Loaded {
            records,
            torn_bytes: None,
        };
        assert_eq!(l.unfinished_run().unwrap()[0].run_id(), "b");
        assert_eq!(l.runs().len(), 2);
        let text = format!("{}\n{}\n", start("a"), end("a", "interrupted"));
        let (records, _) = parse(&text, Path::new("j")).unwrap();
        assert!(
            Loaded {
                records,
                torn_bytes: None
            }
            .unfinished_run()
            .is_some()
        );
        let text = format!("{}\n{}\n", start("a"), end("a", "failed"));
        let (records, _) = parse(&text, Path::new("j")).unwrap();
        assert!(
            Loaded {
                records,
                torn_bytes: None
            }
            .unfinished_run()
            .is_none()
        );
    }
}
