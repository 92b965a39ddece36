//! Retries: idempotent requests retried on 5xx and dropped connections,
//! within bounds; PUT and POST never; timeouts named; no redirects.

use super::*;

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
