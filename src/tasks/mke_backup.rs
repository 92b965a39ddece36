//! `mke_backup`: a successful MKE 3 backup younger than `max_age` exists —
//! the newest `SUCCESS` entry of `GET /api/ucp/backups`, and/or a backup file
//! (local, or on a node over SSH) that is non-empty, a tar (or PGP data when
//! `encrypted`), and young enough. With `create: true` a missing backup is
//! made through the API (passphrase from a secret) with progress.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Change, Check, Facts, Module, StepContext, TaskError};
use crate::mke::{BackupRequest, BackupState};
use crate::ssh;
use crate::util::secret::Secret;

const CLI: &str = "on one manager: docker container run --rm --log-driver none --name ucp -v /var/run/docker.sock:/var/run/docker.sock -v /tmp:/backup mirantis/ucp:<your MKE version> backup --file mke-backup.tar --passphrase \"$MKE_BACKUP_PASSPHRASE\" --include-logs=false";
const API: &str = "or through the API: curl --cacert mke-ca.pem -H \"Authorization: Bearer $TOKEN\" -X POST https://$MKE_HOST/api/ucp/backup -d '{\"passphrase\":\"…\",\"fileName\":\"mke-backup.tar\",\"includeLogs\":false,\"hostPath\":\"/var/backups/mke3\"}' (or set `create: true` with `passphrase_env`)";

/// Confirm (or create) a recent MKE 3 backup.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkeBackup {
    /// The newest good backup must be younger than this (`24h`, `90m`, seconds).
    #[serde(default = "day", deserialize_with = "super::duration")]
    #[schemars(with = "String")]
    pub max_age: Duration,
    /// Look for a SUCCESS backup in the MKE API's list (GET /api/ucp/backups).
    #[serde(default = "yes")]
    pub api: bool,
    /// A backup file to check: a local path, or a path on `node` over SSH.
    #[serde(default)]
    pub file: Option<String>,
    /// The inventory address of the node that holds `file`; without it, `file` is local.
    #[serde(default)]
    pub node: Option<String>,
    /// The file is PGP-encrypted (made with a passphrase), not a plain tar.
    #[serde(default)]
    pub encrypted: bool,
    /// Create a backup through the API when none is recent enough.
    #[serde(default)]
    pub create: bool,
    /// The environment variable that holds the passphrase for a created backup (a secret: never shown).
    #[serde(default)]
    pub passphrase_env: Option<String>,
    /// Create the backup unencrypted (not recommended: it holds private keys).
    #[serde(default)]
    pub no_passphrase: bool,
    /// Directory on the manager for a created backup (writable by `nobody`).
    #[serde(default)]
    pub host_path: Option<String>,
    /// How long to wait for a created backup to finish.
    #[serde(default = "half_hour", deserialize_with = "super::duration")]
    #[schemars(with = "String")]
    pub wait: Duration,
}

fn day() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn half_hour() -> Duration {
    Duration::from_secs(1800)
}
fn yes() -> bool {
    true
}

fn age_text(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// What the first bytes of a file say it is.
pub fn sniff(head: &[u8]) -> &'static str {
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return "tar";
    }
    if head.starts_with(b"-----BEGIN PGP MESSAGE-----") {
        return "pgp";
    }
    if let Some(&b) = head.first()
        && b & 0x80 != 0
    {
        let tag = if b & 0x40 != 0 {
            b & 0x3f
        } else {
            (b >> 2) & 0x0f
        };
        if matches!(tag, 1 | 3 | 9 | 18 | 20) {
            return "pgp";
        }
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return "gzip";
    }
    if head.is_empty() {
        return "empty";
    }
    "unknown"
}

struct FileFacts {
    size: u64,
    age: Duration,
    kind: &'static str,
}

impl MkeBackup {
    fn judge_file(&self, where_: &str, f: &FileFacts) -> Result<String, String> {
        let want = if self.encrypted { "pgp" } else { "tar" };
        if f.size == 0 {
            return Err(format!("{where_} is empty"));
        }
        if f.kind != want {
            let what = match f.kind {
                "pgp" => {
                    "PGP-encrypted data (set `encrypted: true` if the backup was made with a passphrase)"
                }
                "tar" => {
                    "a plain tar (set `encrypted: false`, or the backup was made without a passphrase)"
                }
                "gzip" => "gzip data, not an MKE backup tar",
                _ => "neither a tar nor PGP data",
            };
            return Err(format!("{where_} is {what}"));
        }
        if f.age > self.max_age {
            return Err(format!(
                "{where_} is {} old (more than {})",
                age_text(f.age),
                age_text(self.max_age)
            ));
        }
        Ok(format!(
            "{where_} ({} bytes, {}, {} old)",
            f.size,
            f.kind,
            age_text(f.age)
        ))
    }

