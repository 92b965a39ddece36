//! The OpenSSH transport: one `ssh` process per command, so the user's
//! `~/.ssh/config`, agent, `ProxyJump`, ControlMaster and hardware keys all
//! apply, and `--ssh-option KEY=VALUE` passes `-o` options through. Host
//! keys are checked strictly unless `--accept-new-host-keys` (which adds
//! unknown keys, never accepts changed ones). No input reaches a local
//! shell: `ssh` gets an argument vector, and the remote command is built
//! from quoted words.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use super::{Cause, Output, SshError, SshSettings};
use crate::inventory::Host;

/// A file name as OpenSSH must be given it. OpenSSH expands `~`, `%`
/// tokens (`%r`, `%h`, …) and `${VAR}` in the file names of `IdentityFile`
/// and `UserKnownHostsFile`, and splits their values into words: the path is made absolute (no `~`) and `%` is
/// doubled; `${`, which OpenSSH cannot be told to leave alone, a control
/// character and a name that is not UTF-8 are refused.
pub fn ssh_path(p: &Path, what: &str) -> Result<String, String> {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let Some(text) = abs.to_str() else {
        return Err(format!(
            "{what} {} is not UTF-8, and OpenSSH reads file names as text: rename it, or use --ssh-transport native",
            abs.display()
        ));
    };
    if text.contains("${") {
        return Err(format!(
            "{what} {text} holds `${{`, which OpenSSH expands as an environment variable and cannot be told not to: rename it, or use --ssh-transport native"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{what} {text:?} holds a control character, which OpenSSH cannot be given: rename it, or use --ssh-transport native"
        ));
    }
    Ok(text.replace('%', "%%"))
}

/// The value of a `-o KEY=VALUE` that OpenSSH splits into words: one
/// double-quoted word, `"` and `\` escaped.
fn one_word(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `ssh` argument vector for running `command` on `host`; `Err` when a
/// path cannot be passed to OpenSSH safely.
pub fn ssh_args(host: &Host, settings: &SshSettings, command: &str) -> Result<Vec<String>, String> {
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
        a.push(format!(
            "UserKnownHostsFile={}",
            one_word(&ssh_path(kh, "--known-hosts")?)
        ));
    }
    if let Some(key) = &host.key_path {
        // Not `-i`: OpenSSH checks that file before expanding its name,
        // so a name holding `%` can be given only as an option.
        a.push("-o".into());
        a.push(format!(
            "IdentityFile={}",
            one_word(&ssh_path(key, "keyPath")?)
        ));
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
    Ok(a)
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
    let args = ssh_args(host, settings, command).map_err(|why| err(Cause::Other, why))?;
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::util::child::die_with_parent(&mut cmd);
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
    fn paths_are_escaped_for_openssh_or_refused() {
        assert_eq!(
            ssh_path(Path::new("/k/id %r%%"), "keyPath").unwrap(),
            "/k/id %%r%%%%"
        );
        assert!(
            ssh_path(Path::new("/k/${HOME}"), "keyPath")
                .unwrap_err()
                .contains("`${`")
        );
        assert!(ssh_path(Path::new("/k/a\nb"), "keyPath").is_err());
        assert!(
            ssh_path(Path::new("rel/x"), "keyPath")
                .unwrap()
                .starts_with('/')
        );
        assert_eq!(one_word(r#"/a b/"q"\x"#), r#""/a b/\"q\"\\x""#);
    }

    #[test]
    fn key_permission_hint() {
        let text = "@ WARNING: UNPROTECTED PRIVATE KEY FILE! @\nLoad key \"/k\": bad permissions\nu@h: Permission denied (publickey).\n";
        assert_eq!(classify(text), Cause::Auth);
        assert!(stderr_summary(text).contains("chmod 600"));
    }
}
