//! `facts` and `remote` through the binary against real OpenSSH `sshd`
//! daemons on 127.0.NET.x, with each transport. The daemons run on this
//! machine, so what `facts` reads must be what this machine says.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Dir, Run, wait_until};
use crate::hosts::{
    Sshd, current_user, free_port, inventory_entry, keygen, known_hosts_line, loopback,
    sshd_available, start_sshd_logging,
};
use crate::nodes::{done_in_journal, host_events};

/// `n` loopback hosts served by real sshd, an inventory and known_hosts.
struct Fleet {
    d: Dir,
    _sshd: Vec<Sshd>,
    known_hosts: String,
    addrs: Vec<Ipv4Addr>,
    transport: &'static str,
}

fn fleet(net: u8, n: u8, transport: &'static str) -> Option<Fleet> {
    if !sshd_available() {
        return None;
    }
    let d = Dir::new();
    let dir = d.path().to_path_buf();
    let (client_key, host_key) = (dir.join("client_key"), dir.join("host_key"));
    keygen(&client_key);
    keygen(&host_key);
    let authorized = dir.join("authorized_keys");
    std::fs::copy(dir.join("client_key.pub"), &authorized).expect("authorized_keys");
    let addrs: Vec<Ipv4Addr> = (1..=n).map(|i| loopback(net, i)).collect();
    let port = free_port(&addrs);
    let sshd = addrs
        .chunks(16)
        .enumerate()
        .map(|(i, a)| {
            start_sshd_logging(
                &dir,
                &format!("sshd{i}"),
                &host_key,
                a,
                port,
                &authorized,
                "VERBOSE",
            )
        })
        .collect();
    let host_pub = dir.join("host_key.pub");
    let known: String = addrs
        .iter()
        .map(|a| known_hosts_line(*a, port, &host_pub))
        .collect();
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, known).expect("known_hosts");
    let user = current_user();
    let mut inv = String::from("hosts:\n");
    for a in &addrs {
        inv.push_str(&inventory_entry(&a.to_string(), port, &user, &client_key));
    }
    d.write("hosts.yaml", &inv);
    Some(Fleet {
        d,
        _sshd: sshd,
        known_hosts: known_hosts.display().to_string(),
        addrs,
        transport,
    })
}

impl Fleet {
    fn run(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "run",
            "pb.yaml",
            "-i",
            "hosts.yaml",
            "--output",
            "json",
            "--known-hosts",
        ];
        args.push(&self.known_hosts);
        args.extend_from_slice(&["--ssh-transport", self.transport]);
        args.extend_from_slice(extra);
        self.d.cmd(&args).run()
    }

    fn dir(&self) -> PathBuf {
        self.d.path().to_path_buf()
    }

    /// Logins the daemons have accepted so far.
    fn logins(&self) -> usize {
        (0..self.addrs.len().div_ceil(16))
            .map(|i| {
                self.d
                    .read(&format!("sshd{i}.sshd.log"))
                    .matches("Accepted publickey")
                    .count()
            })
            .sum()
    }
}

fn local(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn os_release(key: &str) -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
        .trim_matches('"')
        .to_string()
}

