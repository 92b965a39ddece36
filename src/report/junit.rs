//! `--junit FILE`: one test case per step; blocked and failed steps are
//! failures, skipped steps are skipped. A run that stopped outside its
//! steps (invalid input, a locked state directory) has one failing case
//! more, `run`, naming the error, so a pipeline's test report shows it.
//! Written when the run ends.

use std::path::PathBuf;

use crate::model::events::{Event, Reporter, Status, StepEnd};
use crate::util::secret::redact;

pub struct JunitReporter {
    path: PathBuf,
    suite: String,
    steps: Vec<StepEnd>,
    errors: Vec<String>,
    exit_code: i32,
    duration_ms: u64,
    timestamp: String,
}

impl JunitReporter {
    pub fn new(path: PathBuf) -> Self {
        JunitReporter {
            path,
            suite: "mkeprep".into(),
            steps: Vec::new(),
            errors: Vec::new(),
            exit_code: 0,
            duration_ms: 0,
            timestamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .trim_end_matches('Z')
                .to_string(),
        }
    }

    /// The suite's name until the run names it (a run that stops before it
    /// starts keeps this one: the playbook's path).
    pub fn suite(mut self, name: impl Into<String>) -> Self {
        self.suite = name.into();
        self
    }

    pub fn render(&self) -> String {
        let failures = self
            .steps
            .iter()
            .filter(|s| s.status.is_problem() && !s.ignored)
            .count()
            + usize::from(!self.errors.is_empty());
        let tests = self.steps.len() + usize::from(!self.errors.is_empty());
        let skipped = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Skipped)
            .count();
        let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<testsuites name=\"mkeprep\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">\n",
            secs(self.duration_ms)
        ));
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">\n",
            esc(&self.suite),
            secs(self.duration_ms),
            esc(&self.timestamp)
        ));
        for s in &self.steps {
            let name = match &s.name {
                Some(n) => format!("{}: {n}", s.step),
                None => s.step.clone(),
            };
            x.push_str(&format!(
                "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{}\"",
                esc(&self.suite),
                esc(s.module.as_str()),
                esc(&name),
                secs(s.duration_ms)
            ));
            let mut detail = s.message.clone();
            if let Some(r) = &s.remedy {
                detail.push_str(&format!("\nwhat to do: {r}"));
            }
            match s.status {
                Status::Blocked | Status::Failed if !s.ignored => {
                    x.push_str(&format!(
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(&s.message),
                        s.status.json_name(),
                        esc(&detail)
                    ));
                }
                Status::Skipped => {
                    x.push_str(&format!(
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                        esc(&s.message)
                    ));
                }
                _ => {
                    x.push_str(&format!(
                        ">\n      <system-out>{}: {}</system-out>\n    </testcase>\n",
                        s.status.word(),
                        esc(&detail)
                    ));
                }
            }
        }
        if let Some(first) = self.errors.first() {
            let headline = first.lines().next().unwrap_or_default();
            let headline = headline.strip_prefix("error: ").unwrap_or(headline);
            let name = match self.exit_code {
                2 => "run: invalid input (playbook, inventory, variables or flags)",
                4 => "run: the state directory is locked by another run",
                _ => "run: stopped outside its steps",
            };
            x.push_str(&format!(
                "    <testcase classname=\"{}.run\" name=\"{name}\" time=\"{}\">\n      <failure message=\"{}\" type=\"error\">{}</failure>\n    </testcase>\n",
                esc(&self.suite),
                secs(self.duration_ms),
                esc(headline),
                esc(&self.errors.join("\n"))
            ));
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        redact(&x).into_owned()
    }
}

/// Escapes text for XML attributes and content; drops characters XML 1.0
/// cannot carry.
fn esc(s: &str) -> String {
    // Mask secrets before escaping changes their spelling.
    let s = redact(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

impl Reporter for JunitReporter {
    fn event(&mut self, ev: &Event) {
        match ev {
            Event::RunStart(r) => {
                self.suite = r.name.clone().unwrap_or_else(|| r.playbook.clone());
            }
            Event::StepEnd(s) => self.steps.push(s.clone()),
            Event::Error { message } => self.errors.push(message.clone()),
            Event::RunEnd(r) => {
                self.duration_ms = r.duration_ms;
                self.exit_code = r.exit_code;
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        crate::util::fsx::write_private(&self.path, self.render().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(esc("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;&#10;");
    }
}
