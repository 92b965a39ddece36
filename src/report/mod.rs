//! Reporters: render engine events for people (human), pipelines (JSON
//! Lines), CI test tabs (JUnit) and change tickets (the readiness report,
//! HTML or Markdown). They never decide anything, and every byte they write
//! has passed through secret redaction.

pub mod human;
pub mod json;
pub mod junit;
pub mod live;
pub mod readiness;
pub mod terminal;

use crate::model::events::{Event, Reporter};

/// Sends every event to several reporters.
#[derive(Default)]
pub struct Fanout(pub Vec<Box<dyn Reporter>>);

impl Reporter for Fanout {
    fn event(&mut self, ev: &Event) {
        for r in &mut self.0 {
            r.event(ev);
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let mut first_err = None;
        for r in &mut self.0 {
            if let Err(e) = r.finish() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Formats a duration in milliseconds for people.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}
