//! OpenSSH `known_hosts` files for the native transport: the same format and
//! matching rules as `ssh` (patterns with `*`/`?` and `!`, `[host]:port` for
//! other ports, hashed `|1|salt|hash` names, `@revoked`), read once per run
//! and shared by every connection of the fan-out.
//!
//! The verdict is strict: a host is trusted only when one of its recorded
//! keys is the key it presented. A host with recorded keys of which none is
//! the presented one is refused even with `--accept-new-host-keys` (a key of
//! another type counts as changed, not new), and `@revoked` keys always are.

mod entries;
mod verdict;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use russh::keys::PublicKeyBase64;
use russh::keys::ssh_key::PublicKey;

use entries::{Entry, Marker, State, parse_file};
pub use entries::{lookup_name, patterns_match};
pub use verdict::{Lookup, Verdict, fingerprint, place};

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
                // Through fsx: a FIFO or a device is refused, not waited on.
                match crate::util::fsx::read_input(f) {
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
}
