//! `hosts`: the inventory is usable by mkectl. Every host resolves, answers
//! SSH, accepts the inventory's user and key, and (per `sudo`) runs
//! `sudo -n true`; every node of `GET /nodes` is in the inventory and no
//! inventory host is unknown to the cluster; the manager count is odd
//! (reference/mke3-facts.md §A.3, §D.4, §E.3).
//!
//! Hosts are checked concurrently, at most `--forks` at once, with one SSH
//! connection each (the login runs `sudo -n true`, or `true` with
//! `sudo: skip`). A closed or silent port is told apart from other failures
//! with a TCP probe made only after ssh failed, so the common path costs one
//! connection per host. Each host's result is streamed as it finishes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Change, Check, Facts, Module, StepContext, TaskError};
use crate::inventory::Host;
use crate::mke::Node;
use crate::ssh::{self, Cause, SshError, SshSettings};

/// At most this many hosts or nodes are named in one message.
const MAX_LISTED: usize = 10;
/// Progress is reported at most this often during the fan-out.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a failing `sudo -n true` means: the host fails (`require`), passes
/// with a warning (`warn`), or sudo is not tried, only `true` (`skip`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SudoPolicy {
    #[default]
    Require,
    Warn,
    Skip,
}

fn yes() -> bool {
    true
}

/// Check that mkectl can reach and use every node of the inventory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// What to do when `sudo -n true` fails on a host: `require` (the host
    /// fails), `warn` (the host passes with a warning) or `skip` (not tried).
    #[serde(default)]
    pub sudo: SudoPolicy,
    /// Compare the inventory with the cluster's nodes (`GET /nodes`, needs
    /// the MKE API) both ways, and require an odd number of managers.
    #[serde(default = "yes")]
    pub cluster_coverage: bool,
}

/// How one host fared.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    /// Usable, but with a problem the policy lets pass (sudo under `warn`).
    Warn(Cause, String),
    Failed(Cause, String),
}

#[derive(Debug, Clone)]
struct HostCheck {
    /// The addresses the host's name resolved to (for coverage matching).
    ips: Vec<IpAddr>,
    outcome: Outcome,
    ms: u64,
}

impl HostCheck {
    fn status(&self) -> &'static str {
        match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Warn(..) => "warn",
            Outcome::Failed(..) => "failed",
        }
    }

    /// SSH login worked (whatever sudo said).
    fn reachable(&self) -> bool {
        match &self.outcome {
            Outcome::Failed(c, _) => *c == Cause::Sudo,
            _ => true,
        }
    }

    fn cause(&self) -> Option<Cause> {
        match &self.outcome {
            Outcome::Ok => None,
            Outcome::Warn(c, _) | Outcome::Failed(c, _) => Some(*c),
        }
    }

    fn message(&self, sudo: SudoPolicy) -> String {
        match &self.outcome {
            Outcome::Ok if sudo == SudoPolicy::Skip => "SSH login runs `true`".to_string(),
            Outcome::Ok => "SSH login runs `sudo -n true`".to_string(),
            Outcome::Warn(c, m) | Outcome::Failed(c, m) => format!("{}: {m}", c.word()),
        }
    }
}

