//! Human output: one line per step (status, id, duration, detail), the
//! remedy under anything blocked or failed, unified diffs with `--diff`, a
//! recap table at the end. Step lines and the recap go to stdout; warnings
//! and progress to stderr: live bars on a terminal ([`super::live`]), plain
//! timestamped lines otherwise. Colour only on a terminal, and never with
//! `--no-color` or `NO_COLOR`.

mod lines;

use std::io::Write;
use std::time::{Duration, Instant};

use super::live::{Live, host_count, one_line, wait_text};
use crate::model::events::{Event, HostResult, Reporter, Status, StepEnd};
use crate::util::secret::redact;
use lines::paint;

/// The widest the step id column grows.
const MAX_ID_COLUMN: usize = 40;

/// Off a terminal, at most one host progress line this often.
const HOST_LINE_EVERY: Duration = Duration::from_secs(5);

/// One row of the recap table.
struct Row {
    step: String,
    status: Status,
    duration_ms: u64,
    note: &'static str,
}

/// Hosts of the running fan-out step.
#[derive(Default)]
struct Hosts {
    step: String,
    done: usize,
    failed: usize,
    last_line: Option<Instant>,
}

pub struct HumanReporter<W: Write, E: Write> {
    out: W,
    err: E,
    color: bool,
    err_color: bool,
    diff: bool,
    verbose: u8,
    check: bool,
    width: usize,
    problems: Vec<StepEnd>,
    rows: Vec<Row>,
    hosts: Hosts,
    live: Option<Live>,
}

/// Writes (and flushes) with any live bars cleared from the terminal first.
/// A closed pipe must not stop the run, so write errors are dropped.
fn emit(w: &mut impl Write, live: Option<&Live>, text: &str) {
    let mut write = || {
        let _ = w.write_all(text.as_bytes());
        let _ = w.flush();
    };
    match live {
        Some(live) => live.suspend(write),
        None => write(),
    }
}

impl<W: Write, E: Write> HumanReporter<W, E> {
    /// `color` applies to both streams until [`Self::err_color`] says
    /// otherwise; no live bars until [`Self::live`].
    pub fn new(out: W, err: E, color: bool, diff: bool, verbose: u8) -> Self {
        HumanReporter {
            out,
            err,
            color,
            err_color: color,
            diff,
            verbose,
            check: false,
            width: 12,
            problems: Vec::new(),
            rows: Vec::new(),
            hosts: Hosts::default(),
            live: None,
        }
    }

    /// Whether stderr (warnings) may be coloured.
    pub fn err_color(mut self, on: bool) -> Self {
        self.err_color = on;
        self
    }

    /// The widest step key the run can show (an id, or `id[N]` for a loop's
    /// item), so the columns of step lines are that wide from the first line
    /// on, not widened mid-run.
    pub fn key_width(mut self, width: usize) -> Self {
        // A longer id overflows its column (the formatter's width is
        // bounded: a 65,536-character id panicked it).
        self.width = self.width.max(width.min(MAX_ID_COLUMN));
        self
    }

    /// Live progress bars instead of timestamped progress lines.
    pub fn live(mut self, live: Live) -> Self {
        self.live = Some(live);
        self
    }

    fn write_err(&mut self, text: &str) {
        let text = redact(text);
        emit(&mut self.err, self.live.as_ref(), &text);
    }

    /// A timestamped progress line on stderr (off a terminal).
    fn progress_line(&mut self, step: &str, message: &str) {
        let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let text = format!("  {ts} {step}: {}\n", one_line(message));
        self.write_err(&text);
    }

