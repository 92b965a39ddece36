//! MKE backups (`GET /api/ucp/backups`, `GET /api/ucp/backup/{id}`, the
//! answer to `POST /api/ucp/backup`) and the timestamps they carry.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{first_string, str_at};

lenient_enum!(
    /// `backupState`.
    BackupState { InProgress => "IN_PROGRESS", Success => "SUCCESS", Failed => "FAILED" }
);

/// An MKE backup of `GET /api/ucp/backups` or `GET /api/ucp/backup/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    pub state: BackupState,
    pub file_name: Option<String>,
    pub log_file_name: Option<String>,
    pub backup_path: Option<String>,
    pub node_location: Option<String>,
    pub encrypted: Option<bool>,
    /// Set on `FAILED` backups.
    pub short_error: Option<String>,
    pub created_at: Option<SystemTime>,
    /// `None` while in progress (MKE sends Go's zero time then).
    pub completed_at: Option<SystemTime>,
}

impl Backup {
    pub fn from_json(v: &Value) -> Backup {
        Backup {
            id: first_string(v, &["id", "backupId", "backup_id", "ID"]).unwrap_or_default(),
            state: BackupState::parse(
                str_at(v, &["backupState"])
                    .or_else(|| str_at(v, &["state"]))
                    .or_else(|| str_at(v, &["status"]))
                    .unwrap_or(""),
            ),
            file_name: first_string(v, &["fileName", "file_name"]),
            log_file_name: first_string(v, &["logFileName", "log_file_name"]),
            backup_path: first_string(v, &["backupPath", "backup_path", "hostPath"]),
            node_location: first_string(v, &["nodeLocation", "node_location"]),
            encrypted: v.get("encrypted").and_then(Value::as_bool),
            short_error: first_string(v, &["shortError", "short_error", "error"]),
            created_at: first_string(v, &["created_at", "createdAt"])
                .and_then(|t| parse_timestamp(&t)),
            completed_at: first_string(v, &["completed_at", "completedAt"])
                .and_then(|t| parse_timestamp(&t)),
        }
    }

    /// When the backup was finished, or else started.
    pub fn time(&self) -> Option<SystemTime> {
        self.completed_at.or(self.created_at)
    }

    /// The whole path of the backup file, when MKE said where it is.
    pub fn file_path(&self) -> Option<String> {
        let name = self.file_name.as_deref()?;
        Some(match self.backup_path.as_deref() {
            Some(dir) => format!("{}/{name}", dir.trim_end_matches('/')),
            None => name.to_string(),
        })
    }
}

/// Reads the backup list: a JSON array, `null`, or an object holding the
/// array (or `null`) under `backups`, `items` or `data`. Entries that are
/// not objects are skipped. `None` when the shape is none of these.
pub fn parse_backup_list(v: &Value) -> Option<Vec<Backup>> {
    let list = match v {
        Value::Object(_) => ["backups", "items", "data"].iter().find_map(|k| v.get(k))?,
        _ => v,
    };
    match list {
        Value::Null => Some(Vec::new()),
        Value::Array(list) => Some(
            list.iter()
                .filter(|e| e.is_object())
                .map(Backup::from_json)
                .collect(),
        ),
        _ => None,
    }
}

/// The id in the answer to `POST /api/ucp/backup`: `backupId` (also `id`,
/// `backup_id`, `ID`), or a bare JSON string, or a plain-text body that is
/// one token.
pub fn parse_backup_id(body: &str) -> Option<String> {
    let body = body.trim();
    match serde_json::from_str::<Value>(body) {
        Ok(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Ok(v) => first_string(&v, &["backupId", "backup_id", "id", "ID"]),
        Err(_) => Some(body.to_string())
            .filter(|b| !b.is_empty() && b.len() <= 128 && !b.contains(char::is_whitespace)),
    }
}

/// RFC 3339 time as MKE writes it (`2019-04-10T21:55:53.775Z`, or with a
/// `+02:00` offset). Go's zero time (`0001-01-01T00:00:00Z`, "not yet") and
/// anything before 1970 read as `None`.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.starts_with("0001-") {
        return None;
    }
    // humantime reads the UTC form; apply a numeric offset by hand.
    let (base, offset) = split_offset(text);
    let utc = humantime::parse_rfc3339_weak(base).ok()?;
    match offset {
        Some(secs) if secs >= 0 => utc.checked_sub(Duration::from_secs(secs.unsigned_abs())),
        Some(secs) => utc.checked_add(Duration::from_secs(secs.unsigned_abs())),
        None => Some(utc),
    }
}