fn facts_equal_what_the_machine_reports(net: u8, transport: &'static str) {
    let Some(f) = fleet(net, 3, transport) else {
        return;
    };
    f.d.write(
        "pb.yaml",
        "steps:\n  - id: facts\n    facts:\n      paths: [/, /var/lib]\n",
    );
    let r = f.run(&[]);
    r.code(0);
    let out = &r.step("facts")["output"];
    assert_eq!(out["ok"], 3, "{out}");
    let mem_kb: u64 = local("awk '/^MemTotal:/ {print $2}' /proc/meminfo")
        .parse()
        .unwrap_or(0);
    let root_kb: u64 = local("df -P -k / | awk 'NR==2 {print $2}'")
        .parse()
        .unwrap_or(0);
    let cgroup = if local("stat -fc %T /sys/fs/cgroup") == "cgroup2fs" {
        2
    } else {
        1
    };
    for a in &f.addrs {
        let h = &out["hosts"][a.to_string()];
        assert_eq!(h["errors"], serde_json::json!({}), "{transport} {a}: {h}");
        assert_eq!(
            h["cpus"].as_u64().map(|c| c.to_string()),
            Some(local("nproc")),
            "{h}"
        );
        assert_eq!(h["memory_bytes"].as_u64(), Some(mem_kb * 1024), "{h}");
        assert_eq!(h["os"]["id"], os_release("ID"));
        assert_eq!(h["os"]["version_id"], os_release("VERSION_ID"));
        assert_eq!(h["os"]["pretty_name"], os_release("PRETTY_NAME"));
        assert_eq!(h["kernel"], local("uname -r"));
        assert_eq!(h["arch"], local("uname -m"));
        assert_eq!(h["hostname"], local("cat /proc/sys/kernel/hostname"));
        assert_eq!(h["machine_id"], local("cat /etc/machine-id"));
        assert_eq!(h["cgroup_version"], cgroup);
        // Same machine, same clock: no offset beyond the reading's error.
        let offset = h["clock_offset_seconds"].as_f64().unwrap_or(f64::NAN);
        let error = h["clock_offset_error_seconds"].as_f64().unwrap_or(f64::NAN);
        assert!(offset.abs() <= error + 0.002, "{h}");
        assert!(error < 5.0, "{h}");
        // What systemd says, or why it cannot tell (no systemd in a container).
        match local("timedatectl show -p NTPSynchronized --value 2>/dev/null").as_str() {
            "yes" => assert_eq!(h["ntp_synchronized"], true, "{h}"),
            "no" => assert_eq!(h["ntp_synchronized"], false, "{h}"),
            _ => assert!(h["ntp_note"].is_string(), "{h}"),
        }
        assert_eq!(
            h["disk"]["/"]["total_bytes"].as_u64(),
            Some(root_kb * 1024),
            "{h}"
        );
        let ports: Vec<u64> = h["listening_tcp_ports"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let port = f.d.read("hosts.yaml");
        let port: u64 = port
            .lines()
            .find_map(|l| l.trim().strip_prefix("port: "))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        assert!(
            ports.contains(&port),
            "{transport}: sshd's port {port} not in {ports:?}"
        );
    }
}

#[test]
fn real_sshd_facts_native() {
    facts_equal_what_the_machine_reports(20, "native");
}

#[test]
fn real_sshd_facts_openssh() {
    facts_equal_what_the_machine_reports(21, "openssh");
}

/// The node's own address, as sshd tells the session.
const SELF: &str = "$(echo $SSH_CONNECTION | cut -d' ' -f3)";

fn probe_failing_on_two_of_ten(net: u8, transport: &'static str) {
    let Some(f) = fleet(net, 10, transport) else {
        return;
    };
    let (bad1, bad2) = (loopback(net, 3), loopback(net, 7));
    f.d.write(
        "pb.yaml",
        &format!(
            "steps:\n  - id: probe\n    remote:\n      script: \"a={SELF}; case $a in {bad1}|{bad2}) echo \\\"disk full on $a\\\"; exit 1;; esac; echo fine\"\n      read_only: true\n"
        ),
    );
    let r = f.run(&["--check"]);
    r.code(1);
    let end = r.step("probe");
    assert_eq!(end["status"], "failed");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("failed on 2 of 10 hosts"),
        "{transport}: {msg}"
    );
    for bad in [bad1, bad2] {
        assert!(
            // (The login shell may add to stderr: root's .bashrc here runs
            // pyenv, which sometimes complains when logins race.)
            msg.contains(&format!(
                "{bad} (command: `failed_when: rc != 0` holds: rc 1, stdout \"disk full on {bad}\""
            )),
            "{transport}: {msg}"
        );
    }
    let failed: Vec<String> = host_events(&r, "probe")
        .into_iter()
        .filter(|e| e.1 == "failed")
        .map(|e| e.0)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(
        end["output"]["hosts"][loopback(net, 1).to_string()]["stdout"],
        "fine"
    );
}

#[test]
fn real_sshd_probe_two_of_ten_native() {
    probe_failing_on_two_of_ten(22, "native");
}

#[test]
fn real_sshd_probe_two_of_ten_openssh() {
    probe_failing_on_two_of_ten(23, "openssh");
}

