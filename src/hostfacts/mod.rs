//! What a node reports about itself, read with a few read-only commands
//! sent as one remote command ([`script`]) and parsed here ([`parse`]):
//! `/etc/os-release`, `uname -r -m`, `nproc`, `/proc/meminfo`, the
//! filesystem type of `/sys/fs/cgroup`, `df -P -k`, the listening rows of
//! `/proc/net/tcp{,6}`, `/etc/machine-id`, the kernel's host name,
//! `docker version` and whether systemd keeps the clock synchronised
//! (`timedatectl`); and, as a command of its own timed by this machine, the
//! clock ([`CLOCK`]). Files under `/proc`, `/sys` and `/etc` and POSIX
//! tools first, so that little can be missing; what is missing or unreadable
//! is an error for that fact on that host, never a guessed value.
//!
//! Used by the `facts` and `node_requirements` modules, and by the sandbox,
//! whose simulated nodes answer the same commands.

pub mod parse;
pub mod samples;
pub mod script;

use indexmap::IndexMap;
use serde::Serialize;

use parse::last_line;
pub use parse::{Disk, Os};
use script::{Section, SectionOutput};

/// The paths whose filesystems `facts` reports by default.
pub const DEFAULT_PATHS: [&str; 2] = ["/", "/var/lib"];

/// What to read from a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Paths whose filesystem's size and free space to report.
    pub paths: Vec<String>,
    /// Run `docker version` through `sudo -n` (when the login user may not
    /// use the Docker socket).
    pub docker_sudo: bool,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            paths: DEFAULT_PATHS.iter().map(|p| p.to_string()).collect(),
            docker_sudo: false,
        }
    }
}

/// What `grep -o` keeps of a listening row of `/proc/net/tcp{,6}`: its
/// slot, local and remote addresses and state (`   0: 00000000:0016
/// 00000000:0000 0A`), a quarter of the row — a busy node has thousands of
/// other rows, and a node with many listeners sends less.
pub const LISTENING: &str = "^ *[0-9]*: [0-9A-F:]* [0-9A-F:]* 0A";

/// The clock, read in a command of its own right after the script, so
/// that this machine times just it (GNU `date` prints nanoseconds; a
/// `date` without `%N` prints whole seconds, read as such).
pub const CLOCK: &str = "date -u +%s.%N";

/// The time-sync command of the script (systemd 239+: RHEL 8, Ubuntu 20.04
/// and later).
pub const NTP: &str = "timedatectl show -p NTPSynchronized --value";

/// The `docker version` command of the script.
pub const DOCKER_VERSION: &str = "docker version --format '{{.Server.Version}}'";

impl Request {
    /// The script's sections, in order.
    pub fn sections(&self) -> Vec<Section> {
        let mut s = vec![
            Section::new("os", "cat /etc/os-release"),
            Section::new("uname", "uname -r -m"),
            Section::new("cpus", "nproc"),
            Section::new("memory", "cat /proc/meminfo"),
            Section::new("cgroup", "stat -fc %T /sys/fs/cgroup"),
        ];
        if !self.paths.is_empty() {
            let quoted: Vec<String> = self.paths.iter().map(|p| crate::ssh::quote(p)).collect();
            s.push(Section::new(
                "disk",
                format!("df -P -k -- {}", quoted.join(" ")),
            ));
        }
        s.extend([
            // Only the listening rows, cut short (see LISTENING).
            Section::new("tcp", format!("grep -o '{LISTENING}' /proc/net/tcp")),
            Section::new("tcp6", format!("grep -o '{LISTENING}' /proc/net/tcp6")),
            Section::new("machine_id", "cat /etc/machine-id"),
            Section::new("hostname", "cat /proc/sys/kernel/hostname"),
            Section::new(
                "docker",
                if self.docker_sudo {
                    format!("sudo -n {DOCKER_VERSION}")
                } else {
                    DOCKER_VERSION.to_string()
                },
            ),
            Section::new("ntp", NTP),
        ]);
        s
    }

    /// The one remote command that reads everything.
    pub fn script(&self) -> String {
        script::build(&self.sections())
    }
}

