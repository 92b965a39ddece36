//! The `service_node_port` knob: Kubernetes Services with NodePorts that
//! the simulated kube-proxy programs on every node, written
//! `NAMESPACE/NAME[:PORTNAME]=NODEPORT[/tcp|/udp][!MARKER…]`, e.g.
//! `default/web:http=33001`, `shop/api=32080`, `logs/syslog:syslog=32514/udp`.
//! Markers: `!noendpoints` (no ready endpoints: kube-proxy writes only a
//! filter-table REJECT rule for the NodePort), `!healthcheck=N`
//! (`externalTrafficPolicy: Local`, health-check NodePort N, a filter
//! KUBE-NODEPORTS rule), `!ipv6` (an IPv6 Service: only ip6tables-save shows it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::SandboxOptions;
use super::kinds::parse_text;
use crate::sandbox::SandboxError;

/// One NodePort of one simulated Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNodePort {
    pub namespace: String,
    pub name: String,
    /// The Service port's name (empty: unnamed).
    pub port_name: String,
    pub node_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The Service has ready endpoints (`!noendpoints`: it has none).
    pub endpoints: bool,
    /// `externalTrafficPolicy: Local`: its health-check NodePort.
    pub health_check: Option<u16>,
    /// An IPv6 Service (its rules are in ip6tables-save only).
    pub ipv6: bool,
}

const FORMAT: &str = "write NAMESPACE/NAME[:PORTNAME]=NODEPORT[/tcp|/udp][!noendpoints][!healthcheck=PORT][!ipv6], e.g. default/web:http=33001, logs/syslog=32514/udp or edge/lb=34001!healthcheck=34000";

fn port_number(t: &str, text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{t:?}: `{text}` is not a port number (1 to 65535)"))
}

/// A Kubernetes name: lowercase letters, digits and '-', starting and
/// ending with a letter or digit, at most `max` characters.
fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl FromStr for ServiceNodePort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let mut parts = t.split('!');
        let main = parts.next().unwrap_or("");
        let (mut endpoints, mut health_check, mut ipv6) = (true, None, false);
        for marker in parts {
            match marker.trim().split_once('=') {
                None if marker.trim() == "noendpoints" => endpoints = false,
                None if marker.trim() == "ipv6" => ipv6 = true,
                Some(("healthcheck", n)) => health_check = Some(port_number(t, n)?),
                None if marker.trim() == "healthcheck" => {
                    return Err(format!(
                        "{t:?}: `!healthcheck` needs its port, `!healthcheck=PORT`: {FORMAT}"
                    ));
                }
                _ => {
                    return Err(format!(
                        "{t:?}: `!{marker}` is not a marker (noendpoints, healthcheck=PORT, ipv6): {FORMAT}"
                    ));
                }
            }
        }
        let (who, port) = main
            .split_once('=')
            .ok_or_else(|| format!("{t:?} has no '=NODEPORT': {FORMAT}"))?;
        let (svc, port_name) = who.split_once(':').unwrap_or((who, ""));
        let (namespace, name) = svc
            .split_once('/')
            .ok_or_else(|| format!("{t:?}: `{svc}` is not NAMESPACE/NAME: {FORMAT}"))?;
        for (what, v, max) in [("namespace", namespace, 63), ("name", name, 63)] {
            if !dns_label(v, max) {
                return Err(format!(
                    "{t:?}: the {what} `{v}` is not a Kubernetes name (lowercase letters, digits and '-', at most {max})"
                ));
            }
        }
        if !port_name.is_empty() && !dns_label(port_name, 15) {
            return Err(format!(
                "{t:?}: the port name `{port_name}` is not a Kubernetes port name (lowercase letters, digits and '-', at most 15)"
            ));
        }
        let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
        let protocol = protocol.trim().to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp") {
            return Err(format!(
                "{t:?}: protocol `{protocol}` is not tcp or udp: {FORMAT}"
            ));
        }
        let node_port = port_number(t, number)?;
        if health_check == Some(node_port) {
            return Err(format!(
                "{t:?}: the health-check NodePort must differ from the NodePort {node_port}"
            ));
        }
        Ok(ServiceNodePort {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port_name: port_name.to_string(),
            node_port,
            protocol,
            endpoints,
            health_check,
            ipv6,
        })
    }
}

