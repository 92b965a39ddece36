//! Secrets as a type, and the one redaction pass every sink goes through.
//!
//! A [`Secret`] has no `Display` and its `Debug` prints the mask, so a
//! secret cannot be formatted by accident. Creating one registers its value
//! with a process-wide registry; [`redact`] masks every registered value in
//! a string, in any spelling escaping gives it (see [`encodings`]), and so
//! does every sink: reporters, the journal writer, JUnit and the error
//! printer call [`redact`] on everything they emit.
//!
//! Templates never see a secret's text (they see the mask); a value that
//! must reach a module parameter travels as a *marker* ([`Secret::marker`]),
//! an opaque name that only a parameter typed [`Secret`] or [`MaybeSecret`]
//! turns back into the value, and that [`redact`] masks everywhere else.

use std::borrow::Cow;
use std::fmt;
use std::sync::{OnceLock, RwLock};

mod encodings;

/// The mask written in place of a secret value.
pub const MASK: &str = "********";

/// Values shorter than this (in characters) are never searched for in
/// text: masking every "1" or "ab" in the output would destroy it. They
/// still never reach output through templates (which see only the mask),
/// and an MKE password that short is refused.
pub const MIN_LEN: usize = 3;

struct Registry {
    /// Texts to mask, longest first.
    needles: Vec<String>,
    /// Every secret value, by marker number.
    values: Vec<String>,
    /// What a marker shows where it is masked, by marker number: the mask,
    /// or for text made from secrets that text with its secrets masked.
    shown: Vec<Option<String>>,
    matcher: Option<regex::Regex>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    needles: Vec::new(),
    values: Vec::new(),
    shown: Vec::new(),
    matcher: None,
});

/// A secret string. Its value is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and registers it for redaction in every sink.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The marker of text made from secrets (a template rendered with
    /// them): `value` is the text with their real values, `shown` the same
    /// text with them masked, which is what the marker reads as in output.
    /// The value is not searched for in output: it is only passed on
    /// through its marker, and the secrets it was made from are searched
    /// for already (searching for every derived text would grow the search
    /// with every step).
    pub fn derived_marker(value: String, shown: String) -> String {
        // The marker is replaced in text already encoded (a JSON line, an
        // XML attribute): only characters no encoder changes may stand in
        // for it, else it reads as the mask.
        let neutral = shown.len() <= 512
            && shown
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " *-_.,:;=/@()+!?#".contains(c));
        let mut reg = write();
        reg.values.push(value);
        reg.shown.push(neutral.then_some(shown));
        if reg.matcher.is_none() {
            rebuild(&mut reg);
        }
        format!("{}{}__", marker_prefix(), reg.values.len() - 1)
    }

    /// The secret value, for the one place that must send it (an HTTP body,
    /// a process's environment or stdin). Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An opaque name for this secret that [`Secret::from_marker`] turns
    /// back into it, in this process only. It holds nothing of the value,
    /// and [`redact`] masks it.
    pub fn marker(&self) -> String {
        let mut reg = write();
        let n = match reg.values.iter().position(|v| *v == self.0) {
            Some(n) => n,
            None => {
                reg.values.push(self.0.clone());
                reg.shown.push(None);
                if reg.matcher.is_none() {
                    rebuild(&mut reg);
                }
                reg.values.len() - 1
            }
        };
        format!("{}{n}__", marker_prefix())
    }

    /// The secret a marker names; `None` for any other text.
    pub fn from_marker(text: &str) -> Option<Secret> {
        let n: usize = text
            .strip_prefix(marker_prefix())?
            .strip_suffix("__")?
            .parse()
            .ok()?;
        let reg = read();
        reg.values.get(n).map(|v| Secret(v.clone()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// A parameter typed `Secret` takes a marker (a template that is exactly a
/// secret, such as `"{{ env.DB_PASSWORD }}"`) as the value it names, and
/// literal text as a new secret.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Secret::from_marker(&text).unwrap_or_else(|| Secret::new(text)))
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

/// A parameter that is a secret when a template made it one (a marker), and
/// plain text otherwise: a command's environment variable.
#[derive(Clone, PartialEq, Eq)]
pub enum MaybeSecret {
    Plain(String),
    Secret(Secret),
}

impl MaybeSecret {
    /// The value, for the process that must receive it. Never format it.
    pub fn expose(&self) -> &str {
        match self {
            MaybeSecret::Plain(s) => s,
            MaybeSecret::Secret(s) => s.expose(),
        }
    }
}

impl fmt::Debug for MaybeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeSecret::Plain(s) => fmt::Debug::fmt(s, f),
            MaybeSecret::Secret(_) => f.write_str(MASK),
        }
    }
}

impl<'de> serde::Deserialize<'de> for MaybeSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let text = match Value::deserialize(d)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(serde::de::Error::custom(
                    "expected text (or a number or true/false)",
                ));
            }
        };
        Ok(match Secret::from_marker(&text) {
            Some(s) => MaybeSecret::Secret(s),
            None => MaybeSecret::Plain(text),
        })
    }
}

impl schemars::JsonSchema for MaybeSecret {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// Whether `text` holds a secret's marker: a secret was put where only
/// plain text belongs.
pub fn has_marker(text: &str) -> bool {
    text.contains(marker_prefix())
}

/// `__mkeprep_secret_<nonce>_`: the nonce, random per process, keeps a
/// marker from being forged by text a run reads (an API answer, a
/// command's output).
fn marker_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("__mkeprep_secret_{:016x}_", h.finish())
    })
}