    async fn file_facts(&self, cx: &StepContext<'_>, path: &str) -> Result<FileFacts, String> {
        match &self.node {
            None => {
                let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
                let age = meta
                    .modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .unwrap_or_default();
                let mut head = vec![0u8; 512];
                let n = {
                    use std::io::Read;
                    // A FIFO or a device is refused, not waited on.
                    let mut f = crate::util::fsx::open_input(std::path::Path::new(path))
                        .map_err(|e| format!("{path}: {e}"))?;
                    f.read(&mut head).map_err(|e| format!("{path}: {e}"))?
                };
                head.truncate(n);
                Ok(FileFacts {
                    size: meta.len(),
                    age,
                    kind: sniff(&head),
                })
            }
            Some(node) => {
                let inv = cx.inventory().map_err(|e| e.message)?;
                let host = inv
                    .hosts
                    .iter()
                    .find(|h| &h.address == node)
                    .ok_or_else(|| format!("`node: {node}` is not an address in the inventory"))?;
                let q = ssh::quote(path);
                // One connection for both commands.
                let mut session = ssh::Session::open(host, &cx.conn.ssh)
                    .await
                    .map_err(|e| e.to_string())?;
                let both = async {
                    let stat = session.exec(&format!("stat -c '%s %Y' -- {q}")).await?;
                    if stat.status != 0 {
                        return Ok((stat, None));
                    }
                    let head = session
                        .exec(&format!("head -c 512 -- {q} | base64 -w0"))
                        .await?;
                    Ok::<_, ssh::SshError>((stat, Some(head)))
                };
                let outcome = both.await;
                session.close().await;
                let (stat, head) = outcome.map_err(|e| e.to_string())?;
                if stat.status != 0 {
                    return Err(format!("{node}:{path}: {}", stat.stderr.trim()));
                }
                let mut parts = stat.stdout.split_whitespace();
                let (Some(size), Some(mtime), Some(head)) = (
                    parts.next().and_then(|s| s.parse::<u64>().ok()),
                    parts.next().and_then(|s| s.parse::<u64>().ok()),
                    head,
                ) else {
                    return Err(format!(
                        "{node}: unexpected stat output `{}`",
                        stat.stdout.trim()
                    ));
                };
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(head.stdout.trim())
                    .map_err(|e| format!("{node}: cannot decode the file's first bytes: {e}"))?;
                Ok(FileFacts {
                    size,
                    age: Duration::from_secs(now.saturating_sub(mtime)),
                    kind: sniff(&bytes),
                })
            }
        }
    }

    fn passphrase(&self) -> Result<Option<Secret>, TaskError> {
        if self.no_passphrase {
            return Ok(None);
        }
        let Some(var) = &self.passphrase_env else {
            return Err(TaskError::new(
                "`create: true` needs `passphrase_env` (the variable that holds the backup passphrase) or `no_passphrase: true`",
            ));
        };
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(
                TaskError::new(format!("the backup passphrase variable {var} is not set")).remedy(
                    format!("export {var}=… (at least 12 characters) before the run"),
                ),
            ),
        }
    }
}

