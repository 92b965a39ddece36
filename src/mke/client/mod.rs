//! The MKE 3 API client: one login per run, Bearer token, one re-login on
//! a 401, bounded retries for idempotent requests only.
//!
//! Nothing here is global: a client is built from a [`ClientConfig`] and
//! owns its HTTP connection pool, TLS setup and token, so tests can point
//! any number of clients at any number of servers.

mod content;
mod settings;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::error::{Endpoint, server_message};
use super::model::{
    Backup, Info, MkeVersion, Node, VersionInfo, parse_backup_id, parse_backup_list, select_version,
};
use super::{MkeError, MkeTarget, tls};
use crate::util::secret::Secret;
use transport::{Body, Request};

pub use settings::{
    BackupRequest, ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, RetryPolicy,
    is_kdd_success, kdd_put_timeout,
};

/// An MKE 3 API client. Cheap to clone; clones share the connection pool
/// and the session token.
#[derive(Clone)]
pub struct MkeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: ClientConfig,
    /// The session token, shared by every request of the run. The lock is
    /// held across a login so that concurrent callers wait for one login
    /// instead of each taking one of the user's session slots.
    token: tokio::sync::Mutex<Option<Secret>>,
    /// Set when MKE rejected the credentials: no request logs in again
    /// (an LDAP or AD account locks after a few failed logins).
    denied: std::sync::OnceLock<MkeError>,
}

impl fmt::Debug for MkeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MkeClient")
            .field("target", &self.inner.cfg.target.to_string())
            .field("username", &self.inner.cfg.username)
            .field("insecure", &self.inner.cfg.insecure)
            .finish_non_exhaustive()
    }
}

