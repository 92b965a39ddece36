//! The host requirements of an MKE 4k target, checked on facts
//! (reference/mke4k-upgrade-checks.md §2.4, §5.2, §6.10). Pure functions:
//! the module reads the facts and the roles, these say what is wrong and
//! what to do.

use semver::Version;
use serde::Serialize;

use crate::hostfacts::HostFacts;
use crate::tasks::targets::Role;
use crate::util::text::format_size;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warn,
    Fail,
}

/// What a skewed or unsynchronised clock is (`time_sync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeSync {
    /// A warning (the default: no mkectl requirement is published [I]).
    #[default]
    Warn,
    /// A failure that blocks the step.
    Fail,
    /// Not checked.
    Off,
}

/// One problem of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    pub remedy: String,
}

impl Finding {
    fn new(check: &'static str, level: Level, message: String, remedy: String) -> Finding {
        Finding {
            check,
            level,
            message,
            remedy,
        }
    }
}

/// One supported OS release: `ID VERSION`, the version exact or `9.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRule {
    pub id: String,
    pub version: String,
}

impl OsRule {
    pub fn parse(text: &str) -> Result<OsRule, String> {
        let mut w = text.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some(id), Some(version), None) => Ok(OsRule {
                id: id.to_ascii_lowercase(),
                version: version.to_string(),
            }),
            _ => Err(format!(
                "`{text}` is not `ID VERSION` as /etc/os-release says them (e.g. `ubuntu 22.04`, `rocky 9.*`)"
            )),
        }
    }

    fn exact(&self, id: &str, version: &str) -> bool {
        self.id == id
            && match self.version.strip_suffix('*') {
                Some(prefix) => version.starts_with(prefix),
                None => self.version == version,
            }
    }

    /// Same distribution and major release.
    fn same_major(&self, id: &str, version: &str) -> bool {
        let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
        self.id == id && major(&self.version) == major(version)
    }

    pub fn show(&self) -> String {
        format!("{} {}", self.id, self.version)
    }
}

/// The OS releases Mirantis lists for `target`, and where that list comes
/// from (reference §2.4).
pub fn default_os(target: &Version) -> (Vec<OsRule>, &'static str) {
    let list = |items: &[&str]| -> Vec<OsRule> {
        items.iter().filter_map(|s| OsRule::parse(s).ok()).collect()
    };
    if target.major == 4 && target.minor == 1 && target.patch == 0 {
        (
            list(&["ubuntu 20.04", "ubuntu 22.04", "rhel 8.10", "rocky 9.4"]),
            "MKE 4k 4.1.0 system requirements [C]",
        )
    } else if target.major == 4 && target.minor <= 1 {
        (
            list(&["ubuntu 22.04", "rhel 8.10", "rocky 9.4"]),
            "MKE 4k 4.1.1+ system requirements (Ubuntu 20.04 dropped) [C]",
        )
    } else {
        (
            list(&[
                "ubuntu 22.04",
                "ubuntu 24.04",
                "rhel 8.10",
                "rhel 9.*",
                "rocky 9.*",
            ]),
            "[I] MKE 4.2+: Mirantis says Ubuntu, RHEL and Rocky per its support matrix, whose versions were not published in the pages read; this default is the 4.1.x list plus their current releases — override with supported_os",
        )
    }
}

/// What to check, with the thresholds in force.
#[derive(Debug, Clone)]
pub struct Rules {
    pub target: Version,
    pub os: Vec<OsRule>,
    pub arch: Vec<String>,
    pub cpus_fail_at_or_below: u32,
    pub cpus_warn_below: u32,
    pub memory_fail_at_or_below: u64,
    pub memory_warn_below: u64,
    pub cgroup_v2: bool,
    pub data_dir: String,
    pub min_free: u64,
    pub min_free_percent: f64,
    pub cni_check_port: u16,
    pub manager_ports: Vec<u16>,
    pub max_clock_skew_seconds: f64,
    pub time_sync: TimeSync,
}

/// MemTotal is the RAM the kernel manages, a few percent below the
/// machine's size: a node within 5% of the guidance meets it.
const MEMTOTAL_SLACK: f64 = 0.95;

/// `/var/lib/k0s`, `/var/lib`, `/var`, `/`: the data dir and its parents.
pub fn ancestors(dir: &str) -> Vec<String> {
    let trimmed = dir.trim_end_matches('/');
    let mut out = vec![if trimmed.is_empty() { "/" } else { trimmed }.to_string()];
    let mut p = std::path::Path::new(dir);
    while let Some(parent) = p.parent() {
        out.push(parent.display().to_string());
        p = parent;
    }
    out.retain(|s| !s.is_empty());
    out.dedup();
    out
}

fn kernel_older_than_3_10(kernel: &str) -> bool {
    let mut parts = kernel.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(99);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(99);
    (major, minor) < (3, 10)
}

