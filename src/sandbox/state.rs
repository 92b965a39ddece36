//! The simulated cluster's persistent state: the config TOML (byte for
//! byte), the backup history, the files on nodes, and the ports in use, kept
//! in the sandbox directory so a later start sees what an earlier run did.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config;
use super::files::{read_private, write_private};
use super::options::{BackupHistory, BackupOutcome, FileKind, SandboxOptions};
use super::topology::Topology;
use super::{SandboxError, random_id};

const FORMAT: u32 = 1;
const STATE_FILE: &str = "state.json";
const CONFIG_FILE: &str = "config.toml";

/// Where a backup stands, as `backupState` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackupState {
    InProgress,
    Success,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub id: String,
    pub encrypted: bool,
    pub file_name: String,
    pub log_file_name: String,
    pub backup_path: String,
    /// Node number (1-based) where the backup was written.
    pub node: u32,
    pub node_location: String,
    pub state: BackupState,
    pub short_error: String,
    pub created_ms: u64,
    pub completed_ms: Option<u64>,
    /// When an IN_PROGRESS backup ends, and how.
    pub due_ms: u64,
    pub outcome: BackupOutcome,
}

impl Backup {
    /// The API's JSON shape (facts §C.2).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "encrypted": self.encrypted,
            "fileName": self.file_name,
            "logFileName": self.log_file_name,
            "backupPath": self.backup_path,
            "backupState": self.state,
            "nodeLocation": self.node_location,
            "shortError": self.short_error,
            "created_at": rfc3339(self.created_ms),
            "completed_at": self.completed_ms.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339),
        })
    }
}

/// A file on a simulated node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimFile {
    pub node: u32,
    pub path: String,
    pub kind: FileKind,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub format: u32,
    pub backups: Vec<Backup>,
    pub files: Vec<SimFile>,
    pub api_port: Option<u16>,
    pub ssh_ports: Vec<u16>,
    /// Config PUTs received so far (names the saved body files).
    pub config_puts: u32,
    /// A KDD conversion under way: like a real cluster, it completes at its
    /// time whether or not the client (or this process) is still there.
    #[serde(default)]
    pub pending_kdd: Option<PendingKdd>,
}

/// A conversion to KDD that was accepted and completes at `done_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingKdd {
    /// The configuration the cluster has once the conversion is done.
    pub config: String,
    pub done_ms: u64,
}

/// The state plus the config text, and where both live.
#[derive(Debug)]
pub struct Cluster {
    pub data: Persisted,
    pub config: String,
    dir: PathBuf,
}

impl Cluster {
    /// Loads the state from `dir`, or builds a fresh cluster from `opts`.
    /// The flag says whether the state was loaded.
    pub fn load_or_init(
        dir: &Path,
        opts: &SandboxOptions,
        topo: &Topology,
    ) -> Result<(Cluster, bool), SandboxError> {
        let state_path = dir.join(STATE_FILE);
        let config_path = dir.join(CONFIG_FILE);
        if let Some(text) = read_private(&state_path)? {
            let bad = |reason: String| SandboxError::State {
                path: state_path.clone(),
                reason,
            };
            let data: Persisted = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            if data.format != FORMAT {
                return Err(bad(format!("unknown format {}", data.format)));
            }
            let config = read_private(&config_path)?.ok_or_else(|| {
                SandboxError::io("read", &config_path, std::io::ErrorKind::NotFound.into())
            })?;
            return Ok((
                Cluster {
                    data,
                    config,
                    dir: dir.to_path_buf(),
                },
                true,
            ));
        }
        let cluster = Cluster {
            data: initial_state(opts, topo, now_ms()),
            config: config::default_config(opts),
            dir: dir.to_path_buf(),
        };
        cluster.save()?;
        Ok((cluster, false))
    }

    /// Writes the config and the state (each atomically, 0600).
    pub fn save(&self) -> Result<(), SandboxError> {
        let json = serde_json::to_vec_pretty(&self.data).map_err(|e| SandboxError::State {
            path: self.dir.join(STATE_FILE),
            reason: e.to_string(),
        })?;
        // The config first, the state last: the state file is the commit
        // point (its existence marks an initialised cluster, and a pending
        // conversion in it is applied again, idempotently, after a crash
        // between the two writes).
        write_private(&self.dir.join(CONFIG_FILE), self.config.as_bytes())?;
        write_private(&self.dir.join(STATE_FILE), &json)
    }

    /// Finishes the backups whose time has come; a successful one leaves
    /// its file on its node. Returns whether anything changed.
    pub fn settle(&mut self, now_ms: u64) -> bool {
        let mut changed = false;
        if let Some(p) = &self.data.pending_kdd
            && p.done_ms <= now_ms
        {
            self.config = p.config.clone();
            self.data.pending_kdd = None;
            changed = true;
        }
        for b in &mut self.data.backups {
            if b.state != BackupState::InProgress || b.due_ms > now_ms {
                continue;
            }
            changed = true;
            b.completed_ms = Some(b.due_ms);
            match b.outcome {
                BackupOutcome::Success => {
                    b.state = BackupState::Success;
                    let path = format!("{}/{}", b.backup_path.trim_end_matches('/'), b.file_name);
                    self.data
                        .files
                        .retain(|f| !(f.node == b.node && f.path == path));
                    self.data.files.push(SimFile {
                        node: b.node,
                        path,
                        kind: if b.encrypted {
                            FileKind::Pgp
                        } else {
                            FileKind::Tar
                        },
                        mtime: b.due_ms / 1000,
                        seed: b.created_ms,
                    });
                }
                BackupOutcome::Failed => {
                    b.state = BackupState::Failed;
                    b.short_error =
                        "backup failed: rethinkdb dump: context deadline exceeded (simulated)"
                            .into();
                }
            }
        }
        changed
    }

