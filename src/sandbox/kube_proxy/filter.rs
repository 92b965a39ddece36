//! The filter and mangle tables: kube-proxy's jump rules (its
//! `iptablesJumpChains`), Services without endpoints rejected in
//! KUBE-SERVICES (ClusterIP) and KUBE-EXTERNAL-SERVICES (NodePort),
//! health-check NodePorts accepted in KUBE-NODEPORTS; Docker's chains.

use super::{Config, SvcPort, Table};

/// The mangle table: the canary chains kubelet and kube-proxy watch.
pub(super) fn mangle(kube_proxy: bool) -> Table {
    let mut t = Table::new(&[
        ("PREROUTING", "ACCEPT"),
        ("INPUT", "ACCEPT"),
        ("FORWARD", "ACCEPT"),
        ("OUTPUT", "ACCEPT"),
        ("POSTROUTING", "ACCEPT"),
    ]);
    if kube_proxy {
        t.chain("KUBE-KUBELET-CANARY");
        t.chain("KUBE-PROXY-CANARY");
    }
    t
}

/// kube-proxy's jumps from the built-in chains (source, conntrack-new?, target, comment).
const JUMPS: &[(&str, bool, &str, &str)] = &[
    (
        "INPUT",
        true,
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
    ),
    (
        "INPUT",
        false,
        "KUBE-NODEPORTS",
        "kubernetes health check service ports",
    ),
    (
        "INPUT",
        true,
        "KUBE-EXTERNAL-SERVICES",
        "kubernetes externally-visible service portals",
    ),
    (
        "FORWARD",
        true,
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
    ),
    (
        "FORWARD",
        false,
        "KUBE-FORWARD",
        "kubernetes forwarding rules",
    ),
    (
        "FORWARD",
        true,
        "KUBE-SERVICES",
        "kubernetes service portals",
    ),
    (
        "FORWARD",
        true,
        "KUBE-EXTERNAL-SERVICES",
        "kubernetes externally-visible service portals",
    ),
    (
        "OUTPUT",
        true,
        "KUBE-PROXY-FIREWALL",
        "kubernetes load balancer firewall",
    ),
    (
        "OUTPUT",
        true,
        "KUBE-SERVICES",
        "kubernetes service portals",
    ),
];

/// The filter table of one family; `kube_proxy`: kube-proxy programs it.
pub(super) fn filter(cfg: &Config, svcs: &[SvcPort], ipv6: bool, kube_proxy: bool) -> Table {
    let mut t = Table::new(&[
        ("INPUT", "ACCEPT"),
        ("FORWARD", "DROP"),
        ("OUTPUT", "ACCEPT"),
    ]);
    if !ipv6 {
        for c in [
            "DOCKER",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-ISOLATION-STAGE-2",
            "DOCKER-USER",
        ] {
            t.chain(c);
        }
        t.add("FORWARD", "-j DOCKER-USER");
        t.add("FORWARD", "-j DOCKER-ISOLATION-STAGE-1");
        t.add(
            "FORWARD",
            "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        );
        t.add("FORWARD", "-o docker0 -j DOCKER");
        t.add(
            "DOCKER-ISOLATION-STAGE-1",
            "-i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
        );
        t.add("DOCKER-ISOLATION-STAGE-1", "-j RETURN");
        t.add("DOCKER-ISOLATION-STAGE-2", "-o docker0 -j DROP");
        t.add("DOCKER-ISOLATION-STAGE-2", "-j RETURN");
        t.add("DOCKER-USER", "-j RETURN");
    }
    if !kube_proxy {
        return t;
    }
    for c in [
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-KUBELET-CANARY",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-CANARY",
        "KUBE-PROXY-FIREWALL",
        "KUBE-SERVICES",
    ] {
        t.chain(c);
    }
    if !ipv6 {
        t.chain("KUBE-FIREWALL");
        t.add("INPUT", "-j KUBE-FIREWALL");
        t.add("OUTPUT", "-j KUBE-FIREWALL");
        t.add("KUBE-FIREWALL", "! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP");
    }
    for (from, new, to, comment) in JUMPS {
        let state = if *new {
            "-m conntrack --ctstate NEW "
        } else {
            ""
        };
        t.add(
            from,
            format!("{state}-m comment --comment \"{comment}\" -j {to}"),
        );
    }
    t.add("KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP");
    t.add("KUBE-FORWARD", "-m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT");
    t.add("KUBE-FORWARD", "-m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
    if cfg.ipvs {
        return t;
    }
    for s in svcs {
        let (spn, p) = (&s.spn, s.protocol);
        if s.endpoint.is_none() {
            let comment = format!("-m comment --comment \"{spn} has no endpoints\"");
            t.add(
                "KUBE-SERVICES",
                format!(
                    "{comment} -m {p} -p {p} -d {} --dport {} -j REJECT --reject-with {}",
                    s.cluster_ip,
                    s.port,
                    reject(ipv6)
                ),
            );
            if let Some(np) = s.node_port {
                t.add(
                    "KUBE-EXTERNAL-SERVICES",
                    format!(
                        "{comment} -m addrtype --dst-type LOCAL -m {p} -p {p} --dport {np} -j REJECT --reject-with {}",
                        reject(ipv6)
                    ),
                );
            }
        }
        if let Some(hc) = s.health_check {
            t.add(
                "KUBE-NODEPORTS",
                format!(
                    "-m comment --comment \"{spn} health check node port\" -m tcp -p tcp --dport {hc} -j ACCEPT"
                ),
            );
        }
    }
    t
}

fn reject(ipv6: bool) -> &'static str {
    if ipv6 {
        "icmp6-port-unreachable"
    } else {
        "icmp-port-unreachable"
    }
}
