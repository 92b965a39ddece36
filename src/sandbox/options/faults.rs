//! Fault-injection rules (`--http-error`, `--slow`, `--drop`): which
//! requests a rule hits, what it does, and how often.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::kinds::parse_text;

/// The value a fault rule carries after `=`.
pub trait FaultValue: Sized + Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// Parses the text after `=` (`None` when there is no `=`).
    fn parse_value(text: Option<&str>) -> Result<Self, String>;
}

/// An HTTP status for `--http-error` (400 to 599).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl FaultValue for StatusCode {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        let text = text.ok_or("add =STATUS, e.g. 'GET /info=503'")?;
        match text.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(StatusCode(code)),
            _ => Err(format!("{text:?} is not an HTTP error status (400 to 599)")),
        }
    }
}

/// A delay for `--slow`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl FaultValue for Seconds {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        let text = text.ok_or("add =SECONDS, e.g. 'GET /nodes=2.5'")?;
        match text.parse::<f64>() {
            Ok(s) if (0.0..=600.0).contains(&s) => Ok(Seconds(s)),
            _ => Err(format!("{text:?} is not a delay in seconds (0 to 600)")),
        }
    }
}

/// `--drop` takes no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoValue;

impl FaultValue for NoValue {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(NoValue),
            Some(v) => Err(format!("unexpected ={v}: write '[METHOD ]PATH[*N]'")),
        }
    }
}

/// One fault rule: which requests it hits, what it does, how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule<V> {
    /// Upper-case HTTP method, or any method.
    pub method: Option<String>,
    /// The path, or the prefix when `prefix` is set.
    pub path: String,
    pub prefix: bool,
    pub value: V,
    /// Only the first N matching requests; every one when `None`.
    pub times: Option<u32>,
}

impl<V> FaultRule<V> {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        };
        method_ok && path_ok
    }
}

impl<V: FaultValue> FromStr for FaultRule<V> {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (rest, times) = match spec.rsplit_once('*') {
            Some((rest, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                match n.parse::<u32>() {
                    Ok(n) if n > 0 => (rest, Some(n)),
                    _ => return Err(format!("{spec:?}: *N must be a count from 1")),
                }
            }
            _ => (spec, None),
        };
        let (endpoint, value) = match rest.split_once('=') {
            Some((e, v)) => (e.trim(), Some(v.trim())),
            None => (rest.trim(), None),
        };
        let (method, path) = match endpoint.split_once(char::is_whitespace) {
            Some((m, p)) => (Some(m.to_ascii_uppercase()), p.trim()),
            None => (None, endpoint),
        };
        if let Some(m) = &method
            && !m.chars().all(|c| c.is_ascii_uppercase())
        {
            return Err(format!("{spec:?}: {m:?} is not an HTTP method"));
        }
        if !path.starts_with('/') {
            return Err(format!(
                "{spec:?}: the path must start with '/', e.g. 'GET /info'"
            ));
        }
        let (path, prefix) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (path, false),
        };
        let value = V::parse_value(value).map_err(|e| format!("{spec:?}: {e}"))?;
        Ok(FaultRule {
            method,
            path: path.to_string(),
            prefix,
            value,
            times,
        })
    }
}

impl<'de, V: FaultValue> Deserialize<'de> for FaultRule<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse() {
        let r: FaultRule<StatusCode> = "GET /info=503*2".parse().unwrap();
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(
            (r.path.as_str(), r.prefix, r.value, r.times),
            ("/info", false, StatusCode(503), Some(2))
        );
        assert!(r.matches("GET", "/info") && !r.matches("PUT", "/info"));

        let r: FaultRule<Seconds> = "/api/ucp/backup/*=1.5".parse().unwrap();
        assert!(r.prefix && r.method.is_none() && r.times.is_none());
        assert!(r.matches("GET", "/api/ucp/backup/abc") && !r.matches("GET", "/api/ucp/backups"));

        let r: FaultRule<NoValue> = "put /api/ucp/config-toml*1".parse().unwrap();
        assert_eq!((r.method.as_deref(), r.times), (Some("PUT"), Some(1)));

        assert!("GET /info".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET /info=200".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET info=500".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET /info=5".parse::<FaultRule<NoValue>>().is_err());
        assert!("GET /info*0".parse::<FaultRule<NoValue>>().is_err());
    }
}
