//! What a simulated node's `iptables-save -t nat` prints: the nat table as
//! kube-proxy (and Docker) leave it on a real MKE 3 node. In iptables mode
//! (MKE 3's default `kube_proxy_mode`) kube-proxy's chains: KUBE-SERVICES
//! with one rule per ClusterIP port, KUBE-SVC/KUBE-SEP chains to the
//! endpoints, KUBE-NODEPORTS with one rule per NodePort (to a KUBE-EXT
//! chain), KUBE-POSTROUTING and KUBE-MARK-MASQ; in IPVS mode the ipset
//! matches instead. The Services: `default/kubernetes`, `kube-system/kube-dns`,
//! MKE 3 ingress's controller when `[cluster_config.ingress_controller]`
//! is enabled (its `ingress_exposed_ports`, 33000/33001/33002 by default;
//! the namespace and name are this sandbox's [I]), and those of the
//! `service_node_port` knob. Chain names are kube-proxy's: the first 16
//! base32 characters of the SHA-256 of the Service port and protocol.

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
    endpoint: String,
}

fn service_ports(cfg: &Config, knob: &[ServiceNodePort]) -> Vec<SvcPort> {
    let svc = |spn: &str, proto, ip: &str, port, np, ep: &str| SvcPort {
        spn: spn.to_string(),
        protocol: proto,
        cluster_ip: ip.to_string(),
        port,
        node_port: np,
        endpoint: ep.to_string(),
    };
    let mut out = vec![
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
    ];
    if let Some(ports) = &cfg.ingress {
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
    for (i, s) in knob.iter().enumerate() {
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
        out.push(svc(
            &spn,
            if s.protocol == "udp" { "udp" } else { "tcp" },
            &format!("10.96.{}.{}", 200 + n / 250, n % 250 + 1),
            port,
            Some(s.node_port),
            &format!("192.168.{}.{}:8080", 60 + n / 250, n % 250 + 2),
        ));
    }
    out
}

const BUILTIN: &str = ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";

/// Docker's nat rules on an MKE 3 node (docker0 and the Swarm gateway bridge).
const DOCKER_RULES: &[(&str, &str)] = &[
    ("PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER"),
    (
        "OUTPUT",
        "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    ),
    ("POSTROUTING", "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"),
    (
        "POSTROUTING",
        "-s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE",
    ),
    ("DOCKER", "-i docker0 -j RETURN"),
    ("DOCKER", "-i docker_gwbridge -j RETURN"),
];

/// `iptables-save -t nat` on a node, for the cluster's configuration text
/// and the Services of the `service_node_port` knob.
pub fn iptables_save_nat(config: &str, knob: &[ServiceNodePort]) -> String {
    let cfg = read_config(config);
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut add = |c: &str, r: String| rules.push((c.to_string(), r));
    add(
        "PREROUTING",
        "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES".into(),
    );
    add(
        "OUTPUT",
        "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES".into(),
    );
    add(
        "POSTROUTING",
        "-m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING".into(),
    );
    for (c, r) in DOCKER_RULES {
        add(c, r.to_string());
    }
    add("KUBE-MARK-MASQ", "-j MARK --set-xmark 0x4000/0x4000".into());
    add(
        "KUBE-POSTROUTING",
        "-m mark ! --mark 0x4000/0x4000 -j RETURN".into(),
    );
    add("KUBE-POSTROUTING", "-j MARK --set-xmark 0x4000/0x0".into());
    add("KUBE-POSTROUTING", "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully".into());
    let mut chains = vec![
        "DOCKER".to_string(),
        "KUBE-KUBELET-CANARY".into(),
        "KUBE-MARK-MASQ".into(),
        "KUBE-POSTROUTING".into(),
        "KUBE-PROXY-CANARY".into(),
        "KUBE-SERVICES".into(),
    ];
    if cfg.ipvs {
        chains.extend(["KUBE-NODE-PORT".into(), "KUBE-LOAD-BALANCER".into()]);
        add("KUBE-NODE-PORT", "-p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ".into());
        add("KUBE-NODE-PORT", "-p udp -m comment --comment \"Kubernetes nodeport UDP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ".into());
        add("KUBE-SERVICES", "! -s 192.168.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ".into());
        add(
            "KUBE-SERVICES",
            "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT".into(),
        );
        add(
            "KUBE-SERVICES",
            "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT".into(),
        );
    } else {
        chains.push("KUBE-NODEPORTS".into());
        for s in service_ports(&cfg, knob) {
            let key = format!("{}{}", s.spn, s.protocol);
            let (svc, sep) = (
                chain("KUBE-SVC-", &key),
                chain("KUBE-SEP-", &format!("{key}{}", s.endpoint)),
            );
            let p = s.protocol;
            let ep_ip = s.endpoint.split(':').next().unwrap_or("");
            let spn = &s.spn;
            let (cip, port) = (&s.cluster_ip, s.port);
            add(
                "KUBE-SERVICES",
                format!(
                    "-d {cip}/32 -p {p} -m comment --comment \"{spn} cluster IP\" -m {p} --dport {port} -j {svc}"
                ),
            );
            add(
                &svc,
                format!(
                    "! -s 192.168.0.0/16 -d {cip}/32 -p {p} -m comment --comment \"{spn} cluster IP\" -m {p} --dport {port} -j KUBE-MARK-MASQ"
                ),
            );
            add(
                &svc,
                format!("-m comment --comment \"{spn} -> {}\" -j {sep}", s.endpoint),
            );
            add(
                &sep,
                format!("-s {ep_ip}/32 -m comment --comment \"{spn}\" -j KUBE-MARK-MASQ"),
            );
            add(
                &sep,
                format!(
                    "-p {p} -m comment --comment \"{spn}\" -m {p} -j DNAT --to-destination {}",
                    s.endpoint
                ),
            );
            chains.extend([svc.clone(), sep]);
            if let Some(np) = s.node_port {
                let ext = chain("KUBE-EXT-", &key);
                add(
                    "KUBE-NODEPORTS",
                    format!("-p {p} -m comment --comment \"{spn}\" -m {p} --dport {np} -j {ext}"),
                );
                add(
                    &ext,
                    format!(
                        "-m comment --comment \"masquerade traffic for {spn} external destinations\" -j KUBE-MARK-MASQ"
                    ),
                );
                add(&ext, format!("-j {svc}"));
                chains.push(ext);
            }
        }
        add("KUBE-SERVICES", "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS".into());
    }
    chains.sort();
    chains.dedup();
    let date = "Tue Mar  4 10:12:01 2025";
    let mut out = format!("# Generated by iptables-save v1.8.7 on {date}\n*nat\n{BUILTIN}");
    for c in &chains {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    let order: Vec<&str> = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]
        .into_iter()
        .chain(chains.iter().map(String::as_str))
        .collect();
    for c in order {
        for (_, r) in rules.iter().filter(|(rc, _)| rc == c) {
            out.push_str(&format!("-A {c} {r}\n"));
        }
    }
    out.push_str(&format!("COMMIT\n# Completed on {date}\n"));
    out
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
        let text = iptables_save_nat(
            "[cluster_config]\nkube_proxy_mode = \"iptables\"\n[cluster_config.ingress_controller]\nenabled = true\n",
            &knob,
        );
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
        let ipvs = iptables_save_nat("[cluster_config]\nkube_proxy_mode = \"ipvs\"\n", &knob);
        assert!(!ipvs.contains("KUBE-NODEPORTS") && ipvs.contains("KUBE-NODE-PORT-TCP"));
        let off = iptables_save_nat("[cluster_config]\n", &[]);
        assert!(!off.contains("33001") && !off.contains("-A KUBE-NODEPORTS"));
    }
}
