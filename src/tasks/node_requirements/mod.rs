//! `node_requirements`: the host prechecks `mkectl upgrade` runs (and
//! stops or rolls back on) for an MKE 4k target, run beforehand on the
//! same facts as `facts` (one SSH connection per host): supported OS and
//! architecture, CPUs and memory, cgroup v2 for 4.2+, free space for the
//! k0s data dir, distinct machine ids, the CNI check port on the first two
//! managers and first two workers, k0s's ports on managers, clocks that
//! agree and are synchronised (reference/mke4k-upgrade-checks.md §2.4,
//! §5.2, §6.10, §7). Where Mirantis
//! publishes no number the rule is a parameter whose default says where it
//! comes from ([C] documented, [I] inferred), and the output says so.

mod rules;
mod verdict;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::facts::read_all;
use super::fanout::{emit_host, plural};
use super::mke_version::{DEFAULT_TARGET, version_param};
use super::targets::roles;
use super::{Check, Module, StepContext, TaskError};
use crate::hostfacts::Request;
use crate::util::text::{format_size, parse_size};
use rules::{Level, OsRule, Rules, TimeSync, ancestors, default_os};
use verdict::{Verdict, remedies, time_notes, unreadable};

fn default_target() -> String {
    DEFAULT_TARGET.to_string()
}
fn default_arch() -> Vec<String> {
    vec!["x86_64".into()]
}
fn two() -> u32 {
    2
}
fn eight() -> u32 {
    8
}
fn eight_gib() -> String {
    "8GiB".into()
}
fn thirty_two_gib() -> String {
    "32GiB".into()
}
fn k0s_dir() -> String {
    "/var/lib/k0s".into()
}
fn twenty_gib() -> String {
    "20GiB".into()
}
fn fifteen() -> f64 {
    15.0
}
fn eighty() -> u16 {
    80
}
fn k0s_ports() -> Vec<u16> {
    vec![2380, 9443, 8132]
}
fn two_seconds() -> std::time::Duration {
    std::time::Duration::from_secs(2)
}

/// Check every inventory host against the MKE 4k target's host requirements.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeRequirements {
    /// The MKE 4k release to upgrade to: it decides the OS list and whether
    /// cgroup v2 is required (4.2+).
    #[serde(default = "default_target")]
    pub target: String,
    /// Supported OS releases, `ID VERSION` as /etc/os-release says them
    /// (`ubuntu 22.04`, `rocky 9.*`); default: Mirantis' list for the
    /// target (4.1.0: Ubuntu 20.04/22.04, RHEL 8.10, Rocky 9.4; 4.1.1+:
    /// without 20.04; 4.2+: unpublished, see the output). Another minor
    /// release of a listed major warns; anything else fails.
    #[serde(default, deserialize_with = "super::opt_string_list")]
    pub supported_os: Option<Vec<String>>,
    /// Supported architectures (`uname -m`).
    #[serde(default = "default_arch", deserialize_with = "super::string_list")]
    pub arch: Vec<String>,
    /// Fail a node with this many vCPUs or fewer (Mirantis saw repeated
    /// upgrade failures at 2 vCPU / 8 GB).
    #[serde(default = "two")]
    pub cpus_fail_at_or_below: u32,
    /// Warn below this many vCPUs (Mirantis' sizing guidance: 8).
    #[serde(default = "eight")]
    pub cpus_warn_below: u32,
    /// Fail a node whose MemTotal is this or less (failures seen at 8 GB).
    #[serde(default = "eight_gib")]
    pub memory_fail_at_or_below: String,
    /// Warn below this (guidance: 32 GB; a MemTotal within 5% of it meets it).
    #[serde(default = "thirty_two_gib")]
    pub memory_warn_below: String,
    /// The k0s data directory mkectl will use (`--data-dir`); its
    /// filesystem (or its nearest existing parent's) must have room.
    #[serde(default = "k0s_dir")]
    pub data_dir: String,
    /// Fail when that filesystem has less free space than this ([I]: no
    /// minimum is published).
    #[serde(default = "twenty_gib")]
    pub min_free: String,
    /// Fail when that filesystem has less than this percentage free (k0s
    /// wants at least 15% free [C]).
    #[serde(default = "fifteen")]
    pub min_free_percent: f64,
    /// Require cgroup v2; default: for 4.2+ targets (k0s 1.35+).
    #[serde(default)]
    pub cgroup_v2: Option<bool>,
    /// The port mkectl's CNI check uses (`--cni-check-port`): it must be
    /// free on the first two managers and the first two workers.
    #[serde(default = "eighty")]
    pub cni_check_port: u16,
    /// Ports k0s needs free on managers and MKE 3 does not use (etcd
    /// peers 2380, join API 9443, konnectivity 8132).
    #[serde(default = "k0s_ports")]
    pub manager_ports: Vec<u16>,
    /// The largest offset of a node's clock from the other nodes' (their
    /// median), beyond the error of its reading ([I]: no mkectl requirement
    /// was found; etcd and the certificates the upgrade issues need the
    /// nodes' clocks to agree). This machine's own offset is a note.
    #[serde(default = "two_seconds", deserialize_with = "super::duration")]
    #[schemars(with = "String")]
    pub max_clock_skew: std::time::Duration,
    /// What a skewed clock, or one systemd says is not NTP-synchronised,
    /// is: `warn` (default, [I]), `fail`, or `off`.
    #[serde(default)]
    pub time_sync: TimeSync,
}