/// One host's facts. A fact that could not be read is `null`, with the
/// reason in `errors` under the fact's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    pub os: Option<Os>,
    pub kernel: Option<String>,
    pub arch: Option<String>,
    pub cpus: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub cgroup_version: Option<u8>,
    /// Per requested path (that exists): its filesystem.
    pub disk: IndexMap<String, Disk>,
    pub listening_tcp_ports: Option<Vec<u16>>,
    pub machine_id: Option<String>,
    pub hostname: Option<String>,
    /// The Docker (MCR) server version; `null` when Docker is absent or
    /// does not answer (`docker_note` says which).
    pub docker_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_note: Option<String>,
    /// The node's clock minus this machine's, in seconds (milliseconds
    /// kept): its `date` against the middle of that command's round trip.
    pub clock_offset_seconds: Option<f64>,
    /// How far off that can be: half the round trip, plus half a second
    /// when the node's `date` gives whole seconds only.
    pub clock_offset_error_seconds: Option<f64>,
    /// Whether systemd says the clock is synchronised; `null` when it
    /// cannot tell (no systemd, no timedatectl: `ntp_note` says which).
    pub ntp_synchronized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntp_note: Option<String>,
    /// Fact → why it could not be read (`disk:PATH` for a path).
    pub errors: IndexMap<String, String>,
    /// Requested paths that do not exist on the node.
    #[serde(skip)]
    pub missing_paths: Vec<String>,
}

/// Why a section failed, in one line: a missing tool is named as such.
fn failure(command: &str, rc: i32, text: &str) -> String {
    let tool = command.split_whitespace().next().unwrap_or(command);
    let said = last_line(text);
    match rc {
        127 => format!("`{tool}` is not installed on the node (exit 127: {said})"),
        126 => format!("`{tool}` cannot be run on the node (exit 126: {said})"),
        _ if said.is_empty() => format!("`{command}` exited {rc}"),
        _ => format!("`{command}` exited {rc}: {said}"),
    }
}

