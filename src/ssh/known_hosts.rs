//! OpenSSH `known_hosts` files for the native transport: the same format and
//! matching rules as `ssh` (patterns with `*`/`?` and `!`, `[host]:port` for
//! other ports, hashed `|1|salt|hash` names, `@revoked`), read once per run
//! and shared by every connection of the fan-out.
//!
//! The verdict is strict: a host is trusted only when one of its recorded
//! keys is the key it presented. A host with recorded keys of which none is
//! the presented one is refused even with `--accept-new-host-keys` (a key of
//! another type counts as changed, not new), and `@revoked` keys always are.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use hmac::{KeyInit, Mac};
use russh::keys::ssh_key::PublicKey;
use russh::keys::{HashAlg, PublicKeyBase64};

/// What `known_hosts` says of a host and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One of the host's recorded keys is the presented key.
    Known,
    /// Nothing is recorded for the host. `ca_only` when the only entries
    /// that name it are `@cert-authority` lines.
    Unknown { ca_only: bool },
    /// The host has recorded keys, none of them the presented one.
    Changed { file: PathBuf, line: usize },
    /// The presented key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone)]
struct Entry {
    marker: Marker,
    patterns: String,
    /// The key's type name and base64 blob, parsed only when its patterns
    /// match (a large hashed file is then cheap to scan).
    key_type: String,
    key_b64: String,
    file: Arc<PathBuf>,
    line: usize,
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

fn parse_file(path: &Path, text: &str, out: &mut Vec<Entry>) {
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

/// The known_hosts files of a run, read on first use and shared by clones.
#[derive(Clone, Default)]
pub struct KnownHosts {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Files read, in order; the first is where new keys are added.
    files: Vec<PathBuf>,
    entries: OnceLock<Mutex<Vec<Entry>>>,
}

impl std::fmt::Debug for KnownHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownHosts")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl KnownHosts {
    /// The files OpenSSH reads: the user's file (`--known-hosts`, or
    /// `~/.ssh/known_hosts` and `known_hosts2`), then the system's.
    pub fn new(user_file: Option<&Path>, home: Option<&Path>) -> KnownHosts {
        let mut files = Vec::new();
        match (user_file, home) {
            (Some(f), _) => files.push(f.to_path_buf()),
            (None, Some(h)) => {
                files.push(h.join(".ssh/known_hosts"));
                files.push(h.join(".ssh/known_hosts2"));
            }
            (None, None) => {}
        }
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        files.push(PathBuf::from("/etc/ssh/ssh_known_hosts2"));
        KnownHosts {
            inner: Arc::new(Inner {
                files,
                entries: OnceLock::new(),
            }),
        }
    }

    /// The files consulted, for messages.
    pub fn files(&self) -> &[PathBuf] {
        &self.inner.files
    }

    /// Where `--accept-new-host-keys` records a key.
    pub fn user_file(&self) -> Option<&Path> {
        self.inner
            .files
            .first()
            .filter(|f| !f.starts_with("/etc/ssh"))
            .map(PathBuf::as_path)
    }

    fn entries(&self) -> &Mutex<Vec<Entry>> {
        self.inner.entries.get_or_init(|| {
            let mut entries = Vec::new();
            for f in &self.inner.files {
                if let Ok(text) = std::fs::read_to_string(f) {
                    parse_file(f, &text, &mut entries);
                }
            }
            Mutex::new(entries)
        })
    }

    /// The key types recorded for a host (plain entries), so the key
    /// exchange can ask for one of those first, as OpenSSH does.
    pub fn recorded_types(&self, host: &str, port: u16) -> Vec<String> {
        let name = lookup_name(host, port);
        let entries = self.entries().lock().unwrap_or_else(|p| p.into_inner());
        let mut types: Vec<String> = Vec::new();
        for e in entries.iter() {
            if e.marker == Marker::None
                && patterns_match(&name, &e.patterns)
                && !types.contains(&e.key_type)
            {
                types.push(e.key_type.clone());
            }
        }
        types
    }

    /// Judges the key a host presented.
    pub fn verdict(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = lookup_name(host, port);
        let presented = key.public_key_base64();
        let entries = self.entries().lock().unwrap_or_else(|p| p.into_inner());
        let mut first_other: Option<(PathBuf, usize)> = None;
        let mut known = false;
        let mut ca = false;
        for e in entries.iter() {
            if !patterns_match(&name, &e.patterns) {
                continue;
            }
            let same = e.key_b64 == presented;
            match e.marker {
                Marker::Revoked if same => {
                    return Verdict::Revoked {
                        file: e.file.to_path_buf(),
                        line: e.line,
                    };
                }
                Marker::Revoked => {}
                Marker::CertAuthority => ca = true,
                Marker::None if same => known = true,
                Marker::None => {
                    first_other.get_or_insert_with(|| (e.file.to_path_buf(), e.line));
                }
            }
        }
        match (known, first_other) {
            (true, _) => Verdict::Known,
            (false, Some((file, line))) => Verdict::Changed { file, line },
            (false, None) => Verdict::Unknown { ca_only: ca },
        }
    }

    /// Records a host's key in the user's file (created 0600 in a 0700
    /// directory when missing) and in the shared view. One writer at a
    /// time, one `write` per line.
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> std::io::Result<PathBuf> {
        let Some(path) = self.user_file() else {
            return Err(std::io::Error::other(
                "no user known_hosts file to add the key to (set HOME or pass --known-hosts FILE)",
            ));
        };
        let mut entries = self.entries().lock().unwrap_or_else(|p| p.into_inner());
        let name = lookup_name(host, port);
        let key_type = key.algorithm().as_str().to_string();
        let key_b64 = key.public_key_base64();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            std::fs::create_dir_all(parent)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
        }
        let existing = std::fs::read(path).unwrap_or_default();
        let newline = if existing.is_empty() || existing.ends_with(b"\n") {
            ""
        } else {
            "\n"
        };
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(format!("{newline}{name} {key_type} {key_b64}\n").as_bytes())?;
        f.sync_data()?;
        let line = String::from_utf8_lossy(&existing).lines().count() + 1;
        entries.push(Entry {
            marker: Marker::None,
            patterns: name,
            key_type,
            key_b64,
            file: Arc::new(path.to_path_buf()),
            line,
        });
        Ok(path.to_path_buf())
    }
}

