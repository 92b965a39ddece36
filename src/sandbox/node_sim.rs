//! What a simulated node says about itself: its OS (a real release's
//! os-release and kernel, from `hostfacts`' samples), CPUs, memory, cgroup
//! version, disk space, listening ports, machine id and Docker version, set
//! per node by the `node_*` knobs; and its answers to the read-only
//! commands that report them (the facts commands and a few common ones).

use super::options::{Count, Offset, PerNode, SandboxOptions, Size, Word, for_node};
use super::topology::Role;
use crate::hostfacts::LISTENING;
use crate::hostfacts::samples::{Sample, listening_rows, sample};

const GIB: u64 = 1 << 30;

/// One node's simulated facts.
#[derive(Debug, Clone)]
pub struct Sim {
    pub os: &'static Sample,
    pub arch: String,
    pub cpus: u32,
    /// The machine's size; MemTotal reads 2% less.
    pub memory: u64,
    pub cgroup: u32,
    pub disk_free: u64,
    pub disk_total: u64,
    /// Listening TCP ports, sorted.
    pub ports: Vec<u16>,
    pub machine_id: String,
    /// The MCR version `docker version` prints (as `GET /nodes` reports it).
    pub engine: String,
    /// Programs that are not installed.
    pub missing: Vec<String>,
    /// Seconds the node's clock is ahead of the real one (negative: behind).
    pub clock_offset: i64,
    /// What `timedatectl` says of NTP sync.
    pub ntp_synchronized: bool,
}

/// MKE 3's listening ports (its install reference, MKE3PORTS in
/// reference/mke4k-upgrade-checks.md §5.2) and sshd's.
fn base_ports(role: Role) -> Vec<u16> {
    let mut p = vec![22, 179, 2376, 7946, 10250, 12376, 12378];
    if role == Role::Manager {
        p.extend([443, 2377, 6443, 12390]);
        p.extend(12379..=12388);
    }
    p
}

/// A stable machine id per node number.
fn machine_id(n: u32) -> String {
    crate::util::text::sha256_hex(format!("mkeprep sandbox node {n}").as_bytes())[..32].to_string()
}

fn word(list: &[PerNode<Word>], n: u32, default: &str) -> String {
    for_node(list, n, Word(default.to_string())).0
}

impl Sim {
    pub fn new(opts: &SandboxOptions, n: u32, role: Role) -> Sim {
        let os_name = word(&opts.node_os, n, "ubuntu-22.04");
        // Validated against the samples; the first is the default.
        let os = sample(&os_name).unwrap_or(&crate::hostfacts::samples::SAMPLES[0]);
        let default_cgroup = if os.cgroup.trim() == "tmpfs" { 1 } else { 2 };
        let disk_free = for_node(&opts.node_disk_free, n, Size(150 * GIB)).0;
        let mut ports = base_ports(role);
        for p in opts
            .node_ports
            .iter()
            .filter(|p| p.node.is_none_or(|k| k == n))
        {
            ports.extend(&p.value.0);
        }
        ports.sort_unstable();
        ports.dedup();
        let twin = opts.duplicate_machine_id.iter().min().copied();
        let id_of = match twin {
            Some(first) if opts.duplicate_machine_id.contains(&n) => first,
            _ => n,
        };
        Sim {
            os,
            arch: word(&opts.node_arch, n, "x86_64"),
            cpus: for_node(&opts.node_cpus, n, Count(8)).0,
            memory: for_node(&opts.node_memory, n, Size(32 * GIB)).0,
            cgroup: for_node(&opts.node_cgroup, n, Count(default_cgroup)).0,
            disk_free,
            disk_total: (200 * GIB).max(disk_free + 10 * GIB),
            ports,
            machine_id: machine_id(id_of),
            engine: opts.engine_of(n).to_string(),
            clock_offset: for_node(&opts.node_clock_offset, n, Offset(0)).0,
            ntp_synchronized: word(&opts.node_ntp, n, "yes") == "yes",
            missing: opts
                .node_missing_tool
                .iter()
                .filter(|p| p.node.is_none_or(|k| k == n))
                .map(|p| p.value.0.clone())
                .collect(),
        }
    }

    fn kernel(&self) -> &str {
        self.os.uname.split_whitespace().next().unwrap_or("6.8.0")
    }

    /// `/proc/meminfo`: the release's own, with this node's sizes on top.
    fn meminfo(&self) -> String {
        let total_kb = self.memory / 1024 * 98 / 100;
        let mut out = format!(
            "MemTotal:       {total_kb:>8} kB\nMemFree:        {:>8} kB\nMemAvailable:   {:>8} kB\n",
            total_kb * 70 / 100,
            total_kb * 85 / 100
        );
        for line in self.os.meminfo.lines().skip(3) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// One `/proc/net/tcp{,6}` row of a listener on `port`.
    fn tcp_row(i: usize, addr: &str, port: u16) -> String {
        let zeros = "0".repeat(addr.len());
        format!(
            "{i:>4}: {addr}:{port:04X} {zeros}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {} 1 0000000000000000 100 0 0 10 0",
            20000 + u32::from(port)
        )
    }

    /// The listening rows of `/proc/net/tcp` (`v6`: of `tcp6`).
    fn listeners(&self, v6: bool) -> String {
        let ports: Vec<u16> = if v6 {
            self.ports
                .iter()
                .copied()
                .filter(|p| [22, 10250].contains(p))
                .collect()
        } else {
            self.ports.clone()
        };
        let addr = if v6 {
            "0".repeat(32)
        } else {
            "00000000".to_string()
        };
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}\n", Sim::tcp_row(i, &addr, *p)))
            .collect()
    }

