//! Human output: one line per step (status, id, duration, detail), the
//! remedy under anything blocked or failed, unified diffs with `--diff`, a
//! recap at the end. Step lines go to stdout; warnings to stderr. Colour only
//! on a terminal, and never with `--no-color` or `NO_COLOR`.

use std::io::Write;

use similar::TextDiff as Differ;

use super::human_ms;
use crate::engine::events::{Event, Reporter, Status, StepEnd};
use crate::engine::secret::redact;

pub struct HumanReporter<W: Write, E: Write> {
    out: W,
    err: E,
    color: bool,
    diff: bool,
    verbose: u8,
    check: bool,
    width: usize,
    problems: Vec<StepEnd>,
}

const RESET: &str = "\x1b[0m";

impl<W: Write, E: Write> HumanReporter<W, E> {
    pub fn new(out: W, err: E, color: bool, diff: bool, verbose: u8) -> Self {
        HumanReporter {
            out,
            err,
            color,
            diff,
            verbose,
            check: false,
            width: 12,
            problems: Vec::new(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn status_code(s: Status) -> &'static str {
        match s {
            Status::Ok => "32",
            Status::Changed | Status::WouldChange => "33",
            Status::Skipped => "2",
            Status::Blocked | Status::Failed => "1;31",
        }
    }

    fn write_out(&mut self, text: &str) {
        let _ = self.out.write_all(redact(text).as_bytes());
        let _ = self.out.flush();
    }

    fn step_line(&mut self, s: &StepEnd) {
        let status = format!("{:<12}", s.status.word());
        let mut detail = s.message.clone();
        if s.from_journal {
            detail = format!("{detail} (from journal)");
        }
        if s.ignored {
            detail = format!("{detail} (ignored)");
        }
        let mut text = format!(
            "  {} {:<w$} {:>7}  {}\n",
            self.paint(Self::status_code(s.status), &status),
            s.step,
            human_ms(s.duration_ms),
            detail,
            w = self.width
        );
        if self.verbose > 0 || s.changes.len() > 1 {
            for c in &s.changes {
                if c.summary != s.message {
                    text.push_str(&format!(
                        "  {:12} {:w$}          - {}\n",
                        "",
                        "",
                        c.summary,
                        w = self.width
                    ));
                }
            }
        }
        if let Some(r) = &s.remedy {
            text.push_str(&format!(
                "  {:12} {:w$}          {} {r}\n",
                "",
                "",
                self.paint("1", "what to do:"),
                w = self.width
            ));
        }
        if self.diff {
            for d in &s.diffs {
                let udiff = Differ::from_lines(&d.before, &d.after)
                    .unified_diff()
                    .context_radius(3)
                    .header(
                        &format!("{} (before)", d.name),
                        &format!("{} (after)", d.name),
                    )
                    .to_string();
                for line in udiff.lines() {
                    let painted = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => self.paint("32", line),
                        Some('-') if !line.starts_with("---") => self.paint("31", line),
                        _ => line.to_string(),
                    };
                    text.push_str(&format!("      {painted}\n"));
                }
            }
        }
        if self.verbose > 1 && !s.output.is_empty() {
            let out = serde_json::to_string(&s.output).unwrap_or_default();
            text.push_str(&format!(
                "  {:12} {:w$}          output: {out}\n",
                "",
                "",
                w = self.width
            ));
        }
        self.write_out(&text);
    }
}

impl<W: Write + Send, E: Write + Send> Reporter for HumanReporter<W, E> {
    fn event(&mut self, ev: &Event) {
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
            Event::StepStart(_) => {}
            Event::StepEnd(s) => {
                self.width = self.width.max(s.step.len());
                if s.status.is_problem() && !s.ignored {
                    self.problems.push(s.clone());
                }
                self.step_line(s);
            }
            Event::Host(h) => {
                if self.verbose > 0 || h.status != "ok" {
                    let text = format!("      {} {:<8} {}\n", h.host, h.status, h.message);
                    self.write_out(&text);
                }
            }
            Event::Progress { step, message } => {
                let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
                let text = format!("  {ts} {step}: {message}\n");
                let _ = self.err.write_all(redact(&text).as_bytes());
            }
            Event::Warning { message } => {
                let text = format!("{} {message}\n", self.paint("1;33", "warning:"));
                let _ = self.err.write_all(redact(&text).as_bytes());
            }
            Event::RunEnd(r) => {
                let order = [
                    "ok",
                    "changed",
                    "would_change",
                    "skipped",
                    "blocked",
                    "failed",
                ];
                let parts: Vec<String> = order
                    .iter()
                    .filter_map(|k| {
                        let n = *r.counts.get(k)?;
                        (n > 0 || matches!(*k, "ok" | "changed" | "failed"))
                            .then(|| format!("{n} {}", k.replace('_', " ")))
                    })
                    .collect();
                let verdict = match r.exit_code {
                    0 if self.check => "nothing would change".to_string(),
                    0 => "done".to_string(),
                    3 => "a real run would make the changes above".to_string(),
                    130 => "interrupted: the journal is consistent; run the same command again to resume".to_string(),
                    _ => "stopped: see what to do above".to_string(),
                };
                let mut text = format!(
                    "{} {} in {} — {} (exit {})\n",
                    self.paint("1", "RECAP"),
                    parts.join(", "),
                    human_ms(r.duration_ms),
                    verdict,
                    r.exit_code
                );
                for p in &self.problems {
                    text.push_str(&format!(
                        "  {} {}: {}\n",
                        self.paint(Self::status_code(p.status), p.status.word()),
                        p.step,
                        p.message
                    ));
                    if let Some(rem) = &p.remedy {
                        text.push_str(&format!("      what to do: {rem}\n"));
                    }
                }
                self.write_out(&text);
            }
        }
    }
}
