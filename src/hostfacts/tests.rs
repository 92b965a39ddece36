use super::samples::{SAMPLES, sample};
use super::script::{SectionOutput, render};
use super::*;

fn read_sample(name: &str) -> HostFacts {
    let s = sample(name).expect("sample");
    HostFacts::read(&render(&s.outputs()), "", &Request::default())
}

const GIB: u64 = 1 << 30;

/// The facts of each distribution's real outputs.
#[test]
fn facts_of_each_supported_distribution() {
    struct Want {
        name: &'static str,
        os: (&'static str, &'static str, &'static str),
        kernel: &'static str,
        cpus: u32,
        mem_kb: u64,
        cgroup: u8,
        root: (u64, u64),
        var_lib: (&'static str, u64, u64),
        ports: &'static [u16],
        docker: Option<&'static str>,
    }
    let wants = [
        Want {
            name: "ubuntu-22.04",
            os: ("ubuntu", "22.04", "Ubuntu 22.04.4 LTS"),
            kernel: "5.15.0-105-generic",
            cpus: 8,
            mem_kb: 32862140,
            cgroup: 2,
            root: (101430960, 92180456),
            var_lib: ("/", 101430960, 92180456),
            ports: &[
                22, 53, 443, 2376, 6443, 10248, 10250, 12376, 12378, 12379, 12380,
            ],
            docker: Some("23.0.15"),
        },
        Want {
            name: "ubuntu-24.04",
            os: ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS"),
            kernel: "6.8.0-45-generic",
            cpus: 16,
            mem_kb: 65837572,
            cgroup: 2,
            root: (30297152, 26384228),
            var_lib: ("/var", 206293688, 164545716),
            ports: &[22, 53, 80, 2376, 10248, 10250, 12376],
            docker: Some("25.0.12"),
        },
        Want {
            name: "rhel-8.10",
            os: ("rhel", "8.10", "Red Hat Enterprise Linux 8.10 (Ootpa)"),
            kernel: "4.18.0-553.el8_10.x86_64",
            cpus: 4,
            mem_kb: 16211856,
            cgroup: 1,
            root: (73364480, 68301108),
            var_lib: ("/var", 52403200, 42531960),
            ports: &[
                22, 111, 443, 2376, 2377, 6443, 7946, 9099, 10250, 12376, 12379, 12385, 12386,
            ],
            docker: Some("23.0.14"),
        },
        Want {
            name: "rhel-9.4",
            os: ("rhel", "9.4", "Red Hat Enterprise Linux 9.4 (Plow)"),
            kernel: "5.14.0-427.13.1.el9_4.x86_64",
            cpus: 8,
            mem_kb: 32609308,
            cgroup: 2,
            root: (73364480, 67182356),
            var_lib: ("/", 73364480, 67182356),
            ports: &[22, 2376, 9099, 9443, 10250, 12376],
            docker: Some("25.0.13"),
        },
        Want {
            name: "rocky-9.4",
            os: ("rocky", "9.4", "Rocky Linux 9.4 (Blue Onyx)"),
            kernel: "5.14.0-427.22.1.el9_4.x86_64",
            cpus: 2,
            mem_kb: 7840348,
            cgroup: 2,
            root: (17756160, 1364876),
            var_lib: ("/", 17756160, 1364876),
            ports: &[22, 25],
            docker: None,
        },
    ];
    for w in wants {
        let f = read_sample(w.name);
        assert!(f.complete(), "{}: {:?}", w.name, f.errors);
        let os = f.os.clone().expect("os");
        assert_eq!(
            (
                os.id.as_str(),
                os.version_id.as_deref(),
                os.pretty_name.as_deref()
            ),
            (w.os.0, Some(w.os.1), Some(w.os.2)),
            "{}",
            w.name
        );
        assert_eq!(f.kernel.as_deref(), Some(w.kernel), "{}", w.name);
        assert_eq!(f.arch.as_deref(), Some("x86_64"), "{}", w.name);
        assert_eq!(f.cpus, Some(w.cpus), "{}", w.name);
        assert_eq!(f.memory_bytes, Some(w.mem_kb * 1024), "{}", w.name);
        assert_eq!(f.cgroup_version, Some(w.cgroup), "{}", w.name);
        let root = &f.disk["/"];
        assert_eq!(
            (root.mount.as_str(), root.total_bytes, root.avail_bytes),
            ("/", w.root.0 * 1024, w.root.1 * 1024),
            "{}",
            w.name
        );
        let vl = &f.disk["/var/lib"];
        assert_eq!(
            (vl.mount.as_str(), vl.total_bytes, vl.avail_bytes),
            (w.var_lib.0, w.var_lib.1 * 1024, w.var_lib.2 * 1024),
            "{}",
            w.name
        );
        assert_eq!(
            f.listening_tcp_ports.as_deref(),
            Some(w.ports),
            "{}",
            w.name
        );
        let id = f.machine_id.clone().expect("machine id");
        assert_eq!(id.len(), 32);
        assert!(f.hostname.is_some());
        assert_eq!(f.docker_version.as_deref(), w.docker, "{}", w.name);
        if w.docker.is_none() {
            assert_eq!(f.docker_note.as_deref(), Some("docker is not installed"));
        }
        assert_eq!(f.ntp_synchronized, Some(true), "{}", w.name);
        assert_eq!(f.ntp_note, None, "{}", w.name);
    }
    // Every sample's machine id differs.
    let mut ids: Vec<String> = SAMPLES
        .iter()
        .map(|s| read_sample(s.name).machine_id.unwrap_or_default())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), SAMPLES.len());
}

