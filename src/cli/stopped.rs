//! The machine outputs of `run` (JSON events, JUnit, the readiness report),
//! and how a run that stops outside its steps still ends them: invalid
//! input (exit 2), a locked state directory (4), a state directory, journal
//! or sandbox it cannot use (1). Each gets an `error` event and a `run_end`
//! with status `error`, so a pipeline's test report shows why instead of
//! nothing.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use super::{Output, RunArgs, print_error};
use crate::engine::journal::Inputs;
use crate::model::events::{Event, Events, Reporter, RunEnd, Status};
use crate::report::Fanout;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes when the run started (for the duration of a run that stops early).
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// The JSON, JUnit and report sinks `a` asks for; `inputs`, when loaded,
/// name the inventory and MKE API in the report.
pub fn sinks(a: &RunArgs, inputs: Option<&Inputs>) -> Vec<Box<dyn Reporter>> {
    let mut out: Vec<Box<dyn Reporter>> = Vec::new();
    if a.output == Output::Json {
        out.push(Box::new(JsonReporter::new(std::io::stdout())));
    }
    if let Some(path) = &a.junit {
        out.push(Box::new(
            JunitReporter::new(path.clone()).suite(a.playbook.display().to_string()),
        ));
    }
    if let Some(path) = &a.report {
        out.push(super::report::reporter(path, inputs));
    }
    out
}

/// The `error` and `run_end` events of a run that stopped with `code`.
fn end_events(code: i32, message: &str) -> [Event; 2] {
    let counts: BTreeMap<&'static str, usize> =
        Status::ALL.iter().map(|s| (s.json_name(), 0)).collect();
    [
        Event::Error {
            message: message.to_string(),
        },
        Event::RunEnd(RunEnd {
            status: "error".into(),
            exit_code: code,
            counts,
            duration_ms: STARTED.get().map_or(0, |t| t.elapsed().as_millis() as u64),
        }),
    ]
}

/// A run that stopped before its reporters started: prints `message`,
/// ends the machine outputs `a` asks for, and returns `code`.
pub fn stopped(a: &RunArgs, code: i32, message: &str) -> i32 {
    print_error(message);
    let mut sinks = Fanout(sinks(a, None));
    for ev in end_events(code, message) {
        sinks.event(&ev);
    }
    if let Err(e) = sinks.finish() {
        print_error(&format!("cannot write the report: {e}"));
    }
    code
}

/// A run that stopped after its reporters started (the engine refused to
/// start, or lost its journal): prints `message`, sends the end events to
/// the reporters, and returns `code`.
pub fn stopped_running(events: &Events, code: i32, message: &str) -> i32 {
    print_error(message);
    for ev in end_events(code, message) {
        events.emit(ev);
    }
    code
}
