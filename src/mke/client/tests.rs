//! The client against a real HTTPS server on 127.0.0.1 with a generated CA
//! (see `testserver`): login and token reuse, re-login on 401, retries,
//! timeouts, TLS and connection errors, every endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;
use crate::mke::testserver::{Recorded, Reply, TEST_PASSWORD, TestPki, TestServer};
use crate::mke::{BackupState, NodeRole, TimeoutKind, VersionSource};

const UNAUTHORIZED: &str =
    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid authentication token provided"}]}"#;

/// A fake MKE: `/auth/login` checks the credentials and hands out `tok-1`,
/// `tok-2`, …; other paths (but `/_ping`) need a token issued so far, then
/// `routes` answers with the token's number (`None` → 404).
fn mke(
    routes: impl Fn(&Recorded, u32) -> Option<Reply> + Send + Sync + 'static,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let issued = Arc::new(AtomicU32::new(0));
    move |req| {
        if req.method == "POST" && req.path == "/auth/login" {
            let creds: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            if creds["username"] != "admin" || creds["password"] != TEST_PASSWORD {
                return Reply::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#,
                );
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(200, format!(r#"{{"auth_token":"tok-{n}"}}"#));
        }
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer tok-"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=issued.load(Ordering::SeqCst)).contains(n));
        match token {
            Some(n) => routes(req, n),
            None if req.path == "/_ping" => routes(req, 0),
            None => Some(Reply::json(401, UNAUTHORIZED)),
        }
        .unwrap_or_else(|| Reply::json(404, r#"{"message":"page not found"}"#))
    }
}

async fn client_for(server: &TestServer) -> MkeClient {
    MkeClient::new(server.config()).unwrap()
}

/// Display and Debug of an error, checked to carry no password or token.
fn text(e: &MkeError) -> String {
    let shown = format!("{e} / {e:?}");
    assert!(!shown.contains(TEST_PASSWORD), "{shown}");
    assert!(!shown.contains("tok-"), "{shown}");
    e.to_string()
}

const CONFIG: &str = "[cluster_config]\n  calico_kdd = false # etcd\n";

fn full_mke() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    mke(|req, _| {
        Some(match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/info") => Reply::json(200, r#"{"ServerVersion":"ucp/3.8.7","Name":"m1"}"#),
            ("GET", "/version") => Reply::json(
                200,
                r#"{"Components":[{"Name":"Engine","Version":"23.0.9"},
                   {"Name":"Universal Control Plane","Version":"3.8.7"}]}"#,
            ),
            ("GET", "/_ping") => Reply::text(200, "OK"),
            ("GET", "/nodes") => Reply::json(
                200,
                r#"[{"ID":"n1","Description":{"Hostname":"m1"},
                    "Spec":{"Role":"manager","Availability":"active"},
                    "Status":{"State":"ready","Addr":"0.0.0.0"},
                    "ManagerStatus":{"Leader":true,"Reachability":"reachable","Addr":"10.0.0.11:2377"}},
                   {"ID":"n2","Description":{"Hostname":"w1"},
                    "Spec":{"Role":"worker","Availability":"active"},
                    "Status":{"State":"down","Addr":"10.0.0.21"}}]"#,
            ),
            ("GET", "/api/ucp/config-toml") => Reply::text(200, CONFIG),
            ("PUT", "/api/ucp/config-toml") => Reply::json(
                200,
                r#"{"message":"Calico datastore migration from etcd to kdd successful"}"#,
            ),
            ("GET", "/api/ucp/backups") => Reply::json(
                200,
                r#"[{"id":"b-0","backupState":"SUCCESS","completed_at":"2026-01-02T03:04:05Z"}]"#,
            ),
            ("POST", "/api/ucp/backup") => Reply::json(200, r#"{"backupId":"b-1"}"#),
            ("GET", "/api/ucp/backup/b-1") => {
                Reply::json(200, r#"{"id":"b-1","backupState":"IN_PROGRESS"}"#)
            }
            _ => return None,
        })
    })
}

