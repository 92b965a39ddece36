//! A tiny HTTPS server on 127.0.0.1 for the client's tests: a CA generated
//! with rcgen, a leaf certificate for `localhost` and `127.0.0.1`, one
//! request per connection, scripted replies (status, body, delay, or a
//! dropped connection), and a record of every request received.
//!
//! Every wait is bounded; the accept loop stops when the server is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::{ClientConfig, MkeTarget, RetryPolicy};
use crate::util::secret::Secret;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    pub delay: Duration,
    /// Close the connection without answering.
    pub drop: bool,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            content_type: "application/json",
            delay: Duration::ZERO,
            drop: false,
            headers: Vec::new(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            content_type: "text/plain",
            ..Reply::json(status, body)
        }
    }

    pub fn dropped() -> Reply {
        Reply {
            drop: true,
            ..Reply::text(0, "")
        }
    }

    pub fn after(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// The generated CA and the server's TLS setup.
pub struct TestPki {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// A CA and a server certificate for `names` (DNS names or IPs).
    pub fn new(names: &[&str]) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mkeprep test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf_params = CertificateParams::new(names).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The CA that signed the server's certificate, as a PEM file.
    pub ca_file: PathBuf,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A server whose certificate covers `localhost` and `127.0.0.1`.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_for(&["localhost", "127.0.0.1"], handler).await
    }

    /// A server whose certificate covers `names` only.
    pub async fn start_for(
        names: &[&str],
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let pki = TestPki::new(names);
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(pki.server);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let handler = handler.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let bounded = tokio::time::timeout(Duration::from_secs(10), async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Some(req) = read_request(&mut tls).await else {
                            return;
                        };
                        recorded.lock().unwrap().push(req.clone());
                        let reply = handler(&req);
                        tokio::time::sleep(reply.delay).await;
                        if reply.drop {
                            return;
                        }
                        let extra: String = reply
                            .headers
                            .iter()
                            .map(|(n, v)| format!("{n}: {v}\r\n"))
                            .collect();
                        let head = format!(
                            "HTTP/1.1 {} Test\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
                             {extra}connection: close\r\n\r\n",
                            reply.status,
                            reply.content_type,
                            reply.body.len()
                        );
                        let _ = tls.write_all(head.as_bytes()).await;
                        let _ = tls.write_all(reply.body.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    });
                    let _ = bounded.await;
                });
            }
        });
        TestServer {
            addr,
            ca_file,
            requests,
            task,
            _dir: dir,
        }
    }

    pub fn target(&self) -> MkeTarget {
        MkeTarget::new("127.0.0.1", self.addr.port()).unwrap()
    }

    /// A client configuration trusting the server's CA, with short
    /// timeouts and backoffs.
    pub fn config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new(self.target(), "admin", Secret::new(TEST_PASSWORD));
        cfg.ca_cert = Some(self.ca_file.clone());
        cfg.request_timeout = Duration::from_secs(5);
        cfg.connect_timeout = Duration::from_secs(5);
        cfg.retry = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        };
        cfg
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests had this method and path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

pub const TEST_PASSWORD: &str = "test-password-Zq8#x1";

async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}
