//! What `known_hosts` says of the key a host presented, and how its
//! entries and keys are named in messages.

use std::path::{Path, PathBuf};

use russh::keys::HashAlg;
use russh::keys::ssh_key::PublicKey;

use super::entries::{Entry, Marker};

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

/// The known_hosts entries that name one host, looked up once per
/// connection.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub(super) entries: Vec<Entry>,
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

/// Where a line came from, for messages: `file:line`, or a line this run
/// added.
pub fn place(file: &Path, line: usize) -> String {
    if line == 0 {
        format!("{} (added by this run)", file.display())
    } else {
        format!("{}:{line}", file.display())
    }
}

/// `SHA256:…`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}
