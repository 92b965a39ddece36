//! Small text helpers: did-you-mean suggestions, digests, durations, and
//! text made harmless for a terminal: shown as escapes ([`terminal_safe`],
//! every path that reaches a terminal) or taken out ([`strip_controls`],
//! the readiness report's documents). Both treat the same characters as
//! acting on a terminal.

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

/// Parses a size: `32GiB`, `8G` (binary units whatever the spelling:
/// `G`, `GB` and `GiB` are all 2^30), `512MiB`, `1.5TiB`, or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 32GiB, 512MiB or 1TiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use KiB, MiB, GiB or TiB)"
            ));
        }
    };
    Ok((n * mult as f64) as u64)
}

/// `1 host`, `3 hosts`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `a, b, c and 4 more`: the first `max` items, then how many more.
pub fn listed(items: &[String], max: usize) -> String {
    let mut text = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        text.push_str(&format!(" and {} more", items.len() - max));
    }
    text
}

/// A YAML single-quoted scalar: `it's` becomes `'it''s'`.
pub fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A size for people: `31.4 GiB`, `512 MiB`.
pub fn format_size(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// The first non-empty line of `text`, trimmed, cut to `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    truncate_chars(line.trim(), max)
}

/// The last non-empty line of `text` (where shells and tools put the
/// reason), trimmed, cut to `max` characters.
pub fn last_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    truncate_chars(line.trim(), max)
}

/// `s` cut to at most `max` characters, ending in `…` when it was cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
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

/// A duration as a playbook would write it, and [`parse_duration_str`]
/// reads back: `24h`, `30m`, `1h30m`, `45s`, `0s`; a fraction of a second
/// as plain seconds (`1.5`).
pub fn format_duration_str(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return d.as_secs_f64().to_string();
    }
    let s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (n, unit) in [(s / 3600, "h"), (s % 3600 / 60, "m"), (s % 60, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// `text` without terminal control: whole ANSI escape sequences (CSI
/// `ESC [ … final`, OSC `ESC ] … BEL|ESC \\`, and two-byte `ESC x`), C0
/// and C1 control characters and DEL, and the bidirectional overrides that
/// can make text display as something else. Newlines and tabs are kept.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte @..~.
                Some('[') => {
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \\).
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(d) = chars.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                _ => {}
            },
            // C1 CSI and OSC introducers, as one character.
            '\u{9b}' => {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_helpers() {
        assert_eq!(plural(1, "host", "hosts"), "1 host");
        assert_eq!(plural(0, "host", "hosts"), "0 hosts");
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(listed(&items, 5), "1, 2, 3, 4, 5");
        assert_eq!(listed(&items, 3), "1, 2, 3 and 2 more");
        assert_eq!(listed(&[], 3), "");
        assert_eq!(yaml_quote("it's"), "'it''s'");
        assert_eq!(yaml_quote(""), "''");
    }

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
    fn sizes() {
        assert_eq!(parse_size("32GiB"), Ok(32 << 30));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("1.5TiB"), Ok(3 << 39));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(format_size(33672543232), "31.4 GiB");
        assert_eq!(format_size(512 << 20), "512 MiB");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(first_line("\n  a \nb\n", 9), "a");
        assert_eq!(last_line("a\n b \n\n", 9), "b");
        assert_eq!(last_line("", 9), "");
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 2), "hé…");
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

    #[test]
    fn durations_are_written_as_a_playbook_would_and_read_back() {
        for (secs, text) in [
            (86400.0, "24h"),
            (1800.0, "30m"),
            (5400.0, "1h30m"),
            (45.0, "45s"),
            (3661.0, "1h1m1s"),
            (0.0, "0s"),
            (1.5, "1.5"),
        ] {
            let d = Duration::from_secs_f64(secs);
            assert_eq!(format_duration_str(d), text);
            assert_eq!(parse_duration_str(text), Some(d), "{text}");
        }
    }

    #[test]
    fn terminal_control_sequences_are_taken_out_whole() {
        assert_eq!(strip_controls("a\x1b[1;31mred\x1b[0m b"), "ared b");
        assert_eq!(
            strip_controls("x\x1b]8;;https://e.invalid\x07link\x1b]8;;\x1b\\y"),
            "xlinky"
        );
        assert_eq!(strip_controls("c\r\x07\x7f\u{85}\u{9b}2Jd"), "cd");
        assert_eq!(strip_controls("l\u{202e}txt.exe\u{2066}"), "ltxt.exe");
        assert_eq!(
            strip_controls("keep\nlines\tand tabs"),
            "keep\nlines\tand tabs"
        );
        assert_eq!(strip_controls("trailing \x1b"), "trailing ");
    }
}