impl MkeClient {
    /// Builds the client: TLS setup (system roots plus `ca_cert`, or none
    /// with `insecure`), timeouts. Contacts nothing.
    pub fn new(cfg: ClientConfig) -> Result<MkeClient, MkeError> {
        let tls = tls::client_config(cfg.ca_cert.as_deref(), cfg.insecure)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .https_only(true)
            // MKE's API does not redirect; following one could resend a
            // PUT body or the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mkeprep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MkeError::TlsSetup(e.to_string()))?;
        Ok(MkeClient {
            inner: Arc::new(Inner {
                http,
                cfg,
                token: tokio::sync::Mutex::new(None),
                denied: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn target(&self) -> &MkeTarget {
        &self.inner.cfg.target
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// The rejection of the credentials, once MKE refused a login: every
    /// later request fails with it at once, without logging in again.
    pub fn denied(&self) -> Option<&MkeError> {
        self.inner.denied.get()
    }

    /// Logs in now unless a session is already open, so that bad
    /// credentials are reported before anything else.
    pub async fn authenticate(&self) -> Result<(), MkeError> {
        self.token().await.map(drop)
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Info, MkeError> {
        let (endpoint, json) = self.get_json(&["info"]).await?;
        if !json.is_object() {
            return Err(bad_body(endpoint, "expected a JSON object", &json));
        }
        Ok(Info::from_json(&json))
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<VersionInfo, MkeError> {
        let (endpoint, json) = self.get_json(&["version"]).await?;
        if !json.is_object() {
            return Err(bad_body(endpoint, "expected a JSON object", &json));
        }
        Ok(VersionInfo::from_json(&json))
    }

    /// The MKE version: `/info` `ServerVersion` (`ucp/X.Y.Z`), else the
    /// `/version` component named like Control Plane, MKE, UCP or Mirantis.
    /// HTTP and body errors of one source lead to the next; transport
    /// errors (TLS, refused, timeouts) are returned at once.
    /// [`MkeError::VersionNotFound`] lists why each source failed, for the
    /// caller's SSH fallback.
    pub async fn mke_version(&self) -> Result<MkeVersion, MkeError> {
        let info = soft(self.info().await)?;
        if let Ok(found) = select_version(info.as_ref().map_err(Clone::clone), None) {
            return Ok(found);
        }
        let version = soft(self.version().await)?;
        select_version(
            info.as_ref().map_err(Clone::clone),
            Some(version.as_ref().map_err(Clone::clone)),
        )
        .map_err(|attempts| MkeError::VersionNotFound { attempts })
    }

    /// `GET /_ping` on `MKE_HOST`, without authentication: the HTTP status
    /// (200 when healthy). One try: the caller polls.
    pub async fn ping(&self) -> Result<u16, MkeError> {
        self.ping_target(None).await
    }

    /// `GET /_ping` at another address, a manager's, with the same TLS
    /// settings.
    pub async fn ping_at(&self, host: &str, port: u16) -> Result<u16, MkeError> {
        let target = MkeTarget::new(host, port)?;
        self.ping_target(Some(&target)).await
    }

    async fn ping_target(&self, target: Option<&MkeTarget>) -> Result<u16, MkeError> {
        let req = Request {
            target,
            auth: false,
            retry: false,
            ..Request::get(&["_ping"])
        };
        Ok(self.exchange(&req, None).await?.status)
    }

    /// `GET /nodes`: the Swarm nodes.
    pub async fn nodes(&self) -> Result<Vec<Node>, MkeError> {
        self.get_list(&["nodes"], "nodes", Node::from_json).await
    }

    /// `GET /api/ucp/config-toml` with `accept: application/toml`: the
    /// configuration text, exactly as sent.
    pub async fn config_toml(&self) -> Result<String, MkeError> {
        let req = Request {
            accept: "application/toml",
            ..Request::get(&CONFIG_TOML)
        };
        let resp = self.send(&req).await?;
        if resp.body.trim().is_empty() {
            return Err(MkeError::BadBody {
                endpoint: self.endpoint(&req),
                detail: "the configuration is empty".to_string(),
            });
        }
        Ok(resp.body)
    }

    /// `PUT /api/ucp/config-toml`. `timeout` covers the whole request: the
    /// KDD conversion answers only when done, about 20 s per node. Never
    /// retried, except once after a 401 (nothing was applied then); a lost
    /// connection, a timeout or a 502/504 from a proxy is
    /// [`MkeError::OutcomeUnknown`]: re-read the configuration and compare.
    /// Returns the server's message (`Calico datastore … successful`), or
    /// an empty string for an empty 2xx body.
    pub async fn put_config_toml(&self, body: &str, timeout: Duration) -> Result<String, MkeError> {
        let req = Request {
            method: Method::PUT,
            accept: "application/toml",
            body: Body::Toml(body.to_string()),
            timeout: Some(timeout),
            retry: false,
            ..Request::get(&CONFIG_TOML)
        };
        let resp = self.send(&req).await?;
        Ok(success_message(&resp.body))
    }

    /// `GET /api/ucp/backups`.
    pub async fn backups(&self) -> Result<Vec<Backup>, MkeError> {
        let (endpoint, json) = self.get_json(&["api", "ucp", "backups"]).await?;
        parse_backup_list(&json)
            .ok_or_else(|| bad_body(endpoint, "expected a JSON list of backups", &json))
    }

    /// `POST /api/ucp/backup`: starts a backup, returns its id. Not
    /// retried; a lost answer is [`MkeError::OutcomeUnknown`] (list the
    /// backups before starting another: only one can run at a time).
    pub async fn create_backup(&self, request: &BackupRequest) -> Result<String, MkeError> {
        let req = Request {
            method: Method::POST,
            body: Body::Json(request.to_json()),
            retry: false,
            ..Request::get(&["api", "ucp", "backup"])
        };
        let resp = self.send(&req).await?;
        parse_backup_id(&resp.body).ok_or_else(|| MkeError::BadBody {
            endpoint: self.endpoint(&req),
            detail: format!("no backup id in {:?}", server_message(&resp.body)),
        })
    }

    /// `GET /api/ucp/backup/{id}`.
    pub async fn backup(&self, id: &str) -> Result<Backup, MkeError> {
        let (endpoint, json) = self.get_json(&["api", "ucp", "backup", id]).await?;
        if !json.is_object() {
            return Err(bad_body(endpoint, "expected a JSON object", &json));
        }
        Ok(Backup::from_json(&json))
    }
}

const CONFIG_TOML: [&str; 3] = ["api", "ucp", "config-toml"];

/// For `mke_version`: HTTP and body errors become a reason to try the next
/// source; anything else (TLS, connection) ends the search.
fn soft<T>(result: Result<T, MkeError>) -> Result<Result<T, String>, MkeError> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(MkeError::Http {
            status, message, ..
        }) => Ok(Err(format!("HTTP {status}: {message}"))),
        Err(MkeError::BadBody { detail, .. }) => Ok(Err(detail)),
        Err(other) => Err(other),
    }
}

fn bad_body(endpoint: Endpoint, expected: &str, got: &Value) -> MkeError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    MkeError::BadBody {
        endpoint,
        detail: format!("{expected}, got {kind}"),
    }
}

/// The message of a 2xx answer: `message` (or `errors[].message`) when
/// JSON, else the text; empty for an empty body.
fn success_message(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        server_message(body)
    }
}

#[cfg(test)]
mod tests;
