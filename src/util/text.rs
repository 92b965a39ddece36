//! Small text helpers: did-you-mean suggestions, digests, durations, and
//! the one sanitiser of text bound for a terminal.

use std::borrow::Cow;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The closest of `options` to `word`, when it is close enough to suggest
/// (Levenshtein distance at most 2, or a quarter of the option's length,
/// and less than the whole option).
pub fn suggest<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    options
        .into_iter()
        .map(|o| (strsim::levenshtein(word, o), o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 4) && *d < o.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

/// Parses `30s`, `5m`, `1h30m`, `24h`, `2d` or a number of seconds.
pub fn parse_duration_str(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(s).ok()
}

/// Whether a terminal could act on `c` instead of showing it: C0 and C1
/// controls (ESC starts CSI, OSC 52 writes the clipboard, OSC 8 makes
/// links, DCS, BEL, backspace and CR overwrite what is shown), DEL, and
/// the bidirectional overrides and isolates that reorder what is shown.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text made safe for a terminal: every character a terminal would act on
/// is shown as an escape (`\x1b`, `\r`, `\u{9b}`) instead; newlines and
/// tabs stay. Every path that reaches a terminal goes through this: the
/// human reporter, live progress, the error printer, `validate` and
/// `journal show`.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| acts_on_terminal(c) && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if acts_on_terminal(c) && u32::from(c) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if acts_on_terminal(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`terminal_safe`] on one line: newlines and tabs become spaces.
pub fn terminal_line(text: &str) -> String {
    terminal_safe(&text.replace(['\n', '\t'], " ")).into_owned()
}

/// JSON text with the characters a terminal acts on that serde_json leaves
/// raw (C1 controls, bidirectional overrides) written as `\u` escapes: the
/// same JSON value, safe to print. Such characters can only be inside
/// strings, so every one is replaced.
pub fn json_terminal_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(acts_on_terminal) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if acts_on_terminal(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(suggest("whne", ["when", "tags"]), Some("when"));
        assert_eq!(suggest("netwrok", ["network", "backup"]), Some("network"));
        assert_eq!(suggest("zzzzzz", ["when", "tags"]), None);
        // A word no closer than the option's own length is no suggestion.
        assert_eq!(suggest("ab", ["x"]), None);
    }

    #[test]
    fn durations_and_digests() {
        assert_eq!(parse_duration_str("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration_str("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration_str("-1"), None);
        assert_eq!(sha256_hex(b"").len(), 64);
    }

    #[test]
    fn terminal_escapes_are_shown_not_acted_on() {
        let hostile = "a\x1b]52;c;SGVsbG8=\x07b\r\x08\u{9b}31m\u{202e}x\ty\nz";
        let safe = terminal_safe(hostile);
        assert_eq!(
            safe,
            "a\\x1b]52;c;SGVsbG8=\\x07b\\r\\x08\\u{9b}31m\\u{202e}x\ty\nz"
        );
        assert!(
            !safe
                .chars()
                .any(|c| acts_on_terminal(c) && c != '\n' && c != '\t')
        );
        assert_eq!(terminal_line("a\nb\tc"), "a b c");
        let json = serde_json::to_string(hostile).unwrap();
        let safe = json_terminal_safe(&json);
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), hostile);
        assert!(!safe.chars().any(acts_on_terminal));
    }
}