impl NodeRequirements {
    fn rules(&self) -> Result<(Rules, String), TaskError> {
        let target = version_param("target", &self.target)?;
        let size = |name: &str, text: &str| {
            parse_size(text).map_err(|e| TaskError::new(format!("`{name}`: {e}")))
        };
        let (os, os_source) = match &self.supported_os {
            Some(list) => (
                list.iter()
                    .map(|s| OsRule::parse(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TaskError::new(format!("`supported_os`: {e}")))?,
                "supported_os (set in the playbook)".to_string(),
            ),
            None => {
                let (l, src) = default_os(&target);
                (l, src.to_string())
            }
        };
        if !self.data_dir.starts_with('/') {
            return Err(TaskError::new(format!(
                "`data_dir` {:?} is not an absolute path",
                self.data_dir
            )));
        }
        Ok((
            Rules {
                cgroup_v2: self
                    .cgroup_v2
                    .unwrap_or(target >= semver::Version::new(4, 2, 0)),
                target,
                os,
                arch: self.arch.clone(),
                cpus_fail_at_or_below: self.cpus_fail_at_or_below,
                cpus_warn_below: self.cpus_warn_below,
                memory_fail_at_or_below: size(
                    "memory_fail_at_or_below",
                    &self.memory_fail_at_or_below,
                )?,
                memory_warn_below: size("memory_warn_below", &self.memory_warn_below)?,
                data_dir: self.data_dir.clone(),
                min_free: size("min_free", &self.min_free)?,
                min_free_percent: self.min_free_percent,
                cni_check_port: self.cni_check_port,
                manager_ports: self.manager_ports.clone(),
                max_clock_skew_seconds: self.max_clock_skew.as_secs_f64(),
                time_sync: self.time_sync,
            },
            os_source,
        ))
    }

    /// The rules in force and where each comes from, for the output.
    fn rules_json(&self, r: &Rules, os_source: &str) -> Value {
        json!({
            "os": {"value": r.os.iter().map(OsRule::show).collect::<Vec<_>>(), "source": os_source},
            "arch": {"value": r.arch, "source": "MKE 4k system requirements: amd64 [C]"},
            "cpus": {"fail_at_or_below": r.cpus_fail_at_or_below, "warn_below": r.cpus_warn_below,
                     "source": "Mirantis saw repeated upgrade failures at 2 vCPU / 8 GB; guidance 8 vCPU / 32 GB [C]; mkectl's own threshold is unpublished"},
            "memory": {"fail_at_or_below": format_size(r.memory_fail_at_or_below), "warn_below": format_size(r.memory_warn_below),
                       "source": "as for cpus; MemTotal within 5% of the guidance meets it"},
            "cgroup_v2": {"value": r.cgroup_v2, "source": "required from MKE 4.2 (k0s 1.35+) [C]"},
            "disk": {"data_dir": r.data_dir, "min_free": format_size(r.min_free), "min_free_percent": r.min_free_percent,
                     "source": "k0s wants at least 15% free [C]; the absolute minimum is mkeprep's default [I] (mkectl's is unpublished)"},
            "cni_check_port": {"value": r.cni_check_port, "source": "free on the first two managers and first two workers (mkectl --cni-check-port, default 80) [C]"},
            "manager_ports": {"value": r.manager_ports, "source": "k0s controller ports that MKE 3 does not use [I from C]"},
            "time_sync": {"max_clock_skew_seconds": r.max_clock_skew_seconds, "level": format!("{:?}", r.time_sync).to_lowercase(),
                          "source": "[I] no mkectl requirement found; etcd and TLS are clock-sensitive"},
        })
    }
}

impl Module for NodeRequirements {
    const NAME: &'static str = "node_requirements";
    const SUMMARY: &'static str = "Every node meets the MKE 4k target's host requirements: OS and arch, CPUs and memory, cgroup v2 (4.2+), free space for the k0s data dir, distinct machine ids, the CNI check port and k0s's ports free, clocks in agreement and synchronised.";
    const EXAMPLE: &'static str = "- id: node-requirements\n  node_requirements:\n    target: \"{{ target }}\"\n    data_dir: /var/lib/k0s\n    cni_check_port: 80";
    const CHECK_MODE: &'static str = "full: read-only (the facts commands and the clock, over one SSH connection per host, and GET /nodes for roles)";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        ("target", "the target checked against"),
        (
            "hosts",
            "per inventory address: `status` (ok, warn, failed), `role`, `problems` (`check`, `level`, `message`, `remedy`), and the facts the checks used (`os`, `arch`, `cpus`, `memory_bytes`, `cgroup_version`, `data_dir_free_bytes`, `machine_id`, `clock_offset_seconds` and `clock_offset_error_seconds` (against this machine), `ntp_synchronized`, `ntp_note`)",
        ),
        ("ok", "hosts that meet every requirement"),
        ("warned", "hosts below a guidance only"),
        (
            "failed",
            "hosts that fail a requirement or could not be read",
        ),
        (
            "rules",
            "each rule's values and where they come from ([C] Mirantis or k0s documentation, [I] inferred)",
        ),
        (
            "roles_from",
            "where managers and workers came from: `GET /nodes` or an earlier `hosts` step",
        ),
    ]);

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let (rules, os_source) = self.rules()?;
        let hosts = cx.inventory()?.hosts.clone();
        let req = Request {
            paths: ancestors(&rules.data_dir),
            docker_sudo: false,
        };
        let (reads, roles) = tokio::join!(read_all(cx, &hosts, req, None, true), roles(cx, &hosts));
        let roles = roles?;
        let addresses: Vec<String> = hosts.iter().map(|h| h.address.clone()).collect();
        let usable: Vec<Option<&crate::hostfacts::HostFacts>> = reads
            .iter()
            .map(|r| unreadable(r).is_none().then_some(&r.facts))
            .collect();
        let across = rules::cluster(&rules, &addresses, &usable, &roles.of);
        let notes = time_notes(&rules, &addresses, &usable);
        let mut verdicts = Vec::with_capacity(hosts.len());
        for (i, r) in reads.iter().enumerate() {
            let v = match unreadable(r) {
                Some(u) => Verdict {
                    findings: Vec::new(),
                    unreadable: Some(u),
                },
                None => {
                    let mut findings = rules.host(&r.facts);
                    findings.extend(across[i].iter().cloned());
                    Verdict {
                        findings,
                        unreadable: None,
                    }
                }
            };
            emit_host(cx, &addresses[i], &v, hosts.len());
            verdicts.push(v);
        }
        let output = self.output(&rules, &os_source, &roles, &addresses, &reads, &verdicts);
        let failing: Vec<String> = addresses
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.worst() == Some(Level::Fail))
            .map(|(a, v)| format!("{a} ({})", v.summary()))
            .collect();
        let warned: Vec<String> = addresses
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.worst() == Some(Level::Warn))
            .map(|(a, v)| format!("{a} ({})", v.summary()))
            .collect();
        let target = &rules.target;
        if !failing.is_empty() {
            return Ok(Check::Blocked {
                reason: format!(
                    "{} of {} not meet MKE 4k {target}'s host requirements: {}{notes}",
                    failing.len(),
                    plural(hosts.len(), "host does", "hosts do"),
                    failing.join("; ")
                ),
                remedy: remedies(&addresses, &verdicts),
                output,
            });
        }
        let mut message = format!(
            "{} meet MKE 4k {target}'s host requirements",
            plural(hosts.len(), "host", "hosts")
        );
        if !warned.is_empty() {
            message.push_str(&format!(
                "; {} below Mirantis' guidance: {}",
                plural(warned.len(), "is", "are"),
                warned.join("; ")
            ));
        }
        message.push_str(&notes);
        Ok(Check::InSync { message, output })
    }
}
