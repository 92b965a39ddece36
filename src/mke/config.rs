//! Reading and editing MKE's configuration file (config-toml).
//!
//! Edits are made in the text: the document is parsed with `toml_edit` only
//! to find the byte span of the one value to change, and the new value is
//! spliced into that span. Every other byte — comments, indentation, key
//! order, quoted numbers, inline tables, CRLF line ends, trailing blanks —
//! is left exactly as MKE sent it (reference/mke3-facts.md §B.2).
//!
//! Values of the wrong type are refused, not coerced. A quoted
//! `calico_kdd = "false"` is not something MKE writes (the key is a
//! boolean), and there is no telling how MKE's decoder would read either a
//! quoted `"true"` or a boolean put in place of a string; for an
//! irreversible conversion the safe answer is a clear error naming the line,
//! so a person can look at the configuration.
//!
//! Parse errors give the line and column but never quote the document: the
//! configuration can hold secrets (backup passphrase, SAML or LDAP
//! credentials).

use std::ops::Range;

use toml_edit::{Document, Item, Value};

/// The table the upgrade-relevant keys live in.
pub const CLUSTER_CONFIG: &str = "cluster_config";

/// An error reading or editing the MKE configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("the MKE configuration is not valid TOML: line {line}, column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "[{CLUSTER_CONFIG}] is {found} at line {line}, column {column}, not a table; the MKE \
         configuration is not shaped as expected"
    )]
    NotATable {
        found: String,
        line: usize,
        column: usize,
    },

    #[error(
        "[{CLUSTER_CONFIG}] {key} is {found} at line {line}, column {column}; expected \
         {expected}. MKE writes this key as {expected}: check the configuration by hand before \
         going on"
    )]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
        line: usize,
        column: usize,
    },

    #[error("the MKE configuration has no [{CLUSTER_CONFIG}] {key} key to change")]
    MissingKey { key: String },

    #[error(
        "the MKE configuration has no [{CLUSTER_CONFIG}] calico_kdd key: this MKE is too old to \
         move Calico to the Kubernetes datastore (KDD); upgrade MKE 3 to 3.7.15 or later (or \
         3.8.x/3.9.x) first"
    )]
    KddUnsupported,

    /// The edit did not read back as intended (a bug, never expected).
    #[error("internal error editing the MKE configuration: {0}")]
    Internal(String),
}

/// The `[cluster_config]` settings the upgrade cares about. `None` where the
/// key is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterSettings {
    pub calico_kdd: Option<bool>,
    pub unmanaged_cni: Option<bool>,
    pub calico_ebpf_enabled: Option<bool>,
    pub kube_proxy_mode: Option<String>,
}

impl ClusterSettings {
    /// Reads all four keys with one parse.
    pub fn read(doc: &str) -> Result<ClusterSettings, ConfigError> {
        let parsed = parse(doc)?;
        let cluster = cluster_table(&parsed)?;
        Ok(ClusterSettings {
            calico_kdd: bool_in(doc, cluster, "calico_kdd")?.map(|(b, _)| b),
            unmanaged_cni: bool_in(doc, cluster, "unmanaged_cni")?.map(|(b, _)| b),
            calico_ebpf_enabled: bool_in(doc, cluster, "calico_ebpf_enabled")?.map(|(b, _)| b),
            kube_proxy_mode: string_in(doc, cluster, "kube_proxy_mode")?,
        })
    }
}

/// A boolean of `[cluster_config]` (`calico_kdd`, `unmanaged_cni`,
/// `calico_ebpf_enabled`); `None` when the key or the table is absent.
pub fn read_cluster_bool(doc: &str, key: &str) -> Result<Option<bool>, ConfigError> {
    let parsed = parse(doc)?;
    Ok(bool_in(doc, cluster_table(&parsed)?, key)?.map(|(b, _)| b))
}

/// A string of `[cluster_config]` (`kube_proxy_mode`); `None` when absent.
pub fn read_cluster_string(doc: &str, key: &str) -> Result<Option<String>, ConfigError> {
    let parsed = parse(doc)?;
    string_in(doc, cluster_table(&parsed)?, key)
}

