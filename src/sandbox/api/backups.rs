//! Backups through the API: `GET /api/ucp/backups`, `GET
//! /api/ucp/backup/{id}` and `POST /api/ucp/backup`.

use hyper::Request;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use super::reply::{Resp, Shape, error, json_response, read_body};
use crate::sandbox::state::{Backup, BackupState, now_ms};
use crate::sandbox::topology::Role;
use crate::sandbox::{Shared, random_id};

/// Where API backups go when the request names no `hostPath`.
const DEFAULT_BACKUP_DIR: &str = "/var/backups/mke3";

/// `GET /api/ucp/backups`: every backup the cluster records.
pub(super) fn list(shared: &Shared) -> Resp {
    let list: Vec<Value> = shared
        .cluster()
        .data
        .backups
        .iter()
        .map(Backup::to_json)
        .collect();
    json_response(200, &Value::Array(list))
}

/// `GET /api/ucp/backup/{id}`.
pub(super) fn get(shared: &Shared, shape: Shape, id: &str) -> Resp {
    let cluster = shared.cluster();
    match cluster.data.backups.iter().find(|b| b.id == id) {
        Some(b) => json_response(200, &b.to_json()),
        None => error(shape, 404, &format!("backup {id} not found")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupRequest {
    #[serde(default)]
    passphrase: Option<String>,
    #[serde(default)]
    no_passphrase: bool,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    log_file_name: Option<String>,
    #[serde(default)]
    host_path: Option<String>,
}

pub(super) async fn create(shared: &Shared, req: Request<Incoming>) -> Resp {
    let bad = |message: &str| error(Shape::Errors, 400, message);
    let body = match read_body(req, Shape::Errors).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let request: BackupRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("payload failed validation: {e}")),
    };
    if !request.no_passphrase && request.passphrase.as_deref().is_none_or(str::is_empty) {
        return bad(
            "payload failed validation: passphrase is required unless noPassphrase is true",
        );
    }
    let now = now_ms();
    let file_name = request
        .file_name
        .unwrap_or_else(|| format!("backup-{}.tar", now / 1000));
    if file_name.is_empty() || file_name.contains(['/', '\0', '\n']) {
        return bad("payload failed validation: fileName must be a plain file name");
    }
    let backup_path = request
        .host_path
        .unwrap_or_else(|| DEFAULT_BACKUP_DIR.to_string());
    if !backup_path.starts_with('/') || backup_path.contains(['\0', '\n']) {
        return bad("payload failed validation: hostPath must be an absolute directory");
    }
    let node = shared
        .topo
        .managers()
        .find(|n| !n.down)
        .or_else(|| shared.topo.managers().next());
    let Some(node) = node.filter(|n| n.role == Role::Manager) else {
        return error(Shape::Errors, 500, "no manager node to run the backup on");
    };
    let mut cluster = shared.cluster();
    if cluster
        .data
        .backups
        .iter()
        .any(|b| b.state == BackupState::InProgress)
    {
        return bad("another backup is in progress; only one backup can run at a time");
    }
    let id = random_id();
    let duration_ms = (shared.opts.backup_seconds * 1000.0) as u64;
    cluster.data.backups.push(Backup {
        id: id.clone(),
        encrypted: !request.no_passphrase,
        log_file_name: request
            .log_file_name
            .unwrap_or_else(|| file_name.replace(".tar", ".log")),
        file_name,
        backup_path,
        node: node.number,
        node_location: node.hostname.clone(),
        state: BackupState::InProgress,
        short_error: String::new(),
        created_ms: now,
        completed_ms: None,
        due_ms: now + duration_ms,
        outcome: shared.opts.backup_outcome,
    });
    match cluster.save() {
        Ok(()) => json_response(200, &json!({ "backupId": id })),
        Err(err) => error(Shape::Errors, 500, &err.to_string()),
    }
}
