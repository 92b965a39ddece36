//! The client against a real HTTPS server on 127.0.0.1 with a generated CA
//! (see `testserver`): login and token reuse, re-login on 401, retries,
//! timeouts, TLS and connection errors, every endpoint.

mod connection;
mod retries;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;
use crate::mke::testserver::{Recorded, Reply, TEST_PASSWORD, TestPki, TestServer};
use crate::mke::{BackupState, NodeRole, TimeoutKind, VersionSource};
use serde_json::json;

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
