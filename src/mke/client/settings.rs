//! What a client is built from: the target, credentials, TLS trust,
//! timeouts and retries; and the shapes of the requests with their own
//! rules (the KDD config PUT, the backup POST).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::mke::MkeTarget;
use crate::util::secret::Secret;

/// How idempotent requests are retried after a 5xx, a timeout or a broken
/// connection: `attempts` tries in all, waiting `initial_backoff`, then
/// twice as long each time, at most `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait before try number `attempt + 1` (after try `attempt`, 1-based).
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Default timeout of one request (the KDD PUT passes its own).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default timeout to establish a connection and its TLS session.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the client needs. `MKE_*` variables and flags are assembled
/// into this by the CLI.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: MkeTarget,
    pub username: String,
    pub password: Secret,
    /// A PEM file of CA certificates trusted in addition to the system's.
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate verification (`--insecure`); the caller warns.
    pub insecure: bool,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration with default timeouts and retries, verifying TLS
    /// against the system's roots.
    pub fn new(target: MkeTarget, username: impl Into<String>, password: Secret) -> Self {
        ClientConfig {
            target,
            username: username.into(),
            password,
            ca_cert: None,
            insecure: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// The timeout for the config-toml PUT that converts Calico to KDD: the
/// conversion takes about 20 s per node and MKE answers only when it is
/// done, so allow 60 s plus 30 s per node (reference/mke3-facts.md §B.3).
pub fn kdd_put_timeout(node_count: usize) -> Duration {
    let nodes = u32::try_from(node_count.max(1)).unwrap_or(u32::MAX);
    Duration::from_secs(60).saturating_add(Duration::from_secs(30).saturating_mul(nodes))
}

/// Whether the message of a 2xx answer to the KDD PUT reports success.
/// MKE's wording is documented both as "Calico datastore upgrade from etcd
/// to kdd successful" and "… migration from etcd to kdd successful";
/// anything saying "etcd to kdd successful" counts.
pub fn is_kdd_success(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .contains("etcd to kdd successful")
}

/// What to ask of `POST /api/ucp/backup`.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    /// Encrypts the backup; `None` sends `noPassphrase: true`.
    pub passphrase: Option<Secret>,
    pub file_name: Option<String>,
    /// A directory on the manager, writable by `nobody`.
    pub host_path: Option<String>,
    pub include_logs: bool,
}

impl BackupRequest {
    pub(super) fn to_json(&self) -> Value {
        let mut body = json!({
            "noPassphrase": self.passphrase.is_none(),
            "encrypted": self.passphrase.is_some(),
            "includeLogs": self.include_logs,
        });
        if let Some(p) = &self.passphrase {
            body["passphrase"] = Value::String(p.expose().to_string());
        }
        if let Some(f) = &self.file_name {
            body["fileName"] = Value::String(f.clone());
        }
        if let Some(h) = &self.host_path {
            body["hostPath"] = Value::String(h.clone());
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdd_timeout_and_success_wording() {
        assert_eq!(kdd_put_timeout(0), Duration::from_secs(90));
        assert_eq!(kdd_put_timeout(10), Duration::from_secs(360));
        assert!(is_kdd_success(
            "Calico datastore upgrade from etcd to kdd successful"
        ));
        assert!(is_kdd_success(
            "Calico datastore migration from etcd to KDD  successful"
        ));
        assert!(!is_kdd_success("Calico datastore migration failed"));
        assert!(!is_kdd_success(""));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(30), Duration::from_secs(2));
    }
}
