//! Secrets as a type, and the one redaction pass every sink goes through.
//!
//! A [`Secret`] has no `Display` and its `Debug` prints `***`, so a secret
//! cannot be formatted by accident. Creating one registers its value with a
//! process-wide redaction set; [`redact`] masks every registered value (and
//! its JSON-escaped form) in a string. Reporters, the journal writer and the
//! top-level error printer call [`redact`] on everything they emit.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// The mask written in place of a secret value.
pub const MASK: &str = "********";

/// Values shorter than this are not registered: masking every "1" or "ab" in
/// the output would destroy it and protect nothing.
const MIN_LEN: usize = 3;

static NEEDLES: RwLock<Vec<String>> = RwLock::new(Vec::new());

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

    /// The secret value, for the one place that must send it (an HTTP body,
    /// a process's stdin). Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Registers a value to be masked in every output, log, journal and error.
pub fn register(value: &str) {
    let value = value.trim_end_matches(['\r', '\n']);
    if value.chars().count() < MIN_LEN {
        return;
    }
    let mut forms = vec![value.to_string()];
    // The JSON-escaped form, so a secret with quotes or backslashes is masked
    // in serialised JSON too.
    if let Ok(json) = serde_json::to_string(value) {
        let inner = &json[1..json.len() - 1];
        if inner != value {
            forms.push(inner.to_string());
        }
    }
    let mut needles = NEEDLES.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !needles.contains(&form) {
            needles.push(form);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
}

/// Masks every registered secret value in `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let needles = NEEDLES.read().unwrap_or_else(|e| e.into_inner());
    if needles.is_empty() || !needles.iter().any(|n| text.contains(n.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for needle in needles.iter() {
        if out.contains(needle.as_str()) {
            out = out.replace(needle.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// Registers the values of environment variables whose names say they hold a
/// secret (`*PASSWORD*`, `*PASSPHRASE*`, `*TOKEN*`, `*SECRET*`), so that a
/// playbook reading `env.X` cannot leak them.
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
        let json = serde_json::to_string(&line).unwrap();
        assert!(!redact(&json).contains("word-xyz"), "{}", redact(&json));
    }

    #[test]
    fn short_values_are_not_registered() {
        register("ab");
        assert_eq!(redact("ab cd"), "ab cd");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("MKE_PASSWORD"));
        assert!(is_secret_name("backup_passphrase"));
        assert!(!is_secret_name("MKE_USERNAME"));
    }
}