impl HostFacts {
    /// Reads the facts from what [`Request::script`] printed (`stderr`
    /// explains a script that did not run at all).
    pub fn read(stdout: &str, stderr: &str, req: &Request) -> HostFacts {
        let outputs = script::split_output(stdout);
        let mut f = HostFacts::default();
        if outputs.is_empty() {
            let said = [last_line(stderr), last_line(stdout)]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| "it printed nothing".into());
            f.errors.insert(
                "facts".into(),
                format!("the facts commands did not run (is the login shell a POSIX sh?): {said}"),
            );
            return f;
        }
        for section in req.sections() {
            let out = outputs.iter().find(|o| o.name == section.name);
            f.take(&section, out, req);
        }
        f
    }

    fn take(&mut self, section: &Section, out: Option<&SectionOutput>, req: &Request) {
        let name = section.name.as_str();
        let (rc, text) = match out {
            Some(SectionOutput {
                rc: Some(rc), text, ..
            }) => (*rc, text.as_str()),
            Some(_) => {
                self.errors.insert(
                    name.into(),
                    format!("the output of `{}` was cut off", section.command),
                );
                return;
            }
            None => {
                self.errors.insert(
                    name.into(),
                    format!("the facts commands stopped before `{}`", section.command),
                );
                return;
            }
        };
        match name {
            "docker" => return self.docker(rc, text),
            "ntp" => return self.ntp(rc, text),
            "disk" => return self.disks(rc, text, &req.paths),
            // grep exits 1 when no row matched; tcp6 is absent when IPv6 is off.
            "tcp" | "tcp6" if rc == 1 => return self.ports(""),
            "tcp6" if rc == 2 && text.contains("No such file") => return self.ports(""),
            _ => {}
        }
        if rc != 0 {
            let key = if name.starts_with("tcp") {
                "listening_tcp_ports"
            } else {
                name
            };
            let key = match key {
                "uname" => "kernel",
                "memory" => "memory_bytes",
                "cgroup" => "cgroup_version",
                k => k,
            };
            self.errors
                .insert(key.into(), failure(&section.command, rc, text));
            return;
        }
        let mut put = |key: &str, r: Result<(), String>| {
            if let Err(e) = r {
                self.errors.insert(key.into(), e);
            }
        };
        match name {
            "os" => {
                let r = parse::os_release(text).map(|o| self.os = Some(o));
                put("os", r);
            }
            "uname" => {
                let r = parse::uname(text).map(|(k, a)| {
                    self.kernel = Some(k);
                    self.arch = Some(a);
                });
                put("kernel", r);
            }
            "cpus" => {
                let r = parse::nproc(text).map(|n| self.cpus = Some(n));
                put("cpus", r);
            }
            "memory" => {
                let r = parse::mem_total(text).map(|n| self.memory_bytes = Some(n));
                put("memory_bytes", r);
            }
            "cgroup" => {
                let r = parse::cgroup_version(text).map(|v| self.cgroup_version = Some(v));
                put("cgroup_version", r);
            }
            "tcp" | "tcp6" => self.ports(text),
            "machine_id" => {
                let r = parse::machine_id(text).map(|m| self.machine_id = Some(m));
                put("machine_id", r);
            }
            "hostname" => {
                let r = parse::hostname(text).map(|h| self.hostname = Some(h));
                put("hostname", r);
            }
            _ => {}
        }
    }

    fn ports(&mut self, text: &str) {
        match parse::listening_ports(text) {
            Ok(found) => {
                let ports = self.listening_tcp_ports.get_or_insert_with(Vec::new);
                ports.extend(found);
                ports.sort_unstable();
                ports.dedup();
            }
            Err(e) => {
                self.errors.insert("listening_tcp_ports".into(), e);
            }
        }
    }

    fn docker(&mut self, rc: i32, text: &str) {
        let version = text.trim();
        match rc {
            0 if !version.is_empty() && !version.contains(char::is_whitespace) => {
                self.docker_version = Some(version.to_string());
            }
            0 => self.docker_note = Some(format!("`docker version` printed {version:?}")),
            127 => self.docker_note = Some("docker is not installed".into()),
            _ => {
                self.docker_note = Some(format!(
                    "docker does not answer (exit {rc}): {}",
                    last_line(text)
                ))
            }
        }
    }

    /// Time sync is systemd's to tell; a node without it (or without
    /// timedatectl) is not an error, only unknown.
    fn ntp(&mut self, rc: i32, text: &str) {
        match (rc, parse::ntp_synchronized(text)) {
            (0, Ok(synced)) => self.ntp_synchronized = Some(synced),
            (0, Err(e)) => self.ntp_note = Some(e),
            (127, _) => self.ntp_note = Some("timedatectl is not installed".into()),
            _ => {
                self.ntp_note = Some(format!(
                    "timedatectl cannot tell (exit {rc}): {}",
                    last_line(text)
                ))
            }
        }
    }

    /// Takes what [`CLOCK`] answered, given when this machine sent it (its
    /// clock) and how long the answer took (a monotonic timer, so a step of
    /// this machine's clock meanwhile does not count). Only stdout is read:
    /// a login shell may write to stderr.
    pub fn read_clock(
        &mut self,
        out: &crate::ssh::Output,
        sent: std::time::SystemTime,
        took: std::time::Duration,
    ) {
        if out.status != 0 {
            let said = format!("{}{}", out.stdout, out.stderr);
            self.errors
                .insert("clock".into(), failure(CLOCK, out.status, &said));
            return;
        }
        let from = sent
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let half = took.as_secs_f64() / 2.0;
        match parse::epoch(&out.stdout) {
            Ok((node, resolution)) => {
                let ms = |x: f64| (x * 1000.0).round() / 1000.0;
                self.clock_offset_seconds = Some(ms(node - (from + half)));
                self.clock_offset_error_seconds = Some(ms(half + resolution));
            }
            Err(e) => {
                self.errors.insert("clock".into(), e);
            }
        }
    }

    fn disks(&mut self, rc: i32, text: &str, paths: &[String]) {
        if rc == 127 || rc == 126 {
            let why = failure("df", rc, text);
            for p in paths {
                self.errors.insert(format!("disk:{p}"), why.clone());
            }
            return;
        }
        for (p, r) in paths.iter().zip(parse::df(text, paths)) {
            match r {
                Ok(d) => {
                    self.disk.insert(p.clone(), d);
                }
                Err((missing, why)) => {
                    if missing {
                        self.missing_paths.push(p.clone());
                    }
                    self.errors.insert(format!("disk:{p}"), why);
                }
            }
        }
    }

    /// Whether every fact was read (Docker may be absent).
    pub fn complete(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests;