#[test]
fn the_build_machines_own_outputs() {
    let f = read_sample("debian-12");
    assert!(f.complete(), "{:?}", f.errors);
    assert_eq!(f.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
    assert_eq!(f.cgroup_version, Some(1));
    assert!(f.memory_bytes.unwrap_or(0) > GIB);
    // A Docker CLI without a daemon: no version, and why.
    assert_eq!(f.docker_version, None);
    let note = f.docker_note.unwrap_or_default();
    assert!(note.contains("does not answer (exit 1)"), "{note}");
    assert!(
        note.contains("Cannot connect to the Docker daemon"),
        "{note}"
    );
    // No systemd there: time sync is unknown, and why; not an error.
    assert_eq!(f.ntp_synchronized, None);
    let note = f.ntp_note.unwrap_or_default();
    assert!(note.contains("timedatectl cannot tell (exit 1)"), "{note}");
    assert!(note.contains("Host is down"), "{note}");
    // No IPv6 listeners there: grep exits 1, which is no error.
    assert!(f.listening_tcp_ports.is_some_and(|p| !p.is_empty()));
}

fn with(name: &str, change: impl Fn(&mut SectionOutput)) -> HostFacts {
    let mut outs = sample(name).expect("sample").outputs();
    for o in &mut outs {
        change(o);
    }
    HostFacts::read(&render(&outs), "", &Request::default())
}

#[test]
fn a_missing_tool_is_an_error_for_its_fact_only() {
    let f = with("rhel-9.4", |o| {
        if o.name == "cpus" {
            o.rc = Some(127);
            o.text = "bash: line 1: nproc: command not found\n".into();
        }
    });
    assert_eq!(f.cpus, None);
    let e = &f.errors["cpus"];
    assert!(e.contains("`nproc` is not installed on the node"), "{e}");
    assert!(e.contains("command not found"), "{e}");
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert_eq!(f.memory_bytes, Some(32609308 * 1024));

    let f = with("ubuntu-22.04", |o| {
        if o.name == "disk" {
            o.rc = Some(127);
            o.text = "sh: 1: df: not found\n".into();
        }
    });
    assert!(f.disk.is_empty());
    assert!(f.errors["disk:/"].contains("`df` is not installed"));
    assert!(f.errors["disk:/var/lib"].contains("`df` is not installed"));
}

#[test]
fn a_missing_path_is_told_apart() {
    let req = Request {
        paths: vec!["/var/lib/k0s".into(), "/var/lib".into(), "/".into()],
        docker_sudo: false,
    };
    let df = "df: /var/lib/k0s: No such file or directory\n\
              Filesystem     1024-blocks    Used Available Capacity Mounted on\n\
              /dev/root        101430960 9234120  92180456      10% /\n\
              /dev/root        101430960 9234120  92180456      10% /\n";
    let mut outs = sample("ubuntu-22.04").expect("sample").outputs();
    for o in &mut outs {
        if o.name == "disk" {
            o.rc = Some(1);
            o.text = df.into();
        }
    }
    let f = HostFacts::read(&render(&outs), "", &req);
    assert_eq!(f.missing_paths, ["/var/lib/k0s"]);
    assert!(f.errors["disk:/var/lib/k0s"].contains("No such file"));
    assert_eq!(f.disk["/var/lib"].avail_bytes, 92180456 * 1024);
    assert_eq!(f.disk.len(), 2);
}

#[test]
fn mount_points_with_spaces_and_quoted_errors() {
    let paths = vec!["/mnt/my data".to_string(), "/x".to_string()];
    let text = "df: '/x': No such file or directory\n\
                Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                /dev/sdb1 1000 10 990 1% /mnt/my data\n";
    let got = parse::df(text, &paths);
    let d = got[0].clone().expect("disk");
    assert_eq!(
        (d.mount.as_str(), d.avail_bytes),
        ("/mnt/my data", 990 * 1024)
    );
    assert!(matches!(&got[1], Err((true, _))));
}

#[test]
fn unreadable_outputs_are_errors_not_zeros() {
    let f = with("ubuntu-24.04", |o| match o.name.as_str() {
        "os" => o.text = "NAME=Something\n".into(),
        "memory" => o.text = "MemFree: 10 kB\n".into(),
        "machine_id" => o.text = "\n".into(),
        "cgroup" => o.text = "ext4\n".into(),
        "cpus" => o.text = "0\n".into(),
        _ => {}
    });
    for key in ["os", "memory_bytes", "machine_id", "cgroup_version", "cpus"] {
        assert!(f.errors.contains_key(key), "{key}: {:?}", f.errors);
    }
    assert!(f.errors["machine_id"].contains("systemd-machine-id-setup"));
    assert_eq!(
        (f.cpus, f.memory_bytes, f.cgroup_version),
        (None, None, None)
    );
}

#[test]
fn cut_off_or_absent_scripts() {
    let mut outs = sample("rhel-8.10").expect("sample").outputs();
    outs.truncate(3);
    outs[2].rc = None;
    let f = HostFacts::read(&render(&outs), "", &Request::default());
    assert!(f.errors["cpus"].contains("cut off"), "{:?}", f.errors);
    assert!(
        f.errors["memory"].contains("stopped before"),
        "{:?}",
        f.errors
    );
    assert!(f.os.is_some());

    let f = HostFacts::read("", "fish: Unsupported use of '2>&1'\n", &Request::default());
    assert!(
        f.errors["facts"].contains("fish: Unsupported"),
        "{:?}",
        f.errors
    );
}

#[test]
fn os_release_quoting() {
    let os = parse::os_release("ID='arch'\nPRETTY_NAME=\"A \\\"quoted\\\" \\$name\"\n# ID=x\n")
        .expect("os");
    assert_eq!(os.id, "arch");
    assert_eq!(os.version_id, None);
    assert_eq!(os.pretty_name.as_deref(), Some("A \"quoted\" $name"));
}

#[test]
fn the_script_reads_this_machine() {
    // The real commands through a real shell: what parses here must be
    // what the machine says.
    let req = Request::default();
    let Ok(out) = std::process::Command::new("sh")
        .arg("-c")
        .arg(req.script())
        .output()
    else {
        return;
    };
    let f = HostFacts::read(
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
        &req,
    );
    for key in ["os", "kernel", "cpus", "memory_bytes", "hostname"] {
        assert!(!f.errors.contains_key(key), "{key}: {:?}", f.errors);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    assert_eq!(f.memory_bytes, parse::mem_total(&meminfo).ok());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .ok();
    assert_eq!(f.cpus, cpus);
    assert!(f.disk.contains_key("/"), "{:?}", f.errors);
    assert!(f.ntp_synchronized.is_some() || f.ntp_note.is_some());
    // The clock command, through the same shell, against this clock.
    let mut f = HostFacts::default();
    let (sent, timer) = (std::time::SystemTime::now(), std::time::Instant::now());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(CLOCK)
        .output()
        .expect("sh");
    let took = timer.elapsed();
    f.read_clock(
        &answer(
            out.status.code().unwrap_or(-1),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
        ),
        sent,
        took,
    );
    let (offset, error) = (f.clock_offset_seconds, f.clock_offset_error_seconds);
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert!(
        offset.zip(error).is_some_and(|(o, e)| o.abs() <= e + 0.001),
        "{offset:?} ± {error:?}"
    );
}

fn answer(status: i32, stdout: &str, stderr: &str) -> crate::ssh::Output {
    crate::ssh::Output {
        status,
        stdout: stdout.into(),
        stderr: stderr.into(),
        elapsed: std::time::Duration::ZERO,
    }
}

#[test]
fn the_clock_offset_is_taken_at_the_middle_of_the_round_trip() {
    let at = |ms: u64| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let took = std::time::Duration::from_millis;
    let mut f = HostFacts::default();
    // Sent at …000.000, answered 200 ms later: the middle is …000.100.
    f.read_clock(
        &answer(0, "1765000045.100000000\n", ""),
        at(1_765_000_000_000),
        took(200),
    );
    assert_eq!(f.clock_offset_seconds, Some(45.0));
    assert_eq!(f.clock_offset_error_seconds, Some(0.1));
    f.read_clock(
        &answer(0, "1764999970.1\n", ""),
        at(1_765_000_000_000),
        took(200),
    );
    assert_eq!(f.clock_offset_seconds, Some(-30.0));
    // A `date` without %N: the middle of the second it names, ±½ s more.
    f.read_clock(
        &answer(0, "1765000000.%N\n", ""),
        at(1_765_000_000_000),
        took(1000),
    );
    assert_eq!(f.clock_offset_seconds, Some(0.0));
    assert_eq!(f.clock_offset_error_seconds, Some(1.0));
    f.read_clock(
        &answer(0, "1765000000\n", ""),
        at(1_765_000_000_400),
        took(200),
    );
    assert_eq!(f.clock_offset_seconds, Some(0.0));
    assert_eq!(f.clock_offset_error_seconds, Some(0.6));
    // What a login shell writes to stderr is not the clock's.
    f.read_clock(
        &answer(
            0,
            "1765000001.000000000\n",
            "pyenv: cannot rehash: /root/.pyenv/shims isn't writable\n",
        ),
        at(1_765_000_000_000),
        took(0),
    );
    assert_eq!(f.clock_offset_seconds, Some(1.0));
    assert!(f.errors.is_empty(), "{:?}", f.errors);
}

#[test]
fn clock_and_ntp_answers_that_do_not_parse() {
    let mut f = with("rhel-9.4", |o| {
        if o.name == "ntp" {
            o.text = "maybe\n".into();
        }
    });
    let now = std::time::SystemTime::now();
    let zero = std::time::Duration::ZERO;
    f.read_clock(&answer(0, "+%s.%N\n", ""), now, zero);
    assert!(
        f.errors["clock"].contains("`date -u +%s.%N` printed \"+%s.%N\""),
        "{:?}",
        f.errors
    );
    assert_eq!(f.clock_offset_seconds, None);
    let mut g = HostFacts::default();
    g.read_clock(&answer(127, "", "sh: 1: date: not found\n"), now, zero);
    assert!(
        g.errors["clock"].contains("`date` is not installed"),
        "{:?}",
        g.errors
    );
    assert_eq!(f.ntp_synchronized, None);
    assert_eq!(
        f.ntp_note.as_deref(),
        Some("`timedatectl` printed \"maybe\"")
    );
    let f = with("ubuntu-24.04", |o| {
        if o.name == "ntp" {
            o.rc = Some(127);
            o.text = "sh: 1: timedatectl: not found\n".into();
        }
    });
    assert!(f.complete(), "{:?}", f.errors);
    assert_eq!(f.ntp_note.as_deref(), Some("timedatectl is not installed"));
}
