//! `failed_when`: per host, over `rc`, `stdout`, `stderr` and `host` (and
//! every name of the step's scope), with the step's templates and their
//! strict undefined; and the registered record of a host.

use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use serde_json::{Map, Value as Json, json};

use super::host::{HostRun, Ran, State};
use crate::ssh::Cause;
use crate::tasks::{StepContext, TaskError};
use crate::template::error_text;

/// stdout and stderr are registered up to this many bytes per host each
/// (`failed_when` sees them whole, as the transport kept them).
pub const KEEP: usize = 4096;

/// The step's scope with one host's result on top.
#[derive(Debug)]
struct HostVars {
    base: Value,
    own: [(&'static str, Value); 4],
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let k = key.as_str()?;
        if let Some((_, v)) = self.own.iter().find(|(n, _)| *n == k) {
            return Some(v.clone());
        }
        self.base.get_item(key).ok().filter(|v| !v.is_undefined())
    }
}

/// The names a host's `failed_when` may use besides the scope's.
const HOST_NAMES: [&str; 4] = ["rc", "stdout", "stderr", "host"];

/// Checks `expr` once, before any host: its syntax, and that every name it
/// uses is defined (comparisons with an undefined name would not fail by
/// themselves).
pub fn check_names(cx: &StepContext<'_>, expr: &str) -> Result<(), TaskError> {
    let err = |why: String| TaskError::new(format!("`failed_when: {expr}`: {why}"));
    let names = cx
        .templates
        .expression_names(expr)
        .map_err(|e| err(error_text(&e)))?;
    let scope = cx.scope.value();
    let mut unknown: Vec<&String> = names
        .iter()
        .filter(|n| !n.contains('.'))
        .filter(|n| {
            !HOST_NAMES.contains(&n.as_str())
                && !cx.templates.is_global(n)
                && scope.get_attr(n).map_or(true, |v| v.is_undefined())
        })
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(n) => Err(err(format!(
            "`{n}` is undefined (per host: {}; and the playbook's names)",
            HOST_NAMES.join(", ")
        ))
        .remedy("write failed_when over rc, stdout, stderr and host, e.g. `rc != 0 or 'ERROR' in stdout`")),
    }
}

/// Settles a host whose command ran: `Passed` (probe) or `Changed`
/// (action) unless `failed_when` (default `rc != 0`) holds.
pub fn settle(
    cx: &StepContext<'_>,
    expr: Option<&str>,
    address: &str,
    run: &mut HostRun,
    action: bool,
) {
    if !matches!(run.state, State::Ran) {
        return;
    }
    let Some(ran) = &run.ran else {
        return;
    };
    let failed = match expr {
        None => Ok(ran.rc != 0),
        Some(e) => {
            let vars = HostVars {
                base: cx.scope.value(),
                own: [
                    ("rc", Value::from(ran.rc)),
                    ("stdout", Value::from(ran.stdout.as_str())),
                    ("stderr", Value::from(ran.stderr.as_str())),
                    ("host", Value::from(address)),
                ],
            };
            cx.templates
                .eval_bool(e, &Value::from_object(vars))
                .map_err(|err| error_text(&err))
        }
    };
    if let Some(ran) = &mut run.ran {
        ran.compact();
    }
    let said = run
        .ran
        .as_ref()
        .and_then(|r| r.summary.clone())
        .unwrap_or_default();
    run.state = match failed {
        Ok(false) if action => State::Changed,
        Ok(false) => State::Passed,
        Ok(true) => State::Failed(
            Cause::Command,
            format!("`failed_when: {}` holds: {said}", expr.unwrap_or("rc != 0")),
        ),
        Err(why) => State::Failed(Cause::Other, format!("`failed_when`: {why}")),
    };
}

/// `text` cut to [`KEEP`] bytes (on a character boundary), saying so.
pub fn kept(text: &str) -> String {
    if text.len() <= KEEP {
        return text.to_string();
    }
    let mut end = KEEP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} bytes in all]", &text[..end], text.len())
}

/// The registered record of one host: `rc`, `stdout`, `stderr`, `ok`,
/// `changed`, and `reason`, `cause`/`error`, `from_journal` when they apply.
pub fn record(run: &HostRun) -> Json {
    let empty = Ran::default();
    let ran = run.ran.as_ref();
    let r = ran.unwrap_or(&empty);
    let mut m = Map::new();
    m.insert("rc".into(), ran.map_or(Json::Null, |r| json!(r.rc)));
    // Compacted texts are cut already.
    let cut = |t: &str| {
        if r.summary.is_some() {
            t.to_string()
        } else {
            kept(t)
        }
    };
    m.insert("stdout".into(), cut(&r.stdout).into());
    m.insert("stderr".into(), cut(&r.stderr).into());
    m.insert("ok".into(), run.ok().into());
    m.insert("changed".into(), run.changed().into());
    match &run.state {
        State::InSync(why) | State::Drift(why) => {
            m.insert("reason".into(), why.clone().into());
        }
        State::Failed(c, e) | State::Unknown(c, e) => {
            m.insert("cause".into(), c.name().into());
            m.insert("error".into(), e.clone().into());
        }
        State::DoneBefore => {
            m.insert("from_journal".into(), true.into());
        }
        _ => {}
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_output_is_cut_to_what_is_registered_and_its_last_line_kept() {
        let mut ran = Ran {
            rc: 1,
            stdout: format!("{}\nEND OF IT", "x".repeat(3 * KEEP)),
            stderr: "é".repeat(KEEP),
            summary: None,
        };
        ran.compact();
        assert!(ran.stdout.starts_with("xxx"));
        assert!(
            ran.stdout
                .ends_with(&format!("…[cut: {} bytes in all]", 3 * KEEP + 10))
        );
        assert!(ran.stdout.len() < KEEP + 40);
        // Cut on a character boundary.
        assert!(ran.stderr.contains("…[cut: "));
        let said = super::super::host::said(&ran);
        assert!(
            said.starts_with("rc 1, stdout \"END OF IT\", stderr \"éé"),
            "{said}"
        );
        // The record does not cut twice.
        let run = HostRun {
            ran: Some(ran.clone()),
            ..HostRun::new(State::Passed)
        };
        assert_eq!(record(&run)["stdout"], ran.stdout.as_str());
    }
}