fn read() -> std::sync::RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(|e| e.into_inner())
}

/// The texts of `value` to mask: the whole value, the value without
/// surrounding whitespace (outputs are often trimmed), and each line of a
/// multi-line value (outputs are often cut into lines), each at least
/// [`MIN_LEN`] long.
fn forms(value: &str) -> Vec<String> {
    let value = value.trim_end_matches(['\r', '\n']);
    let mut out = vec![value.to_string(), value.trim().to_string()];
    if value.contains('\n') {
        out.extend(value.lines().map(|l| l.trim().to_string()));
    }
    out.retain(|f| f.chars().count() >= MIN_LEN);
    out.dedup();
    out
}

/// Registers a value to be masked in every output, log, journal and error.
pub fn register(value: &str) {
    let new: Vec<String> = {
        let reg = read();
        forms(value)
            .into_iter()
            .filter(|f| !reg.needles.contains(f))
            .collect()
    };
    if new.is_empty() {
        return;
    }
    let mut reg = write();
    for f in new {
        if !reg.needles.contains(&f) {
            reg.needles.push(f);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    reg.needles
        .sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
    rebuild(&mut reg);
}

/// Compiles the needles (in every encoding) and the marker into one
/// expression.
fn rebuild(reg: &mut Registry) {
    let mut alts: Vec<String> = reg.needles.iter().map(|n| encodings::pattern(n)).collect();
    alts.push(format!("{}[0-9]+__", regex::escape(marker_prefix())));
    let build = |alts: &[String]| {
        regex::RegexBuilder::new(&alts.join("|"))
            .size_limit(1 << 27)
            .dfa_size_limit(1 << 26)
            .build()
    };
    reg.matcher = match build(&alts) {
        Ok(m) => Some(m),
        // Too large to compile in every encoding (a huge key file): mask
        // the texts as they are, which still covers the common case.
        Err(_) => {
            let mut plain: Vec<String> = reg.needles.iter().map(|n| regex::escape(n)).collect();
            plain.push(regex::escape(marker_prefix()) + "[0-9]+__");
            build(&plain).ok()
        }
    };
}

/// Masks every registered secret value, in any encoding, and every marker
/// in `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let reg = read();
    let Some(m) = &reg.matcher else {
        return Cow::Borrowed(text);
    };
    let shown = |c: &regex::Captures<'_>| -> String {
        let found = c.get(0).map_or("", |m| m.as_str());
        found
            .strip_prefix(marker_prefix())
            .and_then(|rest| rest.strip_suffix("__"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| reg.shown.get(n).cloned().flatten())
            .unwrap_or_else(|| MASK.to_string())
    };
    match m.replace_all(text, shown) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Registers the values of environment variables whose names say they hold a
/// secret (`*PASSWORD*`, `*PASSPHRASE*`, `*TOKEN*`, `*SECRET*`), so that a
/// command's output that repeats them is masked too.
pub fn register_secret_env() {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if is_secret_name(name) {
            register(value);
        }
    }
}

/// Whether a variable name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASS",
        "TOKEN",
        "SECRET",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Registers every value inside a variable when its name says it holds a
/// secret (`-e db_password=…`, `vars: {api_token: …}`).
pub fn register_secret_var(name: &str, value: &serde_json::Value) {
    fn walk(v: &serde_json::Value) {
        match v {
            serde_json::Value::String(s) => register(s),
            serde_json::Value::Array(a) => a.iter().for_each(walk),
            serde_json::Value::Object(m) => m.values().for_each(walk),
            serde_json::Value::Number(n) => register(&n.to_string()),
            _ => {}
        }
    }
    if is_secret_name(name) {
        walk(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_and_redact_masks_plain_and_json_forms() {
        let s = Secret::new("pa\"ss\\word-xyz");
        assert_eq!(format!("{s:?}"), MASK);
        let line = format!("login with {} failed", s.expose());
        assert_eq!(redact(&line), format!("login with {MASK} failed"));
        let mut json = line.clone();
        for _ in 0..4 {
            json = serde_json::to_string(&json).unwrap();
            assert!(!redact(&json).contains("word-xyz"), "{}", redact(&json));
        }
    }

    #[test]
    fn short_values_are_not_searched_for() {
        register("ab");
        assert_eq!(redact("ab cd"), "ab cd");
    }

    #[test]
    fn trimmed_and_line_forms_are_masked() {
        Secret::new(" spaced-out-secret-41 ");
        assert_eq!(redact("x spaced-out-secret-41\n"), format!("x {MASK}\n"));
        Secret::new("first-line-5120\nsecond-line-5120\n");
        assert_eq!(redact("[second-line-5120]"), format!("[{MASK}]"));
    }

    #[test]
    fn markers_resolve_only_here_and_are_masked_everywhere() {
        let s = Secret::new("marker-target-9931");
        let m = s.marker();
        assert!(!m.contains("9931"), "{m}");
        assert_eq!(
            Secret::from_marker(&m).unwrap().expose(),
            "marker-target-9931"
        );
        assert!(has_marker(&format!("x{m}y")));
        assert_eq!(redact(&format!("x {m} y")), format!("x {MASK} y"));
        assert!(Secret::from_marker("__mkeprep_secret_0000000000000000_0__").is_none());
        let short = Secret::new("q");
        assert_eq!(Secret::from_marker(&short.marker()).unwrap().expose(), "q");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("MKE_PASSWORD"));
        assert!(is_secret_name("backup_passphrase"));
        assert!(!is_secret_name("MKE_USERNAME"));
    }
}
