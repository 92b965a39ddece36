//! Logging in: one login shared by concurrent first calls, one re-login on
//! a 401, wrong credentials, odd login answers.

use super::*;

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
    assert!(
        msg.contains("rejected the credentials of `admin` (POST /auth/login: HTTP 401: invalid credentials (UNAUTHORIZED))"),
        "{msg}"
    );
    assert!(msg.contains("will not try again"), "{msg}");
    assert_eq!(err.status(), Some(401));
    assert!(!format!("{err:?}").contains("wrong-password-zz"));
    // Later requests fail at once: no second login (a directory account
    // locks after a few).
    assert!(client.nodes().await.is_err());
    assert!(client.info().await.is_err());
    assert_eq!(server.count("POST", "/auth/login"), 1);
    assert_eq!(server.count("GET", "/nodes"), 0);
    assert!(client.denied().is_some());
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
