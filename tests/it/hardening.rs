//! Issue 14, item 8: the smaller holes, each through the binary — a huge
//! step id, an unbounded `--ssh-timeout`, a closed stdout, FIFOs given as
//! inputs, the playbook turning TLS verification off, reserved `-e` names,
//! a quoted port.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{Dir, bin, mkfifo};
use crate::terminal::Hostile;

const SAY: &str = "steps:\n  - id: say\n    debug:\n      msg: hi\n";

#[test]
fn a_step_id_of_65536_characters_is_reported_without_a_panic() {
    let d = Dir::new();
    let id = "a".repeat(65_536);
    d.write(
        "pb.yaml",
        &format!("steps:\n  - id: {id}\n    debug:\n      msg: hi\n  - id: b\n    debug:\n      msg: hi\n"),
    );
    for args in [
        &["run", "pb.yaml", "--fresh"][..],
        &["run", "pb.yaml", "--fresh", "-vv"][..],
    ] {
        let r = d.cmd(args).run();
        r.code(0).stdout_has("RECAP 2 ok");
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn the_ssh_timeout_is_bounded_by_the_command_line() {
    let d = Dir::new();
    d.write("pb.yaml", SAY);
    for bad in ["9223372036854775807", "18446744073709551615", "0", "3601"] {
        let r = d.cmd(&["run", "pb.yaml", "--ssh-timeout", bad]).run();
        r.code(2).stderr_has("--ssh-timeout").stderr_has("1..=3600");
    }
    d.cmd(&["run", "pb.yaml", "--ssh-timeout", "3600"])
        .run()
        .code(0);
}

/// Runs mkeprep with stdout a pipe nobody reads (its read end closed), so
/// every write to it fails with EPIPE. Bounded to 60 s.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe writes two descriptors into the array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("MKE_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_printing_commands_quietly_and_never_stops_a_run() {
    let d = Dir::new();
    d.write("pb.yaml", SAY);
    d.cmd(&["run", "pb.yaml"]).run().code(0);
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"][..],
        &["man"][..],
        &["modules"][..],
        &["modules", "command"][..],
        &["modules", "--markdown"][..],
        &["journal", "show"][..],
        &["journal", "show", "--output", "json"][..],
        &["validate", "pb.yaml"][..],
    ] {
        let (status, stderr) = with_closed_stdout(d.path(), args);
        assert!(
            status.signal() == Some(libc::SIGPIPE) || status.code() == Some(0),
            "{args:?}: {status:?}\n{stderr}"
        );
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // A run goes on to its end, journal and all.
    let (status, stderr) = with_closed_stdout(d.path(), &["run", "pb.yaml", "-vv"]);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(d.read(".mkeprep/journal.jsonl").contains("\"run_end\""));
}

#[test]
fn a_fifo_given_as_any_input_is_refused_at_once() {
    let d = Dir::new();
    d.write("pb.yaml", SAY);
    mkfifo(&d.join("fifo"));
    d.write(
        "hosts.yaml",
        "hosts:\n  - address: 127.0.0.1\n    port: 22\n    user: x\n    keyPath: fifo\n",
    );
    let cases: &[(&[&str], &str)] = &[
        (&["run", "fifo"], "fifo: cannot read the playbook"),
        (&["validate", "fifo"], "fifo: cannot read the playbook"),
        (
            &["run", "pb.yaml", "-i", "fifo"],
            "cannot read the inventory",
        ),
        (
            &["run", "pb.yaml", "-e", "@fifo"],
            "cannot read the variables file",
        ),
        (
            &["run", "pb.yaml", "--password-file", "fifo"],
            "--password-stdin",
        ),
        (&["run", "pb.yaml", "--ca-cert", "fifo"], "CA certificate"),
        (&["run", "pb.yaml", "-i", "hosts.yaml"], "keyPath fifo"),
    ];
    for (args, words) in cases {
        let r = d
            .cmd(args)
            .env("MKE_HOST", "127.0.0.1:9")
            .env("MKE_USERNAME", "admin")
            .env("MKE_PASSWORD", "Fifo-Pw-1234")
            .run();
        r.code(2).stderr_has(words).stderr_has("FIFO");
    }
    // And one at the state directory's lock: refused, not waited on.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(d.join(".mkeprep-x"))
            .unwrap();
    }
    mkfifo(&d.join(".mkeprep-x/lock"));
    let r = d
        .cmd(&["run", "pb.yaml", "--state-dir", ".mkeprep-x"])
        .run();
    assert_ne!(r.code, 0);
    assert!(
        r.both().contains("lock") && r.both().contains("FIFO"),
        "{}",
        r.both()
    );
}

