//! Host-key checking for the native transport: the server's key against
//! the OpenSSH `known_hosts` files (learning an unknown one with
//! `--accept-new-host-keys`), the host-key types asked for first in the key
//! exchange, and what a failed handshake means.

use std::net::SocketAddr;

use russh::Preferred;
use russh::client;
use russh::keys::ssh_key::{Algorithm, PublicKey};

use super::error;
use crate::inventory::Host;
use crate::ssh::known_hosts::{KnownHosts, Lookup, Verdict, fingerprint, place};
use crate::ssh::{Cause, SshError};

/// Why the handshake stopped: russh's own error, or our host-key verdict.
#[derive(Debug)]
pub(super) enum HandshakeError {
    Ssh(russh::Error),
    HostKey(String),
}

impl From<russh::Error> for HandshakeError {
    fn from(e: russh::Error) -> Self {
        HandshakeError::Ssh(e)
    }
}

/// Checks the server's key against known_hosts, adding an unknown one when
/// `--accept-new-host-keys` says so.
pub(super) struct Checker {
    pub(super) address: String,
    pub(super) port: u16,
    /// The entries that name this host, looked up before connecting.
    pub(super) lookup: Lookup,
    pub(super) known: KnownHosts,
    pub(super) accept_new: bool,
}

impl Checker {
    fn refusal(&self, key: &PublicKey, verdict: Verdict) -> Option<String> {
        let (addr, port) = (&self.address, self.port);
        let print = fingerprint(key);
        let alg = key.algorithm();
        match verdict {
            Verdict::Known => None,
            Verdict::Revoked { file, line } => Some(format!(
                "the {alg} host key of [{addr}]:{port} ({print}) is marked @revoked in {}",
                place(&file, line)
            )),
            Verdict::Changed {
                file,
                line,
                same_type: true,
                ..
            } => Some(format!(
                "REMOTE HOST IDENTIFICATION HAS CHANGED: [{addr}]:{port} presented the {alg} key {print}, but {} records another {alg} key for it (refused, also with --accept-new-host-keys)",
                place(&file, line)
            )),
            Verdict::Changed {
                file,
                line,
                recorded,
                ..
            } => Some(format!(
                "known_hosts records only {} keys for [{addr}]:{port} (first at {}), and it presented the {alg} key {print} (refused, also with --accept-new-host-keys: a host that changes its key type is checked by a person)",
                recorded.join("/"),
                place(&file, line)
            )),
            Verdict::Unknown { ca_only } => {
                let files = self
                    .known
                    .files()
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let ca = if ca_only {
                    " (only a @cert-authority line names it: host certificates need --ssh-transport openssh)"
                } else {
                    ""
                };
                Some(format!(
                    "No {alg} host key is known for [{addr}]:{port} (it presented {print}) in {files}{ca}; host key verification failed"
                ))
            }
        }
    }

    async fn judge(&self, key: &PublicKey) -> Result<bool, HandshakeError> {
        let verdict = match self.lookup.verdict(key) {
            Verdict::Unknown { .. } if self.accept_new => {
                // Decided again under the store's write lock, off the
                // async workers (it writes the file).
                let (known, addr, port, k) = (
                    self.known.clone(),
                    self.address.clone(),
                    self.port,
                    key.clone(),
                );
                let learnt = tokio::task::spawn_blocking(move || known.learn(&addr, port, &k))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|r| r);
                learnt.map_err(|e| {
                    HandshakeError::HostKey(format!(
                        "cannot add the host key of [{}]:{} to known_hosts: {e}",
                        self.address, self.port
                    ))
                })?
            }
            v => v,
        };
        match self.refusal(key, verdict) {
            None => Ok(true),
            Some(why) => Err(HandshakeError::HostKey(why)),
        }
    }
}

impl client::Handler for Checker {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => self.judge(key).await,
            russh::keys::PublicKeyOrCertificate::Certificate(_) => Err(HandshakeError::HostKey(
                "the host presented a certificate, which the native transport does not check: use --ssh-transport openssh".into(),
            )),
        }
    }
}

/// The key exchange asks first for the host key types known_hosts records
/// for the host, as OpenSSH does, so a host with several keys presents the
/// one that can be checked.
pub(super) fn preferred_for(types: &[String]) -> Preferred {
    let mut preferred = Preferred::default();
    // No SHA-1 `ssh-rsa` host-key signatures (OpenSSH 8.8 dropped them).
    let strong: Vec<Algorithm> = preferred
        .key
        .iter()
        .filter(|a| !matches!(a, Algorithm::Rsa { hash: None }))
        .cloned()
        .collect();
    preferred.key = strong.into();
    if types.is_empty() {
        return preferred;
    }
    let recorded = |a: &Algorithm| {
        let name = match a {
            Algorithm::Rsa { .. } => "ssh-rsa".to_string(),
            other => other.as_str().to_string(),
        };
        types.contains(&name)
    };
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
        preferred.key.iter().cloned().partition(|a| recorded(a));
    first.extend(rest);
    preferred.key = first.into();
    preferred
}

pub(super) fn handshake_failure(host: &Host, addr: SocketAddr, e: HandshakeError) -> SshError {
    match e {
        HandshakeError::HostKey(m) => error(host, Cause::HostKey, m),
        HandshakeError::Ssh(russh::Error::NoCommonAlgo { kind, theirs, .. }) => {
            // No host key type in common is a host-key problem, as OpenSSH
            // reports it ("no matching host key type found").
            let cause = if matches!(kind, russh::AlgorithmKind::Key) {
                Cause::HostKey
            } else {
                Cause::Other
            };
            error(
                host,
                cause,
                format!(
                    "SSH handshake with {addr} failed: no {kind:?} algorithm in common (the server offers {})",
                    theirs.join(", ")
                ),
            )
        }
        HandshakeError::Ssh(e) => {
            let timed_out =
                matches!(&e, russh::Error::IO(io) if io.raw_os_error() == Some(libc::ETIMEDOUT));
            error(
                host,
                if timed_out {
                    Cause::Timeout
                } else {
                    Cause::Other
                },
                format!("SSH handshake with {addr} failed: {e}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_host_key_types_go_first() {
        let p = preferred_for(&["ssh-rsa".into()]);
        assert!(matches!(p.key[0], Algorithm::Rsa { .. }), "{:?}", p.key);
        let p = preferred_for(&["ecdsa-sha2-nistp256".into()]);
        assert_eq!(p.key[0].as_str(), "ecdsa-sha2-nistp256");
        let p = preferred_for(&[]);
        assert_eq!(p.key[0], Algorithm::Ed25519);
        // Reordered, and SHA-1 `ssh-rsa` signatures dropped.
        assert_eq!(
            preferred_for(&["ssh-rsa".into()]).key.len(),
            Preferred::default().key.len() - 1
        );
        assert!(
            !preferred_for(&[])
                .key
                .iter()
                .any(|a| matches!(a, Algorithm::Rsa { hash: None }))
        );
        // The key exchange itself stays the library's safe default.
        assert_eq!(
            preferred_for(&["ssh-rsa".into()]).kex,
            Preferred::default().kex
        );
    }
}