impl fmt::Display for ServiceNodePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}:{}={}/{}",
            self.namespace, self.name, self.port_name, self.node_port, self.protocol
        )?;
        if !self.endpoints {
            write!(f, "!noendpoints")?;
        }
        if let Some(h) = self.health_check {
            write!(f, "!healthcheck={h}")?;
        }
        if self.ipv6 {
            write!(f, "!ipv6")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ServiceNodePort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}

impl SandboxOptions {
    /// Kubernetes allocates a NodePort once in the cluster, whatever the
    /// protocol (one Service may have it for TCP and UDP both).
    pub(super) fn validate_services(&self) -> Result<(), SandboxError> {
        for (i, a) in self.service_node_port.iter().enumerate() {
            let taken_by = self.service_node_port[..i].iter().find(|b| {
                a.health_check
                    .is_some_and(|h| h == b.node_port || Some(h) == b.health_check)
                    || b.health_check == Some(a.node_port)
            });
            if let Some(b) = taken_by {
                return Err(SandboxError::Options(format!(
                    "service_node_port = {:?}: a health-check NodePort and a NodePort of {}/{} are the same number: Kubernetes allocates each NodePort once",
                    a.to_string(),
                    b.namespace,
                    b.name
                )));
            }
            for b in &self.service_node_port[..i] {
                let same_service = a.namespace == b.namespace && a.name == b.name;
                if a.node_port == b.node_port && !(same_service && a.protocol != b.protocol) {
                    return Err(SandboxError::Options(format!(
                        "service_node_port = {:?}: NodePort {} is already given to {}/{}: Kubernetes allocates a NodePort to one Service",
                        a.to_string(),
                        a.node_port,
                        b.namespace,
                        b.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_node_ports_parse_and_explain_mistakes() {
        let s: ServiceNodePort = "default/web:http=33001".parse().unwrap();
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port_name.as_str()),
            ("default", "web", "http")
        );
        assert_eq!((s.node_port, s.protocol.as_str()), (33001, "tcp"));
        let s: ServiceNodePort = "logs/syslog=32514/UDP".parse().unwrap();
        assert_eq!((s.port_name.as_str(), s.protocol.as_str()), ("", "udp"));
        assert!(s.endpoints && s.health_check.is_none() && !s.ipv6);
        let s: ServiceNodePort = "edge/lb:https=34001!noendpoints!healthcheck=34000!ipv6"
            .parse()
            .unwrap();
        assert_eq!(
            (s.endpoints, s.health_check, s.ipv6),
            (false, Some(34000), true)
        );
        assert_eq!(s.node_port, 34001);
        assert_eq!(s.to_string().parse::<ServiceNodePort>().unwrap(), s);
        for (bad, needle) in [
            ("default/web", "has no '=NODEPORT'"),
            ("web=33001", "is not NAMESPACE/NAME"),
            ("Default/web=33001", "namespace `Default`"),
            ("default/web_1=33001", "name `web_1`"),
            (
                "default/web:a-very-long-port-name=33001",
                "not a Kubernetes port name",
            ),
            ("default/web=0", "not a port number"),
            ("default/web=70000", "not a port number"),
            ("default/web=33001/sctp", "not tcp or udp"),
            ("default/web=33001!nope", "`!nope` is not a marker"),
            ("default/web=33001!healthcheck", "needs its port"),
            (
                "default/web=33001!healthcheck=x",
                "`x` is not a port number",
            ),
            ("default/web=33001!healthcheck=33001", "must differ"),
        ] {
            let e = bad.parse::<ServiceNodePort>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn a_node_port_is_given_once() {
        let opts = |list: &[&str]| SandboxOptions {
            service_node_port: list.iter().map(|s| s.parse().unwrap()).collect(),
            ..Default::default()
        };
        opts(&["dns/coredns:dns=33053/udp", "dns/coredns:dns-tcp=33053"])
            .validate()
            .unwrap();
        let e = opts(&["a/web=33001", "b/api=33001/udp"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("service_node_port") && e.contains("already given to a/web"),
            "{e}"
        );
        let e = opts(&["a/web=33001", "b/lb=33002!healthcheck=33001"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("health-check NodePort"), "{e}");
    }
}
