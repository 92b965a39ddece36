//! Errors of the MKE client, and how MKE's own error bodies are read.
//!
//! Every message names the request (`GET /api/ucp/config-toml`), what went
//! wrong and what to do. None contains the password or the session token:
//! both are [`Secret`](crate::util::secret::Secret)s, and every text taken
//! from a server answer goes through [`redact`](crate::util::secret::redact) as a second line of defence.
mod body;
mod transport;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use body::server_message;
pub(crate) use transport::{Timeouts, transport_error};

/// The request an error is about: `GET /info`, or a full URL for requests
/// to another address than `MKE_HOST` (`GET https://10.0.0.12:443/_ping`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub target: String,
}

impl Endpoint {
    pub fn new(method: &'static str, target: impl Into<String>) -> Self {
        Endpoint {
            method,
            target: target.into(),
        }
    }

    /// GET and the login POST can be sent again safely; a PUT of the
    /// configuration or the POST that starts a backup cannot.
    pub fn is_idempotent(&self) -> bool {
        self.method == "GET" || self.is_login()
    }

    pub fn is_login(&self) -> bool {
        self.method == "POST" && self.target.ends_with("/auth/login")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// Which of the two client timeouts ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Establishing the TCP connection and the TLS session.
    Connect,
    /// The whole request, from sending to the end of the answer.
    Request,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Request => "request",
        })
    }
}

/// An error of the MKE client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MkeError {
    /// `MKE_HOST` could not be parsed.
    #[error("MKE_HOST={value:?} is not a valid MKE address: {reason}")]
    InvalidTarget { value: String, reason: String },

    /// The `--ca-cert` file is unreadable or holds no usable certificate.
    #[error(
        "cannot use the CA certificate file {} (--ca-cert / MKEPREP_CA_CERT): {reason}",
        path.display()
    )]
    CaCert { path: PathBuf, reason: String },

    /// TLS could not be set up at all (no trusted roots, bad crypto setup).
    #[error("cannot set up TLS for the MKE client: {0}")]
    TlsSetup(String),

    /// The server's certificate chain does not lead to a trusted CA.
    #[error(
        "{endpoint}: the TLS certificate of {host} was not trusted ({detail}). MKE signs its \
         certificates with its own CA by default: fetch it with `curl -k https://{host}/ca -o \
         mke-ca.pem`, compare it with the CA on a manager, and pass it with --ca-cert mke-ca.pem \
         (or MKEPREP_CA_CERT=mke-ca.pem)"
    )]
    TlsUntrusted {
        endpoint: Endpoint,
        host: String,
        detail: String,
    },

    /// The certificate is trusted but not issued for the name in `MKE_HOST`.
    #[error(
        "{endpoint}: the TLS certificate of {host} is not valid for that name ({detail}); set \
         MKE_HOST to a name or address that MKE's certificate covers (its subject alternative \
         names), or add this one to MKE's SANs"
    )]
    TlsName {
        endpoint: Endpoint,
        host: String,
        detail: String,
    },

    /// Any other TLS failure (expired certificate, not an HTTPS port, …).
    #[error("{endpoint}: the TLS handshake with {host} failed: {detail}")]
    Tls {
        endpoint: Endpoint,
        host: String,
        detail: String,
    },

    #[error(
        "{endpoint}: connection refused by {host}: nothing listens there; check the host and \
         port in MKE_HOST and that MKE is running"
    )]
    ConnectionRefused { endpoint: Endpoint, host: String },

    #[error(
        "{endpoint}: cannot resolve the host name of {host} ({detail}); check MKE_HOST and the \
         DNS settings of this machine"
    )]
    Dns {
        endpoint: Endpoint,
        host: String,
        detail: String,
    },

    /// Other connection failures: unreachable network, reset, closed early.
    #[error("{endpoint}: cannot talk to {host}: {detail}; check the network path to MKE_HOST")]
    Connect {
        endpoint: Endpoint,
        host: String,
        detail: String,
    },

    #[error(
        "{endpoint}: no answer from {host} within the {kind} timeout of {}; {}",
        humantime::format_duration(*after),
        timeout_hint(*kind)
    )]
    Timeout {
        endpoint: Endpoint,
        host: String,
        kind: TimeoutKind,
        after: Duration,
    },

    /// MKE rejected the credentials: mkeprep logs in once per run.
    #[error(
        "MKE at {target} rejected the credentials of `{username}` ({message}). mkeprep tries \
         one login per run and will not try again: an LDAP or AD account locks after a few \
         failed logins. Check MKE_USERNAME and MKE_PASSWORD (or --password-file) and run again"
    )]
    Denied {
        username: String,
        target: String,
        message: String,
    },

    /// MKE answered with an error status.
    #[error("{endpoint}: HTTP {status}: {message}. {}", http_hint(endpoint, *status))]
    Http {
        endpoint: Endpoint,
        status: u16,
        /// The server's own message, from `errors[].message`, `message` or
        /// the raw body (trimmed, truncated, secrets masked).
        message: String,
    },

    /// MKE answered 2xx with a body this client cannot read.
    #[error(
        "{endpoint}: unexpected answer: {detail}; is MKE_HOST an MKE 3 manager or its load \
         balancer?"
    )]
    BadBody { endpoint: Endpoint, detail: String },

    /// A request that changes state (PUT, POST) lost its connection or ran
    /// out of time after it was sent, or a proxy gave up waiting for it: MKE
    /// may or may not have applied it. Never retried blindly.
    #[error(
        "{endpoint}: outcome unknown: {detail}. MKE may or may not have applied the request: \
         read the current state again before trying again"
    )]
    OutcomeUnknown { endpoint: Endpoint, detail: String },

    /// Neither `/info` nor `/version` named an MKE version.
    #[error("could not read the MKE version from the API: {}", attempts.join("; "))]
    VersionNotFound { attempts: Vec<String> },
}

