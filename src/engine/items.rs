//! `loop:`: the items a looping step runs for (evaluated when it runs, so
//! they may come from earlier steps' outputs), and what it registers once
//! every item ran: `results` (each item's output with `item` and
//! `status`) and counts.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::diag::SourceError;
use crate::model::{Facts, Status};
use crate::playbook::Step;
use crate::playbook::model::MAX_LOOP_ITEMS;
use crate::template::{Scope, Templates, error_text};
use crate::yaml::Kind;

/// The items of `step`'s `loop:`, or why there are none to run.
pub fn evaluate(
    step: &Step,
    templates: &Templates,
    scope: &Arc<Scope>,
) -> Result<Vec<Value>, String> {
    let Some(node) = &step.items else {
        return Ok(Vec::new());
    };
    let sv = scope.value();
    let err = |message: String| SourceError::at(&step.source, node.pos, message).to_string();
    let items = match &node.kind {
        Kind::Str(expr) => {
            let v = templates
                .eval(expr, &sv)
                .map_err(|e| err(format!("`loop: {expr}`: {}", error_text(&e))))?;
            let kind = v.kind();
            let json = serde_json::to_value(&v).map_err(|e| {
                err(format!(
                    "`loop: {expr}` gives a value that is not data: {e}"
                ))
            })?;
            match json {
                Value::Array(items) => items,
                other => {
                    let found = match other {
                        Value::Object(_) => {
                            "a mapping: loop over `| items` (pairs) or `| list` (keys)"
                        }
                        Value::String(_) => {
                            "a string: write a list, or split it with `| split(',')`"
                        }
                        _ => "no list",
                    };
                    return Err(err(format!(
                        "`loop: {expr}` must give a list, and gives {found} ({kind})"
                    )));
                }
            }
        }
        _ => match templates.render_json(&node.to_json(), &sv) {
            Ok(Value::Array(items)) => items,
            Ok(_) => return Err(err("`loop` must be a list".into())),
            Err(e) => return Err(err(format!("in `loop`: {}", error_text(&e)))),
        },
    };
    if items.len() > MAX_LOOP_ITEMS {
        return Err(err(format!(
            "`loop` gives {} items; a step loops over at most {MAX_LOOP_ITEMS}: split the work",
            items.len()
        )));
    }
    Ok(items)
}

/// The output of one item: its module's output, with `item`.
pub fn item_output(mut output: Facts, item: &Value) -> Facts {
    output.insert("item".into(), item.clone());
    output
}

/// What a looping step registers: `results` in item order (each with its
/// `status`) and the counts per status.
pub fn aggregate(results: &[(Status, Facts)]) -> Facts {
    let count = |f: fn(Status) -> bool| results.iter().filter(|(s, _)| f(*s)).count();
    let list: Vec<Value> = results
        .iter()
        .map(|(status, out)| {
            let mut o = out.clone();
            o.insert("status".into(), status.json_name().into());
            Value::Object(o)
        })
        .collect();
    let mut out = Facts::new();
    out.insert("results".into(), Value::Array(list));
    out.insert("ok".into(), json!(count(|s| s == Status::Ok)));
    out.insert("changed".into(), json!(count(|s| s == Status::Changed)));
    out.insert("failed".into(), json!(count(Status::is_problem)));
    out.insert("skipped".into(), json!(count(|s| s == Status::Skipped)));
    out
}

/// The status of a whole looping step, for `requires`: its worst item.
pub fn worst(a: Option<Status>, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Skipped => 0,
        Status::Ok => 1,
        Status::Changed => 2,
        Status::WouldChange => 3,
        Status::Blocked => 4,
        Status::Failed => 5,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}
