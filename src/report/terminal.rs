//! Events made safe for a terminal before a reporter for people renders
//! them: every string an event carries (step ids and names, messages,
//! remedies, change summaries, diffs, outputs, host results, warnings,
//! progress) goes through [`terminal_safe`], so a command's output, an API
//! error body or a YAML line cannot move the cursor, retitle the window,
//! write the clipboard (OSC 52) or plant a link (OSC 8). Secrets are
//! masked first: the mask must see them as they are.

use crate::model::events::{Event, HostResult, RunStart, StepEnd, StepStart};
use crate::model::{Change, TextDiff};
use crate::util::secret::redact;
use crate::util::text::terminal_safe;

fn s(text: &str) -> String {
    terminal_safe(&redact(text)).into_owned()
}

fn opt(text: &Option<String>) -> Option<String> {
    text.as_deref().map(s)
}

fn json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(t) => J::String(s(t)),
        J::Array(items) => J::Array(items.iter().map(json).collect()),
        J::Object(m) => J::Object(m.iter().map(|(k, v)| (s(k), json(v))).collect()),
        other => other.clone(),
    }
}

fn diff(d: &TextDiff) -> TextDiff {
    TextDiff {
        name: s(&d.name),
        before: s(&d.before),
        after: s(&d.after),
    }
}

/// A copy of `ev` whose every string is masked and terminal-safe.
pub fn safe_event(ev: &Event) -> Event {
    match ev {
        Event::RunStart(r) => Event::RunStart(RunStart {
            playbook: s(&r.playbook),
            name: opt(&r.name),
            state_dir: s(&r.state_dir),
            ..r.clone()
        }),
        Event::StepStart(st) => Event::StepStart(StepStart {
            step: s(&st.step),
            module: s(&st.module),
            name: opt(&st.name),
        }),
        Event::StepEnd(e) => Event::StepEnd(StepEnd {
            step: s(&e.step),
            module: s(&e.module),
            name: opt(&e.name),
            changes: e
                .changes
                .iter()
                .map(|c| Change {
                    key: s(&c.key),
                    summary: s(&c.summary),
                    from: c.from.as_ref().map(json),
                    to: c.to.as_ref().map(json),
                    diff: c.diff.as_ref().map(diff),
                })
                .collect(),
            message: s(&e.message),
            remedy: opt(&e.remedy),
            output: std::sync::Arc::new(e.output.iter().map(|(k, v)| (s(k), json(v))).collect()),
            after: opt(&e.after),
            diffs: e.diffs.iter().map(diff).collect(),
            ..e.clone()
        }),
        Event::Host(h) => Event::Host(HostResult {
            step: s(&h.step),
            host: s(&h.host),
            status: s(&h.status),
            cause: opt(&h.cause),
            message: s(&h.message),
            ..h.clone()
        }),
        Event::Warning { message } => Event::Warning {
            message: s(message),
        },
        Event::Error { message } => Event::Error {
            message: s(message),
        },
        Event::Progress {
            step,
            message,
            elapsed_s,
            expected_s,
        } => Event::Progress {
            step: s(step),
            message: s(message),
            elapsed_s: *elapsed_s,
            expected_s: *expected_s,
        },
        Event::RunEnd(r) => Event::RunEnd(r.clone()),
    }
}
