//! The inventory against the cluster's nodes: which host is which node
//! (addresses, private addresses, resolved addresses, hostnames), the nodes
//! the inventory misses, the hosts the cluster does not know, and the
//! manager count.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::remedy::{Findings, listed};
use crate::inventory::Host;
use crate::mke::Node;
use crate::tasks::Facts;
use crate::tasks::fanout::plural;

/// Which inventory host covers which cluster node.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Per inventory host: the index of its node in `GET /nodes`.
    pub node_of_host: Vec<Option<usize>>,
    /// Indexes of the nodes no inventory host covers.
    pub missing: Vec<usize>,
}

impl Coverage {
    /// Indexes of the inventory hosts the cluster does not know.
    pub fn unknown(&self) -> Vec<usize> {
        (0..self.node_of_host.len())
            .filter(|&i| self.node_of_host[i].is_none())
            .collect()
    }
}

pub(super) fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fn short_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Whether `host` (with the addresses its name resolved to) is `node`:
/// the node's address is the host's address, private address or one of
/// its resolved addresses, or the node's hostname is the host's address.
fn exact_match(host: &Host, ips: &[IpAddr], node: &Node) -> bool {
    let by_addr = node.addr.as_deref().is_some_and(|addr| {
        same_address(addr, &host.address)
            || host
                .private_address
                .as_deref()
                .is_some_and(|p| same_address(addr, p))
            || addr.parse::<IpAddr>().is_ok_and(|a| ips.contains(&a))
    });
    by_addr || (!node.hostname.is_empty() && node.hostname.eq_ignore_ascii_case(&host.address))
}

/// A weaker match, tried after the exact ones: the host's name and the
/// node's hostname agree on their first label (`node1.example.com` is
/// `node1`).
fn short_match(host: &Host, node: &Node) -> bool {
    host.address.parse::<IpAddr>().is_err()
        && !node.hostname.is_empty()
        && short_name(&host.address).eq_ignore_ascii_case(short_name(&node.hostname))
}

/// Matches inventory hosts to cluster nodes, one to one: exact matches
/// first (addresses, full hostnames), then short hostnames.
pub fn cover(hosts: &[Host], ips: &[Vec<IpAddr>], nodes: &[Node]) -> Coverage {
    let mut node_of_host: Vec<Option<usize>> = vec![None; hosts.len()];
    let mut taken = vec![false; nodes.len()];
    let no_ips: Vec<IpAddr> = Vec::new();
    let passes: [&dyn Fn(usize, usize) -> bool; 2] = [
        &|h, n| exact_match(&hosts[h], ips.get(h).unwrap_or(&no_ips), &nodes[n]),
        &|h, n| short_match(&hosts[h], &nodes[n]),
    ];
    for matches in passes {
        for (h, slot) in node_of_host.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            if let Some(n) = (0..nodes.len()).find(|&n| !taken[n] && matches(h, n)) {
                taken[n] = true;
                *slot = Some(n);
            }
        }
    }
    Coverage {
        node_of_host,
        missing: (0..nodes.len()).filter(|&n| !taken[n]).collect(),
    }
}

pub(super) fn role_of(node: &Node) -> &'static str {
    if node.is_manager() {
        "manager"
    } else {
        "worker"
    }
}

fn node_label(node: &Node) -> String {
    match &node.addr {
        Some(a) => format!("{} ({a}, {})", node.hostname, role_of(node)),
        None => format!("{} ({})", node.hostname, role_of(node)),
    }
}

