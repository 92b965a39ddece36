//! `known_hosts` lines: parsing, OpenSSH's name matching (wildcards,
//! negation, `[host]:port`, hashed names) and the index of entries by name.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use hmac::{KeyInit, Mac};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) marker: Marker,
    pub(super) patterns: String,
    /// The key's type name and base64 blob, parsed only when its patterns
    /// match (a large hashed file is then cheap to scan).
    pub(super) key_type: String,
    pub(super) key_b64: String,
    pub(super) file: Arc<PathBuf>,
    pub(super) line: usize,
}

/// The name `known_hosts` records a host under: `host`, or `[host]:port`.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's wildcard match: `*` any run, `?` one character.
fn wildcard(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn hashed_match(name: &str, entry: &str) -> bool {
    let mut parts = entry.split('|').skip(2);
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Some(Ok(salt)), Some(Ok(hash))) = (
        parts.next().map(|p| b64.decode(p)),
        parts.next().map(|p| b64.decode(p)),
    ) else {
        return false;
    };
    let Ok(mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// Whether a comma-separated pattern list names `name`: some positive
/// pattern matches and no negated one does.
pub fn patterns_match(name: &str, patterns: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if pattern.starts_with("|1|") {
            matched |= hashed_match(name, pattern);
            continue;
        }
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if wildcard(name.as_bytes(), pattern.to_ascii_lowercase().as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

pub(super) fn parse_file(path: &Path, text: &str, out: &mut State) {
    let file = Arc::new(path.to_path_buf());
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let mut first = words.next().unwrap_or_default();
        let marker = match first {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = words.next().unwrap_or_default();
        }
        let (Some(key_type), Some(key_b64)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(Entry {
            marker,
            patterns: first.to_string(),
            key_type: key_type.to_string(),
            key_b64: key_b64.to_string(),
            file: file.clone(),
            line: i + 1,
        });
    }
}

/// A pattern list that is just literal names (no wildcard, negation or
/// hash) can be looked up by name instead of matched line by line.
fn literal_names(patterns: &str) -> Option<Vec<String>> {
    patterns
        .split(',')
        .map(|p| {
            let plain = !p.is_empty() && !p.starts_with(['!', '|']) && !p.contains(['*', '?']);
            plain.then(|| p.to_ascii_lowercase())
        })
        .collect()
}

#[derive(Default)]
pub(super) struct State {
    entries: Vec<Entry>,
    /// Entry indexes by literal name, and the rest (matched one by one).
    by_name: std::collections::HashMap<String, Vec<usize>>,
    patterned: Vec<usize>,
    /// A file that exists but cannot be read: then no host can be trusted.
    pub(super) unreadable: Option<String>,
}

impl State {
    pub(super) fn push(&mut self, e: Entry) {
        let i = self.entries.len();
        match literal_names(&e.patterns) {
            Some(names) => {
                for n in names {
                    self.by_name.entry(n).or_default().push(i);
                }
            }
            None => self.patterned.push(i),
        }
        self.entries.push(e);
    }

    /// The entries naming `name`, in file order.
    pub(super) fn matching(&self, name: &str) -> Vec<Entry> {
        let mut idx: Vec<usize> = self.by_name.get(name).cloned().unwrap_or_default();
        idx.extend(
            self.patterned
                .iter()
                .copied()
                .filter(|&i| patterns_match(name, &self.entries[i].patterns)),
        );
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| self.entries[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_negation_and_ports() {
        assert!(patterns_match("web1.example.com", "*.example.com"));
        assert!(patterns_match("web1", "web?"));
        assert!(!patterns_match("web10", "web?"));
        assert!(!patterns_match(
            "db.example.com",
            "*.example.com,!db.example.com"
        ));
        assert!(patterns_match("[10.0.0.1]:2222", "[10.0.0.1]:2222"));
        assert!(!patterns_match("[10.0.0.1]:2222", "10.0.0.1"));
        assert!(patterns_match("host", "HOST"));
        assert_eq!(lookup_name("Host", 22), "host");
        assert_eq!(lookup_name("10.0.0.1", 2222), "[10.0.0.1]:2222");
    }

    #[test]
    fn hashed_names_match_like_openssh() {
        // `ssh-keygen -H` of "[127.0.0.3]:2222": salt and HMAC-SHA1 of the name.
        let salt = [7u8; 20];
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt).expect("hmac");
        mac.update(b"[127.0.0.3]:2222");
        let b64 = base64::engine::general_purpose::STANDARD;
        let entry = format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        );
        assert!(patterns_match("[127.0.0.3]:2222", &entry));
        assert!(!patterns_match("[127.0.0.4]:2222", &entry));
        assert!(!patterns_match("x", "|1|bad|base64"));
    }
    #[test]
    fn literal_names_are_indexed_and_patterns_are_not() {
        assert_eq!(
            literal_names("Web1,10.0.0.1"),
            Some(vec!["web1".to_string(), "10.0.0.1".to_string()])
        );
        assert_eq!(literal_names("*.example.com"), None);
        assert_eq!(literal_names("a,!b"), None);
        assert_eq!(literal_names("|1|x|y"), None);
    }
}
