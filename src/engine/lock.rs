//! The state directory's lock: one run at a time. The lock is an OS file
//! lock (released by the kernel when the holder dies, so a killed run never
//! leaves a stale lock behind); the file also names the holder.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::fsx::open_private;

/// The lock file in the state directory.
pub const LOCK_FILE: &str = "lock";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub started: String,
    #[serde(default)]
    pub host: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}, started {}", self.pid, self.started)?;
        if !self.host.is_empty() {
            write!(f, " on {}", self.host)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another mkeprep run holds the lock on {dir} ({holder}); wait for it to finish, or use another --state-dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LockError {
    pub fn exit_code(&self) -> i32 {
        match self {
            LockError::Held { .. } => crate::model::exit::LOCKED,
            LockError::Io { .. } => crate::model::exit::FAILED,
        }
    }
}

/// Held for the life of a run; dropping it releases the lock.
pub struct RunLock {
    file: File,
    dir: PathBuf,
    /// A holder recorded by an earlier run that died without cleaning up.
    pub stale: Option<Holder>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl RunLock {
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Taking the lock and recording the holder happen under a brief lock
        // of the directory itself, and so does looking at a held lock: a run
        // that finds the lock held always reads a complete holder record.
        let _guard = DirGuard::lock(dir).map_err(io)?;
        let mut file = open_private(&path, false).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str::<Holder>(text.trim())
                    .map(|h| h.to_string())
                    .unwrap_or_else(|_| "holder unknown".to_string());
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let stale = serde_json::from_str::<Holder>(text.trim()).ok();
        let me = Holder {
            pid: std::process::id(),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            host: hostname(),
        };
        let line = serde_json::to_string(&me).unwrap_or_default();
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(RunLock {
            file,
            dir: dir.to_path_buf(),
            stale,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the holder so the next run does not report it as stale.
        let _guard = DirGuard::lock(&self.dir);
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// An exclusive lock of the state directory, held only while the lock
/// file is taken, recorded, read or released (microseconds), so that no
/// run sees the lock held but its holder not yet recorded. The kernel
/// releases it if the process dies.
struct DirGuard(File);

impl DirGuard {
    fn lock(dir: &Path) -> std::io::Result<DirGuard> {
        let f = File::open(dir)?;
        f.lock()?;
        Ok(DirGuard(f))
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs racing for the lock: exactly one gets it, and every other one
    /// names it (the holder was once read before it had recorded itself,
    /// giving "holder unknown").
    #[test]
    fn racing_acquirers_get_one_lock_and_always_a_named_holder() {
        for _ in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(4);
            let results: Vec<Result<RunLock, LockError>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            RunLock::acquire(dir.path())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
            for r in &results {
                if let Err(e) = r {
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("pid {}", std::process::id())),
                        "{text}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_dead_holder_is_reported_as_stale_and_a_clean_release_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Holder {
            pid: 4_000_000,
            started: "2026-01-01T00:00:00Z".into(),
            host: String::new(),
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.stale.as_ref(), Some(&dead));
        drop(lock);
        assert!(RunLock::acquire(dir.path()).unwrap().stale.is_none());
    }
}