/// Problems of the inventory against the cluster's nodes (both ways) and
/// of the manager count; registers `managers`, `workers`, `missing` and
/// `unknown`. Returns the summary of the cluster side.
pub(super) fn coverage_findings(
    hosts: &[Host],
    nodes: &[Node],
    cov: &Coverage,
    found: &mut Findings,
    output: &mut Facts,
) -> String {
    let managers = nodes.iter().filter(|n| n.is_manager()).count();
    let workers = nodes.len() - managers;
    output.insert("managers".into(), managers.into());
    output.insert("workers".into(), workers.into());
    if nodes.is_empty() {
        found.add(
            "GET /nodes listed no nodes".into(),
            "coverage: check that MKE_HOST points at the MKE 3 cluster the inventory describes",
        );
    }
    let missing: Vec<&Node> = cov.missing.iter().map(|&n| &nodes[n]).collect();
    if !missing.is_empty() {
        let named: Vec<String> = missing.iter().map(|n| node_label(n)).collect();
        found.add(
            format!(
                "{} not in the inventory: {}",
                plural(missing.len(), "cluster node is", "cluster nodes are"),
                listed(&named)
            ),
            "missing node: add every node to hosts.yaml (mkectl must reach them all); a node listed under another address needs `privateAddress:` set to the address the cluster shows",
        );
    }
    output.insert(
        "missing".into(),
        missing
            .iter()
            .map(|n| json!({"hostname": n.hostname, "addr": n.addr, "role": role_of(n)}))
            .collect::<Vec<_>>()
            .into(),
    );
    let unknown = if nodes.is_empty() {
        Vec::new()
    } else {
        cov.unknown()
    };
    if !unknown.is_empty() {
        let named: Vec<String> = unknown
            .iter()
            .map(|&h| format!("{} (line {})", hosts[h].address, hosts[h].line))
            .collect();
        found.add(
            format!(
                "{} not a node of the cluster: {}",
                plural(unknown.len(), "inventory host is", "inventory hosts are"),
                listed(&named)
            ),
            "unknown host: remove it from hosts.yaml, or join it to the cluster first; if it is a node under another name, set its `privateAddress:` to the address GET /nodes shows",
        );
    }
    output.insert(
        "unknown".into(),
        unknown
            .iter()
            .map(|&h| Value::from(hosts[h].address.clone()))
            .collect::<Vec<_>>()
            .into(),
    );
    if managers % 2 == 0 && managers > 0 {
        found.add(
            format!(
                "{managers} managers: Mirantis does not sanction an even number of managers; the upgrade may fail with two"
            ),
            "managers: promote a worker (`docker node promote NODE`) or demote a manager (`docker node demote NODE`) to reach an odd count before the upgrade",
        );
    }
    format!(
        "inventory covers all {}; {}, {}",
        plural(nodes.len(), "cluster node", "cluster nodes"),
        plural(managers, "manager", "managers"),
        plural(workers, "worker", "workers")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mke::Node;

    use super::super::test_host as host;

    fn node(hostname: &str, addr: &str, manager: bool) -> Node {
        let mut v = json!({
            "ID": hostname,
            "Spec": {"Role": if manager { "manager" } else { "worker" }},
            "Description": {"Hostname": hostname},
            "Status": {"State": "ready", "Addr": addr},
        });
        if manager {
            v["ManagerStatus"] = json!({"Addr": format!("{addr}:2377")});
        }
        Node::from_json(&v)
    }

    #[test]
    fn covers_by_address_hostname_private_address_and_resolution() {
        let mut private = host("203.0.113.7");
        private.private_address = Some("10.0.0.13".into());
        let hosts = vec![
            host("10.0.0.11"),
            host("mgr2.example.com"),
            private,
            host("node4.example.com"),
            host("worker5.example.com"),
        ];
        let ips = vec![
            vec![],
            vec![],
            vec![],
            vec!["10.0.0.14".parse().unwrap()],
            vec![],
        ];
        let nodes = vec![
            node("mgr1", "10.0.0.11", true),
            node("mgr2.example.com", "10.0.0.12", true),
            node("w3", "10.0.0.13", false),
            node("ip-10-0-0-14", "10.0.0.14", false),
            node("worker5", "10.0.0.15", false),
        ];
        let cov = cover(&hosts, &ips, &nodes);
        assert_eq!(
            cov.node_of_host,
            vec![Some(0), Some(1), Some(2), Some(3), Some(4)]
        );
        assert!(cov.missing.is_empty());
        assert!(cov.unknown().is_empty());
    }

    #[test]
    fn reports_missing_and_unknown_both_ways() {
        let hosts = vec![host("10.0.0.11"), host("10.0.0.99")];
        let nodes = vec![
            node("mgr1", "10.0.0.11", true),
            node("w2", "10.0.0.12", false),
        ];
        let cov = cover(&hosts, &[], &nodes);
        assert_eq!(cov.node_of_host, vec![Some(0), None]);
        assert_eq!(cov.missing, vec![1]);
        assert_eq!(cov.unknown(), vec![1]);
    }

    #[test]
    fn one_host_covers_one_node_and_exact_beats_short_names() {
        // node1.a and node1.b share a short name; each exact name wins.
        let hosts = vec![host("node1.b"), host("node1.a")];
        let nodes = vec![
            node("node1.a", "10.0.0.1", true),
            node("node1.b", "10.0.0.2", false),
        ];
        let cov = cover(&hosts, &[], &nodes);
        assert_eq!(cov.node_of_host, vec![Some(1), Some(0)]);
        // A duplicate short name covers only one node.
        let hosts = vec![host("node1.x"), host("node1.y")];
        let nodes = vec![node("node1", "10.0.0.1", true)];
        let cov = cover(&hosts, &[], &nodes);
        assert_eq!(cov.node_of_host, vec![Some(0), None]);
    }

    #[test]
    fn ip_forms_compare_as_addresses() {
        assert!(same_address("::1", "0:0:0:0:0:0:0:1"));
        assert!(same_address("Node1.Example.com", "node1.example.com"));
        assert!(!same_address("10.0.0.1", "10.0.0.10"));
        // An IP address never matches by short name.
        assert!(!short_match(
            &host("10.0.0.1"),
            &node("10", "10.9.9.9", false)
        ));
    }
}