    fn host(&mut self, h: &HostResult) {
        if self.hosts.step != h.step {
            self.hosts = Hosts {
                step: h.step.clone(),
                ..Hosts::default()
            };
        }
        self.hosts.done += 1;
        if h.status == "failed" {
            self.hosts.failed += 1;
        }
        let (done, failed) = (self.hosts.done, self.hosts.failed);
        if let Some(live) = &mut self.live {
            live.hosts(&h.step, done, h.total, failed);
        } else {
            let last = h.total.is_some_and(|t| done >= t);
            let due = self
                .hosts
                .last_line
                .is_none_or(|t| t.elapsed() >= HOST_LINE_EVERY);
            if last || due {
                self.hosts.last_line = Some(Instant::now());
                let text = host_count(done, h.total, failed);
                self.progress_line(&h.step, &text);
            }
        }
        if self.verbose > 0 || h.status != "ok" {
            let status = match &h.cause {
                Some(c) => format!("{} ({c})", h.status),
                None => h.status.clone(),
            };
            let text = format!("      {} {:<16} {}\n", h.host, status, one_line(&h.message));
            self.write_out(&text);
        }
    }

    fn write_out(&mut self, text: &str) {
        let text = redact(text);
        emit(&mut self.out, self.live.as_ref(), &text);
    }
}

