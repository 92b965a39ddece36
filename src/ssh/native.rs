//! The native SSH transport: an in-process client (russh) that connects the
//! way mkectl does — the inventory's address, port, user and `keyPath`, or
//! the agent and the default keys when no `keyPath` is given — with strict
//! host-key checking against the OpenSSH `known_hosts` files.
//!
//! One TCP connection (TCP_NODELAY) per host, reused for every command run
//! on it; no process per host, so a fan-out over hundreds of hosts costs
//! little more than the handshakes themselves. Key exchange and ciphers are
//! russh's defaults (mlkem768x25519 first, then curve25519), less SHA-1
//! `ssh-rsa` host-key signatures, which OpenSSH 8.8 dropped too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle};
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::keys::{
    HashAlg, PrivateKeyWithHashAlg, agent::AgentIdentity, agent::client::AgentClient,
};
use russh::{ChannelMsg, Disconnect, Preferred};

use super::known_hosts::{KnownHosts, Lookup, Verdict, fingerprint, place};
use super::{Cause, Output, SshError, SshSettings};
use crate::inventory::Host;

/// What one stream of a command may keep (the rest is dropped).
const OUTPUT_CAP: usize = 1 << 20;

/// Why the handshake stopped: russh's own error, or our host-key verdict.
#[derive(Debug)]
enum HandshakeError {
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
struct Checker {
    address: String,
    port: u16,
    /// The entries that name this host, looked up before connecting.
    lookup: Lookup,
    known: KnownHosts,
    accept_new: bool,
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

/// An open, authenticated connection to one host.
pub struct Conn {
    handle: Handle<Checker>,
    address: String,
    settings: SshSettings,
}

fn error(host: &Host, cause: Cause, message: String) -> SshError {
    SshError {
        host: host.address.clone(),
        cause,
        message,
    }
}

/// The key exchange asks first for the host key types known_hosts records
/// for the host, as OpenSSH does, so a host with several keys presents the
/// one that can be checked.
fn preferred_for(types: &[String]) -> Preferred {
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

/// The keys to offer: the inventory's `keyPath` (through the agent when the
/// file is passphrase-protected), else the agent's and the default files.
enum Identity {
    File(PathBuf, Arc<russh::keys::PrivateKey>),
    Agent(PublicKey, String),
}

impl Identity {
    fn describe(&self) -> String {
        match self {
            Identity::File(p, _) => p.display().to_string(),
            Identity::Agent(_, comment) if comment.is_empty() => "an agent key".into(),
            Identity::Agent(_, comment) => format!("agent key {comment}"),
        }
    }
}

/// How long ssh-agent may take to list its keys or sign (a stale forwarded
/// socket, or a key that asks for confirmation).
const AGENT_LIMIT: Duration = Duration::from_secs(10);

type Agent = AgentClient<tokio::net::UnixStream>;

async fn agent_keys(
    host: &Host,
    only: Option<&PublicKey>,
) -> Result<(Option<Agent>, Vec<Identity>), SshError> {
    let Some(sock) = std::env::var_os("SSH_AUTH_SOCK") else {
        return Ok((None, Vec::new()));
    };
    let list = async {
        let mut agent = AgentClient::connect_env().await.ok()?;
        let ids = agent.request_identities().await.unwrap_or_default();
        Some((agent, ids))
    };
    let Some((agent, ids)) = tokio::time::timeout(AGENT_LIMIT, list).await.map_err(|_| {
        error(
            host,
            Cause::Auth,
            format!(
                "ssh-agent at {} did not list its keys within {}s (unset SSH_AUTH_SOCK if it is stale)",
                std::path::Path::new(&sock).display(),
                AGENT_LIMIT.as_secs()
            ),
        )
    })?
    else {
        return Ok((None, Vec::new()));
    };
    let keys = ids
        .into_iter()
        .filter_map(|id| match id {
            AgentIdentity::PublicKey { key, comment } => Some(Identity::Agent(key, comment)),
            AgentIdentity::Certificate { .. } => None,
        })
        .filter(|id| match (only, id) {
            (Some(want), Identity::Agent(k, _)) => k.key_data() == want.key_data(),
            _ => true,
        })
        .collect();
    Ok((Some(agent), keys))
}

/// A key file: usable as it is, or passphrase-protected (then only its
/// public half is known, and the agent must sign for it).
#[derive(Clone)]
enum KeyFile {
    Usable(Arc<russh::keys::PrivateKey>),
    Protected(Box<PublicKey>),
}

/// Key files read once per run (every host of a fan-out names the same
/// few), with what was wrong with the ones that could not be used.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<PathBuf, Result<KeyFile, String>>>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl KeyCache {
    fn load(&self, path: &Path) -> Result<KeyFile, String> {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| load_key(path))
            .clone()
    }
}

/// The public half of a passphrase-protected key: from the OpenSSH key
/// file itself, else from `<keyPath>.pub` (PEM files carry none).
fn protected_public(path: &Path) -> Option<PublicKey> {
    let text = std::fs::read_to_string(path).ok()?;
    if let Ok(k) = russh::keys::ssh_key::PrivateKey::from_openssh(&text) {
        return Some(k.public_key().clone());
    }
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let line = std::fs::read_to_string(pub_path).ok()?;
    let b64 = line.split_whitespace().nth(1)?;
    russh::keys::parse_public_key_base64(b64).ok()
}

fn load_key(path: &Path) -> Result<KeyFile, String> {
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(KeyFile::Usable(Arc::new(k))),
        Err(russh::keys::Error::KeyIsEncrypted) => protected_public(path)
            .map(|k| KeyFile::Protected(Box::new(k)))
            .ok_or_else(|| {
                format!(
                    "it is passphrase-protected and its public half is unknown (put it beside it as {}.pub, or use --ssh-transport openssh)",
                    path.display()
                )
            }),
        Err(russh::keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn identities(
    host: &Host,
    settings: &SshSettings,
) -> Result<(Option<Agent>, Vec<Identity>), SshError> {
    if let Some(path) = &host.key_path {
        return match settings.key_cache.load(path) {
            Ok(KeyFile::Usable(key)) => Ok((None, vec![Identity::File(path.clone(), key)])),
            Ok(KeyFile::Protected(public)) => {
                let (agent, keys) = agent_keys(host, Some(&public)).await?;
                if keys.is_empty() {
                    Err(error(
                        host,
                        Cause::Auth,
                        format!(
                            "keyPath {} is passphrase-protected and ssh-agent does not hold it (ssh-add {0}, or use --ssh-transport openssh)",
                            path.display()
                        ),
                    ))
                } else {
                    Ok((agent, keys))
                }
            }
            Err(why) => Err(error(
                host,
                Cause::Auth,
                format!("cannot use keyPath {}: {why}", path.display()),
            )),
        };
    }
    let (agent, mut keys) = agent_keys(host, None).await?;
    if let Some(home) = &settings.home {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = home.join(".ssh").join(name);
            if let Ok(KeyFile::Usable(key)) = settings.key_cache.load(&path) {
                keys.push(Identity::File(path, key));
            }
        }
    }
    Ok((agent, keys))
}

async fn authenticate(
    handle: &mut Handle<Checker>,
    host: &Host,
    settings: &SshSettings,
) -> Result<(), SshError> {
    let (mut agent, ids) = identities(host, settings).await?;
    let user = &host.user;
    if ids.is_empty() {
        return Err(error(
            host,
            Cause::Auth,
            format!(
                "Permission denied (publickey): no key to offer for {user} (set keyPath in hosts.yaml, or load a key into ssh-agent)"
            ),
        ));
    }
    let mut tried = Vec::new();
    // Asked once per connection, and only for RSA keys (it can wait 1 s).
    let mut rsa_hash: Option<Option<HashAlg>> = None;
    for id in &ids {
        let rsa = match id {
            Identity::File(_, k) => k.algorithm().is_rsa(),
            Identity::Agent(k, _) => k.algorithm().is_rsa(),
        };
        let hash = if rsa {
            if rsa_hash.is_none() {
                // No server-sig-algs extension: try rsa-sha2-256, never SHA-1 first.
                let best = handle.best_supported_rsa_hash().await.ok().flatten();
                rsa_hash = Some(best.unwrap_or(Some(HashAlg::Sha256)));
            }
            rsa_hash.flatten()
        } else {
            None
        };
        let result = match (id, agent.as_mut()) {
            (Identity::File(_, key), _) => handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(|e| e.to_string()),
            (Identity::Agent(key, _), Some(agent)) => {
                let sign = handle.authenticate_publickey_with(user, key.clone(), hash, agent);
                match tokio::time::timeout(AGENT_LIMIT, sign).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "ssh-agent did not sign within {}s",
                        AGENT_LIMIT.as_secs()
                    )),
                }
            }
            (Identity::Agent(..), None) => continue,
        };
        match result {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => tried.push(id.describe()),
            Err(e) => tried.push(format!("{} ({e})", id.describe())),
        }
    }
    Err(error(
        host,
        Cause::Auth,
        format!(
            "{user}@{}: Permission denied (publickey), tried {}",
            host.address,
            tried.join(", ")
        ),
    ))
}