#[tokio::test]
async fn every_endpoint_with_one_login() {
    let server = TestServer::start(full_mke()).await;
    let client = client_for(&server).await;

    let info = client.info().await.unwrap();
    assert_eq!(info.server_version.as_deref(), Some("ucp/3.8.7"));
    let version = client.version().await.unwrap();
    assert_eq!(version.components.len(), 2);
    let mke = client.mke_version().await.unwrap();
    assert_eq!(mke.version, semver::Version::new(3, 8, 7));
    assert!(matches!(mke.source, VersionSource::Info { .. }));
    assert_eq!(client.ping().await.unwrap(), 200);
    assert_eq!(
        client
            .ping_at("127.0.0.1", server.addr.port())
            .await
            .unwrap(),
        200
    );

    let nodes = client.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].role, NodeRole::Manager);
    assert_eq!(nodes[0].addr.as_deref(), Some("10.0.0.11"));
    assert!(nodes[0].leader);

    assert_eq!(client.config_toml().await.unwrap(), CONFIG);
    let edited = crate::mke::config::set_calico_kdd(CONFIG).unwrap();
    let message = client
        .put_config_toml(&edited, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(
        message,
        "Calico datastore migration from etcd to kdd successful"
    );

    let backups = client.backups().await.unwrap();
    assert_eq!(backups[0].state, BackupState::Success);
    let request = BackupRequest {
        passphrase: Some(Secret::new("backup-passphrase-123")),
        file_name: Some("pre-upgrade.tar".into()),
        ..BackupRequest::default()
    };
    let id = client.create_backup(&request).await.unwrap();
    assert_eq!(id, "b-1");
    assert_eq!(
        client.backup(&id).await.unwrap().state,
        BackupState::InProgress
    );

    // One login for the whole run; every API call carries its token.
    assert_eq!(server.count("POST", "/auth/login"), 1);
    for req in server.requests() {
        let auth = req.header("authorization");
        match req.path.as_str() {
            "/auth/login" | "/_ping" => assert_eq!(auth, None, "{}", req.path),
            _ => assert_eq!(auth, Some("Bearer tok-1"), "{}", req.path),
        }
    }
    let requests = server.requests();
    let find = |m: &str, p: &str| {
        requests
            .iter()
            .find(|r| r.method == m && r.path == p)
            .unwrap()
    };
    let login: Value = serde_json::from_str(&find("POST", "/auth/login").body).unwrap();
    assert_eq!(
        login,
        json!({"username": "admin", "password": TEST_PASSWORD})
    );
    let get = find("GET", "/api/ucp/config-toml");
    assert_eq!(get.header("accept"), Some("application/toml"));
    let put = find("PUT", "/api/ucp/config-toml");
    assert_eq!(put.body, edited);
    assert_eq!(put.header("accept"), Some("application/toml"));
    let post: Value = serde_json::from_str(&find("POST", "/api/ucp/backup").body).unwrap();
    assert_eq!(
        post,
        json!({"passphrase": "backup-passphrase-123", "noPassphrase": false, "encrypted": true,
               "includeLogs": false, "fileName": "pre-upgrade.tar"})
    );
}

#[tokio::test]
async fn concurrent_first_calls_share_one_login() {
    let server = TestServer::start(full_mke()).await;
    let client = client_for(&server).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.nodes().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().len(), 2);
    }
    assert_eq!(server.count("POST", "/auth/login"), 1);
}