/// `SHA256:…`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIIWGcQXP1pmnRZ9LSjjrG/SkNxMALtl8QKoBBtkjAJMg";
    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIB1xNGNfR7RHDWasuTEkgDdhnJhQH7KtM6FSQpCq03+9";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("test key")
    }

    fn with(text: &str) -> (tempfile::TempDir, KnownHosts) {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("known_hosts");
        std::fs::write(&f, text).expect("write");
        let kh = KnownHosts::new(Some(&f), None);
        (dir, kh)
    }

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
    fn verdicts() {
        let (_d, kh) = with(&format!(
            "# comment\n\n[127.0.0.3]:2222 ssh-ed25519 {ED}\n127.0.0.4 ssh-ed25519 {ED}\n@revoked * ssh-ed25519 {ED2}\n@cert-authority *.ca.test ssh-ed25519 {ED}\n"
        ));
        assert_eq!(kh.verdict("127.0.0.3", 2222, &key(ED)), Verdict::Known);
        assert_eq!(
            kh.verdict("127.0.0.3", 22, &key(ED)),
            Verdict::Unknown { ca_only: false }
        );
        assert!(matches!(
            kh.verdict("127.0.0.4", 22, &key(ED2)),
            Verdict::Revoked { line: 5, .. }
        ));
        assert_eq!(
            kh.verdict("node.ca.test", 22, &key(ED)),
            Verdict::Unknown { ca_only: true }
        );
        assert_eq!(kh.recorded_types("127.0.0.4", 22), vec!["ssh-ed25519"]);
        let (_d, kh) = with(&format!("[127.0.0.3]:2222 ssh-ed25519 {ED2}\n"));
        assert!(matches!(
            kh.verdict("127.0.0.3", 2222, &key(ED)),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn learning_appends_one_line_and_is_seen_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub/known_hosts");
        let kh = KnownHosts::new(Some(&f), None);
        assert_eq!(
            kh.verdict("127.0.0.9", 2200, &key(ED)),
            Verdict::Unknown { ca_only: false }
        );
        assert_eq!(kh.learn("127.0.0.9", 2200, &key(ED)).ok(), Some(f.clone()));
        assert_eq!(kh.verdict("127.0.0.9", 2200, &key(ED)), Verdict::Known);
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert_eq!(text, format!("[127.0.0.9]:2200 ssh-ed25519 {ED}\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        // A fresh reader sees it too.
        let again = KnownHosts::new(Some(&f), None);
        assert_eq!(again.verdict("127.0.0.9", 2200, &key(ED)), Verdict::Known);
        assert!(fingerprint(&key(ED)).starts_with("SHA256:"));
    }
}