/// `…T12:00:00+02:00` → (`…T12:00:00`, Some(7200)); `…Z` → (`…`, None).
fn split_offset(text: &str) -> (&str, Option<i64>) {
    if let Some(base) = text.strip_suffix(['Z', 'z']) {
        return (base, None);
    }
    if text.len() > 6 && text.is_char_boundary(text.len() - 6) {
        let (base, off) = text.split_at(text.len() - 6);
        let ob = off.as_bytes();
        if (ob[0] == b'+' || ob[0] == b'-') && ob[3] == b':' && base.contains('T') {
            let h: Option<i64> = off[1..3].parse().ok();
            let m: Option<i64> = off[4..6].parse().ok();
            if let (Some(h), Some(m)) = (h, m) {
                let secs = h * 3600 + m * 60;
                return (base, Some(if ob[0] == b'-' { -secs } else { secs }));
            }
        }
    }
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    #[test]
    fn backups_list_and_states() {
        let body = json!([
            {"id":"0d0525dd","encrypted":true,"fileName":"backup2.tar","logFileName":"backup2.log",
             "backupPath":"/secure-location/","backupState":"SUCCESS","nodeLocation":"ucp-node-ubuntu-0",
             "shortError":"","created_at":"2019-04-10T21:55:53.775Z","completed_at":"2019-04-10T21:56:01.184Z"},
            {"id":"b2","backupState":"IN_PROGRESS","created_at":"2019-04-11T10:00:00Z",
             "completed_at":"0001-01-01T00:00:00Z"},
            {"id":"b3","backupState":"FAILED","shortError":"disk full"},
            {"id":"b4","backupState":"QUEUED","extra":{"ignored":true}},
            "not an object"
        ]);
        let list = parse_backup_list(&body).unwrap();
        assert_eq!(list.len(), 4);
        let b = &list[0];
        assert_eq!(b.state, BackupState::Success);
        assert_eq!(b.encrypted, Some(true));
        assert_eq!(b.short_error, None);
        assert_eq!(b.node_location.as_deref(), Some("ucp-node-ubuntu-0"));
        assert_eq!(
            b.file_path().as_deref(),
            Some("/secure-location/backup2.tar")
        );
        assert_eq!(
            b.completed_at,
            Some(UNIX_EPOCH + Duration::from_millis(1_554_933_361_184))
        );
        assert_eq!(b.time(), b.completed_at);
        assert_eq!(list[1].state, BackupState::InProgress);
        assert_eq!(list[1].completed_at, None);
        assert_eq!(list[1].time(), list[1].created_at);
        assert_eq!(list[2].state, BackupState::Failed);
        assert_eq!(list[2].short_error.as_deref(), Some("disk full"));
        assert_eq!(list[2].file_path(), None);
        assert_eq!(list[3].state, BackupState::Other("QUEUED".into()));

        assert_eq!(parse_backup_list(&json!(null)), Some(vec![]));
        assert_eq!(parse_backup_list(&json!({"backups": null})), Some(vec![]));
        assert_eq!(
            parse_backup_list(&json!({"backups": [{"id": "x"}]})).unwrap()[0].id,
            "x"
        );
        assert_eq!(parse_backup_list(&json!({"other": 1})), None);
        assert_eq!(parse_backup_list(&json!("text")), None);
    }

    #[test]
    fn backup_ids() {
        assert_eq!(
            parse_backup_id(r#"{"backupId":"76f4db71-d556"}"#).as_deref(),
            Some("76f4db71-d556")
        );
        assert_eq!(parse_backup_id(r#"{"id":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(parse_backup_id(r#""abc""#).as_deref(), Some("abc"));
        assert_eq!(parse_backup_id("abc-123\n").as_deref(), Some("abc-123"));
        assert_eq!(parse_backup_id("  abc-123\n").as_deref(), Some("abc-123"));
        assert_eq!(parse_backup_id(r#"{"message":"ok"}"#), None);
        assert_eq!(parse_backup_id("two words"), None);
        assert_eq!(parse_backup_id(""), None);
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(t("2019-04-10T21:55:53Z"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T23:55:53+02:00"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T20:55:53.5-01:00"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10T21:55:53.123456789Z"), Some(1_554_933_353));
        assert_eq!(t("2019-04-10 21:55:53"), Some(1_554_933_353));
        assert_eq!(t("0001-01-01T00:00:00Z"), None);
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2019-04-10T21:55:5é+02:00"), None);
    }
}
