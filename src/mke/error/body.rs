//! How MKE's own error bodies are read: the message of `errors[]`,
//! `message` or `error`, else the raw body on one line, truncated and with
//! registered secrets masked.

use crate::util::secret::redact;

/// The longest server text quoted in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// The server's message from an error body: `errors[].message` (with the
/// code), then `message`, then `error`, then the raw body collapsed to one
/// line and truncated. Registered secrets are masked.
pub fn server_message(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    let text = match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(json) => json_message(&json).unwrap_or_else(|| trimmed.to_string()),
        Err(_) => trimmed.to_string(),
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let shortened = truncate_chars(&one_line, MAX_MESSAGE_CHARS);
    redact(&shortened).into_owned()
}

fn json_message(json: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let non_empty = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Value::String(s) = json {
        return Some(s.clone()).filter(|s| !s.trim().is_empty());
    }
    if let Some(errors) = json.get("errors").and_then(Value::as_array) {
        let messages: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let message = non_empty(e.get("message")).or_else(|| non_empty(e.get("detail")));
                let code = non_empty(e.get("code"));
                match (message, code) {
                    (Some(m), Some(c)) => Some(format!("{m} ({c})")),
                    (Some(m), None) => Some(m),
                    (None, Some(c)) => Some(c),
                    (None, None) => e.as_str().map(str::to_string),
                }
            })
            .collect();
        if !messages.is_empty() {
            return Some(messages.join("; "));
        }
    }
    non_empty(json.get("message")).or_else(|| non_empty(json.get("error")))
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::secret::{MASK, Secret};

    #[test]
    fn error_body_shapes() {
        assert_eq!(
            server_message(r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid token"}]}"#),
            "invalid token (UNAUTHORIZED)"
        );
        assert_eq!(
            server_message(
                r#"{"errors":[{"code":"A","message":"first"},{"message":"second"},{"code":"C"}]}"#
            ),
            "first (A); second; C"
        );
        assert_eq!(
            server_message(r#"{"message":"page not found"}"#),
            "page not found"
        );
        assert_eq!(server_message(r#"{"error":"bad thing"}"#), "bad thing");
        assert_eq!(
            server_message("unauthorized: invalid authentication token provided\n"),
            "unauthorized: invalid authentication token provided"
        );
        assert_eq!(server_message("  \n "), "(empty body)");
        assert_eq!(server_message(r#""quoted text""#), "quoted text");
        // JSON without a known field: the raw body.
        assert_eq!(server_message(r#"{"foo":1}"#), r#"{"foo":1}"#);
        // Empty errors array falls back to message.
        assert_eq!(
            server_message(r#"{"errors":[],"message":"fallback"}"#),
            "fallback"
        );
        // HTML from a proxy: one line.
        assert_eq!(
            server_message("<html>\n  <body>502 Bad Gateway</body>\n</html>"),
            "<html> <body>502 Bad Gateway</body> </html>"
        );
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let body = "é".repeat(1000);
        let msg = server_message(&body);
        assert!(msg.starts_with(&"é".repeat(MAX_MESSAGE_CHARS)));
        assert!(msg.ends_with("… (2000 bytes in all)"), "{msg}");
    }

    #[test]
    fn secrets_in_bodies_are_masked() {
        let s = Secret::new("tok-3f1e-secret-value");
        let body = format!(r#"{{"message":"bad token {}"}}"#, s.expose());
        let msg = server_message(&body);
        assert_eq!(msg, format!("bad token {MASK}"));
    }
}
