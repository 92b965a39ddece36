//! The `hosts` module through the binary: against the sandbox (coverage,
//! managers, sudo) and against a real OpenSSH `sshd` on loopback (the
//! causes: auth, host key, refused, timeout, DNS).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Dir, Run, assert_no_secrets_except, wait_until};

const ONE_STEP: &str = "name: hosts\nsteps:\n  - id: check-hosts\n    hosts: {}\n";

fn playbook(params: &str) -> String {
    format!("name: hosts\nsteps:\n  - id: check-hosts\n    hosts: {params}\n")
}

/// The `host` events of a run: (address, status, cause, message).
fn host_events(run: &Run) -> Vec<(String, String, String, String)> {
    host_events_of(run, "check-hosts")
}

pub(crate) fn host_events_of(run: &Run, step: &str) -> Vec<(String, String, String, String)> {
    run.events()
        .iter()
        .filter(|e| e["event"] == "host" && e["step"] == step)
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("host"), s("status"), s("cause"), s("message"))
        })
        .collect()
}

fn step_end(run: &Run) -> Value {
    run.events()
        .into_iter()
        .find(|e| e["event"] == "step_end")
        .unwrap_or_else(|| panic!("no step_end\n{}", run.both()))
}

/// `mkeprep run pb.yaml --sandbox --output json EXTRA...` in `d`.
fn sandbox_run(d: &Dir, extra: &[&str]) -> Run {
    let mut args = vec!["run", "pb.yaml", "--sandbox", "--output", "json"];
    args.extend_from_slice(extra);
    d.cmd(&args).run()
}

/// Asserts a blocked run with one host event per host; returns the
/// step_end event and its message.
#[track_caller]
fn blocked(run: &Run, hosts: usize) -> (Value, String) {
    run.code(1);
    assert_eq!(host_events(run).len(), hosts, "{}", run.stdout);
    let end = step_end(run);
    assert_eq!(end["status"], "blocked", "{end}");
    let message = end["message"].as_str().unwrap_or_default().to_string();
    (end, message)
}

/// The inventory entries of the sandbox's hosts.yaml, each as its text.
fn entries(inventory: &str) -> (String, Vec<String>) {
    let mut head = String::new();
    let mut items: Vec<String> = Vec::new();
    for line in inventory.lines() {
        if line.starts_with("  - ") {
            items.push(String::new());
        }
        match items.last_mut() {
            Some(item) => {
                item.push_str(line);
                item.push('\n');
            }
            None => {
                head.push_str(line);
                head.push('\n');
            }
        }
    }
    (head, items)
}

