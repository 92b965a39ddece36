//! The readiness report from the command line: `run --report FILE` (the
//! reporter and its file's check) and `mkeprep report`, which renders the
//! last run recorded in a state directory's journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ReportArgs, print_error};
use crate::engine::journal::{self, Inputs, Record};
use crate::engine::resume::open_applies;
use crate::model::events::{self, Event, Reporter, Status};
use crate::model::exit;
use crate::report::readiness::{self, Format, Report, ReportReporter};

/// clap's value parser for a report file: `.html` or `.md`, or a usage
/// error (exit 2) before anything is loaded or contacted.
pub fn parse_report_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    Format::from_path(&path)?;
    Ok(path)
}

/// The `--report FILE` reporter of a run with these inputs (none when the
/// run stopped before loading them).
pub fn reporter(path: &Path, inputs: Option<&Inputs>) -> Box<dyn Reporter> {
    // The path was checked by `parse_report_path`.
    let format = Format::from_path(path).unwrap_or(Format::Html);
    Box::new(
        ReportReporter::new(path.to_path_buf(), format).with_context(
            inputs.and_then(|i| i.inventory.clone()),
            inputs.and_then(|i| i.target.clone()),
        ),
    )
}

/// `mkeprep report`.
pub fn run(a: ReportArgs) -> i32 {
    crate::util::secret::register_secret_env();
    let format = match Format::from_path(&a.output) {
        Ok(f) => f,
        Err(e) => {
            print_error(&e);
            return exit::USAGE;
        }
    };
    let loaded = match journal::read(&a.state_dir) {
        Ok(l) => l,
        Err(e) => {
            print_error(&e.to_string());
            return exit::FAILED;
        }
    };
    let Some(run) = loaded.last_run() else {
        print_error(&format!(
            "no run is recorded in {} (the journal is {}): run the playbook first; a --check run writes no journal, so give it --report FILE instead",
            a.state_dir.display(),
            if journal::path_in(&a.state_dir).exists() {
                "empty"
            } else {
                "missing"
            }
        ));
        return exit::FAILED;
    };
    let report = from_journal(run, &a.state_dir);
    match readiness::write(&a.output, format, &report) {
        Ok(()) => {
            println!(
                "{}: {} ({})",
                a.output.display(),
                report.verdict().word(),
                readiness::clean(&report.reason())
            );
            exit::OK
        }
        Err(e) => {
            print_error(&format!("cannot write {}: {e}", a.output.display()));
            exit::FAILED
        }
    }
}

/// The playbook's `name:`, when the file is still the one the run used.
fn playbook_name(inputs: &Inputs) -> Option<String> {
    let bytes = std::fs::read(&inputs.playbook).ok()?;
    if crate::util::text::sha256_hex(&bytes) != inputs.playbook_digest {
        return None;
    }
    let src = crate::diag::read_source(Path::new(&inputs.playbook), "playbook").ok()?;
    let root = crate::yaml::parse(&src).ok()?;
    root.get("name")?.to_json().as_str().map(str::to_string)
}

fn millis_between(from: &str, to: &str) -> Option<u64> {
    let a = humantime::parse_rfc3339_weak(from).ok()?;
    let b = humantime::parse_rfc3339_weak(to).ok()?;
    b.duration_since(a).ok().map(|d| d.as_millis() as u64)
}

