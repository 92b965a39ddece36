//! The text of the human output: a step line (with its changes, remedy,
//! diffs and output), the recap table and colours (the content is already
//! terminal-safe: see [`crate::report::terminal`]).

use std::io::Write;

use similar::TextDiff as Differ;

use super::HumanReporter;
use crate::model::events::{RunEnd, Status, StepEnd};
use crate::report::human_ms;

const RESET: &str = "\x1b[0m";

pub(super) fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

impl<W: Write, E: Write> HumanReporter<W, E> {
    pub(super) fn paint(&self, code: &str, text: &str) -> String {
        paint(self.color, code, text)
    }

    /// The recap: a headline, a table of steps, then the reason and remedy
    /// of everything blocked or failed.
    pub(super) fn recap(&self, r: &RunEnd) -> String {
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
            130 => "interrupted: the journal is consistent; run the same command again to resume"
                .to_string(),
            _ if r.status == "error" => "stopped by the error above".to_string(),
            _ => "stopped: see what to do below".to_string(),
        };
        let mut text = format!(
            "\n{} {} in {} — {} (exit {})\n",
            self.paint("1", "RECAP"),
            parts.join(", "),
            human_ms(r.duration_ms),
            verdict,
            r.exit_code
        );
        if !self.rows.is_empty() {
            let w = self.width;
            text.push_str(&format!(
                "  {:<w$}  {:<12}  {:>7}\n",
                "STEP", "STATUS", "TIME"
            ));
            for row in &self.rows {
                let status = format!("{:<12}", row.status.word());
                let line = format!(
                    "  {:<w$}  {}  {:>7}  {}",
                    row.step,
                    self.paint(Self::status_code(row.status), &status),
                    human_ms(row.duration_ms),
                    row.note
                );
                text.push_str(line.trim_end());
                text.push('\n');
            }
        }
        for p in &self.problems {
            let reason = p.message.lines().next().unwrap_or("");
            text.push_str(&format!(
                "  {} {}: {}\n",
                self.paint(Self::status_code(p.status), p.status.word()),
                p.step,
                reason
            ));
            if let Some(rem) = &p.remedy {
                text.push_str(&format!("      what to do: {rem}\n"));
            }
        }
        text
    }

    fn status_code(s: Status) -> &'static str {
        match s {
            Status::Ok => "32",
            Status::Changed | Status::WouldChange => "33",
            Status::Skipped => "2",
            Status::Blocked | Status::Failed => "1;31",
        }
    }

    /// A step line and what goes under it.
    pub(super) fn step_text(&self, s: &StepEnd) -> String {
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
        text
    }
}