/// Sets the boolean `[cluster_config] key` to `value` by replacing the
/// bytes of its value and nothing else. Returns the document unchanged when
/// it already has that value. The key must exist (`MissingKey`).
pub fn set_cluster_bool(doc: &str, key: &str, value: bool) -> Result<String, ConfigError> {
    let parsed = parse(doc)?;
    let found = bool_in(doc, cluster_table(&parsed)?, key)?;
    let Some((current, span)) = found else {
        return Err(ConfigError::MissingKey {
            key: key.to_string(),
        });
    };
    if current == value {
        return Ok(doc.to_string());
    }
    let old = if current { "true" } else { "false" };
    if doc.get(span.clone()) != Some(old) {
        return Err(ConfigError::Internal(format!(
            "the span of {key} does not hold {old:?}"
        )));
    }
    let new = if value { "true" } else { "false" };
    let mut out = String::with_capacity(doc.len() + 1);
    out.push_str(&doc[..span.start]);
    out.push_str(new);
    out.push_str(&doc[span.end..]);
    if read_cluster_bool(&out, key)? != Some(value) {
        return Err(ConfigError::Internal(format!(
            "{key} does not read back as {value} after the edit"
        )));
    }
    Ok(out)
}

/// Sets `[cluster_config] calico_kdd = true`, changing only the bytes of
/// that value (see the module docs). Already `true`: the document is
/// returned unchanged. No such key: [`ConfigError::KddUnsupported`].
pub fn set_calico_kdd(doc: &str) -> Result<String, ConfigError> {
    set_cluster_bool(doc, "calico_kdd", true).map_err(|e| match e {
        ConfigError::MissingKey { .. } => ConfigError::KddUnsupported,
        other => other,
    })
}

fn parse(doc: &str) -> Result<Document<&str>, ConfigError> {
    Document::parse(doc).map_err(|e| {
        let (line, column) = line_col(doc, e.span().map_or(0, |s| s.start));
        ConfigError::Parse {
            line,
            column,
            message: e.message().replace('\n', " "),
        }
    })
}

/// The `[cluster_config]` table (header, dotted keys or inline), if any.
fn cluster_table<'d>(
    parsed: &'d Document<&str>,
) -> Result<Option<&'d dyn toml_edit::TableLike>, ConfigError> {
    let Some(item) = parsed.as_table().get(CLUSTER_CONFIG) else {
        return Ok(None);
    };
    match item.as_table_like() {
        Some(table) => Ok(Some(table)),
        None => {
            let (line, column) = line_col(parsed.raw(), item.span().map_or(0, |s| s.start));
            Err(ConfigError::NotATable {
                found: describe(item),
                line,
                column,
            })
        }
    }
}

/// The boolean at `key` with the byte span of its value.
fn bool_in(
    doc: &str,
    cluster: Option<&dyn toml_edit::TableLike>,
    key: &str,
) -> Result<Option<(bool, Range<usize>)>, ConfigError> {
    let Some(item) = cluster.and_then(|t| t.get(key)) else {
        return Ok(None);
    };
    match item.as_value() {
        Some(v @ Value::Boolean(b)) => match v.span() {
            Some(span) => Ok(Some((*b.value(), span))),
            None => Err(ConfigError::Internal(format!("no span for {key}"))),
        },
        _ => Err(wrong_type(doc, key, item, "a boolean (true or false)")),
    }
}

fn string_in(
    doc: &str,
    cluster: Option<&dyn toml_edit::TableLike>,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(item) = cluster.and_then(|t| t.get(key)) else {
        return Ok(None);
    };
    match item.as_str() {
        Some(s) => Ok(Some(s.to_string())),
        None => Err(wrong_type(doc, key, item, "a quoted string")),
    }
}

fn wrong_type(doc: &str, key: &str, item: &Item, expected: &'static str) -> ConfigError {
    let (line, column) = line_col(doc, item.span().map_or(0, |s| s.start));
    ConfigError::WrongType {
        key: key.to_string(),
        expected,
        found: describe(item),
        line,
        column,
    }
}

/// "a string (\"false\")", "an integer", "a table", … Short strings and
/// booleans are quoted to help the reader; nothing long is echoed.
fn describe(item: &Item) -> String {
    match item {
        Item::None => "missing".to_string(),
        Item::Table(_) => "a table".to_string(),
        Item::ArrayOfTables(_) => "an array of tables".to_string(),
        Item::Value(v) => match v {
            Value::String(s) if s.value().chars().count() <= 16 => {
                format!("the string {:?}", s.value())
            }
            Value::String(_) => "a string".to_string(),
            Value::Integer(_) => "an integer".to_string(),
            Value::Float(_) => "a float".to_string(),
            Value::Boolean(b) => format!("the boolean {}", b.value()),
            Value::Datetime(_) => "a date-time".to_string(),
            Value::Array(_) => "an array".to_string(),
            Value::InlineTable(_) => "an inline table".to_string(),
        },
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(doc: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(doc.len());
    let before = doc.get(..offset).unwrap_or(doc);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