#[tokio::test]
async fn a_401_logs_in_again_once_and_retries_the_call() {
    // The first token "expires" at once.
    let server = TestServer::start(mke(|req, token| match (req.path.as_str(), token) {
        ("/api/ucp/config-toml", 1) => Some(Reply::json(401, UNAUTHORIZED)),
        ("/api/ucp/config-toml", _) => Some(Reply::json(200, r#"{"message":"applied"}"#)),
        _ => None,
    }))
    .await;
    let client = client_for(&server).await;
    let msg = client
        .put_config_toml(CONFIG, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(msg, "applied");
    assert_eq!(server.count("POST", "/auth/login"), 2);
    assert_eq!(server.count("PUT", "/api/ucp/config-toml"), 2);
    let auths: Vec<_> = server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_second_401_is_reported_not_looped() {
    let server = TestServer::start(mke(|req, token| {
        (req.path == "/nodes").then(|| {
            Reply::json(
                401,
                format!(r#"{{"message":"token tok-{token} refused for {TEST_PASSWORD}"}}"#),
            )
        })
    }))
    .await;
    let client = client_for(&server).await;
    let err = client.nodes().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let msg = text(&err);
    assert!(msg.starts_with("GET /nodes: HTTP 401: token "), "{msg}");
    assert!(msg.contains("even after a fresh login"), "{msg}");
    assert_eq!(server.count("POST", "/auth/login"), 2);
    assert_eq!(server.count("GET", "/nodes"), 2);
}

#[tokio::test]
async fn wrong_credentials_are_reported_once() {
    let server = TestServer::start(full_mke()).await;
    let mut cfg = server.config();
    cfg.password = Secret::new("wrong-password-zz");
    let client = MkeClient::new(cfg).unwrap();
    let err = client.authenticate().await.unwrap_err();
    let msg = text(&err);
    assert_eq!(
        msg,
        "POST /auth/login: HTTP 401: invalid credentials (UNAUTHORIZED). MKE rejected the \
         credentials: check MKE_USERNAME and MKE_PASSWORD"
    );
    assert!(!format!("{err:?}").contains("wrong-password-zz"));
    assert_eq!(server.count("POST", "/auth/login"), 1);
}

#[tokio::test]
async fn login_without_a_token_in_the_answer() {
    let server = TestServer::start(|_: &Recorded| Reply::json(200, r#"{"token_id":"x"}"#)).await;
    let err = client_for(&server).await.info().await.unwrap_err();
    assert!(
        text(&err).contains("POST /auth/login: unexpected answer: the answer holds no auth_token"),
        "{err}"
    );
}

/// A route that fails `failures` times with `reply`, then answers `ok`.
fn flaky(
    path: &'static str,
    failures: u32,
    reply: Reply,
    ok: Reply,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let seen = AtomicU32::new(0);
    mke(move |req, _| {
        (req.path == path).then(|| {
            if seen.fetch_add(1, Ordering::SeqCst) < failures {
                reply.clone()
            } else {
                ok.clone()
            }
        })
    })
}

#[tokio::test]
async fn get_retries_5xx_and_dropped_connections() {
    let server = TestServer::start(flaky(
        "/nodes",
        2,
        Reply::text(503, "busy"),
        Reply::json(200, "[]"),
    ))
    .await;
    assert!(client_for(&server).await.nodes().await.unwrap().is_empty());
    assert_eq!(server.count("GET", "/nodes"), 3);

    let server =
        TestServer::start(flaky("/info", 1, Reply::dropped(), Reply::json(200, "{}"))).await;
    assert_eq!(
        client_for(&server).await.info().await.unwrap(),
        Info::default()
    );
    assert_eq!(server.count("GET", "/info"), 2);
}

#[tokio::test]
async fn get_gives_up_after_three_tries_with_the_server_message() {
    let server = TestServer::start(flaky(
        "/nodes",
        99,
        Reply::json(503, r#"{"message":"etcd cluster is unavailable"}"#),
        Reply::json(200, "[]"),
    ))
    .await;
    let err = client_for(&server).await.nodes().await.unwrap_err();
    assert!(
        text(&err).starts_with("GET /nodes: HTTP 503: etcd cluster is unavailable. MKE reported"),
        "{err}"
    );
    assert_eq!(server.count("GET", "/nodes"), 3);
}

#[tokio::test]
async fn get_timeout_says_which_timeout_and_how_long() {
    let server = TestServer::start(mke(|req, _| {
        (req.path == "/info").then(|| Reply::json(200, "{}").after(Duration::from_secs(2)))
    }))
    .await;
    let mut cfg = server.config();
    cfg.request_timeout = Duration::from_millis(200);
    cfg.retry.attempts = 2;
    let err = MkeClient::new(cfg).unwrap().info().await.unwrap_err();
    assert!(
        matches!(
            err,
            MkeError::Timeout {
                kind: TimeoutKind::Request,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text(&err).contains("within the request timeout of 200ms"),
        "{err}"
    );
    assert_eq!(server.count("GET", "/info"), 2);
}

async fn put_error(reply: Reply, timeout: Duration) -> (MkeError, usize) {
    let server = TestServer::start(mke(move |req, _| {
        (req.path == "/api/ucp/config-toml").then(|| reply.clone())
    }))
    .await;
    let err = client_for(&server)
        .await
        .put_config_toml(CONFIG, timeout)
        .await
        .unwrap_err();
    (err, server.count("PUT", "/api/ucp/config-toml"))
}

#[tokio::test]
async fn a_put_is_never_retried() {
    let second = Duration::from_secs(3);
    let (err, puts) = put_error(Reply::json(503, r#"{"message":"busy"}"#), second).await;
    assert_eq!((err.status(), puts), (Some(503), 1));

    let (err, puts) = put_error(Reply::text(400, "toml: line 2: bad value"), second).await;
    assert_eq!(puts, 1);
    assert!(
        text(&err).contains("HTTP 400: toml: line 2: bad value. MKE refused"),
        "{err}"
    );

    let (err, puts) = put_error(Reply::dropped(), second).await;
    assert!(matches!(err, MkeError::OutcomeUnknown { .. }), "{err:?}");
    assert!(
        text(&err).starts_with("PUT /api/ucp/config-toml: outcome unknown"),
        "{err}"
    );
    assert_eq!(puts, 1);

    let slow = Reply::json(200, "{}").after(Duration::from_secs(2));
    let (err, puts) = put_error(slow, Duration::from_millis(300)).await;
    assert!(matches!(err, MkeError::OutcomeUnknown { .. }), "{err:?}");
    assert!(text(&err).contains("request timeout of 300ms"), "{err}");
    assert_eq!(puts, 1);

    let (err, puts) = put_error(Reply::text(504, "Gateway Timeout"), second).await;
    assert!(text(&err).contains("a proxy answered HTTP 504"), "{err}");
    assert_eq!(puts, 1);
}

#[tokio::test]
async fn a_backup_post_is_never_retried() {
    let server = TestServer::start(mke(|req, _| {
        (req.path == "/api/ucp/backup").then(Reply::dropped)
    }))
    .await;
    let err = client_for(&server)
        .await
        .create_backup(&BackupRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, MkeError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(server.count("POST", "/api/ucp/backup"), 1);
    let body: Value = serde_json::from_str(&server.requests()[1].body).unwrap();
    assert_eq!(body["noPassphrase"], true);
    assert!(body.get("passphrase").is_none());
}

#[tokio::test]
async fn an_unknown_ca_is_reported_with_the_way_to_trust_it() {
    let server = TestServer::start(full_mke()).await;
    // Trust another CA than the server's (so the test does not depend on
    // the machine's own roots).
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, TestPki::new(&["localhost"]).ca_pem).unwrap();
    let mut cfg = server.config();
    cfg.ca_cert = Some(other_ca);
    let err = MkeClient::new(cfg).unwrap().info().await.unwrap_err();
    assert!(matches!(err, MkeError::TlsUntrusted { .. }), "{err:?}");
    let msg = text(&err);
    let host = format!("127.0.0.1:{}", server.addr.port());
    assert!(
        msg.starts_with("POST /auth/login: the TLS certificate of"),
        "{msg}"
    );
    assert!(msg.contains("was not trusted"), "{msg}");
    assert!(msg.contains(&format!("curl -k https://{host}/ca")), "{msg}");
    assert!(msg.contains("--ca-cert mke-ca.pem"), "{msg}");
    assert!(msg.contains("MKEPREP_CA_CERT"), "{msg}");
    assert!(!msg.contains("insecure"), "{msg}");
    assert!(server.requests().is_empty());

    // --insecure gets through without the CA.
    let mut cfg = server.config();
    cfg.ca_cert = None;
    cfg.insecure = true;
    let info = MkeClient::new(cfg).unwrap().info().await.unwrap();
    assert_eq!(info.name.as_deref(), Some("m1"));
}

#[tokio::test]
async fn a_certificate_for_another_name_is_told_apart() {
    let server = TestServer::start_for(&["mke.example.com"], full_mke()).await;
    let err = client_for(&server).await.ping().await.unwrap_err();
    assert!(matches!(err, MkeError::TlsName { .. }), "{err:?}");
    let msg = text(&err);
    assert!(msg.contains("is not valid for that name"), "{msg}");
    assert!(msg.contains("subject alternative names"), "{msg}");
}

#[tokio::test]
async fn refused_connections_and_unknown_names() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = ClientConfig::new(
        MkeTarget::new("127.0.0.1", port).unwrap(),
        "admin",
        Secret::new(TEST_PASSWORD),
    );
    cfg.insecure = true;
    cfg.retry.initial_backoff = Duration::from_millis(5);
    let client = MkeClient::new(cfg.clone()).unwrap();
    let err = client.nodes().await.unwrap_err();
    assert!(matches!(err, MkeError::ConnectionRefused { .. }), "{err:?}");
    assert!(text(&err).contains(&format!("connection refused by 127.0.0.1:{port}")));
    assert!(matches!(
        client.ping().await,
        Err(MkeError::ConnectionRefused { .. })
    ));

    cfg.target = MkeTarget::parse("mke-does-not-exist.invalid").unwrap();
    let client = MkeClient::new(cfg).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), client.ping())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, MkeError::Dns { .. }), "{err:?}");
    assert!(text(&err).contains("cannot resolve the host name"), "{err}");
}

#[tokio::test]
async fn a_plain_http_port_is_a_tls_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..3 {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let mut cfg = ClientConfig::new(
        MkeTarget::new("127.0.0.1", port).unwrap(),
        "admin",
        Secret::new(TEST_PASSWORD),
    );
    cfg.insecure = true;
    let err = MkeClient::new(cfg).unwrap().ping().await.unwrap_err();
    task.abort();
    assert!(matches!(err, MkeError::Tls { .. }), "{err:?}");
    assert!(text(&err).contains("may not serve HTTPS"), "{err}");
}

#[tokio::test]
async fn version_falls_back_to_the_version_components() {
    let server = TestServer::start(mke(|req, _| match req.path.as_str() {
        "/info" => Some(Reply::json(200, r#"{"ServerVersion":"20.10.7"}"#)),
        "/version" => Some(Reply::json(
            200,
            r#"{"Components":[{"Name":"Engine","Version":"20.10.7"},
               {"Name":"Universal Control Plane","Version":"3.7.15"}]}"#,
        )),
        _ => None,
    }))
    .await;
    let v = client_for(&server).await.mke_version().await.unwrap();
    assert_eq!(v.version, semver::Version::new(3, 7, 15));
    assert_eq!(
        v.source.to_string(),
        r#"GET /version component "Universal Control Plane" = "3.7.15""#
    );

    // /info missing altogether (404), /version without an MKE component.
    let server = TestServer::start(mke(|req, _| {
        (req.path == "/version")
            .then(|| Reply::json(200, r#"{"Components":[{"Name":"Engine","Version":"1"}]}"#))
    }))
    .await;
    let err = client_for(&server).await.mke_version().await.unwrap_err();
    let MkeError::VersionNotFound { attempts } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(attempts[0], "GET /info: HTTP 404: page not found");
    assert!(attempts[1].contains(r#"(components: ["Engine"])"#), "{err}");
}

#[tokio::test]
async fn odd_bodies_are_reported() {
    let server = TestServer::start(mke(|req, _| match req.path.as_str() {
        "/nodes" => Some(Reply::text(200, "<html>not json</html>")),
        "/info" => Some(Reply::json(200, "[1,2]")),
        "/api/ucp/config-toml" => Some(Reply::text(200, "  \n")),
        "/api/ucp/backups" => Some(Reply::json(200, r#"{"weird":true}"#)),
        "/api/ucp/backup" => Some(Reply::json(200, r#"{"message":"started"}"#)),
        _ => None,
    }))
    .await;
    let client = client_for(&server).await;
    let err = client.nodes().await.unwrap_err();
    assert!(
        text(&err).starts_with("GET /nodes: unexpected answer: not JSON"),
        "{err}"
    );
    assert!(text(&err).contains("<html>not json</html>"), "{err}");
    let err = client.info().await.unwrap_err();
    assert!(
        text(&err).contains("expected a JSON object, got a list"),
        "{err}"
    );
    let err = client.config_toml().await.unwrap_err();
    assert!(text(&err).contains("the configuration is empty"), "{err}");
    let err = client.backups().await.unwrap_err();
    assert!(
        text(&err).contains("expected a JSON list of backups"),
        "{err}"
    );
    let err = client
        .create_backup(&BackupRequest::default())
        .await
        .unwrap_err();
    assert!(text(&err).contains("no backup id in \"started\""), "{err}");
    let err = client.backup("nope/../x").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(
        text(&err).contains("MKE knows no backup with that id"),
        "{err}"
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path == "/api/ucp/backup/nope%2F..%2Fx"),
        "the id is escaped as one path segment"
    );
}

#[tokio::test]
async fn ping_reports_the_status_without_retrying() {
    let server = TestServer::start(|req: &Recorded| {
        assert_eq!(req.path, "/_ping");
        Reply::text(503, "unhealthy")
    })
    .await;
    let client = client_for(&server).await;
    assert_eq!(client.ping().await.unwrap(), 503);
    assert_eq!(server.count("GET", "/_ping"), 1);
}

#[tokio::test]
async fn login_is_retried_on_5xx() {
    let seen = AtomicU32::new(0);
    let inner = full_mke();
    let server = TestServer::start(move |req: &Recorded| {
        if req.path == "/auth/login" && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::text(502, "Bad Gateway");
        }
        inner(req)
    })
    .await;
    assert_eq!(client_for(&server).await.nodes().await.unwrap().len(), 2);
    assert_eq!(server.count("POST", "/auth/login"), 2);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = TestServer::start(mke(|req, _| {
        (req.path == "/api/ucp/config-toml")
            .then(|| Reply::text(307, "").header("location", "/elsewhere"))
    }))
    .await;
    let err = client_for(&server)
        .await
        .put_config_toml(CONFIG, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(307));
    assert_eq!(server.count("PUT", "/api/ucp/config-toml"), 1);
    assert_eq!(
        server.requests().len(),
        2,
        "login and the PUT, nothing else"
    );
}

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

#[test]
fn debug_output_hides_the_password() {
    let cfg = ClientConfig::new(
        MkeTarget::parse("mke").unwrap(),
        "admin",
        Secret::new(TEST_PASSWORD),
    );
    assert!(!format!("{cfg:?}").contains(TEST_PASSWORD));
    let mut insecure = cfg;
    insecure.insecure = true;
    let client = MkeClient::new(insecure).unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains("https://mke:443"), "{shown}");
    assert!(!shown.contains(TEST_PASSWORD), "{shown}");
}