#[test]
fn sandbox_hosts_are_reachable_and_the_inventory_must_match_the_cluster() {
    let d = Dir::new();
    d.write("pb.yaml", ONE_STEP);
    let run = sandbox_run(&d, &[]);
    run.code(0);
    let hosts = host_events(&run);
    assert_eq!(hosts.len(), 3, "one host event per host: {hosts:?}");
    assert!(
        hosts.iter().all(|h| h.1 == "ok" && h.2.is_empty()),
        "{hosts:?}"
    );
    let end = step_end(&run);
    assert_eq!(end["status"], "ok");
    assert_eq!(
        end["message"],
        "3/3 hosts reachable over SSH with sudo; inventory covers all 3 cluster nodes; 1 manager, 2 workers"
    );
    let out = &end["output"];
    assert_eq!(
        (out["reachable"].as_u64(), out["unreachable"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        (out["managers"].as_u64(), out["workers"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(out["hosts"][0]["node"], "sandbox-manager-1");
    assert_eq!(out["hosts"][0]["role"], "manager");
    assert_eq!(out["hosts"][2]["ok"], true);

    // The sandbox wrote its inventory; edit copies of it.
    let inventory = d.read(".mkeprep/sandbox/hosts.yaml");
    let (head, items) = entries(&inventory);
    assert_eq!(items.len(), 3, "{inventory}");

    // A node missing from the inventory.
    d.write("two.yaml", &format!("{head}{}{}", items[0], items[1]));
    let (end, msg) = blocked(&sandbox_run(&d, &["-i", "two.yaml"]), 2);
    assert!(
        msg.contains(
            "1 cluster node is not in the inventory: sandbox-worker-2 (127.0.0.13, worker)"
        ),
        "{msg}"
    );
    let remedy = end["remedy"].as_str().unwrap_or_default();
    assert!(remedy.contains("privateAddress"), "{remedy}");
    assert_eq!(end["output"]["missing"][0]["hostname"], "sandbox-worker-2");

    // A host the cluster does not know (nothing listens there either).
    let extra = "  - address: 127.0.0.99\n    port: 1\n    user: ubuntu\n";
    d.write("four.yaml", &format!("{inventory}{extra}"));
    let run = sandbox_run(&d, &["-i", "four.yaml"]);
    let (end, msg) = blocked(&run, 4);
    let stranger = host_events(&run)
        .into_iter()
        .find(|h| h.0 == "127.0.0.99")
        .expect("host event");
    assert_eq!(
        (stranger.1.as_str(), stranger.2.as_str()),
        ("failed", "refused")
    );
    assert!(
        msg.contains("1 inventory host is not a node of the cluster: 127.0.0.99 (line "),
        "{msg}"
    );
    assert!(
        msg.contains("1 of 4 hosts failed: 127.0.0.99 (refused:"),
        "{msg}"
    );
    assert_eq!(end["output"]["unknown"][0], "127.0.0.99");
    assert_eq!(end["output"]["reachable"], 3);

    // Human output names the failing host and what to do.
    let run = d
        .cmd(&["run", "pb.yaml", "--sandbox", "-i", "four.yaml"])
        .run();
    run.code(1)
        .stdout_has("127.0.0.99 failed")
        .stdout_has("what to do:")
        .stdout_has("refused: start sshd on 127.0.0.99");
}

#[test]
fn sandbox_sudo_needing_a_password_blocks_or_warns() {
    let d = Dir::new();
    d.write("pb.yaml", ONE_STEP);
    let knob = ["--sandbox-set", "sudo_password_node=[2]"];
    let run = sandbox_run(&d, &knob);
    let (end, msg) = blocked(&run, 3);
    for (addr, status, cause, message) in &host_events(&run) {
        if addr == "127.0.0.12" {
            assert_eq!((status.as_str(), cause.as_str()), ("failed", "sudo"));
            assert!(
                message.contains("sudo: a password is required"),
                "{message}"
            );
        } else {
            assert_eq!(status, "ok", "{addr}: {message}");
        }
    }
    assert!(
        msg.contains("1 of 3 hosts failed: 127.0.0.12 (sudo:"),
        "{msg}"
    );
    let remedy = end["remedy"].as_str().unwrap_or_default();
    assert!(remedy.contains("passwordless sudo"), "{remedy}");
    // SSH itself worked: the host counts as reachable.
    assert_eq!(end["output"]["reachable"], 3);
    assert_eq!(end["output"]["hosts"][1]["cause"], "sudo");

    d.write("pb.yaml", &playbook("{sudo: warn}"));
    let run = sandbox_run(&d, &knob);
    run.code(0);
    let warned: Vec<_> = host_events(&run)
        .into_iter()
        .filter(|h| h.1 != "ok")
        .map(|h| (h.0, h.1, h.2))
        .collect();
    assert_eq!(
        warned,
        vec![(
            "127.0.0.12".to_string(),
            "warn".to_string(),
            "sudo".to_string()
        )]
    );
    let end = step_end(&run);
    assert_eq!(end["status"], "ok");
    assert_eq!(
        end["message"],
        "3/3 hosts reachable over SSH; 1 lacks passwordless sudo (sudo: warn): 127.0.0.12; inventory covers all 3 cluster nodes; 1 manager, 2 workers"
    );
}

#[test]
fn sandbox_even_manager_count_is_blocked() {
    let d = Dir::new();
    d.write("pb.yaml", ONE_STEP);
    let knobs = ["--sandbox-set", "managers=2", "--sandbox-set", "nodes=4"];
    let (end, msg) = blocked(&sandbox_run(&d, &knobs), 4);
    assert_eq!(
        msg,
        "2 managers: Mirantis does not sanction an even number of managers; the upgrade may fail with two"
    );
    let remedy = end["remedy"].as_str().unwrap_or_default();
    assert!(remedy.contains("docker node promote"), "{remedy}");
    assert_eq!(
        (
            end["output"]["managers"].as_u64(),
            end["output"]["workers"].as_u64()
        ),
        (Some(2), Some(2))
    );
}

// ------------------------------------------------------------ real sshd

const SSHD: &str = "/usr/sbin/sshd";

/// A throwaway OpenSSH daemon on loopback addresses; killed on drop.
pub(crate) struct Sshd {
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the real-sshd test can run here. Without sshd (or its privilege
/// separation directory) it fails under CI, which installs openssh-server,
/// and is skipped with a note elsewhere.
pub(crate) fn sshd_available() -> bool {
    let why = if !Path::new(SSHD).exists() {
        Some(format!(
            "{SSHD} is not installed (apt-get install openssh-server)"
        ))
    } else {
        std::fs::create_dir_all("/run/sshd")
            .err()
            .map(|e| format!("cannot create /run/sshd, which sshd needs: {e}"))
    };
    match why {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the real-sshd test, but {why}")
        }
        Some(why) => {
            eprintln!("note: skipping the real-sshd test: {why}");
            false
        }
    }
}

/// `ssh-keygen -q ARGS -f PATH`, which must succeed.
pub(crate) fn ssh_keygen(args: &[&str], path: &Path) {
    let status = Command::new("ssh-keygen")
        .arg("-q")
        .args(args)
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen {args:?} failed");
}

pub(crate) fn keygen(path: &Path) {
    ssh_keygen(&["-t", "ed25519", "-N", "", "-C", "mkeprep-test"], path);
}

/// Test addresses in 127.0.NET.0/24, away from the sandbox's nodes
/// (127.0.0.11 on); one /24 per transport so their tests run side by side.
pub(crate) fn loopback(net: u8, last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, net, last)
}

/// A port free on every one of `addrs` (bounded retries).
pub(crate) fn free_port(addrs: &[Ipv4Addr]) -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind(SocketAddrV4::new(addrs[0], 0)).expect("bind port 0");
        let port = first.local_addr().expect("local addr").port();
        let rest: Vec<_> = addrs[1..]
            .iter()
            .map(|a| TcpListener::bind(SocketAddrV4::new(*a, port)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return port;
        }
    }
    panic!("no port free on all of {addrs:?} after 50 tries");
}

pub(crate) fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One sshd for up to 16 addresses (OpenSSH's limit on ListenAddress).
pub(crate) fn start_sshd(
    dir: &Path,
    name: &str,
    host_key: &Path,
    addrs: &[Ipv4Addr],
    port: u16,
    authorized: &Path,
) -> Sshd {
    start_sshd_logging(dir, name, host_key, addrs, port, authorized, "ERROR")
}

/// [`start_sshd`] logging at `level` to `DIR/NAME.sshd.log` (`VERBOSE`
/// logs each login).
pub(crate) fn start_sshd_logging(
    dir: &Path,
    name: &str,
    host_key: &Path,
    addrs: &[Ipv4Addr],
    port: u16,
    authorized: &Path,
    level: &str,
) -> Sshd {
    let mut cfg = String::new();
    for a in addrs {
        cfg.push_str(&format!("ListenAddress {a}:{port}\n"));
    }
    cfg.push_str(&format!(
        "HostKey {}\nPidFile none\nStrictModes no\nUsePAM no\nAuthorizedKeysFile {}\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nMaxStartups 100:30:200\nLogLevel {level}\n",
        host_key.display(),
        authorized.display()
    ));
    let config = dir.join(format!("{name}.sshd_config"));
    std::fs::write(&config, cfg).expect("write sshd_config");
    let log_path = dir.join(format!("{name}.sshd.log"));
    let log = std::fs::File::create(&log_path).expect("sshd log");
    let child = Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(&config)
        .arg("-e")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn sshd");
    let sshd = Sshd { child };
    let up = wait_until(Duration::from_secs(10), || {
        addrs.iter().all(|a| {
            TcpStream::connect_timeout(&SocketAddrV4::new(*a, port).into(), Duration::from_secs(1))
                .is_ok()
        })
    });
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(up, "sshd did not listen within 10 s:\n{log}");
    sshd
}

pub(crate) fn known_hosts_line(addr: Ipv4Addr, port: u16, host_pub: &Path) -> String {
    let key = std::fs::read_to_string(host_pub).expect("host public key");
    let mut words = key.split_whitespace();
    let (kind, body) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    format!("[{addr}]:{port} {kind} {body}\n")
}

pub(crate) fn inventory_entry(address: &str, port: u16, user: &str, key: &Path) -> String {
    format!(
        "  - address: {address}\n    port: {port}\n    user: {user}\n    keyPath: {}\n",
        key.display()
    )
}

#[test]
fn real_sshd_fifty_hosts_native_transport() {
    fifty_hosts_each_failure_has_its_cause("native", 2);
}

#[test]
fn real_sshd_fifty_hosts_openssh_transport() {
    fifty_hosts_each_failure_has_its_cause("openssh", 3);
}

/// 50 hosts checked at once (`-f 50`) through one transport against real
/// OpenSSH daemons on 127.0.NET.x: 44 log in; one offers the wrong key, one
/// has no known host key, one presents a key other than the recorded one,
/// one port is closed, one accepts TCP and never speaks, one name does not
/// resolve. Each failure must carry its cause while the rest succeed.
fn fifty_hosts_each_failure_has_its_cause(transport: &str, net: u8) {
    if !sshd_available() {
        return;
    }
    let d = Dir::new();
    let dir = d.path();
    let (client_key, wrong_key) = (dir.join("client_key"), dir.join("wrong_key"));
    keygen(&client_key);
    keygen(&wrong_key);
    let (host_key, other_host_key) = (dir.join("host_key"), dir.join("other_host_key"));
    keygen(&host_key);
    keygen(&other_host_key);
    // An RSA key in PEM form, as cloud key pairs (`mke.pem`) come.
    let rsa_key = dir.join("rsa_key.pem");
    ssh_keygen(
        &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""],
        &rsa_key,
    );
    let authorized = dir.join("authorized_keys");
    let keys = [dir.join("client_key.pub"), dir.join("rsa_key.pem.pub")]
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("public key"))
        .collect::<String>();
    std::fs::write(&authorized, keys).expect("authorized_keys");

    // .2-.45 succeed (.2-.5 with the RSA key), .46 has the wrong key, .47's host key is not known,
    // .48's recorded key is another one; three sshd, 16 addresses at most each.
    let good: Vec<Ipv4Addr> = (2..=45).map(|i| loopback(net, i)).collect();
    let (wrong_key_addr, unknown_key_addr, changed_key_addr) =
        (loopback(net, 46), loopback(net, 47), loopback(net, 48));
    let mut served = good.clone();
    served.extend([wrong_key_addr, unknown_key_addr, changed_key_addr]);
    let port = free_port(&served);
    let _sshd: Vec<Sshd> = served
        .chunks(16)
        .enumerate()
        .map(|(i, addrs)| {
            start_sshd(
                dir,
                &format!("sshd{i}"),
                &host_key,
                addrs,
                port,
                &authorized,
            )
        })
        .collect();

    // .49: nothing listens (refused); .50: a socket that accepts but never
    // speaks (timeout); and a name that does not resolve.
    let closed = loopback(net, 49);
    let closed_port = free_port(&[closed]);
    let silent = TcpListener::bind(SocketAddrV4::new(loopback(net, 50), 0)).expect("bind silent");
    let silent_port = silent.local_addr().expect("addr").port();

    let host_pub = dir.join("host_key.pub");
    let mut known: String = good
        .iter()
        .chain([&wrong_key_addr])
        .map(|a| known_hosts_line(*a, port, &host_pub))
        .collect();
    known.push_str(&known_hosts_line(
        changed_key_addr,
        port,
        &dir.join("other_host_key.pub"),
    ));
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, known).expect("known_hosts");
    let known_hosts = known_hosts.display().to_string();

    let user = current_user();
    let entry =
        |a: Ipv4Addr, port: u16, key: &Path| inventory_entry(&a.to_string(), port, &user, key);
    let mut inv = String::from("hosts:\n");
    for (i, a) in good.iter().enumerate() {
        inv.push_str(&entry(*a, port, if i < 4 { &rsa_key } else { &client_key }));
    }
    inv.push_str(&entry(wrong_key_addr, port, &wrong_key));
    inv.push_str(&entry(unknown_key_addr, port, &client_key));
    inv.push_str(&entry(changed_key_addr, port, &client_key));
    inv.push_str(&entry(closed, closed_port, &client_key));
    inv.push_str(&entry(loopback(net, 50), silent_port, &client_key));
    inv.push_str(&inventory_entry(
        "no-such-host.invalid",
        port,
        &user,
        &client_key,
    ));
    d.write("hosts.yaml", &inv);
    d.write(
        "pb.yaml",
        &playbook("{sudo: skip, cluster_coverage: false}"),
    );

    // `run PLAYBOOK -i INVENTORY` through the transport with the test's
    // known_hosts, timed.
    let run_with = |playbook: &str, inventory: &str, extra: &[&str]| {
        let mut args = vec!["run", playbook, "-i", inventory, "--output", "json"];
        args.extend_from_slice(&["--known-hosts", &known_hosts]);
        args.extend_from_slice(&["--ssh-transport", transport]);
        args.extend_from_slice(extra);
        let started = Instant::now();
        let run = d.cmd(&args).run();
        (run, started.elapsed())
    };
    let (run, wall) = run_with("pb.yaml", "hosts.yaml", &["--ssh-timeout", "5", "-f", "50"]);
    run.code(1);
    let hosts = host_events(&run);
    assert_eq!(hosts.len(), 50, "one host event per host: {hosts:?}");
    let expect = |addr: &str| -> (&str, &str) {
        match addr.parse::<Ipv4Addr>().map(|a| a.octets()[3]) {
            Ok(46) => ("failed", "auth"),
            Ok(47 | 48) => ("failed", "host_key"),
            Ok(49) => ("failed", "refused"),
            Ok(50) => ("failed", "timeout"),
            Ok(_) => ("ok", ""),
            Err(_) => ("failed", "dns"),
        }
    };
    for (addr, status, cause, message) in &hosts {
        assert_eq!(
            (status.as_str(), cause.as_str()),
            expect(addr),
            "{transport}: {addr}: {message}\n{}",
            run.stdout
        );
    }
    // The events stream as hosts finish: the closed port reports long
    // before the silent host, which waits out its timeout.
    let at = |a: Ipv4Addr| hosts.iter().position(|h| h.0 == a.to_string());
    assert!(at(closed) < at(loopback(net, 50)), "{transport}: {hosts:?}");
    let end = step_end(&run);
    assert_eq!(end["status"], "blocked");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("6 of 50 hosts failed: "), "{msg}");
    assert!(
        msg.contains(&format!("{unknown_key_addr} (host key: ")),
        "{msg}"
    );
    let remedy = end["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy.contains(&format!(
            "ssh-keyscan -p {port} {unknown_key_addr} >> {known_hosts}"
        )),
        "{remedy}"
    );
    for word in ["dns:", "refused:", "timeout:", "auth:", "host key:"] {
        assert!(remedy.contains(word), "remedy lacks {word}: {remedy}");
    }
    assert_eq!(
        (
            end["output"]["reachable"].as_u64(),
            end["output"]["unreachable"].as_u64()
        ),
        (Some(44), Some(6))
    );
    eprintln!(
        "real sshd, {transport}: 50 hosts (44 ok, 6 failing, --ssh-timeout 5, -f 50) checked in {} ms",
        wall.as_millis()
    );

    // With --accept-new-host-keys the unknown key is added and accepted;
    // the changed one is still refused.
    let both = format!(
        "hosts:\n{}{}",
        entry(unknown_key_addr, port, &client_key),
        entry(changed_key_addr, port, &client_key)
    );
    d.write("two.yaml", &both);
    let (run, _) = run_with("pb.yaml", "two.yaml", &["--accept-new-host-keys"]);
    run.code(1);
    let two = host_events(&run);
    let status_of = |a: Ipv4Addr| {
        two.iter()
            .find(|h| h.0 == a.to_string())
            .map(|h| (h.1.clone(), h.2.clone()))
    };
    assert_eq!(
        status_of(unknown_key_addr),
        Some(("ok".into(), "".into())),
        "{two:?}"
    );
    assert_eq!(
        status_of(changed_key_addr),
        Some(("failed".into(), "host_key".into())),
        "{two:?}"
    );
    // (Debian's ssh_config hashes the names it adds: count the lines.)
    assert_eq!(d.read("known_hosts").lines().count(), good.len() + 3);
    d.write(
        "one.yaml",
        &format!("hosts:\n{}", entry(unknown_key_addr, port, &client_key)),
    );
    let (run, _) = run_with("pb.yaml", "one.yaml", &[]);
    run.code(0);

    // sudo and coverage through the real sshd: `sudo -n true` passes for
    // root where sudo is installed, and otherwise fails with cause sudo;
    // coverage without an MKE API blocks and says how to proceed.
    let good = &good[..10];
    let good_inv: String = good.iter().map(|a| entry(*a, port, &client_key)).collect();
    d.write("good.yaml", &format!("hosts:\n{good_inv}"));
    d.write(
        "pb2.yaml",
        "name: sudo and coverage\nsteps:\n  - id: sudo\n    hosts: {cluster_coverage: false}\n    ignore_errors: true\n  - id: coverage\n    hosts: {sudo: skip}\n",
    );
    let (run, wall2) = run_with("pb2.yaml", "good.yaml", &[]);
    run.code(1);
    let sudo_works = user == "root" && which("sudo").is_some();
    let sudo_hosts = host_events_of(&run, "sudo");
    assert_eq!(sudo_hosts.len(), good.len());
    for (addr, status, cause, message) in &sudo_hosts {
        if sudo_works {
            assert_eq!(status, "ok", "{addr}: {message}");
        } else {
            assert_eq!(
                (status.as_str(), cause.as_str()),
                ("failed", "sudo"),
                "{addr}: {message}"
            );
        }
    }
    let statuses = run.statuses();
    let expected_sudo = if sudo_works { "ok" } else { "blocked" };
    assert_eq!(
        statuses.get("sudo").map(String::as_str),
        Some(expected_sudo)
    );
    assert_eq!(
        statuses.get("coverage").map(String::as_str),
        Some("blocked")
    );
    let coverage = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_end" && e["step"] == "coverage")
        .expect("coverage step_end");
    let msg = coverage["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("cannot compare the inventory with the cluster's nodes"),
        "{msg}"
    );
    let remedy = coverage["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy.contains("MKE_HOST") && remedy.contains("cluster_coverage: false"),
        "{remedy}"
    );
    eprintln!(
        "real sshd, {transport}: 2 steps x 10 hosts (sudo {}) in {} ms",
        if sudo_works { "works" } else { "missing" },
        wall2.as_millis()
    );
    drop(silent);
}

