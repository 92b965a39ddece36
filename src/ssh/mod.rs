//! SSH to the inventory's hosts, through one of two transports:
//!
//! - `native` (the default): an in-process client ([`native`]) that connects
//!   exactly as the inventory says — address, port, user, `keyPath` (or the
//!   agent) — as mkectl does, one TCP connection per host reused for all of
//!   its commands; a fan-out over hundreds of hosts costs little more than
//!   the handshakes.
//! - `openssh`: the system `ssh` client ([`openssh`]), one process per
//!   command, for what only OpenSSH has: `~/.ssh/config`, `ProxyJump`,
//!   hardware keys, host certificates, `--ssh-option`.
//!
//! Both check host keys strictly against the OpenSSH `known_hosts` files
//! (`--accept-new-host-keys` adds unknown keys, never changed ones), and
//! neither passes input through a local shell; remote commands are built
//! from quoted words.

pub mod known_hosts;
pub mod mux;
pub mod native;
pub mod openssh;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::inventory::Host;

/// Which SSH client connects to the hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// In-process client: the inventory's address, port, user and keyPath,
    /// as mkectl connects; fast fan-out.
    #[default]
    Native,
    /// The system `ssh`: ~/.ssh/config, ProxyJump, hardware keys, --ssh-option.
    Openssh,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Native => "native",
            Transport::Openssh => "openssh",
        }
    }
}

/// How SSH connections are made.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub transport: Transport,
    /// A known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Add unknown host keys (`StrictHostKeyChecking=accept-new`).
    pub accept_new_host_keys: bool,
    /// Hosts checked at once.
    pub forks: usize,
    pub connect_timeout: Duration,
    /// A bound on one remote command (OpenSSH: connection included;
    /// native: each command, and the key exchange and login apart).
    pub command_timeout: Duration,
    /// Extra `-o KEY=VALUE` options (OpenSSH transport).
    pub options: Vec<String>,
    /// The home directory whose `.ssh/` holds the default keys and
    /// known_hosts (native transport).
    pub home: Option<PathBuf>,
    /// The known_hosts files, read once and shared by every connection.
    pub host_keys: Arc<OnceLock<known_hosts::KnownHosts>>,
    /// Key files, read once and shared (native transport).
    pub key_cache: native::KeyCache,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            transport: Transport::default(),
            known_hosts: None,
            accept_new_host_keys: false,
            forks: 50,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(30),
            options: Vec::new(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            host_keys: Arc::default(),
            key_cache: native::KeyCache::default(),
        }
    }
}

impl SshSettings {
    /// The known_hosts files of this run (read on first use).
    pub fn known_hosts_db(&self) -> known_hosts::KnownHosts {
        self.host_keys
            .get_or_init(|| {
                known_hosts::KnownHosts::new(self.known_hosts.as_deref(), self.home.as_deref())
            })
            .clone()
    }
}

/// Why a host could not be reached or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Dns,
    Refused,
    Timeout,
    Auth,
    HostKey,
    Sudo,
    Command,
    Other,
}

