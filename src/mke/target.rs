//! The MKE address, parsed from `MKE_HOST`.
//!
//! Accepted forms: `host`, `host:port`, `https://host[:port]` (a trailing `/`
//! is allowed), with IPv6 literals in brackets (`[fd00::11]:443`). The port
//! defaults to 443. Plain `http://` is refused: MKE serves its API over HTTPS
//! only, and the password must never travel in clear text.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use reqwest::Url;

use super::MkeError;

/// Where the MKE 3 API answers: a host name or IP address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MkeTarget {
    /// Host name or IP address, IPv6 without brackets.
    host: String,
    port: u16,
}

/// The default HTTPS port of the MKE API.
pub const DEFAULT_PORT: u16 = 443;

const EXAMPLES: &str = "expected host, host:port or https://host[:port], for example \
     MKE_HOST=mke.example.com, MKE_HOST=10.0.0.11:8443 or MKE_HOST=https://[fd00::11]:443";

fn invalid(value: &str, reason: impl Into<String>) -> MkeError {
    MkeError::InvalidTarget {
        value: mask_userinfo(value),
        reason: format!("{}; {EXAMPLES}", reason.into()),
    }
}

impl MkeTarget {
    /// Parses an `MKE_HOST` value. Errors name `MKE_HOST` and show examples.
    pub fn parse(value: &str) -> Result<MkeTarget, MkeError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(invalid(value, "it is empty"));
        }
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") => {
                return Err(invalid(
                    value,
                    "plain http:// is not supported: the MKE API is served over HTTPS \
                     and the password must not travel in clear text; use https:// or leave \
                     the scheme out",
                ));
            }
            Some((scheme, _)) => {
                return Err(invalid(
                    value,
                    format!("unsupported scheme {scheme:?}: only https is supported"),
                ));
            }
            None => trimmed,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err(invalid(
                value,
                "it must not contain user information: give credentials in MKE_USERNAME and \
                 MKE_PASSWORD",
            ));
        }
        if let Some(pos) = rest.find(['/', '?', '#']) {
            return Err(invalid(
                value,
                format!(
                    "it must not contain a path or query ({:?}): give only the host and port",
                    &rest[pos..]
                ),
            ));
        }
        let (host, port) = split_host_port(value, rest)?;
        Self::new(host, port).map_err(|e| match e {
            MkeError::InvalidTarget { reason, .. } => MkeError::InvalidTarget {
                value: mask_userinfo(value),
                reason,
            },
            other => other,
        })
    }

    /// A target from a host (IPv6 with or without brackets) and a port, for
    /// example a manager's address from `GET /nodes` and the port of `MKE_HOST`.
    pub fn new(host: &str, port: u16) -> Result<MkeTarget, MkeError> {
        let display = format!("{host}:{port}");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid(&display, "the host is empty"));
        }
        if port == 0 {
            return Err(invalid(&display, "port 0 is not a valid port"));
        }
        let is_ipv6 = host.contains(':');
        if is_ipv6 && host.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(
                &display,
                format!("{host:?} is not a valid IPv6 address"),
            ));
        }
        if !is_ipv6 && host.parse::<Ipv4Addr>().is_err() && !is_hostname(host) {
            return Err(invalid(
                &display,
                format!("{host:?} is not a valid host name or IP address"),
            ));
        }
        let target = MkeTarget {
            host: host.to_ascii_lowercase(),
            port,
        };
        // A last check by the URL parser the HTTP client will use.
        Url::parse(&target.url_prefix())
            .map_err(|e| invalid(&display, format!("not usable in a URL: {e}")))?;
        Ok(target)
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, with IPv6 hosts in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `https://host:port`, no trailing slash.
    fn url_prefix(&self) -> String {
        format!("https://{}", self.authority())
    }

    /// The URL of an absolute API path such as `/api/ucp/config-toml`.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, MkeError> {
        let mut url = Url::parse(&self.url_prefix()).map_err(|e| MkeError::InvalidTarget {
            value: self.authority(),
            reason: format!("not usable in a URL: {e}"),
        })?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(segments);
        }
        Ok(url)
    }
}

impl fmt::Display for MkeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url_prefix())
    }
}

