//! TLS and connection errors: an unknown CA, a certificate for another
//! name, refused connections and unknown names, a plain HTTP port.

use super::*;

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
