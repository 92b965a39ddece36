//! The simulated MKE 3 API over HTTPS: routing, login and Bearer tokens,
//! fault injection, the config-toml rules (with the KDD conversion), and
//! backups. The JSON documents themselves are built in `views`.
//!
//! Errors come in the three shapes the facts file lists, by endpoint family,
//! so a client meets all of them: `/auth/login` and `/api/ucp/backup*`
//! answer `{"errors":[{"code","message"}]}`; the Docker-proxied `/info`,
//! `/version`, `/nodes` and unknown paths answer `{"message"}`;
//! `/api/ucp/config-toml` and `/_ping` answer plain text.

mod auth;
mod backups;
mod config_toml;
mod reply;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::options::{NoValue, Seconds, StatusCode};
use super::{Shared, take_fault, views};
use reply::{Resp, error, json_response, shape_of};

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
    Services,
    Containers,
    Accounts,
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
            "/info" | "/version" | "/nodes" | "/services" | "/containers/json" | "/accounts"
            | "/api/ucp/backups"
                if !read =>
            {
                Route::WrongMethod("GET")
            }
            "/info" => Route::Info,
            "/version" => Route::Version,
            "/nodes" => Route::Nodes,
            "/services" => Route::Services,
            "/containers/json" => Route::Containers,
            "/accounts" => Route::Accounts,
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

async fn respond(
    shared: &Shared,
    req: Request<Incoming>,
    local: Option<IpAddr>,
    note: &mut Note,
) -> Resp {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let users_only = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "filter=users"));
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
        Route::Ping => return auth::ping(shared, local),
        Route::Login => return auth::login(shared, req, note).await,
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
    if let Err(message) = auth::authorize(shared, req.headers()) {
        return error(shape, 401, message);
    }
    match route {
        Route::Info => json_response(200, &views::info(&shared.opts, &shared.topo)),
        Route::Version => json_response(200, &views::version(&shared.opts)),
        Route::Nodes => json_response(200, &views::nodes(&shared.topo)),
        Route::Services => json_response(200, &views::services(&shared.opts)),
        Route::Containers => json_response(200, &views::containers(&shared.opts, &shared.topo)),
        Route::Accounts => json_response(200, &views::accounts(&shared.opts, users_only)),
        Route::GetConfig => config_toml::get_config(shared, note),
        Route::PutConfig => config_toml::put_config(shared, req, note).await,
        Route::ListBackups => backups::list(shared),
        Route::CreateBackup => backups::create(shared, req).await,
        Route::GetBackup(id) => backups::get(shared, shape, &id),
        Route::Ping | Route::Login | Route::NotFound | Route::WrongMethod(_) => {
            error(shape, 500, "sandbox routing error")
        }
    }
}
