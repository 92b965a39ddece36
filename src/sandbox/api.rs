//! The simulated MKE 3 API over HTTPS: routing, login and Bearer tokens,
//! fault injection, the config-toml rules (with the KDD conversion), and
//! backups. The JSON documents themselves are built in `views`.
//!
//! Errors come in the three shapes the facts file lists, by endpoint family,
//! so a client meets all of them: `/auth/login` and `/api/ucp/backup*`
//! answer `{"errors":[{"code","message"}]}`; the Docker-proxied `/info`,
//! `/version`, `/nodes` and unknown paths answer `{"message"}`;
//! `/api/ucp/config-toml` and `/_ping` answer plain text.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::config::{self, Kdd};
use super::files::write_private;
use super::options::{NoValue, Seconds, StatusCode};
use super::state::{Backup, BackupState, now_ms};
use super::topology::Role;
use super::{Session, Shared, random_id, take_fault, views};

type Resp = Response<Full<Bytes>>;

/// Largest request body accepted (a config TOML is a few KiB).
const MAX_BODY: usize = 4 << 20;
/// Where API backups go when the request names no `hostPath`.
const DEFAULT_BACKUP_DIR: &str = "/var/backups/mke3";

/// Returned by the service to make hyper close the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the sandbox")
    }
}

impl std::error::Error for Dropped {}

/// Accepts TLS connections on `listener` until `stop` flips.
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let local = tcp.local_addr().ok();
                    connections.spawn(connection(tcp, acceptor.clone(), shared.clone(), local));
                }
                Err(err) => {
                    eprintln!("mkeprep sandbox: accepting an API connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    local: Option<SocketAddr>,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return; // a failed handshake (a client that distrusts the CA) ends here
    };
    let local_ip = local.map(|a| a.ip());
    let service = service_fn(move |req| handle(shared.clone(), req, local_ip));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// What the record line of a request says besides method, path and status.
#[derive(Default)]
struct Note {
    fault: Option<&'static str>,
    body_file: Option<String>,
    login: Option<&'static str>,
    logins: Option<u64>,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    local: Option<IpAddr>,
) -> Result<Resp, Dropped> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    if let Some(NoValue) = take_fault(&shared.faults.drop, &method, &path) {
        let note = Note {
            fault: Some("drop"),
            ..Note::default()
        };
        record(&shared, &method, &path, 0, started, local, note);
        return Err(Dropped);
    }
    let (tx, rx) = oneshot::channel();
    let task_shared = shared.clone();
    shared.spawn(async move {
        let mut note = Note::default();
        let resp = respond(&task_shared, req, local, &mut note).await;
        record(
            &task_shared,
            &method,
            &path,
            resp.status().as_u16(),
            started,
            local,
            note,
        );
        let _ = tx.send(resp);
    });
    rx.await.map_err(|_| Dropped)
}

fn record(
    shared: &Shared,
    method: &str,
    path: &str,
    status: u16,
    started: Instant,
    local: Option<IpAddr>,
    note: Note,
) {
    shared.record.write(
        "http",
        json!({
            "method": method,
            "path": path,
            "status": status,
            "ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "addr": local.map(|ip| ip.to_string()),
            "fault": note.fault,
            "body_file": note.body_file,
            "login": note.login,
            "logins": note.logins,
        }),
    );
}

/// The endpoints, by method and path.
enum Route {
    Ping,
    Login,
    Info,
    Version,
    Nodes,
    GetConfig,
    PutConfig,
    ListBackups,
    CreateBackup,
    GetBackup(String),
    WrongMethod(&'static str),
    NotFound,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        let m = method.as_str();
        let read = m == "GET" || m == "HEAD";
        match path {
            "/_ping" if read => Route::Ping,
            "/_ping" => Route::WrongMethod("GET, HEAD"),
            "/auth/login" if m == "POST" => Route::Login,
            "/auth/login" => Route::WrongMethod("POST"),
            "/info" | "/version" | "/nodes" | "/api/ucp/backups" if !read => {
                Route::WrongMethod("GET")
            }
            "/info" => Route::Info,
            "/version" => Route::Version,
            "/nodes" => Route::Nodes,
            "/api/ucp/backups" => Route::ListBackups,
            "/api/ucp/config-toml" if read => Route::GetConfig,
            "/api/ucp/config-toml" if m == "PUT" => Route::PutConfig,
            "/api/ucp/config-toml" => Route::WrongMethod("GET, PUT"),
            "/api/ucp/backup" if m == "POST" => Route::CreateBackup,
            "/api/ucp/backup" => Route::WrongMethod("POST"),
            _ => match path.strip_prefix("/api/ucp/backup/") {
                Some(id) if !id.is_empty() && !id.contains('/') && read => {
                    Route::GetBackup(id.to_string())
                }
                Some(id) if !id.is_empty() && !id.contains('/') => Route::WrongMethod("GET"),
                _ => Route::NotFound,
            },
        }
    }
}

