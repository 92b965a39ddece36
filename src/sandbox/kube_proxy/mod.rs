//! What a simulated node's `iptables-save` and `ip6tables-save` print:
//! every table (mangle, filter, nat; `-t TABLE` one) as kube-proxy (and
//! Docker) leave them on a real MKE 3 node. In iptables mode (MKE 3's
//! default `kube_proxy_mode`) kube-proxy's chains ([`nat`], [`filter`]):
//! nat KUBE-SERVICES with one rule per ClusterIP port, KUBE-SVC/KUBE-SEP
//! chains to the endpoints, KUBE-NODEPORTS with one rule per NodePort of a
//! Service with endpoints (to a KUBE-EXT chain); filter KUBE-SERVICES and
//! KUBE-EXTERNAL-SERVICES rejecting Services without endpoints, KUBE-NODEPORTS
//! accepting health-check NodePorts, KUBE-FORWARD; in IPVS mode the ipset
//! matches instead. The Services: `default/kubernetes`,
//! `kube-system/kube-dns`, MKE 3 ingress's controller when
//! `[cluster_config.ingress_controller]` is enabled (its
//! `ingress_exposed_ports`, 33000/33001/33002 by default; the namespace and
//! name are this sandbox's [I]), and those of the `service_node_port` knob
//! (IPv6 ones in ip6tables-save only). Chain names are kube-proxy's: the
//! first 16 base32 characters of the SHA-256 of the Service port and protocol.

mod filter;
mod nat;

use sha2::{Digest, Sha256};

use super::options::ServiceNodePort;

/// The configuration keys the nat table depends on.
struct Config {
    ipvs: bool,
    ingress: Option<Vec<(String, u16, u16)>>,
}

