//! The per-host rows of a fan-out step, from whatever shape it registered
//! (`hosts: [{address, status, …}]` today, `hosts: {ADDRESS: {…}}` for
//! modules that key facts by host) or, failing that, from its `host` events.

use serde_json::Value;

use crate::model::Facts;
use crate::model::events::HostResult;

/// One host of a fan-out step.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub host: String,
    pub status: String,
    pub cause: Option<String>,
    pub message: String,
    pub ms: Option<u64>,
    /// The host's other registered facts, as `(name, value)` in the order
    /// the step registered them.
    pub facts: Vec<(String, String)>,
}

impl HostRow {
    /// Whether the host is a problem (not `ok`, `skipped` or `warn`).
    pub fn is_problem(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "ok" | "" | "skipped" | "changed" | "warn" | "warning"
        )
    }
}

/// Fields of a host's registered object that have their own column.
const HOST_COLUMNS: [&str; 9] = [
    "address",
    "host",
    "name",
    "status",
    "ok",
    "cause",
    "message",
    "ms",
    "duration_ms",
];

/// A JSON value as one short text (`null` is no value).
pub fn value_text(v: &Value) -> Option<String> {
    const MAX: usize = 160;
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        text
    })
}

/// One host's row from its registered object (`hosts: [{address, …}]` or
/// `hosts: {ADDRESS: {…}}`).
fn host_row(key: Option<&str>, v: &Value) -> Option<HostRow> {
    let Value::Object(o) = v else {
        // `hosts: {ADDRESS: "ok"}`: a status alone.
        return key.map(|k| HostRow {
            host: k.to_string(),
            status: value_text(v).unwrap_or_default(),
            cause: None,
            message: String::new(),
            ms: None,
            facts: Vec::new(),
        });
    };
    let text = |k: &str| o.get(k).and_then(value_text);
    let host = key
        .map(str::to_string)
        .or_else(|| text("address"))
        .or_else(|| text("host"))
        .or_else(|| text("name"))?;
    let status = text("status")
        .or_else(|| {
            o.get("ok")
                .and_then(Value::as_bool)
                .map(|ok| if ok { "ok" } else { "failed" }.to_string())
        })
        .unwrap_or_default();
    let facts = o
        .iter()
        .filter(|(k, _)| {
            !HOST_COLUMNS.contains(&k.as_str()) || (key.is_some() && k.as_str() == "name")
        })
        .filter_map(|(k, v)| Some((k.clone(), value_text(v)?)))
        .collect();
    Some(HostRow {
        host,
        status,
        cause: text("cause"),
        message: text("message").unwrap_or_default(),
        ms: o
            .get("ms")
            .or_else(|| o.get("duration_ms"))
            .and_then(Value::as_u64),
        facts,
    })
}

/// The per-host rows of a step: its registered `hosts` (either shape),
/// else the `host` events it sent.
pub fn host_rows(output: &Facts, events: &[HostResult]) -> Vec<HostRow> {
    let from_output: Vec<HostRow> = match output.get("hosts") {
        Some(Value::Array(list)) => list.iter().filter_map(|v| host_row(None, v)).collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| host_row(Some(k), v))
            .collect(),
        _ => Vec::new(),
    };
    if !from_output.is_empty() {
        return from_output;
    }
    events
        .iter()
        .map(|h| HostRow {
            host: h.host.clone(),
            status: h.status.clone(),
            cause: h.cause.clone(),
            message: h.message.clone(),
            ms: Some(h.duration_ms),
            facts: Vec::new(),
        })
        .collect()
}