impl MkeError {
    /// The HTTP status, when MKE answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            MkeError::Http { status, .. } => Some(*status),
            MkeError::Denied { .. } => Some(401),
            _ => None,
        }
    }

    /// Whether sending the same idempotent request again may succeed:
    /// 5xx answers, timeouts and broken connections.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            MkeError::Http { status, .. } => *status >= 500,
            MkeError::Timeout { .. }
            | MkeError::ConnectionRefused { .. }
            | MkeError::Connect { .. } => true,
            _ => false,
        }
    }
}

fn timeout_hint(kind: TimeoutKind) -> &'static str {
    match kind {
        TimeoutKind::Connect => {
            "check that MKE_HOST is reachable from this machine (routes, firewalls, VPN)"
        }
        TimeoutKind::Request => {
            "MKE is slow or overloaded: check the health of the managers, or allow a longer \
             request timeout (`--api-timeout SECONDS`)"
        }
    }
}

fn http_hint(endpoint: &Endpoint, status: u16) -> &'static str {
    match status {
        400 if endpoint.target.ends_with("/config-toml") => {
            "MKE refused the configuration as invalid; nothing was applied"
        }
        400 => "MKE refused the request as invalid",
        401 if endpoint.is_login() => {
            "MKE rejected the credentials: check MKE_USERNAME and MKE_PASSWORD"
        }
        401 => {
            "MKE refused the session even after a fresh login: check that the user still \
             exists and is not locked"
        }
        403 => "the user may not do this: use an MKE admin account",
        404 if endpoint.target.contains("/api/ucp/backup/") => "MKE knows no backup with that id",
        404 => {
            "MKE has no such endpoint: check that MKE_HOST points at an MKE 3 manager or its \
             load balancer"
        }
        429 => "MKE is limiting the request rate: wait a moment and try again",
        500..=599 => {
            "MKE reported a server error: check the health of the managers (ucp-controller \
             logs) and try again"
        }
        _ => "unexpected answer from MKE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_render_method_path_status_message_and_advice() {
        let e = MkeError::Http {
            endpoint: Endpoint::new("GET", "/api/ucp/config-toml"),
            status: 503,
            message: "service unavailable".into(),
        };
        assert_eq!(
            e.to_string(),
            "GET /api/ucp/config-toml: HTTP 503: service unavailable. MKE reported a server \
             error: check the health of the managers (ucp-controller logs) and try again"
        );
        let login = MkeError::Http {
            endpoint: Endpoint::new("POST", "/auth/login"),
            status: 401,
            message: "invalid credentials".into(),
        };
        assert!(
            login
                .to_string()
                .contains("check MKE_USERNAME and MKE_PASSWORD")
        );
        let put = MkeError::Http {
            endpoint: Endpoint::new("PUT", "/api/ucp/config-toml"),
            status: 400,
            message: "bad toml".into(),
        };
        assert!(put.to_string().contains("nothing was applied"));
    }

    #[test]
    fn idempotency() {
        assert!(Endpoint::new("GET", "/nodes").is_idempotent());
        assert!(Endpoint::new("POST", "/auth/login").is_idempotent());
        assert!(!Endpoint::new("POST", "/api/ucp/backup").is_idempotent());
        assert!(!Endpoint::new("PUT", "/api/ucp/config-toml").is_idempotent());
    }

    #[test]
    fn timeout_messages_say_which_and_how_long() {
        let e = MkeError::Timeout {
            endpoint: Endpoint::new("GET", "/info"),
            host: "mke:443".into(),
            kind: TimeoutKind::Request,
            after: Duration::from_millis(1500),
        };
        let s = e.to_string();
        assert!(s.contains("request timeout of 1s 500ms"), "{s}");
    }
}