fn read_config(text: &str) -> Config {
    let doc: Option<toml_edit::DocumentMut> = text.parse().ok();
    let cc = doc.as_ref().and_then(|d| d.get("cluster_config"));
    let ipvs = cc
        .and_then(|c| c.get("kube_proxy_mode"))
        .and_then(|v| v.as_str())
        .is_some_and(|m| m.eq_ignore_ascii_case("ipvs"));
    let ing = cc.and_then(|c| c.get("ingress_controller"));
    let enabled = ing
        .and_then(|i| i.get("enabled"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let ingress = enabled.then(|| {
        let exposed: Vec<(String, u16, u16)> = ing
            .and_then(|i| i.get("ingress_exposed_ports"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        let t = p.as_inline_table()?;
                        let n = |k: &str| {
                            t.get(k)
                                .and_then(|v| v.as_integer())
                                .and_then(|v| u16::try_from(v).ok())
                        };
                        let name = t.get("name").and_then(|v| v.as_str()).unwrap_or("");
                        Some((
                            name.to_string(),
                            n("port")?,
                            n("node_port").filter(|p| *p > 0)?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if exposed.is_empty() {
            vec![
                ("http".into(), 80, 33000),
                ("https".into(), 443, 33001),
                ("tcp".into(), 8443, 33002),
            ]
        } else {
            exposed
        }
    });
    Config { ipvs, ingress }
}

/// kube-proxy's chain name: PREFIX + base32(sha256(TEXT))[..16].
fn chain(prefix: &str, text: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = Sha256::digest(text.as_bytes());
    let mut out = String::from(prefix);
    // 10 bytes are 80 bits: 16 base32 characters, 8 per 5 bytes.
    for chunk in hash[..10].chunks(5) {
        let bits = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            out.push(char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]));
        }
    }
    out
}

/// One Service port as kube-proxy sees it.
struct SvcPort {
    /// `ns/name` or `ns/name:port`, as kube-proxy writes it.
    spn: String,
    protocol: &'static str,
    cluster_ip: String,
    port: u16,
    node_port: Option<u16>,
    /// `None`: the Service has no ready endpoints.
    endpoint: Option<String>,
    health_check: Option<u16>,
}

/// The Service ports of one family (`ipv6`): the built-in ones are IPv4.
fn service_ports(cfg: &Config, knob: &[ServiceNodePort], ipv6: bool) -> Vec<SvcPort> {
    let svc = |spn: &str, proto, ip: &str, port, np, ep: &str| SvcPort {
        spn: spn.to_string(),
        protocol: proto,
        cluster_ip: ip.to_string(),
        port,
        node_port: np,
        endpoint: Some(ep.to_string()),
        health_check: None,
    };
    let mut out = if ipv6 {
        Vec::new()
    } else {
        vec![
            svc(
                "default/kubernetes:https",
                "tcp",
                "10.96.0.1",
                443,
                None,
                "10.0.0.11:12388",
            ),
            svc(
                "kube-system/kube-dns:dns",
                "udp",
                "10.96.0.10",
                53,
                None,
                "192.168.12.3:53",
            ),
            svc(
                "kube-system/kube-dns:dns-tcp",
                "tcp",
                "10.96.0.10",
                53,
                None,
                "192.168.12.3:53",
            ),
            svc(
                "kube-system/kube-dns:metrics",
                "tcp",
                "10.96.0.10",
                9153,
                None,
                "192.168.12.3:9153",
            ),
        ]
    };
    if let Some(ports) = cfg.ingress.as_ref().filter(|_| !ipv6) {
        for (name, port, np) in ports {
            let spn = if name.is_empty() {
                "ingress-nginx/ingress-nginx-controller".to_string()
            } else {
                format!("ingress-nginx/ingress-nginx-controller:{name}")
            };
            out.push(svc(
                &spn,
                "tcp",
                "10.96.140.17",
                *port,
                Some(*np),
                &format!("192.168.40.7:{port}"),
            ));
        }
    }
    for (i, s) in knob.iter().enumerate().filter(|(_, s)| s.ipv6 == ipv6) {
        let spn = if s.port_name.is_empty() {
            format!("{}/{}", s.namespace, s.name)
        } else {
            format!("{}/{}:{}", s.namespace, s.name, s.port_name)
        };
        let port = match s.port_name.as_str() {
            "http" => 80,
            "https" => 443,
            _ => s.node_port,
        };
        let n = i + 20;
        let (cluster_ip, endpoint) = if ipv6 {
            (
                format!("fd00:10:96::{n:x}"),
                format!("[fd00:10:244::{n:x}]:8080"),
            )
        } else {
            (
                format!("10.96.{}.{}", 200 + n / 250, n % 250 + 1),
                format!("192.168.{}.{}:8080", 60 + n / 250, n % 250 + 2),
            )
        };
        let mut port = svc(
            &spn,
            if s.protocol == "udp" { "udp" } else { "tcp" },
            &cluster_ip,
            port,
            Some(s.node_port),
            &endpoint,
        );
        port.health_check = s.health_check;
        if !s.endpoints {
            port.endpoint = None;
        }
        out.push(port);
    }
    out
}

/// One table being written: its chains (built-in ones with their policy)
/// and rules, printed the way iptables-save prints them.
#[derive(Default)]
struct Table {
    builtin: Vec<(&'static str, &'static str)>,
    chains: Vec<String>,
    rules: Vec<(String, String)>,
}

impl Table {
    fn new(builtin: &[(&'static str, &'static str)]) -> Table {
        Table {
            builtin: builtin.to_vec(),
            ..Table::default()
        }
    }

    fn chain(&mut self, name: impl Into<String>) {
        self.chains.push(name.into());
    }

    fn add(&mut self, chain: &str, rule: impl Into<String>) {
        self.rules.push((chain.to_string(), rule.into()));
    }

    fn render(mut self, name: &str) -> String {
        self.chains.sort();
        self.chains.dedup();
        let mut out = format!("*{name}\n");
        for (c, policy) in &self.builtin {
            out.push_str(&format!(":{c} {policy} [0:0]\n"));
        }
        for c in &self.chains {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        let order: Vec<&str> = self
            .builtin
            .iter()
            .map(|(c, _)| *c)
            .chain(self.chains.iter().map(String::as_str))
            .collect();
        for c in order {
            for (_, r) in self.rules.iter().filter(|(rc, _)| rc == c) {
                out.push_str(&format!("-A {c} {r}\n"));
            }
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// `iptables-save` (`ipv6`: `ip6tables-save`) on a node, every table or
/// only `table`, for the cluster's configuration text and the Services of
/// the `service_node_port` knob. `None` for a table the tool does not know.
pub fn iptables_save(
    config: &str,
    knob: &[ServiceNodePort],
    ipv6: bool,
    table: Option<&str>,
) -> Option<String> {
    let cfg = read_config(config);
    let svcs = service_ports(&cfg, knob, ipv6);
    // kube-proxy's IPv6 proxier runs only on a dual-stack node; the
    // sandbox's nodes are dual-stack when a Service is IPv6 [I].
    let kube_proxy = !ipv6 || knob.iter().any(|s| s.ipv6);
    let tables = [
        ("mangle", filter::mangle(kube_proxy)),
        ("filter", filter::filter(&cfg, &svcs, ipv6, kube_proxy)),
        ("nat", nat::nat(&cfg, &svcs, ipv6, kube_proxy)),
    ];
    if table.is_some_and(|t| !tables.iter().any(|(n, _)| *n == t)) {
        return None;
    }
    let tool = if ipv6 {
        "ip6tables-save"
    } else {
        "iptables-save"
    };
    let date = "Tue Mar  4 10:12:01 2025";
    let mut out = String::new();
    for (name, t) in tables {
        if table.is_none_or(|want| want == name) {
            out.push_str(&format!("# Generated by {tool} v1.8.7 on {date}\n"));
            out.push_str(&t.render(name));
            out.push_str(&format!("# Completed on {date}\n"));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_kube_proxys() {
        // kube-proxy's own name for the `default/kubernetes:https` TCP port.
        assert_eq!(
            chain("KUBE-SVC-", "default/kubernetes:httpstcp"),
            "KUBE-SVC-NPX46M4PTMTKRN6Y"
        );
    }

    #[test]
    fn the_table_has_kube_proxys_chains_and_the_node_ports() {
        let knob: Vec<ServiceNodePort> = vec!["shop/web:https=34001".parse().unwrap()];
        let text = iptables_save(
            "[cluster_config]\nkube_proxy_mode = \"iptables\"\n[cluster_config.ingress_controller]\nenabled = true\n",
            &knob,
            false,
            Some("nat"),
        )
        .unwrap();
        for needle in [
            "*nat\n:PREROUTING ACCEPT [0:0]\n",
            ":KUBE-NODEPORTS - [0:0]\n",
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"shop/web:https\" -m tcp --dport 34001 -j KUBE-EXT-",
            "--comment \"ingress-nginx/ingress-nginx-controller:https\" -m tcp --dport 33001 ",
            "-A DOCKER -i docker0 -j RETURN\n",
            "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y\n",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        assert!(text.ends_with("COMMIT\n# Completed on Tue Mar  4 10:12:01 2025\n"));
        let ipvs = iptables_save(
            "[cluster_config]\nkube_proxy_mode = \"ipvs\"\n",
            &knob,
            false,
            Some("nat"),
        )
        .unwrap();
        assert!(!ipvs.contains("KUBE-NODEPORTS") && ipvs.contains("KUBE-NODE-PORT-TCP"));
        let off = iptables_save("[cluster_config]\n", &[], false, Some("nat")).unwrap();
        assert!(!off.contains("33001") && !off.contains("-A KUBE-NODEPORTS"));
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn services_without_endpoints_health_checks_and_ipv6_are_where_kube_proxy_writes_them() {
        let knob: Vec<ServiceNodePort> = [
            "shop/idle:http=34001!noendpoints",
            "edge/lb:https=32443!healthcheck=34000",
            "v6/api:grpc=34002!ipv6",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let v4 = iptables_save("[cluster_config]\n", &knob, false, None).unwrap();
        for needle in [
            "*mangle\n",
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n",
            "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"shop/idle:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 34001 -j REJECT",
            "-A KUBE-NODEPORTS -m comment --comment \"edge/lb:https health check node port\" -m tcp -p tcp --dport 34000 -j ACCEPT",
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
            "--comment \"edge/lb:https\" -m tcp --dport 32443 -j KUBE-EXT-",
        ] {
            assert!(v4.contains(needle), "{needle:?} not in\n{v4}");
        }
        // No nat rule for the Service without endpoints; IPv6 only in ip6tables-save.
        assert!(!v4.contains("--dport 34001 -j KUBE-EXT") && !v4.contains("34002"));
        let v6 = iptables_save("[cluster_config]\n", &knob, true, None).unwrap();
        assert!(v6.starts_with("# Generated by ip6tables-save"), "{v6}");
        assert!(
            v6.contains("--comment \"v6/api:grpc\" -m tcp --dport 34002 -j KUBE-EXT-"),
            "{v6}"
        );
        assert!(!v6.contains("34001") && !v6.contains("DOCKER"));
        // Without IPv6 Services, ip6tables-save shows no kube-proxy chain.
        let plain = iptables_save("[cluster_config]\n", &[], true, None).unwrap();
        assert!(
            plain.contains("*nat\n") && !plain.contains("KUBE-"),
            "{plain}"
        );
        assert_eq!(iptables_save("", &[], false, Some("raw")), None);
    }
}