/// The native transport with ssh-agent: a passphrase-protected `keyPath`
/// is signed for by the agent that holds it, and without an agent the
/// failure says how to fix it; a host without `keyPath` uses the agent's keys.
#[test]
fn real_sshd_native_signs_a_protected_key_through_the_agent() {
    if !sshd_available() {
        return;
    }
    let d = Dir::new();
    let dir = d.path();
    let (key, host_key) = (dir.join("id"), dir.join("host_key"));
    keygen(&key);
    keygen(&host_key);
    // The same key, passphrase-protected, is what the inventory names.
    let protected = dir.join("id_protected");
    std::fs::copy(&key, &protected).expect("copy key");
    ssh_keygen(&["-p", "-P", "", "-N", "a passphrase"], &protected);
    let authorized = dir.join("authorized_keys");
    std::fs::copy(dir.join("id.pub"), &authorized).expect("authorized_keys");
    let addrs = [loopback(4, 2), loopback(4, 3)];
    let port = free_port(&addrs);
    let _sshd = start_sshd(dir, "sshd", &host_key, &addrs, port, &authorized);
    let known: String = addrs
        .iter()
        .map(|a| known_hosts_line(*a, port, &dir.join("host_key.pub")))
        .collect();
    let known_hosts = d.write("known_hosts", &known).display().to_string();
    let user = current_user();
    let inv = format!(
        "hosts:\n{}  - address: {}\n    port: {port}\n    user: {user}\n",
        inventory_entry(&addrs[0].to_string(), port, &user, &protected),
        addrs[1]
    );
    d.write("hosts.yaml", &inv);
    d.write(
        "pb.yaml",
        &playbook("{sudo: skip, cluster_coverage: false}"),
    );
    let args = [
        "run",
        "pb.yaml",
        "-i",
        "hosts.yaml",
        "--known-hosts",
        &known_hosts,
        "--output",
        "json",
    ];

    // No agent: the protected key cannot be used, and the message says so.
    let first_run = d
        .cmd(&args)
        .env("HOME", dir.to_str().unwrap_or("/nonexistent"))
        .run();
    first_run.code(1);
    let hosts = host_events(&first_run);
    let first = hosts.iter().find(|h| h.0 == addrs[0].to_string());
    assert!(
        first.is_some_and(|h| h.2 == "auth"
            && h.3.contains("passphrase-protected")
            && h.3.contains("ssh-add")),
        "{hosts:?}"
    );

    // An agent holding the key: both hosts log in.
    let sock = dir.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh-agent");
    assert!(
        wait_until(Duration::from_secs(5), || sock.exists()),
        "ssh-agent did not create its socket"
    );
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-add");
    assert!(
        added.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let run = d
        .cmd(&args)
        .env("HOME", dir.to_str().unwrap_or("/nonexistent"))
        .env("SSH_AUTH_SOCK", sock.to_str().unwrap_or_default())
        .run();
    let _ = agent.kill();
    let _ = agent.wait();
    run.code(0);
    let hosts = host_events(&run);
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.iter().all(|h| h.1 == "ok"), "{hosts:?}");
    // Neither the passphrase nor a line of the private key reaches any
    // output or file (but the key files themselves).
    let private = std::fs::read_to_string(&key).unwrap_or_default();
    let body = private.lines().nth(5).unwrap_or_default().to_string();
    assert!(body.len() > 20, "a private key line to look for");
    assert_no_secrets_except(
        &d,
        &[&first_run, &run],
        &["a passphrase", &body],
        &["id", "id_protected"],
    );
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Issue 14, item 3: with `--ssh-transport openssh`, a `--known-hosts`
/// path with a space was split by OpenSSH into several files (a key planted
/// at the first word was trusted, the named file never read), and `%` in a
/// `keyPath` was expanded (`%r`). Every path given to `ssh` is passed so
/// that OpenSSH reads that very file, or refused when it cannot be
/// (`${`), saying why. Against a real sshd on loopback.
#[test]
fn real_sshd_openssh_is_given_every_path_exactly() {
    if !sshd_available() {
        return;
    }
    let d = Dir::new();
    let dir = d.path();
    let host_key = dir.join("host_key");
    let other_host_key = dir.join("other_host_key");
    keygen(&host_key);
    keygen(&other_host_key);
    // A key whose name OpenSSH would expand: `%r` (the remote user),
    // `%%`, a quote, a backslash, a space and a `#`.
    let keys = dir.join("my keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = keys.join(r#"id %r %% "q" \b #1"#);
    keygen(&key);
    let mut pub_path = key.clone().into_os_string();
    pub_path.push(".pub");
    let authorized = dir.join("authorized_keys");
    std::fs::copy(&pub_path, &authorized).expect("authorized_keys");
    let addr = loopback(5, 2);
    let port = free_port(&[addr]);
    let _sshd = start_sshd(dir, "sshd", &host_key, &[addr], port, &authorized);

    let right = known_hosts_line(addr, port, &dir.join("host_key.pub"));
    let wrong = known_hosts_line(addr, port, &dir.join("other_host_key.pub"));
    // The named file sits in "trust dir"; its first word, "trust", is a
    // file of its own (what OpenSSH read when it split the path).
    let named = dir.join(r#"trust dir/known "hosts" %h\x"#);
    let decoy = dir.join("trust");
    std::fs::create_dir_all(named.parent().unwrap()).unwrap();
    let quoted = serde_json::to_string(&key.display().to_string()).unwrap();
    d.write(
        "hosts.yaml",
        &format!(
            "hosts:\n  - address: {addr}\n    port: {port}\n    user: {}\n    keyPath: {quoted}\n",
            current_user()
        ),
    );
    d.write(
        "pb.yaml",
        &playbook("{sudo: skip, cluster_coverage: false}"),
    );
    let kh = named.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "pb.yaml", "-i", "hosts.yaml", "--output", "json"];
        args.extend_from_slice(&["--ssh-transport", "openssh", "--known-hosts", &kh]);
        args.extend_from_slice(extra);
        d.cmd(&args).run()
    };
    let cause = |r: &Run| {
        let h = host_events(r);
        assert_eq!(h.len(), 1, "{}", r.both());
        (h[0].1.clone(), h[0].2.clone(), h[0].3.clone())
    };
    // The named file trusts the host, the decoy does not: a login.
    std::fs::write(&named, &right).unwrap();
    std::fs::write(&decoy, &wrong).unwrap();
    let r = run(&[]);
    assert_eq!(cause(&r).0, "ok", "{}", r.both());
    r.code(0);
    // The decoy trusts the host, the named file does not: refused.
    std::fs::write(&named, &wrong).unwrap();
    std::fs::write(&decoy, &right).unwrap();
    let r = run(&[]);
    let (status, why, message) = cause(&r);
    assert_eq!(
        (status.as_str(), why.as_str()),
        ("failed", "host_key"),
        "{message}"
    );
    // Learned keys go to the named file, never to the decoy.
    std::fs::write(&named, "").unwrap();
    std::fs::write(&decoy, "").unwrap();
    let r = run(&["--accept-new-host-keys"]);
    r.code(0);
    assert!(
        std::fs::read_to_string(&named)
            .unwrap()
            .contains("ssh-ed25519")
    );
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "");
    // What OpenSSH cannot be given is refused, saying why.
    let bad = dir.join("kh ${HOME}");
    std::fs::write(&bad, &right).unwrap();
    let bad = bad.display().to_string();
    let mut args = vec!["run", "pb.yaml", "-i", "hosts.yaml", "--output", "json"];
    args.extend_from_slice(&["--ssh-transport", "openssh", "--known-hosts", &bad]);
    let r = d.cmd(&args).run();
    let (status, _, message) = cause(&r);
    assert_eq!(status, "failed");
    assert!(
        message.contains("holds `${`") && message.contains("--ssh-transport native"),
        "{message}"
    );
}