/// Lines in the per-host marks file of `a`.
fn marks(dir: &Path, a: Ipv4Addr) -> Vec<String> {
    std::fs::read_to_string(dir.join("marks").join(a.to_string()))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// An action that appends a line to `DIR/marks/ADDRESS` on each host,
/// guarded by that file (and by a `creates` path that never exists, so
/// the check runs two commands per host).
fn marking_action(dir: &Path, extra: &str) -> String {
    let m = dir.join("marks");
    format!(
        "steps:\n  - id: mark\n    remote:\n      script: \"echo applied >> {m}/{SELF}{extra}\"\n      unless: [sh, -c, \"test -s {m}/{SELF}\"]\n      creates: {m}/never\n",
        m = m.display()
    )
}

fn unless_applies_only_where_needed(net: u8, transport: &'static str) {
    let Some(f) = fleet(net, 6, transport) else {
        return;
    };
    let dir = f.dir();
    std::fs::create_dir_all(dir.join("marks")).expect("marks dir");
    for i in [2, 5] {
        std::fs::write(
            dir.join("marks").join(loopback(net, i).to_string()),
            "before\n",
        )
        .expect("mark");
    }
    f.d.write("pb.yaml", &marking_action(&dir, ""));
    let before = f.logins();
    let r = f.run(&["--check"]);
    r.code(3);
    // Two commands per host (`creates`, `unless`), one login per host: with
    // OpenSSH through a ControlMaster.
    assert_eq!(f.logins() - before, 6, "{transport}: logins for the check");
    let end = r.step("mark");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(msg.contains("on 4 of 6 hosts"), "{transport}: {msg}");
    assert!(!msg.contains(&loopback(net, 2).to_string()), "{msg}");
    assert!(marks(&dir, loopback(net, 1)).is_empty(), "--check applied");

    let r = f.run(&[]);
    r.code(0);
    assert_eq!(r.step("mark")["status"], "changed");
    for i in 1..=6 {
        let want = if [2, 5].contains(&i) {
            "before"
        } else {
            "applied"
        };
        assert_eq!(
            marks(&dir, loopback(net, i)),
            [want],
            "{transport}: host {i}"
        );
    }
    let r = f.run(&[]);
    r.code(0);
    assert_eq!(r.step("mark")["status"], "ok", "{transport}");
    for i in 1..=6 {
        assert_eq!(
            marks(&dir, loopback(net, i)).len(),
            1,
            "{transport}: host {i}"
        );
    }
}

#[test]
fn real_sshd_unless_native() {
    unless_applies_only_where_needed(24, "native");
}

#[test]
fn real_sshd_unless_openssh() {
    unless_applies_only_where_needed(25, "openssh");
}

/// SIGKILL while the action runs on 20 hosts (one of them slow): the
/// resumed run re-checks the one in flight and applies nowhere twice.
#[test]
fn real_sshd_killed_action_resumes_without_reapplying() {
    let net = 26;
    let Some(f) = fleet(net, 20, "native") else {
        return;
    };
    let dir = f.dir();
    std::fs::create_dir_all(dir.join("marks")).expect("marks dir");
    let slow = loopback(net, 20);
    f.d.write(
        "pb.yaml",
        &marking_action(&dir, &format!("; [ {SELF} != {slow} ] || sleep 20")),
    );
    let mut args: Vec<String> = [
        "run",
        "pb.yaml",
        "-i",
        "hosts.yaml",
        "--yes",
        "-f",
        "20",
        "--known-hosts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(f.known_hosts.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut bg = f.d.cmd(&args).spawn(&dir, "killed");
    let finished = wait_until(Duration::from_secs(60), || {
        done_in_journal(&f.d) >= 19 && !marks(&dir, slow).is_empty()
    });
    assert!(
        finished,
        "19 hosts never finished:\n{}",
        f.d.read("killed.err")
    );
    bg.signal(libc::SIGKILL);
    assert_eq!(bg.wait(Duration::from_secs(10)), Some(137));

    let r = f.run(&[]);
    r.code(0);
    let end = r.step("mark");
    assert_eq!(end["status"], "ok", "{end}");
    assert_eq!(
        end["message"],
        "in sync on 1 host; done on 19 hosts by the interrupted earlier run"
    );
    for i in 1..=20 {
        assert_eq!(
            marks(&dir, loopback(net, i)),
            ["applied"],
            "host {i} applied once"
        );
    }
}
