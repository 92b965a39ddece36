//! The MKE 3 API client: one login per run, Bearer token, one re-login on
//! a 401, bounded retries for idempotent requests only.
//!
//! Nothing here is global: a client is built from a [`ClientConfig`] and
//! owns its HTTP connection pool, TLS setup and token, so tests can point
//! any number of clients at any number of servers.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::error::{Endpoint, Timeouts, server_message, transport_error};
use super::model::{
    Backup, Info, MkeVersion, Node, VersionInfo, parse_backup_id, parse_backup_list, select_version,
};
use super::{MkeError, MkeTarget, tls};
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
    fn backoff(&self, attempt: u32) -> Duration {
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
    fn to_json(&self) -> Value {
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

enum Body {
    Empty,
    Json(Value),
    Toml(String),
}

struct Request<'a> {
    method: Method,
    /// Set for requests to another address than the target (`ping_at`).
    target: Option<&'a MkeTarget>,
    path: &'a [&'a str],
    accept: &'static str,
    body: Body,
    auth: bool,
    timeout: Option<Duration>,
    retry: bool,
}

impl<'a> Request<'a> {
    fn get(path: &'a [&'a str]) -> Self {
        Request {
            method: Method::GET,
            target: None,
            path,
            accept: "application/json",
            body: Body::Empty,
            auth: true,
            timeout: None,
            retry: true,
        }
    }
}

struct Response {
    status: u16,
    body: String,
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
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
            }),
        })
    }

    pub fn target(&self) -> &MkeTarget {
        &self.inner.cfg.target
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
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
        let (endpoint, json) = self.get_json(&["nodes"]).await?;
        match json {
            Value::Array(list) => Ok(list.iter().map(Node::from_json).collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(bad_body(endpoint, "expected a JSON list of nodes", &other)),
        }
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

    // ------------------------------------------------------------ plumbing

    async fn get_json(&self, path: &[&str]) -> Result<(Endpoint, Value), MkeError> {
        let req = Request::get(path);
        let resp = self.send(&req).await?;
        let endpoint = self.endpoint(&req);
        match serde_json::from_str(&resp.body) {
            Ok(json) => Ok((endpoint, json)),
            Err(e) => Err(MkeError::BadBody {
                endpoint,
                detail: format!("not JSON ({e}): {}", server_message(&resp.body)),
            }),
        }
    }

    /// Sends with the session token, logging in again once on a 401, and
    /// turns non-2xx answers into [`MkeError::Http`].
    async fn send(&self, req: &Request<'_>) -> Result<Response, MkeError> {
        let mut token = if req.auth {
            Some(self.token().await?)
        } else {
            None
        };
        let mut resp = self.exchange(req, token.as_ref()).await?;
        if resp.status == 401
            && let Some(used) = token.take()
        {
            self.forget_token(&used).await;
            token = Some(self.token().await?);
            resp = self.exchange(req, token.as_ref()).await?;
        }
        self.success(req, resp)
    }

    /// The response if 2xx, else [`MkeError::Http`] with MKE's message.
    fn success(&self, req: &Request<'_>, resp: Response) -> Result<Response, MkeError> {
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(MkeError::Http {
                endpoint: self.endpoint(req),
                status: resp.status,
                message: server_message(&resp.body),
            })
        }
    }

    /// One request with retries (idempotent requests only): any status is
    /// returned; 5xx answers are retried while tries remain.
    async fn exchange(
        &self,
        req: &Request<'_>,
        token: Option<&Secret>,
    ) -> Result<Response, MkeError> {
        let endpoint = self.endpoint(req);
        let idempotent = req.retry && endpoint.is_idempotent();
        let policy = self.inner.cfg.retry;
        let attempts = if idempotent {
            policy.attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let result = self.send_once(req, token).await;
            let transient = match &result {
                Ok(resp) => resp.status >= 500,
                Err(e) => e.is_transient(),
            };
            if !transient || attempt >= attempts {
                return match result {
                    Ok(resp) if !endpoint.is_idempotent() && matches!(resp.status, 502 | 504) => {
                        Err(MkeError::OutcomeUnknown {
                            endpoint,
                            detail: format!(
                                "a proxy answered HTTP {} ({}) while MKE may still be working \
                                 on it",
                                resp.status,
                                server_message(&resp.body)
                            ),
                        })
                    }
                    other => other,
                };
            }
            tokio::time::sleep(policy.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Exactly one HTTP exchange.
    async fn send_once(
        &self,
        req: &Request<'_>,
        token: Option<&Secret>,
    ) -> Result<Response, MkeError> {
        let cfg = &self.inner.cfg;
        let target = req.target.unwrap_or(&cfg.target);
        let url = target.url(req.path)?;
        let timeouts = Timeouts {
            connect: cfg.connect_timeout,
            request: req.timeout.unwrap_or(cfg.request_timeout),
        };
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url)
            .timeout(timeouts.request)
            .header(ACCEPT, req.accept);
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    MkeError::BadBody {
                        endpoint: self.endpoint(req),
                        detail: "the session token from the login is not a valid header value"
                            .to_string(),
                    }
                })?;
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(v) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Toml(t) => builder
                .header(CONTENT_TYPE, "application/toml")
                .body(t.clone()),
        };
        let fail = |e: reqwest::Error| {
            transport_error(self.endpoint(req), &target.authority(), &e, timeouts)
        };
        let resp = builder.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(fail)?;
        Ok(Response { status, body })
    }

    /// The cached token, or a fresh login.
    async fn token(&self) -> Result<Secret, MkeError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(token) = slot.as_ref() {
            return Ok(token.clone());
        }
        let token = self.login().await?;
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Drops the token after a 401, unless another request already
    /// replaced it.
    async fn forget_token(&self, used: &Secret) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref() == Some(used) {
            *slot = None;
        }
    }

    /// `POST /auth/login`; the token is registered for redaction at once.
    async fn login(&self) -> Result<Secret, MkeError> {
        let cfg = &self.inner.cfg;
        let req = Request {
            method: Method::POST,
            body: Body::Json(json!({
                "username": cfg.username,
                "password": cfg.password.expose(),
            })),
            auth: false,
            ..Request::get(&["auth", "login"])
        };
        // Not `send`: a login never carries a token nor logs in again.
        let resp = self.exchange(&req, None).await?;
        let resp = self.success(&req, resp)?;
        let token = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("auth_token")?.as_str().map(str::to_string))
            .filter(|t| !t.trim().is_empty());
        match token {
            Some(t) => Ok(Secret::new(t)),
            None => Err(MkeError::BadBody {
                endpoint: self.endpoint(&req),
                detail: "the answer holds no auth_token".to_string(),
            }),
        }
    }

    fn endpoint(&self, req: &Request<'_>) -> Endpoint {
        let path = format!("/{}", req.path.join("/"));
        let target = match req.target {
            Some(t) => format!("{t}{path}"),
            None => path,
        };
        Endpoint::new(method_name(&req.method), target)
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
