//! Helpers for the property tests of the input loaders: inputs written to
//! files, mutations of valid text, and a check that errors point into it.

use std::path::PathBuf;

use proptest::prelude::*;

use crate::diag::SourceErrors;

/// Cases per loader property: enough to vary every generator, few enough
/// that each property runs in about a second.
pub const CASES: u32 = 256;

pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces of YAML, template and shell syntax that break documents in
/// interesting ways when dropped anywhere.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    " ",
    "    ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    " # c",
    "&a ",
    "*a",
    "*b",
    "!!str ",
    "!!binary ",
    "!x ",
    "? ",
    "|",
    ">",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "<<: *a",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "é",
    "雪",
    "\u{0}",
    "\u{feff}",
    "\u{7f}",
    "~",
    "null",
    "true",
    "0x1F",
    "0o17",
    "1e5",
    "-1",
    ".inf",
    "99999999999999999999",
    "\\",
    "@",
    "`",
    "$(x)",
    ";",
    "a: b",
    "- a",
    "steps:",
    "hosts:",
];

#[derive(Debug, Clone)]
pub enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    DupLine(usize),
}

/// One to eight edits at arbitrary places, inserting YAML-breaking tokens.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    edits_of(TOKENS)
}

/// One to eight edits at arbitrary places, inserting `tokens`.
pub fn edits_of(tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), prop::sample::select(tokens)).prop_map(|(at, t)| Edit::Insert(at, t)),
        2 => (any::<usize>(), 1usize..12).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => any::<usize>().prop_map(Edit::DupLine),
    ];
    prop::collection::vec(edit, 1..8)
}

fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `text` with the edits applied in order.
pub fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_string();
    for e in edits {
        match *e {
            Edit::Insert(at, token) => {
                let i = boundary(&t, at);
                t.insert_str(i, token);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&t, at);
                let j = boundary(&t, i.saturating_add(n).min(t.len()));
                if j > i {
                    t.replace_range(i..j, "");
                }
            }
            Edit::DupLine(at) => {
                let lines: Vec<&str> = t.split_inclusive('\n').collect();
                if !lines.is_empty() {
                    let k = at % lines.len();
                    let mut out: String = lines[..=k].concat();
                    out.push_str(lines[k]);
                    out.push_str(&lines[k + 1..].concat());
                    t = out;
                }
            }
        }
    }
    t
}

/// A YAML scalar for `s` in one of three styles (0 plain when that reads
/// back as the same string, 1 single-quoted, 2 double-quoted).
pub fn scalar(s: &str, style: u8) -> String {
    let plain_ok = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/@".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "inf" | "nan"
        );
    match style % 3 {
        0 if plain_ok => s.to_string(),
        1 if !s.contains(['\n', '\r', '\t']) && !s.chars().any(char::is_control) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        _ => serde_json::to_string(s).expect("a string serialises"),
    }
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write a test input");
    p
}

/// Every error must name a position inside `text` (line 1 to one past the
/// last, column at least 1) and carry a message.
pub fn positioned(errors: &SourceErrors, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!errors.0.is_empty(), "an Err without errors");
    let lines = crate::diag::yaml_lines(text).count() + 1;
    for e in &errors.0 {
        prop_assert!(!e.message.is_empty());
        let Some(p) = e.pos else {
            return Err(TestCaseError::fail(format!(
                "an error without a position: {e}"
            )));
        };
        prop_assert!(
            p.line >= 1 && p.line <= lines && p.col >= 1,
            "position {}:{} outside the text ({lines} lines): {e}",
            p.line,
            p.col
        );
        // Rendering the caret display must not panic either.
        let _ = e.to_string();
    }
    Ok(())
}
