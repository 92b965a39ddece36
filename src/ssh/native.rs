//! The native SSH transport: an in-process client (russh) that connects the
//! way mkectl does — the inventory's address, port, user and `keyPath`, or
//! the agent and the default keys when no `keyPath` is given — with strict
//! host-key checking against the OpenSSH `known_hosts` files.
//!
//! One TCP connection (TCP_NODELAY) per host, reused for every command run
//! on it; no process per host, so a fan-out over hundreds of hosts costs
//! little more than the handshakes themselves. Key exchange and ciphers are
//! russh's defaults (mlkem768x25519 first, then curve25519); nothing is
//! weakened.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle};
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, agent::AgentIdentity, agent::client::AgentClient};
use russh::{ChannelMsg, Disconnect, Preferred};

use super::known_hosts::{KnownHosts, Verdict, fingerprint};
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
    known: KnownHosts,
    accept_new: bool,
}

impl Checker {
    fn judge(&self, key: &PublicKey) -> Result<bool, HandshakeError> {
        let (addr, port) = (&self.address, self.port);
        let print = fingerprint(key);
        let alg = key.algorithm();
        let files = self
            .known
            .files()
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match self.known.verdict(addr, port, key) {
            Verdict::Known => Ok(true),
            Verdict::Revoked { file, line } => Err(HandshakeError::HostKey(format!(
                "the {alg} host key of [{addr}]:{port} ({print}) is marked @revoked in {}:{line}",
                file.display()
            ))),
            Verdict::Changed { file, line } => Err(HandshakeError::HostKey(format!(
                "REMOTE HOST IDENTIFICATION HAS CHANGED: [{addr}]:{port} presented the {alg} key {print}, but {}:{line} records another key for it (refused, also with --accept-new-host-keys)",
                file.display()
            ))),
            Verdict::Unknown { .. } if self.accept_new => self
                .known
                .learn(addr, port, key)
                .map(|_| true)
                .map_err(|e| {
                    HandshakeError::HostKey(format!(
                        "cannot add the host key of [{addr}]:{port} to known_hosts: {e}"
                    ))
                }),
            Verdict::Unknown { ca_only } => {
                let ca = if ca_only {
                    " (only a @cert-authority line names it: host certificates need --ssh-transport openssh)"
                } else {
                    ""
                };
                Err(HandshakeError::HostKey(format!(
                    "No {alg} host key is known for [{addr}]:{port} (it presented {print}) in {files}{ca}; host key verification failed"
                )))
            }
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
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => self.judge(key),
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

async fn tcp(
    host: &Host,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<tokio::net::TcpStream, SshError> {
    let mut last = error(
        host,
        Cause::Other,
        format!("`{}` resolves to no address", host.address),
    );
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Nagle and delayed ACKs would cost two ~40 ms stalls per handshake.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                let (cause, message) = super::connect_failure(*addr, &e);
                last = error(host, cause, message);
            }
            Err(_) => {
                last = error(
                    host,
                    Cause::Timeout,
                    format!(
                        "no answer from {addr} within {}",
                        humantime::format_duration(timeout)
                    ),
                );
            }
        }
    }
    Err(last)
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

async fn agent_keys(
    only: Option<&PublicKey>,
) -> (Option<AgentClient<tokio::net::UnixStream>>, Vec<Identity>) {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return (None, Vec::new());
    }
    let Ok(mut agent) = AgentClient::connect_env().await else {
        return (None, Vec::new());
    };
    let ids = agent.request_identities().await.unwrap_or_default();
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
    (Some(agent), keys)
}

/// A key file: usable as it is, or passphrase-protected (then only its
/// public half is known, and the agent must sign for it).
enum KeyFile {
    Usable(Arc<russh::keys::PrivateKey>),
    Protected(Box<PublicKey>),
}

fn load_key(path: &Path) -> Result<KeyFile, String> {
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => Ok(KeyFile::Usable(Arc::new(k))),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            russh::keys::ssh_key::PrivateKey::from_openssh(&text)
                .map(|k| KeyFile::Protected(Box::new(k.public_key().clone())))
                .map_err(|_| {
                    "it is passphrase-protected (load it into ssh-agent, or use --ssh-transport openssh)"
                        .to_string()
                })
        }
        Err(russh::keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn identities(
    host: &Host,
    home: Option<&Path>,
) -> Result<(Option<AgentClient<tokio::net::UnixStream>>, Vec<Identity>), SshError> {
    if let Some(path) = &host.key_path {
        return match load_key(path) {
            Ok(KeyFile::Usable(key)) => Ok((None, vec![Identity::File(path.clone(), key)])),
            Ok(KeyFile::Protected(public)) => {
                let (agent, keys) = agent_keys(Some(&public)).await;
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
    let (agent, mut keys) = agent_keys(None).await;
    if let Some(home) = home {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = home.join(".ssh").join(name);
            if let Ok(KeyFile::Usable(key)) = load_key(&path) {
                keys.push(Identity::File(path, key));
            }
        }
    }
    Ok((agent, keys))
}

async fn authenticate(
    handle: &mut Handle<Checker>,
    host: &Host,
    home: Option<&Path>,
) -> Result<(), SshError> {
    let (mut agent, ids) = identities(host, home).await?;
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
    for id in &ids {
        let rsa = match id {
            Identity::File(_, k) => k.algorithm().is_rsa(),
            Identity::Agent(k, _) => k.algorithm().is_rsa(),
        };
        let hash = if rsa {
            handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        let result = match (id, agent.as_mut()) {
            (Identity::File(_, key), _) => handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(|e| e.to_string()),
            (Identity::Agent(key, _), Some(agent)) => handle
                .authenticate_publickey_with(user, key.clone(), hash, agent)
                .await
                .map_err(|e| e.to_string()),
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
        HandshakeError::Ssh(russh::Error::IO(io)) => {
            let (cause, message) = super::connect_failure(addr, &io);
            let cause = if cause == Cause::Other {
                Cause::Other
            } else {
                cause
            };
            error(host, cause, format!("SSH handshake with {addr}: {message}"))
        }
        HandshakeError::Ssh(e) => error(
            host,
            Cause::Other,
            format!("SSH handshake with {addr}: {e}"),
        ),
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
        let stream = tcp(host, addrs, timeout).await?;
        let peer = stream.peer_addr().unwrap_or_else(|_| addrs[0]);
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
                        "the server sent no SSH banner within {}",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
        }
        let login_limit = settings.command_timeout;
        let known = settings.known_hosts_db();
        let config = Arc::new(client::Config {
            preferred: preferred_for(&known.recorded_types(&host.address, host.port)),
            nodelay: true,
            inactivity_timeout: Some(settings.command_timeout),
            ..client::Config::default()
        });
        let checker = Checker {
            address: host.address.clone(),
            port: host.port,
            known,
            accept_new: settings.accept_new_host_keys,
        };
        let login = async {
            let mut handle = client::connect_stream(config, stream, checker)
                .await
                .map_err(|e| handshake_failure(host, peer, e))?;
            authenticate(&mut handle, host, settings.home.as_deref()).await?;
            Ok::<_, SshError>(handle)
        };
        let handle = match tokio::time::timeout(login_limit, login).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(error(
                    host,
                    Cause::Timeout,
                    format!(
                        "{peer} answered, but the SSH key exchange and login did not finish within {}",
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
            Err(_) => Err(err(
                Cause::Timeout,
                format!(
                    "`{command}` did not finish within {}",
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
        // Nothing is dropped, only reordered.
        assert_eq!(
            preferred_for(&["ssh-rsa".into()]).key.len(),
            Preferred::default().key.len()
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
