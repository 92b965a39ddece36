//! Every key of an MKE 3 configuration, classified for a target with the
//! catalog (`data/mke3-config-keys.toml`).

use semver::Version;
use serde::Serialize;
use serde_json::Value;

use crate::mke::catalog::{Catalog, Entry, Status, item_to_json};

/// One leaf of the configuration: a dotted key and its value. Tables are
/// walked; arrays (of values or of tables) and empty tables are leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: Value,
}

/// Parses the configuration text into its leaves, in document order. The
/// error gives line and column but never quotes the text (it can hold
/// secrets).
pub fn flatten(doc: &str) -> Result<Vec<Setting>, String> {
    let parsed = toml_edit::Document::parse(doc).map_err(|e| {
        let (line, column) = line_col(doc, e.span().map_or(0, |s| s.start));
        format!(
            "the MKE configuration is not valid TOML: line {line}, column {column}: {}",
            e.message().replace('\n', " ")
        )
    })?;
    let mut out = Vec::new();
    walk(parsed.as_table(), "", &mut out);
    Ok(out)
}

fn walk(table: &dyn toml_edit::TableLike, prefix: &str, out: &mut Vec<Setting>) {
    for (k, item) in table.iter() {
        let key = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        match item.as_table_like() {
            Some(t) if !t.is_empty() => walk(t, &key, out),
            _ => out.push(Setting {
                key,
                value: item_to_json(item),
            }),
        }
    }
}

fn line_col(doc: &str, offset: usize) -> (usize, usize) {
    let before = doc.get(..offset.min(doc.len())).unwrap_or(doc);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[start..].chars().count() + 1)
}

/// What a key means for the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The upgrade stops or rolls back.
    Blocker,
    /// Set, with no MKE 4 counterpart: lost in the upgrade.
    NotSupported,
    /// Set, with no published status.
    Unknown,
    /// A blocker a later step of the playbook fixes (`calico_kdd: later`).
    Pending,
    /// MKE 4 carries it over.
    Supported,
    /// Off, or at its MKE 3 default: nothing to carry.
    Skipped,
}

impl Class {
    pub fn word(self) -> &'static str {
        match self {
            Class::Blocker => "blocker",
            Class::NotSupported => "not supported",
            Class::Unknown => "unknown",
            Class::Pending => "pending",
            Class::Supported => "supported",
            Class::Skipped => "skipped",
        }
    }
}

/// A classified key.
#[derive(Debug, Clone)]
pub struct Row<'c> {
    pub key: String,
    pub value: Value,
    pub class: Class,
    /// Differs from the MKE 3 default (or, with none known, is on).
    pub set: bool,
    /// The value must not be shown.
    pub secret: bool,
    pub entry: Option<&'c Entry>,
    pub note: Option<String>,
    pub remedy: Option<String>,
    /// A supported key that needs care when set (its remedy is a warning).
    pub caution: bool,
}

/// What the classification depends on besides the catalog.
#[derive(Debug, Clone)]
pub struct Policy {
    pub target: Version,
    /// Blockers that a later step fixes (`fixed_by`) are `Pending`.
    pub fixed_later: bool,
}

/// Words in a key's last part that mark a secret value.
const SECRET_WORDS: &[&str] = &["password", "passphrase", "secret", "token", "private"];

pub fn is_secret_key(key: &str, entry: Option<&Entry>) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    entry.is_some_and(|e| e.secret) || SECRET_WORDS.iter().any(|w| last.contains(w))
}

/// On: true, a non-zero number, a non-blank string, a non-empty list or
/// table.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Equal, with MKE's quoted numbers equal to numbers (`"1480"` = `1480`).
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    matches!((scalar(a), scalar(b)), (Some(x), Some(y)) if x == y)
}

/// Whether a value counts as set for its entry.
fn is_set(value: &Value, entry: Option<&Entry>) -> bool {
    match entry.and_then(|e| e.default.as_ref()) {
        Some(default) => !loose_eq(value, default),
        None => truthy(value),
    }
}

/// Classifies every setting for the policy's target.
pub fn classify<'c>(catalog: &'c Catalog, settings: &[Setting], policy: &Policy) -> Vec<Row<'c>> {
    let value_of = |key: &str| settings.iter().find(|s| s.key == key).map(|s| &s.value);
    settings
        .iter()
        .map(|s| {
            let entry = catalog.lookup(&s.key);
            let secret = is_secret_key(&s.key, entry);
            let set = is_set(&s.value, entry);
            let mut row = Row {
                key: s.key.clone(),
                value: s.value.clone(),
                class: Class::Skipped,
                set,
                secret,
                entry,
                note: None,
                remedy: None,
                caution: false,
            };
            let Some(entry) = entry else {
                row.class = if set { Class::Unknown } else { Class::Skipped };
                row.note = Some(
                    "not in the catalog of MKE 3 settings (no published status): check it with the target's mkectl"
                        .into(),
                );
                return row;
            };
            let verdict = entry.for_target(&policy.target);
            row.note = verdict.note.map(str::to_string);
            row.remedy = verdict.remedy.map(str::to_string);
            if let Some(switch) = &entry.switch
                && !value_of(switch).is_some_and(truthy)
            {
                row.class = Class::Skipped;
                row.note = Some(format!("only used with {switch}, which is off"));
                return row;
            }
            if entry.accept.iter().any(|a| loose_eq(a, &s.value)) {
                row.class = Class::Supported;
                return row;
            }
            row.class = match verdict.status {
                Status::Supported => {
                    row.caution = set && row.remedy.is_some();
                    Class::Supported
                }
                // A value outside `accept` blocks even when it is the default.
                Status::Blocker if !entry.accept.is_empty() || set => {
                    if policy.fixed_later && entry.fixed_by.is_some() {
                        Class::Pending
                    } else {
                        Class::Blocker
                    }
                }
                Status::NotSupported if set => Class::NotSupported,
                Status::Unknown if set => Class::Unknown,
                _ => Class::Skipped,
            };
            row
        })
        .collect()
}

/// A value as one short line for tables and messages; secrets hidden,
/// long texts summarised.
pub fn show(value: &Value, secret: bool) -> String {
    if secret {
        return "(hidden)".into();
    }
    let text = match value {
        Value::String(s) if s.contains('\n') => {
            return format!("({} lines of text)", s.lines().count());
        }
        Value::Object(o) if o.is_empty() => "{}".to_string(),
        Value::Object(o) => return format!("{{…{} keys}}", o.len()),
        other => other.to_string(),
    };
    const MAX: usize = 48;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
