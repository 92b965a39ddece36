//! What real nodes of the supported distributions print for the facts
//! commands (`testdata/`, provenance in its README): the parsers' tests
//! read them, and the sandbox's simulated nodes answer with them.

use super::script::SectionOutput;

/// One distribution's outputs, one per command of the facts script.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// `ubuntu-22.04`, `rhel-8.10`, … (the sandbox's `node_os` values).
    pub name: &'static str,
    pub os_release: &'static str,
    pub uname: &'static str,
    pub nproc: &'static str,
    pub meminfo: &'static str,
    pub cgroup: &'static str,
    pub df: &'static str,
    pub tcp: &'static str,
    pub tcp6: &'static str,
    pub machine_id: &'static str,
    pub hostname: &'static str,
    pub docker: &'static str,
    pub docker_rc: &'static str,
    /// `timedatectl show -p NTPSynchronized --value`.
    pub ntp: &'static str,
    pub ntp_rc: &'static str,
}

macro_rules! sample {
    ($dir:literal) => {
        Sample {
            name: $dir,
            os_release: include_str!(concat!("testdata/", $dir, "/os-release")),
            uname: include_str!(concat!("testdata/", $dir, "/uname")),
            nproc: include_str!(concat!("testdata/", $dir, "/nproc")),
            meminfo: include_str!(concat!("testdata/", $dir, "/meminfo")),
            cgroup: include_str!(concat!("testdata/", $dir, "/cgroup")),
            df: include_str!(concat!("testdata/", $dir, "/df")),
            tcp: include_str!(concat!("testdata/", $dir, "/tcp")),
            tcp6: include_str!(concat!("testdata/", $dir, "/tcp6")),
            machine_id: include_str!(concat!("testdata/", $dir, "/machine-id")),
            hostname: include_str!(concat!("testdata/", $dir, "/hostname")),
            docker: include_str!(concat!("testdata/", $dir, "/docker")),
            docker_rc: include_str!(concat!("testdata/", $dir, "/docker.rc")),
            ntp: include_str!(concat!("testdata/", $dir, "/ntp")),
            ntp_rc: include_str!(concat!("testdata/", $dir, "/ntp.rc")),
        }
    };
}

/// Every sample, the supported distributions first.
pub const SAMPLES: &[Sample] = &[
    sample!("ubuntu-22.04"),
    sample!("ubuntu-24.04"),
    sample!("rhel-8.10"),
    sample!("rhel-9.4"),
    sample!("rocky-9.4"),
    sample!("debian-12"),
];

/// What `grep -o` with [`super::LISTENING`] prints of a `/proc/net/tcp`
/// table: each row in the listening state (`0A`), up to its state.
pub fn listening_rows(table: &str) -> String {
    let mut out = String::new();
    for line in table.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 4 || !words[0].ends_with(':') || words[3] != "0A" {
            continue;
        }
        // The row up to the end of its state word, leading blanks kept.
        let end = line.find(" 0A").map_or(line.len(), |i| i + 3);
        out.push_str(&line[..end]);
        out.push('\n');
    }
    out
}

/// The sample of distribution `name`.
pub fn sample(name: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.name == name)
}

impl Sample {
    /// The section outputs this node gives for the default request
    /// (`/` and `/var/lib`), as a shell would print them.
    pub fn outputs(&self) -> Vec<SectionOutput> {
        let ok = |name: &str, text: &str| SectionOutput {
            name: name.into(),
            rc: Some(0),
            text: text.into(),
        };
        // `grep -o LISTENING FILE`: the listening rows cut after their
        // state, exit 1 when there are none.
        let grep = |name: &str, table: &str| {
            let rows = listening_rows(table);
            SectionOutput {
                name: name.into(),
                rc: Some(if rows.is_empty() { 1 } else { 0 }),
                text: rows,
            }
        };
        vec![
            ok("os", self.os_release),
            ok("uname", self.uname),
            ok("cpus", self.nproc),
            ok("memory", self.meminfo),
            ok("cgroup", self.cgroup),
            ok("disk", self.df),
            grep("tcp", self.tcp),
            grep("tcp6", self.tcp6),
            ok("machine_id", self.machine_id),
            ok("hostname", self.hostname),
            SectionOutput {
                name: "docker".into(),
                rc: self.docker_rc.trim().parse().ok(),
                text: self.docker.into(),
            },
            SectionOutput {
                name: "ntp".into(),
                rc: self.ntp_rc.trim().parse().ok(),
                text: self.ntp.into(),
            },
        ]
    }
}
