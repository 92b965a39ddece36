//! `--output json`: JSON Lines on stdout, nothing else there. Every record
//! has `"v": 1` and `"event"`; the format is documented in the README.

use std::io::Write;

use crate::model::events::{Event, Reporter};
use crate::util::secret::redact;

pub struct JsonReporter<W: Write> {
    out: W,
}

impl<W: Write> JsonReporter<W> {
    pub fn new(out: W) -> Self {
        JsonReporter { out }
    }
}

/// The JSON line for an event: `{"v":1,"event":…,"ts":…,…}`.
pub fn line(ev: &Event) -> String {
    let mut map = serde_json::Map::new();
    map.insert("v".into(), 1.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(ev) {
        if let Some(e) = fields.get("event") {
            map.insert("event".into(), e.clone());
        }
        map.insert(
            "ts".into(),
            humantime::format_rfc3339_millis(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        for (k, v) in fields {
            if k != "event" {
                map.insert(k, v);
            }
        }
    }
    let text = serde_json::to_string(&map).unwrap_or_default();
    crate::util::text::json_terminal_safe(&redact(&text)).into_owned()
}

impl<W: Write + Send> Reporter for JsonReporter<W> {
    fn event(&mut self, ev: &Event) {
        if matches!(ev, Event::Progress { .. }) {
            return;
        }
        let mut l = line(ev);
        l.push('\n');
        // One write per record; a closed pipe must not panic the run.
        let _ = self.out.write_all(l.as_bytes());
        let _ = self.out.flush();
    }
}