fn handshake_failure(host: &Host, addr: SocketAddr, e: HandshakeError) -> SshError {
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

impl Conn {
    /// Connects to one of `addrs` (resolved already), checks the host key
    /// and logs in, within the connect timeout.
    pub async fn open(
        host: &Host,
        addrs: &[SocketAddr],
        settings: &SshSettings,
    ) -> Result<Conn, SshError> {
        let timeout = settings.connect_timeout;
        let known = settings.known_hosts_db();
        let lookup = known.lookup(&host.address, host.port).map_err(|why| {
            error(
                host,
                Cause::HostKey,
                format!("{why}; no host key can be checked"),
            )
        })?;
        let (peer, stream) = super::connect_first(host, addrs, timeout).await?;
        // Nagle and delayed ACKs would cost two ~40 ms stalls per handshake.
        let _ = stream.set_nodelay(true);
        // As OpenSSH's ConnectTimeout: the connect and the server's first
        // bytes (its version line) within --ssh-timeout; the key exchange
        // and login after it within the command timeout, since a busy
        // server can take a while to answer fifty logins at once.
        let mut first = [0u8; 4];
        match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => {
                return Err(error(
                    host,
                    Cause::Other,
                    format!(
                        "{peer} closed the connection before saying anything (sshd's MaxStartups, or a TCP wrapper refusing this machine)"
                    ),
                ));
            }
            Ok(Err(e)) => {
                let (cause, message) = super::connect_failure(peer, &e);
                return Err(error(host, cause, message));
            }
            Err(_) => {
                return Err(error(
                    host,
                    Cause::Timeout,
                    format!(
                        "{peer} accepts TCP connections, but sent no SSH banner within {}",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
        }
        let login_limit = settings.command_timeout;
        let config = Arc::new(client::Config {
            preferred: preferred_for(&lookup.recorded_types()),
            nodelay: true,
            inactivity_timeout: Some(settings.command_timeout),
            ..client::Config::default()
        });
        let checker = Checker {
            address: host.address.clone(),
            port: host.port,
            lookup,
            known,
            accept_new: settings.accept_new_host_keys,
        };
        let login = async {
            let mut handle = client::connect_stream(config, stream, checker)
                .await
                .map_err(|e| handshake_failure(host, peer, e))?;
            authenticate(&mut handle, host, settings).await?;
            Ok::<_, SshError>(handle)
        };
        let handle = match tokio::time::timeout(login_limit, login).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(error(
                    host,
                    Cause::Timeout,
                    format!(
                        "{peer} sent its SSH banner, but the key exchange and login did not finish within {}",
                        humantime::format_duration(login_limit)
                    ),
                ));
            }
        };
        Ok(Conn {
            handle,
            address: host.address.clone(),
            settings: settings.clone(),
        })
    }

    /// Runs one command on a new channel of the connection, bounded by the
    /// command timeout. A non-zero exit is `Ok` with its status.
    pub async fn exec(&mut self, command: &str) -> Result<Output, SshError> {
        let started = Instant::now();
        let err = |cause, message: String| SshError {
            host: self.address.clone(),
            cause,
            message,
        };
        let run = async {
            let mut channel = self.handle.channel_open_session().await.map_err(|e| {
                err(
                    Cause::Other,
                    format!("cannot open an SSH session channel: {e}"),
                )
            })?;
            channel
                .exec(true, command)
                .await
                .map_err(|e| err(Cause::Other, format!("cannot start `{command}`: {e}")))?;
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            let mut status = None;
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => keep(&mut stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => keep(&mut stderr, &data),
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        keep(
                            &mut stderr,
                            format!("killed by signal {signal_name:?}\n").as_bytes(),
                        );
                        status = Some(-1);
                    }
                    ChannelMsg::Failure => {
                        return Err(err(
                            Cause::Other,
                            format!("the host refused to run `{command}`"),
                        ));
                    }
                    _ => {}
                }
            }
            let Some(status) = status else {
                return Err(err(
                    Cause::Other,
                    format!("the connection closed before `{command}` reported its exit status"),
                ));
            };
            Ok(Output {
                status,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
                elapsed: started.elapsed(),
            })
        };
        let limit = self.settings.command_timeout;
        match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            // Logged in: the network is fine, the command hangs.
            Err(_) => Err(err(
                Cause::Command,
                format!(
                    "logged in, but `{command}` did not finish within {}",
                    humantime::format_duration(limit)
                ),
            )),
        }
    }

    /// Says goodbye; a host that does not listen any more is no error.
    pub async fn close(self) {
        let bye = self.handle.disconnect(Disconnect::ByApplication, "", "en");
        let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    }
}

fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = OUTPUT_CAP.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
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

    #[test]
    fn output_is_capped() {
        let mut buf = Vec::new();
        keep(&mut buf, &vec![b'x'; OUTPUT_CAP - 1]);
        keep(&mut buf, b"abc");
        assert_eq!(buf.len(), OUTPUT_CAP);
    }
}
