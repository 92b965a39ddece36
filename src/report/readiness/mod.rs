//! The readiness report (`run --report FILE`, `mkeprep report`): one
//! self-contained document, HTML or Markdown, that a person can attach to a
//! change ticket. It says whether the cluster is ready for the upgrade, what
//! the cluster is, what every step found and what to do about it, host by
//! host for fan-out steps, how long the run took and what it changed.
//!
//! The data is a plain [`Report`], built from events: during a run by
//! [`ReportReporter`], after it from the journal (the CLI turns journal
//! records into the same events). Renderers take a [`Report`] and never see
//! an event; every text they show has had secrets masked and terminal
//! control taken out ([`clean`]) before it is escaped.

mod hosts;
pub mod html;
pub mod markdown;
mod model;

use std::path::{Path, PathBuf};

pub use hosts::HostRow;
pub use model::{Cluster, Report, StepRow, Verdict};

use crate::model::events::{Event, Reporter};
use crate::util::secret::redact;

/// The document kinds, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    /// `.html`/`.htm` or `.md`/`.markdown` (any case); anything else is a
    /// usage error that says what is accepted.
    pub fn from_path(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html" | "htm") => Ok(Format::Html),
            Some("md" | "markdown") => Ok(Format::Markdown),
            _ => Err(format!(
                "the report {} needs the extension .html (one self-contained page) or .md (Markdown)",
                path.display()
            )),
        }
    }

    /// Renders `report` in this format.
    pub fn render(self, report: &Report) -> String {
        let text = match self {
            Format::Html => html::render(report),
            Format::Markdown => markdown::render(report),
        };
        // Every text was masked before escaping; this pass catches anything
        // a renderer wrote that did not come through `clean`.
        redact(&text).into_owned()
    }
}

/// Text fit to show: secrets masked, terminal control sequences and
/// control characters other than newline and tab taken out.
pub fn clean(text: &str) -> String {
    crate::util::text::strip_controls(&redact(text))
}

/// `--report FILE`: collects the run's events and writes the report when
/// the run ends.
pub struct ReportReporter {
    path: PathBuf,
    format: Format,
    report: Report,
}

impl ReportReporter {
    pub fn new(path: PathBuf, format: Format) -> Self {
        ReportReporter {
            path,
            format,
            report: Report::new(),
        }
    }

    /// What the run is pointed at (the inventory path, the MKE API), for
    /// the report's header: events do not carry them.
    pub fn with_context(mut self, inventory: Option<String>, mke_host: Option<String>) -> Self {
        self.report.inventory = inventory;
        self.report.mke_host = mke_host;
        self
    }
}

impl Reporter for ReportReporter {
    fn event(&mut self, ev: &Event) {
        self.report.apply(ev);
    }

    fn finish(&mut self) -> std::io::Result<()> {
        write(&self.path, self.format, &self.report)
    }
}

/// Writes `report` to `path` (atomically, mode 0600).
pub fn write(path: &Path, format: Format, report: &Report) -> std::io::Result<()> {
    crate::util::fsx::write_private(path, format.render(report).as_bytes())
}

#[cfg(test)]
mod tests;
