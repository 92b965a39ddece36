//! The catalog of MKE 3 configuration keys: what becomes of each in an
//! upgrade to MKE 4k / MKE 4. The catalog is data, `data/mke3-config-keys.toml`
//! (its header documents the fields, the sources and the confidence marks),
//! compiled into the binary and parsed on first use.

use std::sync::OnceLock;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The catalog as shipped.
pub const SOURCE: &str = include_str!("../../data/mke3-config-keys.toml");

/// What a key means for the target when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// MKE 4 has a counterpart; mkectl converts it.
    Supported,
    /// No counterpart: the setting is lost.
    NotSupported,
    /// No published status when enabled.
    Unknown,
    /// The upgrade stops or rolls back.
    Blocker,
}

/// Where mkectl's documented sample report put the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    Supported,
    NotSupported,
    Skipped,
    /// Not in the sample.
    Absent,
}

/// A status that holds for a range of target versions only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    /// A semver requirement such as `<4.1.1`.
    pub versions: String,
    pub status: Status,
    pub note: Option<String>,
    pub remedy: Option<String>,
}

/// One key (or, ending in `*`, every key with that prefix).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub key: String,
    pub label: Option<String>,
    pub sample: Sample,
    pub status: Status,
    /// The MKE 3 default; a key is set when its value differs.
    pub default: Option<Value>,
    /// Values that are fine whatever `status` says.
    #[serde(default)]
    pub accept: Vec<Value>,
    /// The key that turns the feature on.
    pub switch: Option<String>,
    /// The mkeprep module that fixes the key.
    pub fixed_by: Option<String>,
    #[serde(default)]
    pub secret: bool,
    /// Confidence: `C`, `C~` or `I`.
    pub mark: String,
    pub source: String,
    pub note: Option<String>,
    pub remedy: Option<String>,
    #[serde(default)]
    pub target: Vec<TargetRule>,
}

/// What an entry says for one target: the status and texts after the
/// target rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub status: Status,
    pub note: Option<&'a str>,
    pub remedy: Option<&'a str>,
}

impl Entry {
    /// Whether this entry covers `key` (exactly, or as a `prefix*`).
    pub fn covers(&self, key: &str) -> bool {
        match self.key.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => self.key == key,
        }
    }

    /// The status, note and remedy for `target`.
    pub fn for_target(&self, target: &Version) -> Verdict<'_> {
        let rule = self
            .target
            .iter()
            .find(|r| VersionReq::parse(&r.versions).is_ok_and(|req| matches_req(&req, target)));
        match rule {
            Some(r) => Verdict {
                status: r.status,
                note: r.note.as_deref().or(self.note.as_deref()),
                remedy: r.remedy.as_deref().or(self.remedy.as_deref()),
            },
            None => Verdict {
                status: self.status,
                note: self.note.as_deref(),
                remedy: self.remedy.as_deref(),
            },
        }
    }
}

/// `req` against a version, pre-releases compared as their release
/// (`4.1.0-rc.1` is a 4.1.0 for the rules).
fn matches_req(req: &VersionReq, v: &Version) -> bool {
    let release = Version::new(v.major, v.minor, v.patch);
    req.matches(&release)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub reference: String,
    pub mkectl_sample: String,
    pub defaults: String,
}

/// The whole catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub meta: Meta,
    #[serde(rename = "key")]
    pub entries: Vec<Entry>,
}

impl Catalog {
    /// The shipped catalog, parsed once.
    pub fn builtin() -> Result<&'static Catalog, String> {
        static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
        CATALOG
            .get_or_init(|| Catalog::parse(SOURCE))
            .as_ref()
            .map_err(|e| format!("the built-in catalog of MKE 3 settings is broken: {e}"))
    }

    /// Parses and checks a catalog text.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let doc: toml_edit::Document<&str> =
            toml_edit::Document::parse(text).map_err(|e| e.to_string())?;
        let json = table_to_json(doc.as_table());
        let catalog: Catalog = serde_path_to_error::deserialize(json)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.entries {
            if !seen.insert(e.key.as_str()) {
                return Err(format!("{} is listed twice", e.key));
            }
            if !matches!(e.mark.as_str(), "C" | "C~" | "I") {
                return Err(format!("{}: mark {:?} is not C, C~ or I", e.key, e.mark));
            }
            for r in &e.target {
                VersionReq::parse(&r.versions)
                    .map_err(|err| format!("{}: versions {:?}: {err}", e.key, r.versions))?;
            }
            if let Some(s) = &e.switch
                && !self.entries.iter().any(|o| &o.key == s)
            {
                return Err(format!("{}: switch {s} has no entry", e.key));
            }
        }
        Ok(())
    }

    /// The entry for `key`: the exact one, else the longest `prefix*`.
    pub fn lookup(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key).or_else(|| {
            self.entries
                .iter()
                .filter(|e| e.key.ends_with('*') && e.covers(key))
                .max_by_key(|e| e.key.len())
        })
    }
}

/// A TOML table as JSON (keys in document order).
pub fn table_to_json(table: &dyn toml_edit::TableLike) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(k, item)| (k.to_string(), item_to_json(item)))
            .collect(),
    )
}

/// A TOML item as JSON: tables become objects, arrays of tables arrays,
/// date-times their text.
pub fn item_to_json(item: &toml_edit::Item) -> Value {
    match item {
        toml_edit::Item::None => Value::Null,
        toml_edit::Item::Value(v) => value_to_json(v),
        toml_edit::Item::Table(t) => table_to_json(t),
        toml_edit::Item::ArrayOfTables(a) => {
            Value::Array(a.iter().map(|t| table_to_json(t)).collect())
        }
    }
}

/// A TOML value as JSON.
pub fn value_to_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as T;
    match v {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.value().to_string())),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        T::InlineTable(t) => table_to_json(t),
    }
}

#[cfg(test)]
mod tests;
