//! Every spelling a secret can take on its way to a sink, as one regular
//! expression per secret.
//!
//! A value is escaped each time it passes through an encoder: a command's
//! stderr that is JSON holds `back\\slash`, the `--output json` line that
//! carries it holds `back\\\\slash`, a debug of a mapping that holds it
//! once more doubles it again. Rather than listing layers, each character
//! of the secret matches every encoding of that character with any
//! number of backslashes before it: JSON and Rust/Python escapes (`\"`,
//! `\\`, `\n`, `\u0022`, `\u{22}`, `\x22`), XML and HTML references
//! (`&quot;`, `&#34;`, `&#x22;`), percent-encoding (`%22`) and the shell's
//! quote-in-quote (`'\''`). Letters and digits are never escaped by these
//! encoders and match only themselves, so masking stays exact for them.

/// The pattern matching `needle` in any of its encodings.
pub fn pattern(needle: &str) -> String {
    needle.chars().map(char_pattern).collect()
}

/// The alternatives one character may appear as.
fn char_pattern(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        return c.to_string();
    }
    let cp = u32::from(c);
    let literal = regex::escape(&c.to_string());
    let mut alts: Vec<String> = Vec::new();
    match c {
        // Each layer of escaping doubles it.
        '\\' => alts.push(r"\\+".into()),
        c if c.is_control() => {
            alts.push(literal);
            if let Some(letter) = short_escape(c) {
                alts.push(format!(r"\\+{letter}"));
            }
            alts.push(format!(r"\\+[xX]{cp:02x}"));
            if c == '\n' || c == '\t' || c == '\r' {
                // Reporters that keep a message on one line write a space.
                alts.push(" ".into());
            }
        }
        // `\"` at one layer, `\\\"` at two, `\/` from some JSON encoders.
        _ => alts.push(format!(r"\\*{literal}")),
    }
    let mut units = [0u16; 2];
    let utf16: String = c
        .encode_utf16(&mut units)
        .iter()
        .map(|u| format!(r"\\+u{u:04x}"))
        .collect();
    alts.push(utf16);
    alts.push(format!(r"\\+u\{{0*{cp:x}\}}"));
    alts.push(format!("&#0*{cp};|&#[xX]0*{cp:x};"));
    let mut bytes = [0u8; 4];
    let percent: String = c
        .encode_utf8(&mut bytes)
        .bytes()
        .map(|b| format!("%{b:02x}"))
        .collect();
    alts.push(percent);
    match c {
        '&' => alts.push("&amp;".into()),
        '<' => alts.push("&lt;".into()),
        '>' => alts.push("&gt;".into()),
        '"' => alts.push("&quot;".into()),
        '\'' => alts.extend([
            r"'\\''".to_string(),
            r#"'"'"'"#.to_string(),
            "&apos;".into(),
        ]),
        ' ' => alts.push(r"\+".into()),
        _ => {}
    }
    // Hex digits and entity names in any case.
    format!("(?i:{})", alts.join("|"))
}

fn short_escape(c: char) -> Option<char> {
    Some(match c {
        '\n' => 'n',
        '\r' => 'r',
        '\t' => 't',
        '\u{8}' => 'b',
        '\u{c}' => 'f',
        '\u{b}' => 'v',
        '\0' => '0',
        '\u{1b}' => 'e',
        '\u{7}' => 'a',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(needle: &str, text: &str) -> bool {
        regex::Regex::new(&pattern(needle)).unwrap().is_match(text)
    }

    /// `s` JSON-escaped `layers` times (the quotes of each layer dropped,
    /// as when a string sits inside a larger document).
    fn json_layers(s: &str, layers: usize) -> String {
        let mut t = s.to_string();
        for _ in 0..layers {
            let j = serde_json::to_string(&t).unwrap();
            t = j[1..j.len() - 1].to_string();
        }
        t
    }

    #[test]
    fn every_layer_of_json_escaping_matches() {
        for secret in [r#"back\slash-"q"-pass"#, "tab\tnl\nbell\u{7}", "é-ünï-😀-x"] {
            for layers in 0..6 {
                let text = format!("before {} after", json_layers(secret, layers));
                assert!(matches(secret, &text), "{layers} layers: {text}");
            }
        }
    }

    #[test]
    fn other_encoders_match() {
        let s = r#"a"b'c<d>&e f\g"#;
        let xml = s
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let shell = format!("'{}'", s.replace('\'', r"'\''"));
        let debug = format!("{s:?}");
        let percent: String = s
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let go = s
            .replace('<', r"\u003c")
            .replace('>', r"\u003e")
            .replace('&', r"\u0026");
        for text in [xml, shell, debug, percent, go] {
            assert!(matches(s, &text), "{text}");
        }
    }

    #[test]
    fn letters_match_only_themselves() {
        assert!(!matches("abc-def", "abcdef"));
        assert!(!matches("abcdef", "ABCDEF"));
        assert!(matches("abc-def", "abc\\-def"));
    }
}