/// The report of one run's journal records (the same events a live run
/// sends, rebuilt from what the journal keeps: no `host` events, no skipped
/// steps, which are not journaled).
pub fn from_journal(run: &[Record], dir: &Path) -> Report {
    let mut report = Report::new();
    report.source = format!("the journal in {}", dir.display());
    let mut started_ts = None;
    let mut counts: BTreeMap<&'static str, usize> =
        Status::ALL.iter().map(|s| (s.json_name(), 0)).collect();
    for r in run {
        match r {
            Record::RunStart {
                run_id,
                ts,
                inputs,
                resumes,
                ..
            } => {
                report.started = Some(ts.clone());
                started_ts = Some(ts.clone());
                report.inventory = inputs.inventory.clone();
                report.mke_host = inputs.target.clone();
                report.apply(&Event::RunStart(events::RunStart {
                    playbook: inputs.playbook.clone(),
                    name: playbook_name(inputs),
                    digest: inputs.playbook_digest.clone(),
                    check: false,
                    resumed: resumes.is_some(),
                    run_id: run_id.clone(),
                    steps: 0,
                    state_dir: dir.display().to_string(),
                }));
            }
            Record::ApplyStart { .. } | Record::ApplyEnd { .. } | Record::Checkpoint { .. } => {}
            Record::StepEnd {
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
            } => {
                *counts.entry(status.json_name()).or_default() += 1;
                report.apply(&Event::StepEnd(events::StepEnd {
                    step: step.clone(),
                    module: module.clone().unwrap_or_default(),
                    name: name.clone(),
                    status: *status,
                    changes: changes.clone(),
                    message: message.clone(),
                    remedy: remedy.clone(),
                    duration_ms: *duration_ms,
                    output: std::sync::Arc::new(output.clone()),
                    from_journal: *from_journal,
                    ignored: *ignored,
                    after: None,
                    diffs: Vec::new(),
                }));
            }
            Record::RunEnd {
                ts,
                status,
                exit_code,
                ..
            } => {
                report.finished = Some(ts.clone());
                report.apply(&Event::RunEnd(events::RunEnd {
                    status: status.clone(),
                    exit_code: *exit_code,
                    counts: counts.clone(),
                    duration_ms: started_ts
                        .as_deref()
                        .and_then(|s| millis_between(s, ts))
                        .unwrap_or(0),
                }));
            }
        }
    }
    for step in open_applies(run).keys() {
        report.warnings.push(format!(
            "{step}: the outcome of its apply is unknown (cut off, timed out or unanswered); the next run reads the cluster back before anything else"
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::readiness::Verdict;

    fn parse(lines: &[&str]) -> Vec<Record> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a record"))
            .collect()
    }

    #[test]
    fn a_cut_off_run_from_the_journal_is_not_ready_and_names_the_open_apply() {
        let run = parse(&[
            r#"{"type":"run_start","run_id":"r","ts":"2026-01-01T10:00:00.000Z","pid":1,"inputs":{"playbook":"gone.yaml","playbook_digest":"d","target":"https://mke.example"}}"#,
            r#"{"type":"step_end","run_id":"r","ts":"2026-01-01T10:00:01.000Z","step":"verify-version","module":"mke_version","status":"ok","message":"fine","duration_ms":5,"output":{"version":"3.8.10","target":"4.1.5"}}"#,
            r#"{"type":"apply_start","run_id":"r","ts":"2026-01-01T10:00:02.000Z","step":"migrate-kdd","changes":[]}"#,
            r#"{"type":"checkpoint","run_id":"r","ts":"2026-01-01T10:00:02.500Z","step":"migrate-kdd","name":"put-sent"}"#,
        ]);
        let r = from_journal(&run, Path::new("state"));
        assert_eq!(r.verdict(), Verdict::NotReady);
        assert!(r.reason().contains("did not finish"), "{}", r.reason());
        assert_eq!(r.started.as_deref(), Some("2026-01-01T10:00:00.000Z"));
        assert_eq!(r.mke_host.as_deref(), Some("https://mke.example"));
        assert_eq!(r.cluster().mke_version.as_deref(), Some("3.8.10"));
        assert_eq!(r.source, "the journal in state");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("migrate-kdd: the outcome of its apply is unknown")),
            "{:?}",
            r.warnings
        );
        // The playbook file is gone: the title falls back to its path.
        assert_eq!(r.title.as_deref(), Some("gone.yaml"));
    }

    #[test]
    fn a_finished_run_from_the_journal_has_its_duration() {
        let run = parse(&[
            r#"{"type":"run_start","run_id":"r","ts":"2026-01-01T10:00:00.000Z","pid":1,"inputs":{"playbook":"p.yaml","playbook_digest":"d"}}"#,
            r#"{"type":"step_end","run_id":"r","ts":"2026-01-01T10:00:01.000Z","step":"a","status":"changed","message":"done","duration_ms":5,"changes":[{"key":"k","summary":"s","from":false,"to":true}]}"#,
            r#"{"type":"run_end","run_id":"r","ts":"2026-01-01T10:01:30.250Z","status":"ok","exit_code":0}"#,
        ]);
        let r = from_journal(&run, Path::new("state"));
        assert_eq!(r.verdict(), Verdict::Ready);
        assert_eq!(r.duration_ms, Some(90_250));
        assert_eq!(r.changes().len(), 1);
        assert!(r.warnings.is_empty());
    }
}