impl Rules {
    fn os_list(&self) -> String {
        self.os
            .iter()
            .map(OsRule::show)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What is wrong with one host on its own.
    pub fn host(&self, f: &HostFacts) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(os) = &f.os {
            let v = os.version_id.as_deref().unwrap_or("");
            let name = os
                .pretty_name
                .clone()
                .unwrap_or_else(|| format!("{} {v}", os.id));
            if !self.os.iter().any(|r| r.exact(&os.id, v)) {
                if self.os.iter().any(|r| r.same_major(&os.id, v)) {
                    out.push(Finding::new(
                        "os",
                        Level::Warn,
                        format!("{name} is not in the list for {} ({})", self.target, self.os_list()),
                        format!("another minor release of a listed one [I]: confirm with Mirantis that {name} is supported, or set supported_os"),
                    ));
                } else {
                    out.push(Finding::new(
                        "os",
                        Level::Fail,
                        format!("{name} is not supported by MKE 4k {} ({})", self.target, self.os_list()),
                        format!("move the node to {} before the upgrade (mkectl checks the OS and stops)", self.os_list()),
                    ));
                }
            }
        }
        if let Some(arch) = &f.arch
            && !self
                .arch
                .iter()
                .any(|a| a == arch || (a == "x86_64" && arch == "amd64"))
        {
            out.push(Finding::new(
                "arch",
                Level::Fail,
                format!(
                    "{arch} is not a supported architecture ({})",
                    self.arch.join(", ")
                ),
                "MKE 4k runs on amd64 (x86_64) nodes: replace the node".into(),
            ));
        }
        if let Some(c) = f.cpus {
            if c <= self.cpus_fail_at_or_below {
                out.push(Finding::new(
                    "cpus",
                    Level::Fail,
                    format!("{c} vCPUs: Mirantis saw the upgrade fail repeatedly at 2 vCPU / 8 GB"),
                    format!("give the node more vCPUs (guidance: {}), or set cpus_fail_at_or_below to accept the risk", self.cpus_warn_below),
                ));
            } else if c < self.cpus_warn_below {
                out.push(Finding::new(
                    "cpus",
                    Level::Warn,
                    format!("{c} vCPUs, below Mirantis' guidance of {}", self.cpus_warn_below),
                    "more vCPUs make the upgrade window safer (mkectl checks CPU cores; its threshold is unpublished)".into(),
                ));
            }
        }
        if let Some(m) = f.memory_bytes {
            if m <= self.memory_fail_at_or_below {
                out.push(Finding::new(
                    "memory",
                    Level::Fail,
                    format!("{} of memory: Mirantis saw the upgrade fail repeatedly at 8 GB", format_size(m)),
                    format!("give the node more memory (guidance: {}), or set memory_fail_at_or_below to accept the risk", format_size(self.memory_warn_below)),
                ));
            } else if (m as f64) < self.memory_warn_below as f64 * MEMTOTAL_SLACK {
                out.push(Finding::new(
                    "memory",
                    Level::Warn,
                    format!("{} of memory, below Mirantis' guidance of {}", format_size(m), format_size(self.memory_warn_below)),
                    "more memory makes the upgrade window safer (mkectl checks total memory; its threshold is unpublished)".into(),
                ));
            }
        }
        if self.cgroup_v2 && f.cgroup_version.is_some_and(|v| v != 2) {
            let rhel8 = f.os.as_ref().is_some_and(|o| {
                ["rhel", "rocky", "centos", "almalinux"].contains(&o.id.as_str())
                    && o.version_id.as_deref().is_some_and(|v| v.starts_with("8"))
            });
            out.push(Finding::new(
                "cgroup",
                Level::Fail,
                format!("cgroup v1: MKE {} (k0s 1.35+) needs cgroup v2", self.target),
                if rhel8 {
                    "RHEL 8 boots cgroup v1: `sudo grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1`, then reboot (or move the node to RHEL 9)".into()
                } else {
                    "boot with `systemd.unified_cgroup_hierarchy=1` on the kernel command line, then reboot".into()
                },
            ));
        }
        if let Some(k) = &f.kernel
            && kernel_older_than_3_10(k)
        {
            out.push(Finding::new(
                "kernel",
                Level::Warn,
                format!("kernel {k}: k0s warns below 3.10"),
                "upgrade the kernel".into(),
            ));
        }
        out.extend(self.disk(f));
        out.extend(self.clock(f));
        out
    }

    /// The level of a time finding, `None` when not checked.
    fn time_level(&self) -> Option<Level> {
        match self.time_sync {
            TimeSync::Off => None,
            TimeSync::Warn => Some(Level::Warn),
            TimeSync::Fail => Some(Level::Fail),
        }
    }