/// The error body shapes (see the module docs).
#[derive(Clone, Copy)]
enum Shape {
    Errors,
    Message,
    Plain,
}

fn shape_of(path: &str) -> Shape {
    if path == "/auth/login" || path.starts_with("/api/ucp/backup") {
        Shape::Errors
    } else if path == "/api/ucp/config-toml" || path == "/_ping" {
        Shape::Plain
    } else {
        Shape::Message
    }
}

fn response(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json_response(status: u16, value: &Value) -> Resp {
    response(status, "application/json", value.to_string())
}

fn error(shape: Shape, status: u16, message: &str) -> Resp {
    match shape {
        Shape::Errors => {
            let code = match status {
                400 => "INVALID_INPUT",
                401 => "UNAUTHORIZED",
                404 => "NOT_FOUND",
                405 => "METHOD_NOT_ALLOWED",
                409 => "CONFLICT",
                413 => "PAYLOAD_TOO_LARGE",
                500..=599 => "INTERNAL_ERROR",
                _ => "ERROR",
            };
            json_response(
                status,
                &json!({"errors": [{"code": code, "message": message}]}),
            )
        }
        Shape::Message => json_response(status, &json!({ "message": message })),
        Shape::Plain => response(status, "text/plain; charset=utf-8", format!("{message}\n")),
    }
}

async fn respond(
    shared: &Shared,
    req: Request<Incoming>,
    local: Option<IpAddr>,
    note: &mut Note,
) -> Resp {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let shape = shape_of(&path);
    if let Some(Seconds(delay)) = take_fault(&shared.faults.slow, &method, &path) {
        note.fault = Some("slow");
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
    }
    if let Some(StatusCode(status)) = take_fault(&shared.faults.http_error, &method, &path) {
        note.fault = Some("http-error");
        return error(
            shape,
            status,
            &format!(
                "internal server error (injected by the sandbox: --http-error for {method} {path})"
            ),
        );
    }
    let route = Route::of(req.method(), &path);
    match route {
        Route::Ping => return ping(shared, local),
        Route::Login => return login(shared, req, note).await,
        Route::NotFound => return error(shape, 404, "page not found"),
        Route::WrongMethod(allow) => {
            let mut resp = error(
                shape,
                405,
                &format!("method {method} not allowed on {path}"),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return resp;
        }
        _ => {}
    }
    if let Err(message) = authorize(shared, req.headers()) {
        return error(shape, 401, message);
    }
    match route {
        Route::Info => json_response(200, &views::info(&shared.opts, &shared.topo)),
        Route::Version => json_response(200, &views::version(&shared.opts)),
        Route::Nodes => json_response(200, &views::nodes(&shared.topo)),
        Route::GetConfig => get_config(shared, note),
        Route::PutConfig => put_config(shared, req, note).await,
        Route::ListBackups => {
            let list: Vec<Value> = shared
                .cluster()
                .data
                .backups
                .iter()
                .map(Backup::to_json)
                .collect();
            json_response(200, &Value::Array(list))
        }
        Route::CreateBackup => create_backup(shared, req).await,
        Route::GetBackup(id) => {
            let cluster = shared.cluster();
            match cluster.data.backups.iter().find(|b| b.id == id) {
                Some(b) => json_response(200, &b.to_json()),
                None => error(shape, 404, &format!("backup {id} not found")),
            }
        }
        Route::Ping | Route::Login | Route::NotFound | Route::WrongMethod(_) => {
            error(shape, 500, "sandbox routing error")
        }
    }
}

/// `GET /_ping`: `OK` through `MKE_HOST`; at a manager's own address, a
/// manager that is down answers 503.
fn ping(shared: &Shared, local: Option<IpAddr>) -> Resp {
    let down = shared.topo.managers().any(|n| {
        n.down
            && Some(n.addr) == local
            && !n.addr.is_unspecified()
            && n.addr != IpAddr::from([127, 0, 0, 1])
    });
    if down {
        error(Shape::Plain, 503, "unhealthy: this manager is down")
    } else {
        response(200, "text/plain; charset=utf-8", "OK")
    }
}

async fn read_body(req: Request<Incoming>, shape: Shape) -> Result<Bytes, Resp> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(error(
            shape,
            413,
            &format!("request body larger than {MAX_BODY} bytes"),
        )),
        Err(err) => Err(error(
            shape,
            400,
            &format!("cannot read the request body: {err}"),
        )),
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(shared: &Shared, req: Request<Incoming>, note: &mut Note) -> Resp {
    let body = match read_body(req, Shape::Errors).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Ok(creds) = serde_json::from_slice::<LoginRequest>(&body) else {
        return error(
            Shape::Errors,
            400,
            "invalid login request: expected JSON {\"username\": ..., \"password\": ...}",
        );
    };
    if creds.username != shared.opts.username || creds.password != shared.password.expose() {
        note.login = Some("denied");
        return error(Shape::Errors, 401, "invalid username or password");
    }
    let (config_lifetime, per_user_limit) = config::session_settings(&shared.cluster().config);
    let lifetime =
        Duration::from_secs_f64(shared.opts.token_expiry_seconds.unwrap_or(config_lifetime));
    let token = random_id();
    let now = Instant::now();
    {
        let mut tokens = shared.tokens();
        tokens.insert(
            token.clone(),
            Session {
                issued: now,
                last_used: now,
                uses: 0,
                lifetime,
            },
        );
        // Over the per-user limit, MKE deletes the least recently used session.
        while tokens.len() > per_user_limit {
            let oldest = tokens
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone());
            match oldest {
                Some(t) => tokens.remove(&t),
                None => break,
            };
        }
    }
    note.login = Some("ok");
    note.logins = Some(shared.logins.fetch_add(1, Ordering::SeqCst) + 1);
    json_response(200, &json!({ "auth_token": token }))
}

/// Checks the Bearer token; the error is the 401 message (never the token).
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("unauthorized: authentication token required (log in with POST /auth/login)")?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or("unauthorized: expected an Authorization: Bearer token")?;
    let mut tokens = shared.tokens();
    let Some(session) = tokens.get_mut(token) else {
        return Err("unauthorized: invalid authentication token provided");
    };
    let used_up = shared
        .opts
        .token_expiry_requests
        .is_some_and(|n| session.uses >= n);
    if used_up || session.issued.elapsed() >= session.lifetime {
        tokens.remove(token);
        return Err("unauthorized: session expired, log in again");
    }
    session.uses += 1;
    session.last_used = Instant::now();
    Ok(())
}

