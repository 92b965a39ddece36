//! The load balancer's address and TCP answers; the gateway NodePorts.

use std::net::SocketAddr;
use std::time::Duration;

use semver::Version;
use serde::Serialize;

/// The external address split into host and listener port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lb {
    pub host: String,
    pub listener: u16,
}

/// `host`, `host:port`, `[v6]:port`. A listener other than 443 must be in
/// the address (mkectl puts the address in links and certificates as is).
pub fn parse_address(text: &str, listener: Option<u16>) -> Result<Lb, (String, String)> {
    let t = text.trim();
    if t.contains("://") || t.contains('/') {
        return Err((
            format!("the external address `{t}` must be host or host:port, without scheme or path"),
            "pass the load balancer's DNS name (or IP), e.g. -e external_address=lb.example.com or lb.example.com:8443".into(),
        ));
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| {
            (
                format!("`{t}`: an IPv6 address opened with '[' is not closed"),
                "write [fd00::1]:PORT".to_string(),
            )
        })?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else if t.matches(':').count() == 1 {
        let (h, p) = t.split_once(':').unwrap_or((t, ""));
        (h.to_string(), Some(p.to_string()))
    } else {
        (t.to_string(), None)
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            (
                format!("`{t}`: port `{p}` is not a number from 1 to 65535"),
                "write host:PORT".to_string(),
            )
        })?),
        None => None,
    };
    if host.is_empty() {
        return Err((format!("`{t}` has no host"), "write host[:PORT]".into()));
    }
    match (port, listener) {
        (Some(p), Some(l)) if p != l => Err((
            format!("the external address `{t}` says port {p}, listener_port says {l}"),
            "make them the same: the address must carry the listener's port".into(),
        )),
        (None, Some(l)) if l != 443 => Err((
            format!(
                "the load balancer listens on {l}, but the external address `{t}` has no port: a listener other than 443 must be part of the address"
            ),
            format!("pass -e external_address={host}:{l}"),
        )),
        (p, l) => Ok(Lb {
            host,
            listener: p.or(l).unwrap_or(443),
        }),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PortResult {
    pub port: u16,
    pub open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Probe {
    /// Resolution failed (no port tried).
    pub error: Option<String>,
    pub results: Vec<PortResult>,
}

/// Resolves `host` and opens a TCP connection to each port (on any of its
/// addresses), each attempt bounded by `timeout`.
pub async fn probe(host: &str, ports: &[u16], timeout: Duration) -> Probe {
    let resolved: Vec<SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                return Probe {
                    error: Some(format!("does not resolve ({e})")),
                    results: Vec::new(),
                };
            }
            Err(_) => {
                return Probe {
                    error: Some(format!("did not resolve within {}s", timeout.as_secs())),
                    results: Vec::new(),
                };
            }
        };
    if resolved.is_empty() {
        return Probe {
            error: Some("resolves to no address".into()),
            results: Vec::new(),
        };
    }
    let mut results = Vec::new();
    for &port in ports {
        let mut last = None;
        let mut open = false;
        for addr in resolved.iter().take(4) {
            let target = SocketAddr::new(addr.ip(), port);
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await {
                Ok(Ok(_)) => {
                    open = true;
                    break;
                }
                Ok(Err(e)) => last = Some(e.kind().to_string().replace('_', " ")),
                Err(_) => last = Some(format!("no answer within {}s", timeout.as_secs())),
            }
        }
        results.push(PortResult {
            port,
            open,
            error: if open { None } else { last },
        });
    }
    Probe {
        error: None,
        results,
    }
}

/// A NodePort that is taken, why, and what else to do than choosing another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub port: u16,
    pub why: String,
    /// Besides choosing other ports (a Service's can be changed or removed).
    pub remedy: Option<String>,
}

impl Taken {
    pub fn new(port: u16, why: impl Into<String>) -> Taken {
        Taken {
            port,
            why: why.into(),
            remedy: None,
        }
    }
}

/// The gateway NodePorts and what they must respect.
pub struct Gateway {
    pub https: Option<u16>,
    pub http: Option<u16>,
    pub required: bool,
    pub range: (u16, u16),
    pub taken: Vec<Taken>,
}

impl Gateway {
    /// The first `n` ports of the range that nothing takes, from 34000 on
    /// when the range holds it (MKE 4k's examples), else from its start.
    fn free_ports(&self, n: usize) -> Vec<u16> {
        let (lo, hi) = self.range;
        let start = if (lo..=hi).contains(&34000) {
            34000
        } else {
            lo
        };
        (start..=hi)
            .chain(lo..start)
            .filter(|p| !self.taken.iter().any(|t| t.port == *p))
            .take(n)
            .collect()
    }

    /// (reason, remedy) of each problem.
    pub fn problems(&self, target: &Version) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let (lo, hi) = self.range;
        let example = match self.free_ports(2)[..] {
            [http, https] => format!(
                ", e.g. -e gateway_https_node_port={https} -e gateway_http_node_port={http}"
            ),
            _ => String::new(),
        };
        let pick = format!(
            "choose two free ports inside the cluster's nodeport_range {lo}-{hi}, not taken by MKE 3 ingress (33000-33002 when it is on) or by a Service{example}"
        );
        for (name, value) in [
            ("gateway_https_node_port", self.https),
            ("gateway_http_node_port", self.http),
        ] {
            match value {
                None if self.required => out.push((
                    format!("{name} is not given: mkectl upgrade to {target} requires --{} (from MKE 4k 4.1.5 on)", name.replace('_', "-")),
                    pick.clone(),
                )),
                None => {}
                Some(p) if p < lo || p > hi => out.push((
                    format!("{name} {p} is outside the cluster's nodeport_range {lo}-{hi}"),
                    pick.clone(),
                )),
                Some(p) => {
                    let holders: Vec<&Taken> = self.taken.iter().filter(|t| t.port == p).collect();
                    if !holders.is_empty() {
                        let why: Vec<&str> = holders.iter().map(|t| t.why.as_str()).collect();
                        let mut remedy = pick.clone();
                        for r in holders.iter().filter_map(|t| t.remedy.as_deref()) {
                            remedy.push_str(&format!("; or {r}"));
                        }
                        out.push((
                            format!("{name} {p} is already taken: {}", why.join(" and ")),
                            remedy,
                        ));
                    }
                }
            }
        }
        if let (Some(a), Some(b)) = (self.https, self.http)
            && a == b
        {
            out.push((
                format!("gateway_https_node_port and gateway_http_node_port are both {a}"),
                pick,
            ));
        }
        out
    }
}
