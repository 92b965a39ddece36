//! The nat table: Docker's rules and kube-proxy's Service chains.

use super::{Config, SvcPort, Table, chain};

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

const BUILTIN: &[(&str, &str)] = &[
    ("PREROUTING", "ACCEPT"),
    ("INPUT", "ACCEPT"),
    ("OUTPUT", "ACCEPT"),
    ("POSTROUTING", "ACCEPT"),
];

/// The nat table of one family; `kube_proxy`: kube-proxy programs it.
pub(super) fn nat(cfg: &Config, svcs: &[SvcPort], ipv6: bool, kube_proxy: bool) -> Table {
    let mut t = Table::new(BUILTIN);
    if !ipv6 {
        t.chain("DOCKER");
        for (c, r) in DOCKER_RULES {
            t.add(c, *r);
        }
    }
    if !kube_proxy {
        return t;
    }
    for c in ["PREROUTING", "OUTPUT"] {
        t.add(
            c,
            "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        );
    }
    t.add(
        "POSTROUTING",
        "-m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
    );
    t.add("KUBE-MARK-MASQ", "-j MARK --set-xmark 0x4000/0x4000");
    t.add(
        "KUBE-POSTROUTING",
        "-m mark ! --mark 0x4000/0x4000 -j RETURN",
    );
    t.add("KUBE-POSTROUTING", "-j MARK --set-xmark 0x4000/0x0");
    t.add("KUBE-POSTROUTING", "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully");
    for c in [
        "KUBE-KUBELET-CANARY",
        "KUBE-MARK-MASQ",
        "KUBE-POSTROUTING",
        "KUBE-PROXY-CANARY",
        "KUBE-SERVICES",
    ] {
        t.chain(c);
    }
    if cfg.ipvs {
        t.chain("KUBE-NODE-PORT");
        t.chain("KUBE-LOAD-BALANCER");
        t.add("KUBE-NODE-PORT", "-p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ");
        t.add("KUBE-NODE-PORT", "-p udp -m comment --comment \"Kubernetes nodeport UDP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ");
        t.add("KUBE-SERVICES", "! -s 192.168.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ");
        t.add(
            "KUBE-SERVICES",
            "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
        );
        t.add(
            "KUBE-SERVICES",
            "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
        );
        return t;
    }
    t.chain("KUBE-NODEPORTS");
    let (host, pods) = if ipv6 {
        ("128", "fd00:10:244::/64")
    } else {
        ("32", "192.168.0.0/16")
    };
    // No endpoints: no nat rule at all (the filter table rejects).
    for s in svcs {
        let Some(endpoint) = &s.endpoint else {
            continue;
        };
        let key = format!("{}{}", s.spn, s.protocol);
        let (svc, sep) = (
            chain("KUBE-SVC-", &key),
            chain("KUBE-SEP-", &format!("{key}{endpoint}")),
        );
        let p = s.protocol;
        let ep_ip = endpoint
            .rsplit_once(':')
            .map_or("", |(ip, _)| ip)
            .trim_matches(|c| c == '[' || c == ']');
        let spn = &s.spn;
        let (cip, port) = (&s.cluster_ip, s.port);
        t.add(
            "KUBE-SERVICES",
            format!(
                "-d {cip}/{host} -p {p} -m comment --comment \"{spn} cluster IP\" -m {p} --dport {port} -j {svc}"
            ),
        );
        t.add(
            &svc,
            format!(
                "! -s {pods} -d {cip}/{host} -p {p} -m comment --comment \"{spn} cluster IP\" -m {p} --dport {port} -j KUBE-MARK-MASQ"
            ),
        );
        t.add(
            &svc,
            format!("-m comment --comment \"{spn} -> {endpoint}\" -j {sep}"),
        );
        t.add(
            &sep,
            format!("-s {ep_ip}/{host} -m comment --comment \"{spn}\" -j KUBE-MARK-MASQ"),
        );
        t.add(
            &sep,
            format!(
                "-p {p} -m comment --comment \"{spn}\" -m {p} -j DNAT --to-destination {endpoint}"
            ),
        );
        t.chain(svc.clone());
        t.chain(sep);
        if let Some(np) = s.node_port {
            let ext = chain("KUBE-EXT-", &key);
            t.add(
                "KUBE-NODEPORTS",
                format!("-p {p} -m comment --comment \"{spn}\" -m {p} --dport {np} -j {ext}"),
            );
            t.add(
                &ext,
                format!(
                    "-m comment --comment \"masquerade traffic for {spn} external destinations\" -j KUBE-MARK-MASQ"
                ),
            );
            t.add(&ext, format!("-j {svc}"));
            t.chain(ext);
        }
    }
    let local = if ipv6 {
        "-m addrtype --dst-type LOCAL ! -d ::1/128"
    } else {
        "-m addrtype --dst-type LOCAL"
    };
    t.add("KUBE-SERVICES", format!("-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" {local} -j KUBE-NODEPORTS"));
    t
}