impl Cause {
    /// The stable snake_case name (JSON `cause` fields).
    pub fn name(self) -> &'static str {
        match self {
            Cause::Dns => "dns",
            Cause::Refused => "refused",
            Cause::Timeout => "timeout",
            Cause::Auth => "auth",
            Cause::HostKey => "host_key",
            Cause::Sudo => "sudo",
            Cause::Command => "command",
            Cause::Other => "other",
        }
    }

    /// The word people read.
    pub fn word(self) -> &'static str {
        match self {
            Cause::Dns => "dns",
            Cause::Refused => "refused",
            Cause::Timeout => "timeout",
            Cause::Auth => "auth",
            Cause::HostKey => "host key",
            Cause::Sudo => "sudo",
            Cause::Command => "command",
            Cause::Other => "error",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{host}: {message}")]
pub struct SshError {
    pub host: String,
    pub cause: Cause,
    pub message: String,
}

/// What a remote command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Quotes one word for a POSIX shell (the remote side runs the command
/// through the login shell).
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A connection to one host, reused for every command run on it (native);
/// with the OpenSSH transport each command is its own `ssh` process
/// (ControlMaster settings in `~/.ssh/config` apply).
pub enum Session {
    Native(Box<native::Conn>),
    Openssh(Box<(Host, SshSettings)>),
    /// OpenSSH with a ControlMaster mkeprep started: one connection for
    /// all of the host's commands.
    OpensshMux(Box<(Host, SshSettings, mux::Master)>),
}

impl Session {
    /// Connects and logs in (native), or prepares `ssh` invocations.
    pub async fn open(host: &Host, settings: &SshSettings) -> Result<Session, SshError> {
        match settings.transport {
            Transport::Native => {
                let addrs = resolve(host, settings).await?;
                Session::open_at(host, &addrs, settings).await
            }
            Transport::Openssh => Session::open_at(host, &[], settings).await,
        }
    }

    /// Like [`Session::open`], to addresses resolved already.
    pub async fn open_at(
        host: &Host,
        addrs: &[SocketAddr],
        settings: &SshSettings,
    ) -> Result<Session, SshError> {
        match settings.transport {
            Transport::Native => Ok(Session::Native(Box::new(
                native::Conn::open(host, addrs, settings).await?,
            ))),
            Transport::Openssh => Ok(Session::Openssh(Box::new((host.clone(), settings.clone())))),
        }
    }

    /// Like [`Session::open_at`] for a host that will run several commands:
    /// with OpenSSH, a ControlMaster connects and logs in now, and every
    /// command rides its connection (`addrs` may be empty: OpenSSH, or a
    /// proxy, resolves the name).
    pub async fn open_many(
        host: &Host,
        addrs: &[SocketAddr],
        settings: &SshSettings,
    ) -> Result<Session, SshError> {
        match settings.transport {
            Transport::Native if addrs.is_empty() => Session::open(host, settings).await,
            Transport::Native => Session::open_at(host, addrs, settings).await,
            Transport::Openssh => {
                let master = mux::Master::start(host, settings).await?;
                let riding = master.settings(settings, "no");
                Ok(Session::OpensshMux(Box::new((
                    host.clone(),
                    riding,
                    master,
                ))))
            }
        }
    }

    /// Runs one command. A non-zero exit of the command itself is `Ok` with
    /// its status; failures to connect or log in are `Err` with their cause.
    pub async fn exec(&mut self, command: &str) -> Result<Output, SshError> {
        match self {
            Session::Native(conn) => conn.exec(command).await,
            Session::Openssh(target) => openssh::exec(&target.0, &target.1, command).await,
            Session::OpensshMux(target) => openssh::exec(&target.0, &target.1, command).await,
        }
    }

    pub async fn close(self) {
        match self {
            Session::Native(conn) => conn.close().await,
            Session::OpensshMux(target) => target.2.stop().await,
            Session::Openssh(_) => {}
        }
    }
}

/// Runs one command on `host` over a connection of its own.
pub async fn exec(host: &Host, settings: &SshSettings, command: &str) -> Result<Output, SshError> {
    let mut session = Session::open(host, settings).await?;
    let out = session.exec(command).await;
    session.close().await;
    out
}

/// Like [`exec`], to addresses resolved already.
pub async fn exec_at(
    host: &Host,
    addrs: &[SocketAddr],
    settings: &SshSettings,
    command: &str,
) -> Result<Output, SshError> {
    let mut session = Session::open_at(host, addrs, settings).await?;
    let out = session.exec(command).await;
    session.close().await;
    out
}

/// The cause and message of a failed TCP connect.
pub(crate) fn connect_failure(addr: SocketAddr, e: &std::io::Error) -> (Cause, String) {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        return (
            Cause::Refused,
            format!(
                "connection to {addr} refused: nothing listens on port {}",
                addr.port()
            ),
        );
    }
    let unreachable = matches!(
        e.raw_os_error(),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ETIMEDOUT)
    );
    let cause = if unreachable {
        Cause::Timeout
    } else {
        Cause::Other
    };
    (cause, format!("cannot connect to {addr}: {e}"))
}

/// Whether connections go through a proxy (`ProxyJump`/`ProxyCommand` in
/// `--ssh-option`): then this machine need not resolve or reach the
/// addresses itself, and pre-checks from here would be wrong.
pub fn proxied(settings: &SshSettings) -> bool {
    settings.options.iter().any(|o| {
        let key = o.split(['=', ' ']).next().unwrap_or_default();
        key.eq_ignore_ascii_case("ProxyJump") || key.eq_ignore_ascii_case("ProxyCommand")
    })
}

