//! SSH through the system OpenSSH client: the user's `~/.ssh/config`, agent
//! and `known_hosts` apply. Host keys are checked strictly unless
//! `--accept-new-host-keys` (which adds unknown keys, never accepts changed
//! ones). No input reaches a local shell: `ssh` gets an argument vector, and
//! the remote command is built from quoted words.

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
    if s.contains("could not resolve hostname")
        || s.contains("name or service not known")
        || s.contains("temporary failure in name resolution")
    {
        Cause::Dns
    } else if s.contains("connection refused") {
        Cause::Refused
    } else if s.contains("timed out") || s.contains("no route to host") {
        Cause::Timeout
    } else if s.contains("host key verification failed")
        || s.contains("remote host identification has changed")
        || s.contains("no matching host key")
    {
        Cause::HostKey
    } else if s.contains("permission denied")
        || s.contains("too many authentication failures")
        || s.contains("no more authentication methods")
    {
        Cause::Auth
    } else {
        Cause::Other
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
        let cause = classify(&stderr);
        let line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ssh exited with 255")
            .trim();
        return Err(err(cause, line.to_string()));
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
    }
}