fn get_config(shared: &Shared, note: &mut Note) -> Resp {
    let text = shared.cluster().config.clone();
    let n = shared.config_gets.fetch_add(1, Ordering::SeqCst);
    let text = if n < shared.opts.malformed_toml {
        note.fault = Some("malformed-toml");
        config::malformed(&text)
    } else {
        text
    };
    response(200, "application/toml", text)
}

/// Clears the "conversion in progress" flag however the conversion ends.
struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

async fn put_config(shared: &Shared, req: Request<Incoming>, note: &mut Note) -> Resp {
    let plain = |status, message: &str| error(Shape::Plain, status, message);
    let body = match read_body(req, Shape::Plain).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (saved, dir) = {
        let mut cluster = shared.cluster();
        cluster.data.config_puts += 1;
        let name = format!("config-put-{}.toml", cluster.data.config_puts);
        let dir = cluster.dir().to_path_buf();
        if let Err(err) = cluster.save() {
            return plain(500, &err.to_string());
        }
        (name, dir)
    };
    if let Err(err) = write_private(&dir.join(&saved), &body) {
        return plain(500, &err.to_string());
    }
    note.body_file = Some(saved);
    let Ok(text) = std::str::from_utf8(&body) else {
        return plain(400, "invalid TOML: the body is not UTF-8 text");
    };
    let new_kdd = match config::parse_kdd(text) {
        Ok(k) => k,
        Err(message) => return plain(400, &message),
    };
    let (old_kdd, converting) = {
        let cluster = shared.cluster();
        (
            config::parse_kdd(&cluster.config) == Ok(Kdd::Value(true)),
            cluster.data.pending_kdd.is_some(),
        )
    };
    if converting
        || shared
            .kdd_busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return plain(
            409,
            "a Calico datastore conversion to KDD is in progress; wait for it to finish, then read the configuration again",
        );
    }
    let _busy = Busy(&shared.kdd_busy);
    let message = match (old_kdd, new_kdd) {
        (true, Kdd::Value(true)) | (false, Kdd::Absent | Kdd::Value(false)) => {
            "Configuration updated"
        }
        (true, _) => {
            return plain(
                400,
                "cluster_config.calico_kdd cannot be changed from true to false: the conversion to the Kubernetes datastore (KDD) is irreversible; restore an MKE backup taken before the conversion to return to etcd",
            );
        }
        (false, Kdd::Value(true)) => {
            // Accepted: the cluster converts from now on, and finishes even
            // if the client or this process goes away (see `settle`).
            let duration = shared.opts.kdd_duration();
            {
                let mut cluster = shared.cluster();
                cluster.data.pending_kdd = Some(super::state::PendingKdd {
                    config: text.to_string(),
                    done_ms: now_ms() + u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                });
                if let Err(err) = cluster.save() {
                    return plain(500, &err.to_string());
                }
            }
            tokio::time::sleep(duration).await;
            shared.opts.kdd_message.message()
        }
    };
    let mut cluster = shared.cluster();
    cluster.config = text.to_string();
    cluster.data.pending_kdd = None;
    match cluster.save() {
        Ok(()) => json_response(200, &json!({ "message": message })),
        Err(err) => plain(500, &err.to_string()),
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

async fn create_backup(shared: &Shared, req: Request<Incoming>) -> Resp {
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
