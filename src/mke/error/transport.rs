//! Transport failures of reqwest turned into typed errors: TLS (untrusted,
//! wrong name, expired, not HTTPS), refused, DNS, timeouts, and a broken
//! state-changing request as "outcome unknown".

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use super::{Endpoint, MkeError, TimeoutKind};
use crate::util::secret::redact;

/// The timeouts a request ran with, to say which one ran out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// Turns a transport-level failure of reqwest into a typed error.
pub(crate) fn transport_error(
    endpoint: Endpoint,
    host: &str,
    err: &reqwest::Error,
    timeouts: Timeouts,
) -> MkeError {
    let host = host.to_string();
    let chain = error_chain(err);
    // Connect-phase failures mean nothing was sent: safe to report as such
    // even for a PUT.
    if err.is_connect() || tls_error(&chain).is_some() {
        if let Some(tls) = tls_error(&chain) {
            return classify_tls(endpoint, host, tls);
        }
        if err.is_timeout() || has_kind(&chain, io::ErrorKind::TimedOut) {
            return MkeError::Timeout {
                endpoint,
                host,
                kind: TimeoutKind::Connect,
                after: timeouts.connect,
            };
        }
        if has_kind(&chain, io::ErrorKind::ConnectionRefused) {
            return MkeError::ConnectionRefused { endpoint, host };
        }
        if let Some(pos) = chain
            .iter()
            .position(|e| e.to_string().starts_with("dns error"))
        {
            let detail = chain
                .get(pos + 1)
                .map_or_else(|| "lookup failed".to_string(), |e| e.to_string());
            return MkeError::Dns {
                endpoint,
                host,
                detail,
            };
        }
        return MkeError::Connect {
            endpoint,
            host,
            detail: describe(&chain),
        };
    }
    if !endpoint.is_idempotent() {
        let detail = if err.is_timeout() {
            format!(
                "no answer within the request timeout of {}",
                humantime::format_duration(timeouts.request)
            )
        } else {
            format!("the connection broke: {}", describe(&chain))
        };
        return MkeError::OutcomeUnknown { endpoint, detail };
    }
    if err.is_timeout() {
        return MkeError::Timeout {
            endpoint,
            host,
            kind: TimeoutKind::Request,
            after: timeouts.request,
        };
    }
    MkeError::Connect {
        endpoint,
        host,
        detail: describe(&chain),
    }
}

fn classify_tls(endpoint: Endpoint, host: String, tls: &rustls::Error) -> MkeError {
    use rustls::CertificateError as C;
    let detail = redact(&tls.to_string()).into_owned();
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => MkeError::TlsName {
                endpoint,
                host,
                detail,
            },
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => MkeError::Tls {
                endpoint,
                host,
                detail: format!(
                    "{detail}: the certificate is outside its validity period; check this \
                         machine's clock and MKE's certificates"
                ),
            },
            _ => MkeError::TlsUntrusted {
                endpoint,
                host,
                detail,
            },
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            MkeError::Tls {
                endpoint,
                host,
                detail: format!(
                    "{detail}: the port may not serve HTTPS; check the port in MKE_HOST"
                ),
            }
        }
        _ => MkeError::Tls {
            endpoint,
            host,
            detail,
        },
    }
}

/// The error and its sources, looking inside `io::Error` wrappers (whose
/// `source()` skips the wrapped error itself).
fn error_chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        chain.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
        if chain.len() > 16 {
            break;
        }
    }
    chain
}

fn tls_error<'a>(chain: &[&'a (dyn StdError + 'static)]) -> Option<&'a rustls::Error> {
    chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>())
}

fn has_kind(chain: &[&(dyn StdError + 'static)], kind: io::ErrorKind) -> bool {
    chain.iter().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

/// The most specific message of the chain (the innermost), masked.
fn describe(chain: &[&(dyn StdError + 'static)]) -> String {
    let text = chain
        .last()
        .map_or_else(|| "unknown error".to_string(), |e| e.to_string());
    redact(&text).into_owned()
}