    /// systemd's NTP sync on one node (its clock against the others' is a
    /// [`cluster`] check).
    fn clock(&self, f: &HostFacts) -> Vec<Finding> {
        let Some(level) = self.time_level() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(why) = f.errors.get("clock") {
            out.push(Finding::new(
                "clock",
                level,
                format!("its clock could not be read ({why}), so it is not compared with the other nodes'"),
                "check that `date -u +%s.%N` runs for the login user there".into(),
            ));
        }
        if f.ntp_synchronized == Some(false) {
            out.push(Finding::new(
                "ntp",
                level,
                "systemd says the clock is not NTP-synchronised (timedatectl: NTPSynchronized=no)".into(),
                "turn on time sync (`sudo timedatectl set-ntp true`, or start chronyd) and check `timedatectl` shows `System clock synchronized: yes`".into(),
            ));
        }
        out
    }

    /// Free space of the filesystem that holds (or will hold) the data dir.
    fn disk(&self, f: &HostFacts) -> Option<Finding> {
        let (path, d) = ancestors(&self.data_dir)
            .into_iter()
            .find_map(|p| f.disk.get(&p).map(|d| (p, d)))?;
        let pct = if d.total_bytes == 0 {
            0.0
        } else {
            d.avail_bytes as f64 * 100.0 / d.total_bytes as f64
        };
        let short = d.avail_bytes < self.min_free || pct < self.min_free_percent;
        short.then(|| {
            let on = if path == self.data_dir {
                format!("{} (on {})", self.data_dir, d.mount)
            } else {
                format!("{} (to be created on {})", self.data_dir, d.mount)
            };
            Finding::new(
                "disk",
                Level::Fail,
                format!(
                    "{} free ({pct:.0}%) for {on}; needs {} and {:.0}% free",
                    format_size(d.avail_bytes),
                    format_size(self.min_free),
                    self.min_free_percent
                ),
                format!(
                    "free space on {} (or give mkectl --data-dir on a larger filesystem and set data_dir here)",
                    d.mount
                ),
            )
        })
    }
}

/// `cluster` checks: machine ids shared by several hosts, the CNI check
/// port on the first two managers and first two workers, k0s's ports on
/// managers. `facts[i]` and `roles[i]` are host `i`'s, in inventory order.
pub fn cluster(
    r: &Rules,
    addresses: &[String],
    facts: &[Option<&HostFacts>],
    roles: &[Option<Role>],
) -> Vec<Vec<Finding>> {
    let mut out: Vec<Vec<Finding>> = vec![Vec::new(); addresses.len()];
    clocks(r, facts, &mut out);
    // Machine ids.
    for (i, f) in facts.iter().enumerate() {
        let Some(id) = f.and_then(|f| f.machine_id.as_deref()) else {
            continue;
        };
        let twins: Vec<&str> = facts
            .iter()
            .enumerate()
            .filter(|(j, g)| *j != i && g.and_then(|g| g.machine_id.as_deref()) == Some(id))
            .map(|(j, _)| addresses[j].as_str())
            .collect();
        if !twins.is_empty() {
            out[i].push(Finding::new(
                "machine_id",
                Level::Fail,
                format!("/etc/machine-id {id} is also {}'s (cloned machines)", twins.join(", ")),
                "k0s needs a distinct machine id per node: on all but one of them `sudo rm /etc/machine-id && sudo systemd-machine-id-setup`, then reboot".into(),
            ));
        }
    }
    // The CNI check port on the first two managers and the first two workers.
    let first_two = |role: Role| -> Vec<usize> {
        (0..addresses.len())
            .filter(|&i| roles[i] == Some(role))
            .take(2)
            .collect()
    };
    let listening = |i: usize, port: u16| {
        facts[i]
            .and_then(|f| f.listening_tcp_ports.as_ref())
            .is_some_and(|p| p.contains(&port))
    };
    let port = r.cni_check_port;
    for i in first_two(Role::Manager)
        .into_iter()
        .chain(first_two(Role::Worker))
    {
        if listening(i, port) {
            out[i].push(Finding::new(
                "cni_port",
                Level::Fail,
                format!(
                    "port {port} is in use; mkectl's CNI check listens there on the first two managers and first two workers"
                ),
                format!(
                    "free port {port} there (`sudo ss -ltnp 'sport = :{port}'` names the holder; Interlock and proxies often hold 80), or run mkectl upgrade with --cni-check-port N (a port free there) and set cni_check_port: N here"
                ),
            ));
        }
    }
    for i in (0..addresses.len()).filter(|&i| roles[i] == Some(Role::Manager)) {
        let taken: Vec<String> = r
            .manager_ports
            .iter()
            .filter(|p| listening(i, **p))
            .map(u16::to_string)
            .collect();
        if !taken.is_empty() {
            out[i].push(Finding::new(
                "manager_ports",
                Level::Fail,
                format!(
                    "port {} in use on this manager; k0s needs {} free on controllers (etcd peers, join API, konnectivity)",
                    taken.join(", "),
                    r.manager_ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
                ),
                format!("stop what listens on {} there before the upgrade", taken.join(", ")),
            ));
        }
    }
    out
}

mod clock;
use clock::clocks;
pub use clock::{clocks_read, this_machine};

#[cfg(test)]
mod tests;
