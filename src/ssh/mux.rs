//! One OpenSSH connection for several commands to a host: a ControlMaster
//! that mkeprep starts itself (`ssh -N` with `ControlMaster=yes`), whose
//! socket lives in a private 0700 directory with a short path (`/tmp/
//! mkeprep-ssh-PID-N/m`, far below the 104 bytes a socket path may have);
//! each command is then an `ssh` that rides the master (`ControlMaster=no`),
//! with no handshake of its own.
//!
//! Cleanup on every exit path: [`Master::stop`] asks the master to exit
//! and removes the directory; dropping a [`Master`] (an error, a cancelled
//! step, Ctrl-C) kills it and removes the directory; the master dies with
//! mkeprep (`PR_SET_PDEATHSIG`) if mkeprep is killed, and the directory such
//! a kill leaves is removed by the next run that starts a master (its pid
//! is gone).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::openssh::{classify, ssh_args};
use super::{Cause, SshError, SshSettings};
use crate::inventory::Host;

const PREFIX: &str = "mkeprep-ssh-";

static NEXT: AtomicU64 = AtomicU64::new(0);
static SWEPT: std::sync::Once = std::sync::Once::new();

/// The directory masters' sockets go under: the temp dir when its path is
/// short and plain (OpenSSH expands `%` in ControlPath and splits option
/// values on blanks), else `/tmp`.
fn base() -> PathBuf {
    let t = std::env::temp_dir();
    let plain = t.to_str().is_some_and(|p| {
        p.len() <= 40
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
    });
    if plain { t } else { PathBuf::from("/tmp") }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes directories that killed runs left (their pid is gone), once per
/// process; only this user's.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let mine = {
            use std::os::unix::fs::MetadataExt;
            e.metadata().is_ok_and(|m| m.uid() == me && m.is_dir())
        };
        if mine && pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A new private (0700) directory for one master's socket.
fn private_dir() -> std::io::Result<PathBuf> {
    let base = base();
    SWEPT.call_once(|| sweep(&base));
    let dir = base.join(format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// A running ControlMaster for one host.
pub struct Master {
    dir: PathBuf,
    socket: PathBuf,
    child: Option<tokio::process::Child>,
}

impl Master {
    /// Starts the master and waits until it has logged in (its socket
    /// appears), within the connect and command timeouts. A failure to
    /// connect or log in is classified as for any `ssh`.
    pub async fn start(host: &Host, settings: &SshSettings) -> Result<Master, SshError> {
        let err = |cause, message: String| SshError {
            host: host.address.clone(),
            cause,
            message,
        };
        let dir = private_dir().map_err(|e| {
            err(
                Cause::Other,
                format!("cannot create a private directory for the SSH control socket: {e}"),
            )
        })?;
        let socket = dir.join("m");
        let mut master = Master {
            dir,
            socket,
            child: None,
        };
        // The master: no command (-N), the user's options, and ours.
        let mut args = ssh_args(host, &master.settings(settings, "yes"), "-")
            .map_err(|why| err(Cause::Other, why))?;
        args.pop();
        args.insert(0, "-N".into());
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        crate::util::child::die_with_parent(&mut cmd);
        let child = master.child.insert(cmd.spawn().map_err(|e| {
            err(
                Cause::Other,
                format!("cannot start the OpenSSH client `ssh`: {e} (install openssh-client)"),
            )
        })?);
        let limit = settings.connect_timeout + settings.command_timeout;
        let started = Instant::now();
        loop {
            if master.socket.exists() {
                return Ok(master);
            }
            if let Ok(Some(_)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr).await;
                }
                let line = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("the SSH control master exited")
                    .trim()
                    .to_string();
                return Err(err(classify(&stderr), line));
            }
            if started.elapsed() > limit {
                return Err(err(
                    Cause::Timeout,
                    format!(
                        "the SSH control master did not log in within {}",
                        humantime::format_duration(limit)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `settings` with this master's socket (`ControlMaster` `yes` for the
    /// master itself, `no` for the commands that ride it), ahead of the
    /// user's options so they win.
    pub fn settings(&self, settings: &SshSettings, role: &str) -> SshSettings {
        let mut s = settings.clone();
        s.options.splice(
            0..0,
            [
                format!("ControlMaster={role}"),
                format!("ControlPath={}", self.socket.display()),
                "ControlPersist=no".to_string(),
            ],
        );
        s
    }

    /// Asks the master to exit (it closes the connection), waits for it
    /// briefly, and removes the directory.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: a signal to our own child.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_private_short_and_swept_when_their_run_is_gone() {
        let d = private_dir().expect("dir");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&d)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o700));
        assert!(d.join("m").as_os_str().len() < 100);
        // A directory of a pid that does not exist is swept; ours is not.
        let stale = base().join(format!("{PREFIX}{}-0", i32::MAX - 7));
        let _ = std::fs::create_dir(&stale);
        sweep(&base());
        assert!(!stale.exists());
        assert!(d.exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
