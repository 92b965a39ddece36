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
use std::sync::{Arc, OnceLock, RwLock};

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
    /// `same_type`: one of them is of the presented key's type (a changed
    /// key); otherwise only other types are recorded (`recorded`).
    Changed {
        file: PathBuf,
        line: usize,
        same_type: bool,
        recorded: Vec<String>,
    },
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

fn parse_file(path: &Path, text: &str, out: &mut State) {
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

/// Where a line came from, for messages: `file:line`, or a line this run
/// added.
pub fn place(file: &Path, line: usize) -> String {
    if line == 0 {
        format!("{} (added by this run)", file.display())
    } else {
        format!("{}:{line}", file.display())
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
struct State {
    entries: Vec<Entry>,
    /// Entry indexes by literal name, and the rest (matched one by one).
    by_name: std::collections::HashMap<String, Vec<usize>>,
    patterned: Vec<usize>,
    /// A file that exists but cannot be read: then no host can be trusted.
    unreadable: Option<String>,
}

impl State {
    fn push(&mut self, e: Entry) {
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
    fn matching(&self, name: &str) -> Vec<Entry> {
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

/// The known_hosts entries that name one host, looked up once per
/// connection.
#[derive(Debug, Clone)]
pub struct Lookup {
    entries: Vec<Entry>,
}

impl Lookup {
    /// The key types recorded for the host (plain entries), so the key
    /// exchange can ask for one of those first, as OpenSSH does.
    pub fn recorded_types(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for e in self.entries.iter().filter(|e| e.marker == Marker::None) {
            if !types.contains(&e.key_type) {
                types.push(e.key_type.clone());
            }
        }
        types
    }

    /// Judges the key a host presented. Keys are compared as parsed key
    /// data; a line whose key does not parse is skipped, as OpenSSH does.
    pub fn verdict(&self, key: &PublicKey) -> Verdict {
        let mut other: Option<(PathBuf, usize)> = None;
        let (mut known, mut ca, mut same_type) = (false, false, false);
        let mut recorded = Vec::new();
        for e in &self.entries {
            let Ok(parsed) = russh::keys::parse_public_key_base64(&e.key_b64) else {
                continue;
            };
            let same = parsed.key_data() == key.key_data();
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
                    same_type |= parsed.algorithm() == key.algorithm();
                    let t = parsed.algorithm().as_str().to_string();
                    if !recorded.contains(&t) {
                        recorded.push(t);
                    }
                    other.get_or_insert_with(|| (e.file.to_path_buf(), e.line));
                }
            }
        }
        match (known, other) {
            (true, _) => Verdict::Known,
            (false, Some((file, line))) => Verdict::Changed {
                file,
                line,
                same_type,
                recorded,
            },
            (false, None) => Verdict::Unknown { ca_only: ca },
        }
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
    state: OnceLock<RwLock<State>>,
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
                state: OnceLock::new(),
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

    fn state(&self) -> &RwLock<State> {
        self.inner.state.get_or_init(|| {
            let mut state = State::default();
            for f in &self.inner.files {
                match std::fs::read(f) {
                    Ok(bytes) => parse_file(f, &String::from_utf8_lossy(&bytes), &mut state),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        state.unreadable.get_or_insert_with(|| {
                            format!("cannot read the known_hosts file {}: {e}", f.display())
                        });
                    }
                }
            }
            RwLock::new(state)
        })
    }

    /// The entries that name `host:port`; an error when a known_hosts file
    /// exists but cannot be read (then nothing it records could be checked).
    pub fn lookup(&self, host: &str, port: u16) -> Result<Lookup, String> {
        let state = self.state().read().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &state.unreadable {
            return Err(why.clone());
        }
        Ok(Lookup {
            entries: state.matching(&lookup_name(host, port)),
        })
    }

    /// Records the key of a host that was unknown, deciding again under the
    /// write lock (two connections to one name cannot both add a key): the
    /// result is the verdict after that — `Known` once recorded or already
    /// recorded, or the `Changed`/`Revoked` a concurrent addition led to.
    /// The user's file is created 0600 (in a 0700 directory) when missing;
    /// one `write` per line, no hashing (as `ssh` with HashKnownHosts=no).
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> std::io::Result<Verdict> {
        let Some(path) = self.user_file() else {
            return Err(std::io::Error::other(
                "no user known_hosts file to add the key to (set HOME or pass --known-hosts FILE)",
            ));
        };
        let mut state = self.state().write().unwrap_or_else(|p| p.into_inner());
        let name = lookup_name(host, port);
        let now = Lookup {
            entries: state.matching(&name),
        }
        .verdict(key);
        if !matches!(now, Verdict::Unknown { .. }) {
            return Ok(now);
        }
        let key_type = key.algorithm().as_str().to_string();
        let key_b64 = key.public_key_base64();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            std::fs::create_dir_all(parent)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
        }
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let len = f.metadata()?.len();
        let mut last = [b'\n'];
        if len > 0 {
            f.read_at(&mut last, len - 1)?;
        }
        let newline = if last[0] == b'\n' { "" } else { "\n" };
        f.write_all(format!("{newline}{name} {key_type} {key_b64}\n").as_bytes())?;
        state.push(Entry {
            marker: Marker::None,
            patterns: name,
            key_type,
            key_b64,
            file: Arc::new(path.to_path_buf()),
            line: 0,
        });
        Ok(Verdict::Known)
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

    fn verdict(kh: &KnownHosts, host: &str, port: u16, k: &PublicKey) -> Verdict {
        kh.lookup(host, port).expect("readable").verdict(k)
    }

    #[test]
    fn verdicts() {
        let (_d, kh) = with(&format!(
            "# comment\n\n[127.0.0.3]:2222 ssh-ed25519 {ED}\n127.0.0.4\tssh-ed25519 {ED} a comment\n@revoked * ssh-ed25519 {ED2}\n@cert-authority *.ca.test ssh-ed25519 {ED}\n"
        ));
        assert_eq!(verdict(&kh, "127.0.0.3", 2222, &key(ED)), Verdict::Known);
        assert_eq!(
            verdict(&kh, "127.0.0.3", 22, &key(ED)),
            Verdict::Unknown { ca_only: false }
        );
        assert!(matches!(
            verdict(&kh, "127.0.0.4", 22, &key(ED2)),
            Verdict::Revoked { line: 5, .. }
        ));
        assert_eq!(
            verdict(&kh, "node.ca.test", 22, &key(ED)),
            Verdict::Unknown { ca_only: true }
        );
        assert_eq!(
            kh.lookup("127.0.0.4", 22).map(|l| l.recorded_types()),
            Ok(vec!["ssh-ed25519".to_string()])
        );
        let (_d, kh) = with(&format!("[127.0.0.3]:2222 ssh-ed25519 {ED2}\n"));
        assert!(matches!(
            verdict(&kh, "127.0.0.3", 2222, &key(ED)),
            Verdict::Changed {
                line: 1,
                same_type: true,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_byte_spoils_no_other_line_and_an_unreadable_file_trusts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("known_hosts");
        let mut bytes = b"# caf\xe9 (Latin-1)\n".to_vec();
        bytes.extend(format!("127.0.0.5 ssh-ed25519 {ED2}\n").as_bytes());
        std::fs::write(&f, bytes).expect("write");
        let kh = KnownHosts::new(Some(&f), None);
        // The recorded key is still seen: a different key is a changed one.
        assert!(matches!(
            verdict(&kh, "127.0.0.5", 22, &key(ED)),
            Verdict::Changed { .. }
        ));
        // A known_hosts "file" that cannot be read refuses every host.
        let kh = KnownHosts::new(Some(dir.path()), None);
        let e = kh.lookup("127.0.0.5", 22).err().unwrap_or_default();
        assert!(e.contains("cannot read the known_hosts file"), "{e}");
        assert!(kh.learn("127.0.0.5", 22, &key(ED)).is_err());
    }

    #[test]
    fn learning_appends_one_line_and_is_seen_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub/known_hosts");
        let kh = KnownHosts::new(Some(&f), None);
        assert_eq!(
            verdict(&kh, "127.0.0.9", 2200, &key(ED)),
            Verdict::Unknown { ca_only: false }
        );
        assert_eq!(
            kh.learn("127.0.0.9", 2200, &key(ED)).ok(),
            Some(Verdict::Known)
        );
        assert_eq!(verdict(&kh, "127.0.0.9", 2200, &key(ED)), Verdict::Known);
        // A second connection to the same name that saw it unknown cannot
        // add another key: under the lock it finds the first one.
        assert!(matches!(
            kh.learn("127.0.0.9", 2200, &key(ED2)),
            Ok(Verdict::Changed { .. })
        ));
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert_eq!(text, format!("[127.0.0.9]:2200 ssh-ed25519 {ED}\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        // A fresh reader sees it too; a file without a final newline gets one.
        let again = KnownHosts::new(Some(&f), None);
        assert_eq!(verdict(&again, "127.0.0.9", 2200, &key(ED)), Verdict::Known);
        std::fs::write(&f, format!("[127.0.0.9]:2200 ssh-ed25519 {ED}")).expect("write");
        let kh = KnownHosts::new(Some(&f), None);
        assert_eq!(kh.learn("h", 22, &key(ED2)).ok(), Some(Verdict::Known));
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(fingerprint(&key(ED)).starts_with("SHA256:"));
        assert_eq!(place(&f, 0), format!("{} (added by this run)", f.display()));
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