/// Checks one host: DNS, then one SSH login running the probe command;
/// after an SSH failure that is not clearly classified, a TCP probe tells a
/// closed port from a silent one.
async fn check_host(host: &Host, settings: &SshSettings, sudo: SudoPolicy) -> HostCheck {
    let started = Instant::now();
    let (ips, outcome) = probe_host(host, settings, sudo).await;
    HostCheck {
        ips,
        outcome,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn probe_host(
    host: &Host,
    settings: &SshSettings,
    sudo: SudoPolicy,
) -> (Vec<IpAddr>, Outcome) {
    let failed = |e: SshError| Outcome::Failed(e.cause, e.message);
    // Through a proxy, the addresses are resolved and reached from there.
    let direct = !ssh::proxied(settings);
    let addrs = if direct {
        match ssh::resolve(host, settings).await {
            Ok(a) => a,
            Err(e) => return (Vec::new(), failed(e)),
        }
    } else {
        Vec::new()
    };
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    let command = match sudo {
        SudoPolicy::Skip => "true",
        SudoPolicy::Require | SudoPolicy::Warn => "sudo -n true",
    };
    let result = if direct {
        ssh::exec_at(host, &addrs, settings, command).await
    } else {
        ssh::exec(host, settings, command).await
    };
    let outcome = match result {
        Ok(out) if out.status == 0 => Outcome::Ok,
        Ok(out) => {
            let said = out
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim)
                .unwrap_or("no message");
            let message = format!("`{command}` exited {}: {said}", out.status);
            match sudo {
                SudoPolicy::Skip => Outcome::Failed(Cause::Command, message),
                SudoPolicy::Warn => Outcome::Warn(Cause::Sudo, message),
                SudoPolicy::Require => Outcome::Failed(Cause::Sudo, message),
            }
        }
        // `ssh` exits 255 for a closed port and a silent one alike: a TCP
        // probe tells them apart (the native transport knows already).
        Err(e)
            if direct
                && settings.transport == ssh::Transport::Openssh
                && matches!(e.cause, Cause::Timeout | Cause::Other) =>
        {
            match ssh::tcp_probe(host, &addrs, settings).await {
                Err(probe) if probe.cause != Cause::Other => failed(probe),
                Ok(addr) if e.cause == Cause::Timeout => Outcome::Failed(
                    Cause::Timeout,
                    format!("{addr} accepts TCP connections, but SSH: {}", e.message),
                ),
                _ => failed(e),
            }
        }
        Err(e) => failed(e),
    };
    (ips, outcome)
}

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

fn same_address(a: &str, b: &str) -> bool {
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

/// `a, b, c and 4 more`.
fn listed(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a person can do about hosts failing for `cause`; `host` is the
/// first of them, for a concrete command.
fn remedy_for(cause: Cause, host: &Host, settings: &SshSettings) -> String {
    let (addr, port, user) = (&host.address, host.port, &host.user);
    let key = host
        .key_path
        .as_ref()
        .map(|k| k.display().to_string())
        .unwrap_or_else(|| "KEY".to_string());
    match cause {
        Cause::Dns => format!(
            "dns: make {addr} resolvable from this machine (DNS or /etc/hosts), or write its IP address in hosts.yaml"
        ),
        Cause::Refused => {
            format!("refused: start sshd on {addr}, or fix `port` ({port}) in hosts.yaml")
        }
        Cause::Timeout => format!(
            "timeout: check routes, firewalls and security groups for TCP port {port} of {addr} from this machine, and that the host is up; raise --ssh-timeout for slow links"
        ),
        Cause::Auth => format!(
            "auth: check `user` ({user}) and `keyPath` in hosts.yaml; the public key must be in ~{user}/.ssh/authorized_keys on the host (ssh-copy-id -i {key} -p {port} {user}@{addr})"
        ),
        Cause::HostKey => {
            let known = settings
                .known_hosts
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.ssh/known_hosts".to_string());
            format!(
                "host key: compare the host's key fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it, then `ssh-keyscan -p {port} {addr} >> {known}`, or run with --accept-new-host-keys; a changed key needs investigating before `ssh-keygen -R '[{addr}]:{port}' -f {known}`"
            )
        }
        Cause::Sudo => format!(
            "sudo: give {user} passwordless sudo on the host (a NOPASSWD rule in /etc/sudoers.d), as mkectl needs root; or set `sudo: warn` on this step to only warn"
        ),
        Cause::Command => {
            format!("command: log in as {user}@{addr} and check the login shell runs `true`")
        }
        Cause::Other => {
            format!("error: try `ssh -v -p {port} -i {key} {user}@{addr} true` to see what fails")
        }
    }
}

/// The cluster's side: the nodes, or why they could not be read.
enum Cluster {
    NotChecked,
    NoApi(String),
    Nodes(Vec<Node>),
}

fn role_of(node: &Node) -> &'static str {
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

/// Problems found, each with what to do about it.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    remedies: Vec<String>,
}

impl Findings {
    fn add(&mut self, problem: String, remedy: &str) {
        self.problems.push(problem);
        self.remedies.push(remedy.to_string());
    }
}

/// Problems of the inventory against the cluster's nodes (both ways) and
/// of the manager count; registers `managers`, `workers`, `missing` and
/// `unknown`. Returns the summary of the cluster side.
fn coverage_findings(
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

impl Hosts {
    /// Checks every host, at most `forks` at once, streaming each result.
    async fn fan_out(&self, cx: &StepContext<'_>, hosts: &[Host]) -> Vec<HostCheck> {
        let settings = Arc::new(cx.conn.ssh.clone());
        let permits = Arc::new(Semaphore::new(settings.forks.max(1)));
        let mut set = JoinSet::new();
        let mut index_of = BTreeMap::new();
        cx.progress(format!(
            "checking {} over SSH, {} at a time",
            plural(hosts.len(), "host", "hosts"),
            settings.forks.max(1).min(hosts.len().max(1))
        ));
        for (i, host) in hosts.iter().enumerate() {
            let (host, settings, permits, sudo) =
                (host.clone(), settings.clone(), permits.clone(), self.sudo);
            let handle = set.spawn(async move {
                // The semaphore is never closed; without a permit, go on.
                let _permit = permits.acquire_owned().await.ok();
                check_host(&host, &settings, sudo).await
            });
            index_of.insert(handle.id(), i);
        }
        let mut results: Vec<Option<HostCheck>> = vec![None; hosts.len()];
        let (mut done, mut last_progress) = (0usize, Instant::now());
        while let Some(joined) = set.join_next_with_id().await {
            let (id, check) = match joined {
                Ok((id, check)) => (id, check),
                Err(e) => (
                    e.id(),
                    HostCheck {
                        ips: Vec::new(),
                        outcome: Outcome::Failed(Cause::Other, format!("the check stopped: {e}")),
                        ms: 0,
                    },
                ),
            };
            let Some(&i) = index_of.get(&id) else {
                continue;
            };
            cx.host_result_with_cause(
                &hosts[i],
                check.status(),
                check.cause().map(Cause::name),
                check.message(self.sudo),
                check.ms,
            );
            results[i] = Some(check);
            done += 1;
            if last_progress.elapsed() >= PROGRESS_EVERY && done < hosts.len() {
                cx.progress(format!("{done}/{} hosts checked", hosts.len()));
                last_progress = Instant::now();
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(HostCheck {
                    ips: Vec::new(),
                    outcome: Outcome::Failed(Cause::Other, "the check did not finish".into()),
                    ms: 0,
                })
            })
            .collect()
    }

    /// Problems of hosts that failed; the summary of the SSH side when
    /// none did.
    fn ssh_findings(
        &self,
        hosts: &[Host],
        results: &[HostCheck],
        settings: &SshSettings,
        found: &mut Findings,
    ) -> String {
        let failed: Vec<usize> = (0..hosts.len())
            .filter(|&i| matches!(results[i].outcome, Outcome::Failed(..)))
            .collect();
        if !failed.is_empty() {
            let named: Vec<String> = failed
                .iter()
                .map(|&i| format!("{} ({})", hosts[i].address, results[i].message(self.sudo)))
                .collect();
            found.problems.push(format!(
                "{} of {} failed: {}",
                failed.len(),
                plural(hosts.len(), "host", "hosts"),
                listed(&named)
            ));
            // One remedy per cause, with the first such host as example.
            let mut causes: BTreeMap<&str, usize> = BTreeMap::new();
            for &i in &failed {
                if let Some(c) = results[i].cause() {
                    causes.entry(c.name()).or_insert(i);
                }
            }
            for &i in causes.values() {
                if let Some(c) = results[i].cause() {
                    found.remedies.push(remedy_for(c, &hosts[i], settings));
                }
            }
        }
        let n = hosts.len();
        let warned: Vec<String> = (0..n)
            .filter(|&i| matches!(results[i].outcome, Outcome::Warn(..)))
            .map(|i| hosts[i].address.clone())
            .collect();
        match self.sudo {
            SudoPolicy::Skip => format!("{n}/{n} hosts reachable over SSH (sudo not checked)"),
            _ if warned.is_empty() => format!("{n}/{n} hosts reachable over SSH with sudo"),
            _ => format!(
                "{n}/{n} hosts reachable over SSH; {} passwordless sudo (sudo: warn): {}",
                plural(warned.len(), "lacks", "lack"),
                listed(&warned)
            ),
        }
    }

    /// The registered `hosts` list: one object per inventory host.
    fn host_facts(&self, hosts: &[Host], results: &[HostCheck], nodes: &[Option<&Node>]) -> Value {
        let list: Vec<Value> = hosts
            .iter()
            .zip(results)
            .zip(nodes)
            .map(|((h, r), node)| {
                let mut o = json!({
                    "address": h.address,
                    "port": h.port,
                    "user": h.user,
                    "ok": !matches!(r.outcome, Outcome::Failed(..)),
                    "status": r.status(),
                    "cause": r.cause().map(Cause::name),
                    "message": r.message(self.sudo),
                    "ms": r.ms,
                });
                if let (Some(node), Some(obj)) = (node, o.as_object_mut()) {
                    obj.insert("node".into(), node.hostname.clone().into());
                    obj.insert("role".into(), role_of(node).into());
                }
                o
            })
            .collect();
        list.into()
    }

    async fn cluster(&self, cx: &StepContext<'_>) -> Result<Cluster, TaskError> {
        if !self.cluster_coverage {
            return Ok(Cluster::NotChecked);
        }
        match &cx.conn.mke {
            Err(why) => Ok(Cluster::NoApi(why.clone())),
            Ok(client) => client.nodes().await.map(Cluster::Nodes).map_err(|e| {
                TaskError::new(format!("cannot list the cluster's nodes: {e}")).remedy(
                    "check the MKE API (MKE_HOST, credentials, CA), or pass `cluster_coverage: false` to check only SSH",
                )
            }),
        }
    }
}

impl Module for Hosts {
    const NAME: &'static str = "hosts";
    const SUMMARY: &'static str = "Every inventory host answers SSH with the inventory's user and key and has passwordless sudo; the inventory and the cluster's nodes match; the manager count is odd.";
    const EXAMPLE: &'static str =
        "- id: check-hosts\n  hosts:\n    sudo: require\n    cluster_coverage: true";
    const CHECK_MODE: &'static str =
        "full: read-only (DNS, TCP, SSH login running `sudo -n true`, GET /nodes)";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let hosts = &cx.inventory()?.hosts;
        let (results, cluster) = tokio::join!(self.fan_out(cx, hosts), self.cluster(cx));
        let mut found = Findings::default();
        let ssh_summary = self.ssh_findings(hosts, &results, &cx.conn.ssh, &mut found);
        let mut output = Facts::new();
        let reachable = results.iter().filter(|r| r.reachable()).count();
        output.insert("reachable".into(), reachable.into());
        output.insert("unreachable".into(), (hosts.len() - reachable).into());
        // Known only from the cluster (set by the coverage check).
        output.insert("managers".into(), Value::Null);
        output.insert("workers".into(), Value::Null);
        let no_nodes = vec![None; hosts.len()];
        let cluster = match cluster {
            Ok(c) => c,
            Err(mut e) => {
                output.insert("hosts".into(), self.host_facts(hosts, &results, &no_nodes));
                e.output = Box::new(output);
                return Err(e);
            }
        };
        let (coverage_summary, nodes_of_hosts) = match &cluster {
            Cluster::NotChecked => (
                "cluster coverage not checked (cluster_coverage: false)".to_string(),
                no_nodes,
            ),
            Cluster::NoApi(why) => {
                found.add(
                    format!("cannot compare the inventory with the cluster's nodes: {why}"),
                    "coverage: export MKE_HOST, MKE_USERNAME and MKE_PASSWORD (or use --password-file) so the cluster's nodes can be read, or pass `cluster_coverage: false` to check only SSH",
                );
                (String::new(), no_nodes)
            }
            Cluster::Nodes(nodes) => {
                let ips: Vec<Vec<IpAddr>> = results.iter().map(|r| r.ips.clone()).collect();
                let cov = cover(hosts, &ips, nodes);
                let summary = coverage_findings(hosts, nodes, &cov, &mut found, &mut output);
                let matched = cov
                    .node_of_host
                    .iter()
                    .map(|n| n.map(|n| &nodes[n]))
                    .collect();
                (summary, matched)
            }
        };
        let facts = self.host_facts(hosts, &results, &nodes_of_hosts);
        output.insert("hosts".into(), facts);
        if !found.problems.is_empty() {
            return Ok(Check::Blocked {
                reason: found.problems.join("; "),
                remedy: found.remedies.join("; "),
                output,
            });
        }
        Ok(Check::InSync {
            message: format!("{ssh_summary}; {coverage_summary}"),
            output,
        })
    }

    async fn apply(&self, _cx: &StepContext<'_>, _changes: &[Change]) -> Result<Facts, TaskError> {
        Err(TaskError::new(
            "the hosts module changes nothing: its problems need a person (see the check's remedy)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mke::Node;

    fn host(address: &str) -> Host {
        Host {
            address: address.into(),
            port: 22,
            user: "ubuntu".into(),
            key_path: None,
            private_address: None,
            private_interface: None,
            line: 1,
        }
    }

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

    #[test]
    fn lists_are_capped() {
        let items: Vec<String> = (0..13).map(|i| i.to_string()).collect();
        assert_eq!(listed(&items), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 3 more");
        assert_eq!(listed(&items[..2]), "0, 1");
    }

    #[test]
    fn remedies_name_the_concrete_command() {
        let mut h = host("10.0.0.5");
        h.port = 2222;
        let settings = SshSettings {
            known_hosts: Some("/tmp/kh".into()),
            ..SshSettings::default()
        };
        let r = remedy_for(Cause::HostKey, &h, &settings);
        assert!(r.contains("ssh-keyscan -p 2222 10.0.0.5 >> /tmp/kh"), "{r}");
        assert!(r.contains("--accept-new-host-keys"), "{r}");
        let r = remedy_for(Cause::Sudo, &h, &settings);
        assert!(
            r.contains("passwordless sudo") && r.contains("sudo: warn"),
            "{r}"
        );
    }
}
