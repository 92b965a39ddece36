//! `hosts`: the inventory is usable by mkectl. Every host resolves, answers
//! SSH, accepts the inventory's user and key, and (per `sudo`) runs
//! `sudo -n true`; every node of `GET /nodes` is in the inventory and no
//! inventory host is unknown to the cluster; the manager count is odd
//! (reference/mke3-facts.md §A.3, §D.4, §E.3).
//!
//! Hosts are checked through the shared fan-out (at most `--forks` at once,
//! one SSH connection each, each result streamed as it finishes); a closed
//! or silent port is told apart from other failures only after ssh failed,
//! so the common path costs one connection per host.

mod coverage;
mod probe;
mod remedy;

use std::collections::BTreeMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fanout::{each_host, plural};
use super::{Check, Facts, Module, StepContext, TaskError};
use crate::inventory::Host;
use crate::mke::Node;
use crate::ssh::{Cause, SshSettings};
use coverage::{cover, coverage_findings, role_of};
use probe::{HostCheck, Outcome};
use remedy::{Findings, listed, remedy_for};

pub use coverage::Coverage;

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

/// The cluster's side: the nodes, or why they could not be read.
enum Cluster {
    NotChecked,
    NoApi(String),
    Nodes(Vec<Node>),
}

impl Hosts {
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
                if let Some(c) = results[i].cause_of() {
                    causes.entry(c.name()).or_insert(i);
                }
            }
            for &i in causes.values() {
                if let Some(c) = results[i].cause_of() {
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
                    "status": r.label(),
                    "cause": r.cause_of().map(Cause::name),
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
        let sudo = self.sudo;
        let probes = each_host(cx, hosts, "checking", |host, settings| {
            probe::check_host(host, settings, sudo)
        });
        let (probed, cluster) = tokio::join!(probes, self.cluster(cx));
        let results: Vec<HostCheck> = probed.into_iter().map(|p| p.check).collect();
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
}

/// A host of the inventory, for tests.
#[cfg(test)]
pub(super) fn test_host(address: &str) -> Host {
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