impl FromStr for MkeTarget {
    type Err = MkeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MkeTarget::parse(s)
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port<'a>(value: &str, rest: &'a str) -> Result<(&'a str, u16), MkeError> {
    if let Some(after_bracket) = rest.strip_prefix('[') {
        let Some((host, after)) = after_bracket.split_once(']') else {
            return Err(invalid(
                value,
                "an IPv6 address opened with '[' is not closed",
            ));
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(
                value,
                format!("{host:?} in brackets is not an IPv6 address"),
            ));
        }
        let port = match after {
            "" => DEFAULT_PORT,
            p => match p.strip_prefix(':') {
                Some(p) => parse_port(value, p)?,
                None => {
                    return Err(invalid(
                        value,
                        format!("unexpected {p:?} after the IPv6 address"),
                    ));
                }
            },
        };
        return Ok((host, port));
    }
    match rest.matches(':').count() {
        0 => Ok((rest, DEFAULT_PORT)),
        1 => {
            let (host, port) = rest.split_at(rest.find(':').unwrap_or(rest.len()));
            Ok((host, parse_port(value, &port[1..])?))
        }
        _ => Err(invalid(
            value,
            "an IPv6 address must be written in brackets, as in [fd00::11] or [fd00::11]:443",
        )),
    }
}

fn parse_port(value: &str, port: &str) -> Result<u16, MkeError> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(
            value,
            format!("port {port:?} is not a number from 1 to 65535"),
        )),
    }
}

/// `https://user:password@host` → `https://***@host`: a value put in the
/// wrong place must not be echoed back in an error.
fn mask_userinfo(value: &str) -> String {
    let Some(at) = value.rfind('@') else {
        return value.to_string();
    };
    let start = value.find("://").map_or(0, |p| p + 3);
    if start > at {
        return value.to_string();
    }
    format!("{}***{}", &value[..start], &value[at..])
}

/// An RFC 1123 host name (underscores tolerated, as some resolvers do).
fn is_hostname(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let t = MkeTarget::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        (t.host().to_string(), t.port())
    }

    fn err(s: &str) -> String {
        match MkeTarget::parse(s) {
            Ok(t) => panic!("{s:?} parsed as {t}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(ok("mke.example.com"), ("mke.example.com".into(), 443));
        assert_eq!(ok("  MKE.Example.com  "), ("mke.example.com".into(), 443));
        assert_eq!(ok("mke.example.com:8443"), ("mke.example.com".into(), 8443));
        assert_eq!(
            ok("https://mke.example.com"),
            ("mke.example.com".into(), 443)
        );
        assert_eq!(ok("HTTPS://mke:4443/"), ("mke".into(), 4443));
        assert_eq!(ok("10.0.0.11"), ("10.0.0.11".into(), 443));
        assert_eq!(ok("10.0.0.11:443"), ("10.0.0.11".into(), 443));
        assert_eq!(ok("[fd00::11]"), ("fd00::11".into(), 443));
        assert_eq!(ok("[::1]:8443"), ("::1".into(), 8443));
        assert_eq!(ok("https://[fd00::11]:443/"), ("fd00::11".into(), 443));
        assert_eq!(ok("localhost"), ("localhost".into(), 443));
    }

    #[test]
    fn display_and_urls() {
        let t = MkeTarget::parse("[::1]:8443").unwrap();
        assert_eq!(t.to_string(), "https://[::1]:8443");
        assert_eq!(t.authority(), "[::1]:8443");
        let u = t.url(&["api", "ucp", "backup", "a/b c"]).unwrap();
        assert_eq!(u.as_str(), "https://[::1]:8443/api/ucp/backup/a%2Fb%20c");
        let t = MkeTarget::parse("mke").unwrap();
        assert_eq!(t.url(&["_ping"]).unwrap().as_str(), "https://mke/_ping");
        assert_eq!(
            MkeTarget::new("[fd00::2]", 443).unwrap(),
            MkeTarget::new("fd00::2", 443).unwrap()
        );
    }

    #[test]
    fn rejected_forms_name_the_variable_and_show_an_example() {
        for bad in [
            "",
            "   ",
            "http://mke.example.com",
            "ftp://mke",
            "mke:0",
            "mke:65536",
            "mke:https",
            "mke:",
            "fd00::11",
            "[fd00::11",
            "[fd00::11]x",
            "[not-v6]:443",
            "https://mke/api",
            "mke?x=1",
            "admin:pw@mke",
            "mke example",
            "-mke",
            "mke..com",
        ] {
            let msg = err(bad);
            assert!(msg.contains("MKE_HOST"), "{bad:?}: {msg}");
            assert!(msg.contains("for example MKE_HOST="), "{bad:?}: {msg}");
        }
        assert!(err("http://mke").contains("plain http:// is not supported"));
        assert!(err("fd00::11").contains("brackets"));
        assert!(err("mke:99999").contains("1 to 65535"));
        // The password must not be echoed back if someone put it in the URL.
        let msg = err("https://admin:hunter2@mke");
        assert!(msg.contains("user information"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("https://***@mke"), "{msg}");
    }
}
