//! `mkeprep journal show|clear`.

use super::{JournalAction, JournalArgs, Output, print_error};
use crate::engine::journal::{self, Record};
use crate::engine::lock::RunLock;
use crate::engine::recorder;
use crate::engine::resume::open_applies;
use crate::model::exit;
use crate::report::human_ms;
use crate::util::secret::redact;
use crate::util::text::{json_terminal_safe, terminal_safe};

pub fn run(a: JournalArgs) -> i32 {
    match a.action {
        JournalAction::Show {
            state_dir,
            output,
            all,
        } => show(&state_dir, output, all),
        JournalAction::Clear { state_dir } => clear(&state_dir),
    }
}

fn show(dir: &std::path::Path, output: Output, all: bool) -> i32 {
    let loaded = match journal::read(dir) {
        Ok(l) => l,
        Err(e) => {
            print_error(&e.to_string());
            return exit::FAILED;
        }
    };
    let prev = if all {
        journal::read_path(&dir.join(journal::PREV_FILE)).unwrap_or_default()
    } else {
        journal::Loaded::default()
    };
    let mut runs = prev.runs();
    runs.extend(loaded.runs());
    let shown: Vec<&[Record]> = if all {
        runs
    } else {
        runs.last().copied().into_iter().collect()
    };
    if output == Output::Json {
        for run in shown {
            for r in run {
                let line = redact(&serde_json::to_string(r).unwrap_or_default()).into_owned();
                println!("{}", json_terminal_safe(&line));
            }
        }
        return exit::OK;
    }
    if shown.is_empty() {
        println!(
            "no journal in {} (no run has been recorded there)",
            dir.display()
        );
        return exit::OK;
    }
    let mut text = String::new();
    for run in shown {
        let Some(Record::RunStart {
            run_id,
            ts,
            inputs,
            resumes,
            ..
        }) = run.first()
        else {
            continue;
        };
        let end = run.iter().rev().find_map(|r| match r {
            Record::RunEnd {
                status, exit_code, ..
            } => Some(format!("{status} (exit {exit_code})")),
            _ => None,
        });
        text.push_str(&format!(
            "RUN {run_id}  started {ts}  {}\n  playbook {}{}\n",
            end.unwrap_or_else(
                || "unfinished: the next run of the same playbook resumes it".into()
            ),
            inputs.playbook,
            resumes
                .as_ref()
                .map(|r| format!("  (resumed {r})"))
                .unwrap_or_default()
        ));
        text.push_str(&format!(
            "  {:<14} {:<24} {:>8}  {}\n",
            "STATUS", "STEP", "TIME", "DETAIL"
        ));
        for r in run {
            match r {
                Record::ApplyEnd {
                    step,
                    ok: false,
                    message,
                    ..
                } => {
                    text.push_str(&format!(
                        "  {:<14} {:<24} {:>8}  {}\n",
                        "apply failed", step, "", message
                    ));
                }
                Record::StepEnd {
                    step,
                    status,
                    message,
                    duration_ms,
                    ignored,
                    from_journal,
                    ..
                } => {
                    let message = if *from_journal {
                        format!("{message} (from journal)")
                    } else {
                        message.clone()
                    };
                    let word = if *ignored && status.is_problem() {
                        format!("{} (ignored)", status.word())
                    } else {
                        status.word().to_string()
                    };
                    text.push_str(&format!(
                        "  {:<14} {:<24} {:>8}  {}\n",
                        word,
                        step,
                        human_ms(*duration_ms),
                        message
                    ));
                }
                _ => {}
            }
        }
        for step in open_applies(run).keys() {
            text.push_str(&format!(
                "  {:<14} {:<24} {:>8}  apply outcome unknown: the next run reads it back before anything else\n",
                "unknown", step, ""
            ));
        }
    }
    if let Some(torn) = loaded.torn_bytes {
        text.push_str(&format!("note: the last record is torn ({torn} bytes, a crash during a write); the next run cuts it off\n"));
    }
    // The journal holds what commands and the API said: shown, never
    // acted on by the terminal.
    print!("{}", terminal_safe(&redact(&text)));
    exit::OK
}

fn clear(dir: &std::path::Path) -> i32 {
    if !journal::path_in(dir).exists() {
        println!("no journal in {}", dir.display());
        return exit::OK;
    }
    let _lock = match RunLock::acquire(dir) {
        Ok(l) => l,
        Err(e) => {
            print_error(&e.to_string());
            return e.exit_code();
        }
    };
    match recorder::clear(dir) {
        Ok(Some(path)) => {
            println!("removed {}", path.display());
            exit::OK
        }
        Ok(None) => {
            println!("no journal in {}", dir.display());
            exit::OK
        }
        Err(e) => {
            print_error(&e.to_string());
            exit::FAILED
        }
    }
}