/// Resolves the host's address (getaddrinfo, bounded by the connect
/// timeout). The error's cause is [`Cause::Dns`].
pub async fn resolve(host: &Host, settings: &SshSettings) -> Result<Vec<SocketAddr>, SshError> {
    let err = |message: String| SshError {
        host: host.address.clone(),
        cause: Cause::Dns,
        message,
    };
    let lookup = tokio::net::lookup_host((host.address.as_str(), host.port));
    match tokio::time::timeout(settings.connect_timeout, lookup).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(err(format!("`{}` resolves to no address", host.address)))
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(err(format!("cannot resolve `{}`: {e}", host.address))),
        Err(_) => Err(err(format!(
            "resolving `{}` took longer than {}",
            host.address,
            humantime::format_duration(settings.connect_timeout)
        ))),
    }
}

/// Opens (and closes) a TCP connection to the first address that answers,
/// bounded by the connect timeout per address. Distinguishes a closed port
/// ([`Cause::Refused`]) from one that does not answer ([`Cause::Timeout`]).
pub async fn tcp_probe(
    host: &Host,
    addrs: &[SocketAddr],
    settings: &SshSettings,
) -> Result<SocketAddr, SshError> {
    let (addr, _stream) = connect_first(host, addrs, settings.connect_timeout).await?;
    Ok(addr)
}

/// Connects to the first of `addrs` that answers, each within `timeout`:
/// the address and the stream, or why the last one failed (refused,
/// timeout, unreachable).
pub(crate) async fn connect_first(
    host: &Host,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(SocketAddr, tokio::net::TcpStream), SshError> {
    let mut last = SshError {
        host: host.address.clone(),
        cause: Cause::Other,
        message: format!("`{}` resolves to no address", host.address),
    };
    for addr in addrs {
        let connect = tokio::net::TcpStream::connect(addr);
        let (cause, message) = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(stream)) => return Ok((*addr, stream)),
            Ok(Err(e)) => connect_failure(*addr, &e),
            Err(_) => (
                Cause::Timeout,
                format!(
                    "no answer from {addr} within {}",
                    humantime::format_duration(timeout)
                ),
            ),
        };
        last = SshError {
            host: host.address.clone(),
            cause,
            message,
        };
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/var/x.tar"), "/var/x.tar");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn stable_cause_names() {
        assert_eq!(Cause::HostKey.name(), "host_key");
        assert_eq!(
            serde_json::to_value(Cause::HostKey).ok(),
            Some(serde_json::json!("host_key"))
        );
        assert_eq!(Cause::HostKey.word(), "host key");
    }

    #[test]
    fn proxies_turn_off_local_pre_checks() {
        let mut s = SshSettings::default();
        assert!(!proxied(&s));
        s.options = vec!["ServerAliveInterval=5".into(), "proxyjump=bastion".into()];
        assert!(proxied(&s));
        s.options = vec!["ProxyCommand ssh -W %h:%p b".into()];
        assert!(proxied(&s));
    }

    fn local(address: &str, port: u16) -> Host {
        Host {
            address: address.into(),
            port,
            user: "u".into(),
            key_path: None,
            private_address: None,
            private_interface: None,
            line: 1,
        }
    }

    #[tokio::test]
    async fn probes_tell_refused_from_open() {
        let settings = SshSettings {
            connect_timeout: Duration::from_secs(2),
            ..SshSettings::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
        let Ok(listener) = listener else {
            return;
        };
        let open = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let host = local("127.0.0.1", open);
        let addrs = resolve(&host, &settings).await.map_err(|e| e.message);
        assert_eq!(addrs.as_ref().map(Vec::len), Ok(1));
        let addrs = addrs.unwrap_or_default();
        assert!(tcp_probe(&host, &addrs, &settings).await.is_ok());
        drop(listener);
        let closed = tcp_probe(&host, &addrs, &settings)
            .await
            .map_err(|e| e.cause);
        assert_eq!(closed, Err(Cause::Refused));
        let missing = resolve(&local("no-such-host.invalid", 22), &settings).await;
        assert_eq!(missing.map_err(|e| e.cause).err(), Some(Cause::Dns));
    }
}