impl Module for MkeBackup {
    const NAME: &'static str = "mke_backup";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "A successful MKE 3 backup younger than max_age exists (API list and/or a backup file); `create: true` makes one.";
    const EXAMPLE: &'static str = "- id: confirm-backup\n  mke_backup:\n    max_age: 24h\n    file: /var/backups/mke3/backup.tar\n    node: 10.0.0.11\n    encrypted: true";
    const CHECK_MODE: &'static str =
        "full: reads the backup list and files; creating a backup is the apply";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        if !self.api && self.file.is_none() {
            return Err(TaskError::new(
                "nothing to check: set `api: true` and/or `file`",
            ));
        }
        if self.create {
            self.passphrase()?;
        }
        let mut good = Vec::new();
        let mut api_problem = None;
        let mut file_problem = None;
        let mut output = Facts::new();
        if self.api {
            let list = cx
                .mke()?
                .backups()
                .await
                .map_err(|e| TaskError::new(e.to_string()))?;
            let newest = list
                .iter()
                .filter(|b| b.state == BackupState::Success)
                .filter_map(|b| Some((b, b.time()?)))
                .max_by_key(|(_, t)| *t);
            match newest {
                Some((b, t)) => {
                    let age = SystemTime::now().duration_since(t).unwrap_or_default();
                    output.insert("backup_id".into(), b.id.clone().into());
                    output.insert("backup_age_seconds".into(), age.as_secs().into());
                    if let Some(p) = b.file_path() {
                        output.insert("backup_file".into(), p.into());
                    }
                    let where_ = b
                        .node_location
                        .as_deref()
                        .map(|n| format!(" on {n}"))
                        .unwrap_or_default();
                    if age <= self.max_age {
                        good.push(format!(
                            "backup {} SUCCESS {} ago{where_}",
                            b.id,
                            age_text(age)
                        ));
                    } else {
                        api_problem = Some(format!(
                            "the newest SUCCESS backup ({}) is {} old, more than {}",
                            b.id,
                            age_text(age),
                            age_text(self.max_age)
                        ));
                    }
                }
                None => {
                    api_problem = Some(format!(
                        "GET /api/ucp/backups lists no SUCCESS backup ({} entries)",
                        list.len()
                    ))
                }
            }
        }
        if let Some(path) = &self.file {
            let where_ = match &self.node {
                Some(n) => format!("{n}:{path}"),
                None => path.clone(),
            };
            match self.file_facts(cx, path).await {
                Ok(f) => match self.judge_file(&where_, &f) {
                    Ok(msg) => good.push(msg),
                    Err(p) => file_problem = Some(p),
                },
                Err(p) => file_problem = Some(p),
            }
        }
        if api_problem.is_none() && file_problem.is_none() {
            return Ok(Check::InSync {
                message: good.join("; "),
                output,
            });
        }
        if self.create && file_problem.is_none() {
            let mut change = Change::new(
                "mke.backup",
                "create an MKE backup through the API (POST /api/ucp/backup) and wait for SUCCESS",
            );
            change.to = Some("SUCCESS".into());
            return Ok(Check::Drift {
                message: format!("{}: would create one", api_problem.unwrap_or_default()),
                changes: vec![change],
                output,
            });
        }
        let reason = [api_problem, file_problem]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Check::Blocked {
            reason: format!("no recent MKE backup: {reason}"),
            remedy: format!("take a backup, {CLI}; {API}"),
            output,
        })
    }

    async fn apply(&self, cx: &StepContext<'_>, _: &[Change]) -> Result<Facts, TaskError> {
        let mke = cx.mke()?;
        let request = BackupRequest {
            passphrase: self.passphrase()?,
            file_name: Some(format!(
                "mkeprep-backup-{}.tar",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            )),
            host_path: self.host_path.clone(),
            include_logs: false,
        };
        let id = mke.create_backup(&request).await.map_err(|e| {
            TaskError::new(e.to_string())
                .remedy("read GET /api/ucp/backups before trying again: a backup may be running")
        })?;
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let b = mke
                .backup(&id)
                .await
                .map_err(|e| TaskError::new(e.to_string()))?;
            match b.state {
                BackupState::Success => {
                    let mut f = Facts::new();
                    f.insert("created".into(), id.into());
                    f.insert("seconds".into(), started.elapsed().as_secs().into());
                    return Ok(f);
                }
                BackupState::Failed => {
                    return Err(TaskError::new(format!(
                        "backup {id} FAILED: {}",
                        b.short_error.unwrap_or_else(|| "no error given".into())
                    )));
                }
                _ if started.elapsed() > self.wait => {
                    return Err(TaskError::new(format!(
                        "backup {id} is still {} after {}",
                        b.state,
                        age_text(self.wait)
                    )));
                }
                _ => cx.progress_timed(
                    format!("backup {id} is {}", b.state),
                    started.elapsed(),
                    None,
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn file_kinds() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), "tar");
        assert_eq!(sniff(b"-----BEGIN PGP MESSAGE-----\n"), "pgp");
        assert_eq!(sniff(&[0x8c, 0x0d, 0x04]), "pgp"); // old-format SKESK
        assert_eq!(sniff(&[0xc3, 0x0d]), "pgp"); // new-format SKESK
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08]), "gzip");
        assert_eq!(sniff(b""), "empty");
        assert_eq!(sniff(b"hello"), "unknown");
    }
}
