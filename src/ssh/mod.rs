//! SSH through the system OpenSSH client: the user's `~/.ssh/config`, agent
//! and `known_hosts` apply. Host keys are checked strictly unless
//! `--accept-new-host-keys` (which adds unknown keys, never accepts changed
//! ones). No input reaches a local shell: `ssh` gets an argument vector, and
//! the remote command is built from quoted words.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::inventory::Host;

/// How SSH connections are made.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// A known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Add unknown host keys (`StrictHostKeyChecking=accept-new`).
    pub accept_new_host_keys: bool,
    /// Hosts checked at once.
    pub forks: usize,
    pub connect_timeout: Duration,
    /// A bound on one remote command, connection included.
    pub command_timeout: Duration,
    /// Extra `-o KEY=VALUE` options.
    pub options: Vec<String>,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            known_hosts: None,
            accept_new_host_keys: false,
            forks: 50,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(30),
            options: Vec::new(),
        }
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

/// The `ssh` argument vector for running `command` on `host`.
pub fn ssh_args(host: &Host, settings: &SshSettings, command: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!(
            "StrictHostKeyChecking={}",
            if settings.accept_new_host_keys {
                "accept-new"
            } else {
                "yes"
            }
        ),
        "-o".into(),
        format!(
            "ConnectTimeout={}",
            settings.connect_timeout.as_secs().max(1)
        ),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ];
    if let Some(kh) = &settings.known_hosts {
        a.push("-o".into());
        a.push(format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(key) = &host.key_path {
        a.push("-i".into());
        a.push(key.display().to_string());
        a.push("-o".into());
        a.push("IdentitiesOnly=yes".into());
    }
    for o in &settings.options {
        a.push("-o".into());
        a.push(o.clone());
    }
    a.push("-p".into());
    a.push(host.port.to_string());
    a.push("-l".into());
    a.push(host.user.clone());
    a.push("--".into());
    a.push(host.address.clone());
    a.push(command.to_string());
    a
}

/// Classifies an `ssh` failure (exit 255) from its stderr.
pub fn classify(stderr: &str) -> Cause {
    let s = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if any(&[
        "could not resolve hostname",
        "name or service not known",
        "temporary failure in name resolution",
        "no address associated with hostname",
    ]) {
        Cause::Dns
    } else if s.contains("connection refused") {
        Cause::Refused
    } else if any(&[
        "host key verification failed",
        "remote host identification has changed",
        "no matching host key",
        "host key is known for",
    ]) {
        Cause::HostKey
    } else if any(&[
        "permission denied",
        "too many authentication failures",
        "no more authentication methods",
        "no supported authentication methods",
    ]) {
        Cause::Auth
    } else if any(&["timed out", "no route to host", "network is unreachable"]) {
        Cause::Timeout
    } else {
        Cause::Other
    }
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
    let mut last = SshError {
        host: host.address.clone(),
        cause: Cause::Other,
        message: format!("`{}` resolves to no address", host.address),
    };
    for addr in addrs {
        let connect = tokio::net::TcpStream::connect(addr);
        let (cause, message) = match tokio::time::timeout(settings.connect_timeout, connect).await {
            Ok(Ok(_stream)) => return Ok(*addr),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
                Cause::Refused,
                format!(
                    "connection to {addr} refused: nothing listens on port {}",
                    addr.port()
                ),
            ),
            Ok(Err(e)) => {
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
            Err(_) => (
                Cause::Timeout,
                format!(
                    "no answer from {addr} within {}",
                    humantime::format_duration(settings.connect_timeout)
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

/// The last non-empty line of ssh's stderr, with a hint when OpenSSH said
/// the key file is readable by others (it then ignores the key).
fn stderr_summary(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("ssh exited with 255")
        .trim();
    if stderr.contains("UNPROTECTED PRIVATE KEY FILE") || stderr.contains("bad permissions") {
        format!("{line} (OpenSSH ignored the key: its file is readable by others; chmod 600 it)")
    } else {
        line.to_string()
    }
}

/// Runs `command` on `host` through the system `ssh`. A non-zero exit of
/// the command itself is `Ok` with its status; failures to connect or log
/// in are `Err` with their cause.
pub async fn exec(host: &Host, settings: &SshSettings, command: &str) -> Result<Output, SshError> {
    let started = Instant::now();
    let err = |cause, message: String| SshError {
        host: host.address.clone(),
        cause,
        message,
    };
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(ssh_args(host, settings, command))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::engine::child::die_with_parent(&mut cmd);
    let child = cmd.spawn().map_err(|e| {
        err(
            Cause::Other,
            format!("cannot start the OpenSSH client `ssh`: {e} (install openssh-client)"),
        )
    })?;
    let out = match tokio::time::timeout(settings.command_timeout, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(err(Cause::Other, format!("ssh failed: {e}"))),
        Err(_) => {
            return Err(err(
                Cause::Timeout,
                format!(
                    "no answer within {} (connect and run `{command}`)",
                    humantime::format_duration(settings.command_timeout)
                ),
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = out.status.code().unwrap_or(-1);
    if status == 255 {
        return Err(err(classify(&stderr), stderr_summary(&stderr)));
    }
    Ok(Output {
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    })
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
    fn causes() {
        assert_eq!(
            classify("ssh: Could not resolve hostname nope: Name or service not known"),
            Cause::Dns
        );
        assert_eq!(
            classify("ssh: connect to host 127.0.0.1 port 2: Connection refused"),
            Cause::Refused
        );
        assert_eq!(
            classify("ubuntu@127.0.0.1: Permission denied (publickey)."),
            Cause::Auth
        );
        assert_eq!(classify("Host key verification failed."), Cause::HostKey);
        assert_eq!(
            classify("ssh: connect to host 10.0.0.1 port 22: Connection timed out"),
            Cause::Timeout
        );
        assert_eq!(
            classify(
                "No ED25519 host key is known for [127.0.0.3]:22022 and you have requested strict checking.\nHost key verification failed."
            ),
            Cause::HostKey
        );
        assert_eq!(
            classify("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"),
            Cause::HostKey
        );
        assert_eq!(
            classify(
                "Connection timed out during banner exchange\nConnection to 127.0.0.15 port 40000 timed out"
            ),
            Cause::Timeout
        );
        assert_eq!(
            classify("ssh: connect to host 10.9.9.9 port 22: Network is unreachable"),
            Cause::Timeout
        );
        assert_eq!(
            classify(
                "ssh: Could not resolve hostname x.invalid: Temporary failure in name resolution"
            ),
            Cause::Dns
        );
        assert_eq!(
            classify("kex_exchange_identification: read: Connection reset by peer"),
            Cause::Other
        );
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

    #[test]
    fn key_permission_hint() {
        let text = "@ WARNING: UNPROTECTED PRIVATE KEY FILE! @\nLoad key \"/k\": bad permissions\nu@h: Permission denied (publickey).\n";
        assert_eq!(classify(text), Cause::Auth);
        assert!(stderr_summary(text).contains("chmod 600"));
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
