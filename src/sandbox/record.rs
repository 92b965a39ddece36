//! The record of what was done to the sandbox: JSON Lines, one object per
//! event, appended across starts of the same directory. Never holds a
//! password, a token or a request body (config PUT bodies are saved to
//! their own files, named in the record).
//!
//! Every line has `ts` (RFC 3339, UTC) and `kind`:
//! - `start`: `api` (the MKE_HOST URL), `nodes`, `managers`, `resumed`;
//! - `http`: `method`, `path`, `status` (0 when the connection was dropped),
//!   `ms`, `addr` (the local address the client reached), and when they
//!   apply `fault` (`http-error`, `slow`, `drop`, `malformed-toml`),
//!   `body_file` (`config-put-N.toml` for config PUTs), `login`
//!   (`ok`/`denied`) and `logins` (successful logins so far in this start);
//! - `ssh`: `node`, `addr`, `command`, `exit`;
//! - `stop`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::SandboxError;
use super::state::{now_ms, rfc3339};

pub struct Record {
    path: PathBuf,
    file: Mutex<File>,
}

impl Record {
    pub fn open(path: &Path) -> Result<Record, SandboxError> {
        let file = crate::util::fsx::open_private(path, true)
            .map_err(|err| SandboxError::io("open the record", path, err))?;
        Ok(Record {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends one line: `ts`, `kind`, then the members of `fields` (a
    /// JSON object; `null` members are left out). A failed write is
    /// reported on stderr and does not stop the simulation.
    pub fn write(&self, kind: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("ts".into(), Value::String(rfc3339(now_ms())));
        line.insert("kind".into(), Value::String(kind.into()));
        if let Value::Object(fields) = fields {
            line.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = file.write_all(text.as_bytes()) {
            eprintln!(
                "mkeprep sandbox: cannot append to the record {}: {err}",
                self.path.display()
            );
        }
    }
}