    /// The file at `path` on node `node`, if the node has one.
    pub fn file(&self, node: u32, path: &str) -> Option<&SimFile> {
        self.data
            .files
            .iter()
            .find(|f| f.node == node && f.path == path && f.kind != FileKind::Absent)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn initial_state(opts: &SandboxOptions, topo: &Topology, now: u64) -> Persisted {
    let age_ms = u64::try_from(opts.effective_backup_age().as_millis()).unwrap_or(u64::MAX);
    let newest_ms = now.saturating_sub(age_ms);
    let file_node = opts.backup_file_node;
    let (dir, name) = opts
        .backup_file
        .rsplit_once('/')
        .map(|(d, n)| (if d.is_empty() { "/" } else { d }, n))
        .unwrap_or(("/", opts.backup_file.as_str()));
    let encrypted = opts.backup_file_kind == FileKind::Pgp;
    let entry = |created_ms: u64, state: BackupState, file_name: &str| Backup {
        id: random_id(),
        encrypted,
        file_name: file_name.to_string(),
        log_file_name: file_name.replace(".tar", ".log"),
        backup_path: dir.to_string(),
        node: file_node,
        node_location: topo.hostname(file_node),
        state,
        short_error: if state == BackupState::Failed {
            "backup failed: not enough space on /var/backups (simulated)".into()
        } else {
            String::new()
        },
        created_ms,
        completed_ms: Some(created_ms + 7_000),
        due_ms: created_ms + 7_000,
        outcome: if state == BackupState::Failed {
            BackupOutcome::Failed
        } else {
            BackupOutcome::Success
        },
    };
    const DAY_MS: u64 = 86_400_000;
    let backups = match opts.backups {
        BackupHistory::Absent => vec![],
        BackupHistory::Present => vec![
            entry(
                newest_ms.saturating_sub(7 * DAY_MS),
                BackupState::Success,
                "backup-weekly.tar",
            ),
            entry(newest_ms, BackupState::Success, name),
        ],
        BackupHistory::Old => vec![entry(newest_ms, BackupState::Success, name)],
        BackupHistory::Failed => vec![
            entry(
                newest_ms.saturating_sub(30 * DAY_MS),
                BackupState::Success,
                "backup-monthly.tar",
            ),
            entry(newest_ms, BackupState::Failed, name),
        ],
    };
    let files = match opts.backup_file_kind {
        FileKind::Absent => vec![],
        kind => vec![SimFile {
            node: file_node,
            path: opts.backup_file.clone(),
            kind,
            mtime: (newest_ms + 7_000) / 1000,
            seed: newest_ms,
        }],
    };
    Persisted {
        format: FORMAT,
        backups,
        files,
        api_port: None,
        ssh_ports: vec![],
        config_puts: 0,
        pending_kdd: None,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 3339 with milliseconds, UTC (`2019-04-10T21:55:53.775Z`).
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology::new(&SandboxOptions::default())
    }

    #[test]
    fn backup_histories() {
        let now = 10_000 * 86_400_000;
        let count = |backups| {
            let opts = SandboxOptions {
                backups,
                ..Default::default()
            };
            initial_state(&opts, &topo(), now).backups
        };
        assert!(count(BackupHistory::Absent).is_empty());
        let present = count(BackupHistory::Present);
        assert_eq!(present.len(), 2);
        assert!(present.iter().all(|b| b.state == BackupState::Success));
        assert_eq!(present[1].created_ms, now - 2 * 3_600_000);
        let failed = count(BackupHistory::Failed);
        assert_eq!(failed[1].state, BackupState::Failed);
        assert!(!failed[1].short_error.is_empty());
        let old = count(BackupHistory::Old);
        assert_eq!(old[0].created_ms, now - 30 * 86_400_000);
        assert_eq!(old[0].to_json()["backupState"], "SUCCESS");
    }

    #[test]
    fn settle_finishes_due_backups_and_leaves_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SandboxOptions {
            backups: BackupHistory::Absent,
            ..Default::default()
        };
        let (mut cluster, loaded) = Cluster::load_or_init(dir.path(), &opts, &topo()).unwrap();
        assert!(!loaded);
        cluster.data.backups.push(Backup {
            id: "b1".into(),
            encrypted: true,
            file_name: "x.tar".into(),
            log_file_name: "x.log".into(),
            backup_path: "/srv/".into(),
            node: 1,
            node_location: "m1".into(),
            state: BackupState::InProgress,
            short_error: String::new(),
            created_ms: 1_000,
            completed_ms: None,
            due_ms: 5_000,
            outcome: BackupOutcome::Success,
        });
        assert_eq!(
            cluster.data.backups[0].to_json()["completed_at"],
            "0001-01-01T00:00:00Z"
        );
        assert!(!cluster.settle(4_999));
        assert!(cluster.settle(5_000));
        assert_eq!(cluster.data.backups[0].state, BackupState::Success);
        assert_eq!(
            cluster.file(1, "/srv/x.tar").map(|f| f.kind),
            Some(FileKind::Pgp)
        );
        cluster.save().unwrap();
        let (again, loaded) = Cluster::load_or_init(dir.path(), &opts, &topo()).unwrap();
        assert!(loaded);
        assert_eq!(again.data.backups.len(), 1);
        assert_eq!(again.config, cluster.config);
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(1_555_019_753_775), "2019-04-11T21:55:53.775Z");
    }
}