#[test]
fn only_the_insecure_flag_turns_tls_verification_off() {
    let d = Dir::new();
    let server = Hostile::start("");
    d.write(
        "pb.yaml",
        "mke:\n  insecure: true\nsteps:\n  - id: version\n    mke_version: {}\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "pb.yaml"];
        args.extend_from_slice(extra);
        d.cmd(&args)
            .env("MKE_HOST", &format!("127.0.0.1:{}", server.port))
            .env("MKE_USERNAME", "admin")
            .env("MKE_PASSWORD", "Insecure-Pw-5150")
            .run()
    };
    let r = run(&[]);
    r.code(2)
        .stderr_has("`mke: {insecure: true}`")
        .stderr_has("only the --insecure flag");
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        0,
        "it contacted the API"
    );
    // With the flag, the user's decision: it connects, and warns.
    let r = run(&["--insecure"]);
    r.code(1)
        .stderr_has("--insecure: the MKE API's TLS certificate is not verified");
    assert!(server.hits.load(Ordering::SeqCst) > 0);
}

#[test]
fn reserved_names_cannot_be_set_with_e() {
    let d = Dir::new();
    d.write("pb.yaml", SAY);
    for name in ["env", "steps", "inventory", "item", "loop"] {
        let r = d.cmd(&["run", "pb.yaml", "-e", &format!("{name}=x")]).run();
        r.code(2)
            .stderr_has(&format!("`{name}` is a reserved name"))
            .stderr_has("another name");
        d.write("vars.yaml", &format!("ok: 1\n{name}: 1\n"));
        let r = d.cmd(&["validate", "pb.yaml", "-e", "@vars.yaml"]).run();
        r.code(2)
            .stderr_has("vars.yaml:2:1:")
            .stderr_has("reserved name");
    }
}

#[test]
fn a_port_that_is_not_a_number_says_exactly_what_it_is() {
    let d = Dir::new();
    d.write("pb.yaml", SAY);
    for (port, words) in [
        (
            "\"22\"",
            "port \"22\" is text (it is quoted), not a number: write it without quotes",
        ),
        ("'2222'", "port \"2222\" is text (it is quoted)"),
        ("70000", "port 70000 is out of range"),
        ("22.5", "port 22.5 is not a whole number"),
        ("true", "port is a boolean `true`, not a number"),
    ] {
        d.write(
            "hosts.yaml",
            &format!("hosts:\n  - address: 127.0.0.1\n    port: {port}\n    user: x\n"),
        );
        let r = d.cmd(&["validate", "pb.yaml", "-i", "hosts.yaml"]).run();
        r.code(2).stderr_has("hosts.yaml:3:11:").stderr_has(words);
    }
}

/// The files the SSH transport reads itself: a known_hosts file that is a
/// FIFO fails the host at once, naming it; a default key (no keyPath) that
/// is a FIFO is passed over like any unusable default key (as OpenSSH
/// does); neither hangs the run.
#[test]
fn a_fifo_as_known_hosts_or_default_key_fails_the_host_at_once() {
    let d = Dir::new();
    let sb = crate::sandbox_env::Sandbox::start(&d.join("sb"), &[]);
    mkfifo(&d.join("kh-fifo"));
    std::fs::create_dir_all(d.join("home/.ssh")).unwrap();
    mkfifo(&d.join("home/.ssh/id_ed25519"));
    let inv = std::fs::read_to_string(sb.var("MKEPREP_INVENTORY")).unwrap();
    let no_keys: String = inv
        .lines()
        .filter(|l| !l.contains("keyPath"))
        .map(|l| format!("{l}\n"))
        .collect();
    d.write("hosts.yaml", &inv);
    d.write("nokeys.yaml", &no_keys);
    d.write(
        "pb.yaml",
        "steps:\n  - id: check-hosts\n    hosts: {sudo: skip, cluster_coverage: false}\n",
    );
    let home = d.join("home").display().to_string();
    let kh = sb.var("MKEPREP_KNOWN_HOSTS").to_string();
    for (inventory, known_hosts, words) in [
        ("hosts.yaml", "kh-fifo", "kh-fifo"),
        ("nokeys.yaml", kh.as_str(), "no key to offer"),
    ] {
        let started = Instant::now();
        let r = d
            .cmd(&[
                "run",
                "pb.yaml",
                "-i",
                inventory,
                "--known-hosts",
                known_hosts,
                "--output",
                "json",
            ])
            .env("HOME", &home)
            .run();
        r.code(1);
        let end = r.step("check-hosts");
        let msg = end["message"].as_str().unwrap_or_default();
        assert!(msg.contains(words), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