    /// `ss -ltn`.
    fn ss(&self) -> String {
        let mut s =
            String::from("State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n");
        for p in &self.ports {
            s.push_str(&format!(
                "LISTEN 0      4096         0.0.0.0:{p:<5}      0.0.0.0:*\n"
            ));
        }
        s
    }

    /// `df -P -k` of paths that exist (all on the root filesystem).
    fn df(&self, paths: &[&str], exists: &dyn Fn(&str) -> bool) -> (String, String, u32) {
        let kb = |b: u64| b / 1024;
        let (total, avail) = (kb(self.disk_total), kb(self.disk_free));
        let used = total - avail;
        let cap = (used * 100).div_ceil(total.max(1));
        let mut out =
            String::from("Filesystem     1024-blocks      Used Available Capacity Mounted on\n");
        let mut err = String::new();
        let mut rc = 0;
        for p in paths {
            if exists(p) {
                out.push_str(&format!(
                    "/dev/root      {total:>11} {used:>9} {avail:>9} {cap:>7}% /\n"
                ));
            } else {
                err.push_str(&format!("df: {p}: No such file or directory\n"));
                rc = 1;
            }
        }
        (out, err, rc)
    }

    /// The answer to a read-only command about the node, or `None` when
    /// this is not such a command. `exists` says whether a path exists on
    /// the node; `hostname` is the node's name.
    pub fn answer(
        &self,
        words: &[&str],
        hostname: &str,
        exists: &dyn Fn(&str) -> bool,
    ) -> Option<(String, String, u32)> {
        let ok = |s: String| Some((s, String::new(), 0));
        if let Some(tool) = words.first()
            && self.missing.iter().any(|m| m == tool)
        {
            return Some((
                String::new(),
                format!("bash: line 1: {tool}: command not found\n"),
                127,
            ));
        }
        match words {
            ["cat", "/etc/os-release"] => ok(self.os.os_release.to_string()),
            ["cat", "/proc/meminfo"] => ok(self.meminfo()),
            ["cat", "/etc/machine-id"] => ok(format!("{}\n", self.machine_id)),
            ["cat", "/proc/sys/kernel/hostname"] | ["hostname"] | ["uname", "-n"] => {
                ok(format!("{hostname}\n"))
            }
            ["uname", "-r", "-m"] | ["uname", "-rm"] => {
                ok(format!("{} {}\n", self.kernel(), self.arch))
            }
            ["uname", "-r"] => ok(format!("{}\n", self.kernel())),
            ["uname", "-m"] => ok(format!("{}\n", self.arch)),
            ["uname"] | ["uname", "-s"] => ok("Linux\n".into()),
            ["nproc"] => ok(format!("{}\n", self.cpus)),
            ["stat", "-fc", "%T", "/sys/fs/cgroup"] => ok(if self.cgroup == 2 {
                "cgroup2fs\n".into()
            } else {
                "tmpfs\n".into()
            }),
            [
                "grep",
                "-o",
                pattern,
                table @ ("/proc/net/tcp" | "/proc/net/tcp6"),
            ] if *pattern == LISTENING => {
                let rows = listening_rows(&self.listeners(*table == "/proc/net/tcp6"));
                let rc = u32::from(rows.is_empty());
                Some((rows, String::new(), rc))
            }
            ["ss", "-ltn"] | ["ss", "-tln"] | ["ss", "-lnt"] => ok(self.ss()),
            ["docker", "version", "--format", "{{.Server.Version}}"] => {
                ok(format!("{}\n", self.engine))
            }
            ["df", "-P", "-k", "--", paths @ ..]
            | ["df", "-Pk", paths @ ..]
            | ["df", "-P", paths @ ..]
                if !paths.is_empty() && !paths.iter().any(|p| p.starts_with('-')) =>
            {
                Some(self.df(paths, exists))
            }
            ["test", "-e" | "-f" | "-d", path] => {
                Some((String::new(), String::new(), u32::from(!exists(path))))
            }
            ["date", "-u" | "--utc", format @ ("+%s" | "+%s.%N")]
            | ["date", format @ ("+%s" | "+%s.%N")] => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let secs = i64::try_from(now.as_secs()).unwrap_or(0) + self.clock_offset;
                ok(if *format == "+%s" {
                    format!("{secs}\n")
                } else {
                    format!("{secs}.{:09}\n", now.subsec_nanos())
                })
            }
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"] => {
                ok(if self.ntp_synchronized {
                    "yes\n".into()
                } else {
                    "no\n".into()
                })
            }
            ["true"] => ok(String::new()),
            ["false"] => Some((String::new(), String::new(), 1)),
            ["echo", rest @ ..] => ok(format!("{}\n", rest.join(" "))),
            _ => None,
        }
    }
}

/// Paths every simulated node has.
pub const SYSTEM_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/etc/os-release",
    "/etc/machine-id",
    "/home",
    "/opt",
    "/proc",
    "/root",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/lib",
    "/var/lib/docker",
    "/var/log",
];