impl<W: Write + Send, E: Write + Send> Reporter for HumanReporter<W, E> {
    fn event(&mut self, ev: &Event) {
        // Every string masked and terminal-safe before it is laid out, so
        // the only escapes written are this reporter's own colours.
        let safe = crate::report::terminal::safe_event(ev);
        let ev = &safe;
        match ev {
            Event::RunStart(r) => {
                self.check = r.check;
                let title = r.name.clone().unwrap_or_else(|| r.playbook.clone());
                let mut mode = Vec::new();
                if r.check {
                    mode.push("check only: nothing will be changed".to_string());
                }
                if r.resumed {
                    mode.push(format!(
                        "resuming the unfinished run recorded in {}",
                        r.state_dir
                    ));
                }
                let mode = if mode.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", mode.join("; "))
                };
                let text = format!("{} {}{}\n", self.paint("1", "PLAYBOOK"), title, mode);
                self.write_out(&text);
            }
            Event::StepStart(st) => {
                if let Some(live) = &mut self.live {
                    live.step_start(&st.step);
                }
            }
            Event::StepEnd(s) => {
                if let Some(live) = &mut self.live {
                    live.step_end();
                }
                // A longer id overflows its column (and the formatter's
                // width is bounded: a 65,536-character id panicked it).
                self.width = self.width.max(s.step.chars().count().min(MAX_ID_COLUMN));
                if s.status.is_problem() && !s.ignored {
                    self.problems.push(s.clone());
                }
                self.rows.push(Row {
                    step: s.step.clone(),
                    status: s.status,
                    duration_ms: s.duration_ms,
                    note: if s.from_journal {
                        "(from journal)"
                    } else if s.ignored {
                        "(ignored)"
                    } else {
                        ""
                    },
                });
                let text = self.step_text(s);
                self.write_out(&text);
            }
            Event::Host(h) => self.host(h),
            Event::Progress {
                step,
                message,
                elapsed_s,
                expected_s,
            } => match &mut self.live {
                Some(live) => live.progress(step, message, *elapsed_s, *expected_s),
                None => self.progress_line(step, &wait_text(message, *elapsed_s, *expected_s)),
            },
            Event::Warning { message } => {
                let text = format!(
                    "{} {}\n",
                    paint(self.err_color, "1;33", "warning:"),
                    one_line(message)
                );
                self.write_err(&text);
            }
            // The CLI prints the error itself, in every output mode.
            Event::Error { .. } => {
                if let Some(live) = &mut self.live {
                    live.step_end();
                }
            }
            Event::RunEnd(r) => {
                if let Some(live) = &mut self.live {
                    live.step_end();
                }
                // A run that stopped before any step has nothing to recap:
                // the error said it all.
                if r.status != "error" || !self.rows.is_empty() {
                    let text = self.recap(r);
                    self.write_out(&text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::events::{HostResult, RunEnd, StepStart};

    fn end(step: &str, status: Status, message: &str, remedy: Option<&str>) -> Event {
        Event::StepEnd(StepEnd {
            step: step.into(),
            module: "m".into(),
            name: None,
            status,
            changes: Vec::new(),
            message: message.into(),
            remedy: remedy.map(String::from),
            duration_ms: 1500,
            output: Default::default(),
            from_journal: false,
            ignored: false,
            after: None,
            diffs: Vec::new(),
        })
    }

    fn host(n: usize) -> Event {
        Event::Host(HostResult {
            step: "check-hosts".into(),
            host: format!("10.0.0.{n}"),
            status: if n == 2 { "failed" } else { "ok" }.into(),
            cause: (n == 2).then(|| "auth".to_string()),
            message: "m\r\x1b[31m".into(),
            duration_ms: 3,
            total: Some(3),
        })
    }

    fn run(events: &[Event], live: bool) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        {
            let mut r = HumanReporter::new(&mut out, &mut err, false, false, 0);
            if live {
                r = r.live(Live::hidden());
            }
            for e in events {
                r.event(e);
            }
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn recap_is_a_table_with_reasons_and_remedies_and_no_control_characters() {
        let events = [
            Event::StepStart(StepStart {
                step: "check-hosts".into(),
                module: "hosts".into(),
                name: None,
            }),
            host(1),
            host(2),
            host(3),
            Event::Progress {
                step: "check-hosts".into(),
                message: "waiting\r".into(),
                elapsed_s: Some(1.0),
                expected_s: Some(2.0),
            },
            end(
                "check-hosts",
                Status::Blocked,
                "1 host failed\nmore",
                Some("fix ssh"),
            ),
            end("verify", Status::Ok, "fine", None),
            Event::RunEnd(RunEnd {
                status: "failed".into(),
                exit_code: 1,
                counts: BTreeMap::from([("ok", 1), ("blocked", 1)]),
                duration_ms: 3000,
            }),
        ];
        for live in [false, true] {
            let (out, err) = run(&events, live);
            let recap = &out[out.find("RECAP").unwrap_or(0)..];
            assert!(recap.contains("STEP"), "{out}");
            assert!(
                recap.contains("  check-hosts   blocked          1.5s\n"),
                "{recap}"
            );
            assert!(
                recap.contains("blocked check-hosts: 1 host failed\n"),
                "{recap}"
            );
            assert!(recap.contains("what to do: fix ssh"), "{recap}");
            assert!(out.contains("10.0.0.2 failed (auth)"), "{out}");
            for text in [&out, &err] {
                assert!(
                    !text
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t'),
                    "control characters: {text:?}"
                );
            }
            if live {
                assert!(err.is_empty(), "live progress leaked as lines: {err}");
            } else {
                // Off a terminal: the first and the last host count, and the
                // progress message, as timestamped lines.
                assert!(err.contains("Z check-hosts: 1/3 hosts\n"), "{err}");
                assert!(
                    err.contains("Z check-hosts: 3/3 hosts (1 failed)\n"),
                    "{err}"
                );
                assert!(!err.contains("2/3 hosts"), "{err}");
                // The wait's times come from the event, not from its text;
                // the message's `\r` is shown, not acted on.
                assert!(
                    err.contains("Z check-hosts: waiting\\r: 1s elapsed of about 2s expected\n"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn step_lines_are_aligned_from_the_first_line_on() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        {
            let mut r = HumanReporter::new(&mut out, &mut err, false, false, 0)
                .key_width("a-much-longer-step-id".len());
            for id in ["a", "a-much-longer-step-id", "b"] {
                r.event(&end(id, Status::Ok, "fine", None));
            }
        }
        let out = String::from_utf8_lossy(&out);
        let columns: Vec<usize> = out.lines().filter_map(|l| l.find("1.5s")).collect();
        assert_eq!(columns.len(), 3, "{out}");
        assert!(columns.iter().all(|&c| c == columns[0]), "{out}");
    }

    #[test]
    fn a_run_stopped_before_its_steps_has_no_recap() {
        let events = [
            Event::Error {
                message: "pb.yaml:1:1: bad".into(),
            },
            Event::RunEnd(RunEnd {
                status: "error".into(),
                exit_code: 2,
                counts: BTreeMap::new(),
                duration_ms: 1,
            }),
        ];
        for live in [false, true] {
            let (out, err) = run(&events, live);
            // The CLI prints the error; the reporter adds nothing.
            assert_eq!((out.as_str(), err.as_str()), ("", ""));
        }
    }
}
