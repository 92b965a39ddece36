//! `facts` and `remote` through the binary against the sandbox, whose
//! nodes answer from their knobs and the playbook's canned commands.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Dir, Run, assert_no_secrets, wait_until};

/// `run pb.yaml --sandbox --output json EXTRA…` in `d`.
fn run(d: &Dir, extra: &[&str]) -> Run {
    let mut args = vec!["run", "pb.yaml", "--sandbox", "--output", "json"];
    args.extend_from_slice(extra);
    d.cmd(&args).run()
}

/// The `host` events of step `step`: (address, status, cause, message).
pub(crate) use crate::hosts::host_events_of as host_events;

/// How many hosts the journal records an action done on.
pub(crate) fn done_in_journal(d: &Dir) -> usize {
    d.read(".mkeprep/journal.jsonl")
        .lines()
        .filter(|l| l.contains("remote:done"))
        .map(|l| l.matches("127.0.").count())
        .sum()
}

/// Node `n`'s loopback address in the sandbox.
fn node(n: u32) -> String {
    format!("127.0.0.{}", 10 + n)
}

/// The `ssh` records of the sandbox whose command contains `needle`, as
/// node numbers (one per command run).
fn ran_on(d: &Dir, needle: &str) -> Vec<u64> {
    d.read(".mkeprep/sandbox/record.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "ssh")
        .filter(|r| r["command"].as_str().is_some_and(|c| c.contains(needle)))
        .filter_map(|r| r["node"].as_u64())
        .collect()
}

#[test]
fn facts_report_what_each_node_says_and_later_steps_read_them() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"name: facts
sandbox:
  nodes: 4
  managers: 1
  node_os: [ubuntu-24.04, 2=rhel-8.10, 3=rocky-9.4]
  node_cpus: [3=2]
  node_memory: [4=8GiB]
  node_disk_free: [3=12GiB]
  node_ports: [4=80]
  duplicate_machine_id: [2, 4]
steps:
  - id: facts
    facts:
      paths: [/, /var/lib, /nope]
    ignore_errors: true
  - id: facts-ok
    facts: {}
  - id: small
    assert:
      that:
        - "steps.facts_ok.hosts['127.0.0.13'].cpus == 2"
        - "steps.facts_ok.hosts['127.0.0.12'].cgroup_version == 1"
        - "steps.facts_ok.hosts['127.0.0.11'].os.version_id == '24.04'"
"#,
    );
    let r = run(&d, &[]);
    r.code(0);
    let end = r.step("facts");
    assert_eq!(end["status"], "failed", "{end}");
    // The path that does not exist is an error for that fact on every host.
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("facts of 4 of 4 hosts could not be read"),
        "{msg}"
    );
    assert!(msg.contains("/nope: No such file or directory"), "{msg}");

    let out = &r.step("facts-ok")["output"];
    let h = |n: u32| &out["hosts"][node(n)];
    assert_eq!(out["ok"], 4);
    assert_eq!(h(1)["os"]["pretty_name"], "Ubuntu 24.04.1 LTS");
    assert_eq!(h(2)["os"]["id"], "rhel");
    assert_eq!(h(2)["kernel"], "4.18.0-553.el8_10.x86_64");
    assert_eq!(h(2)["cgroup_version"], 1);
    assert_eq!(h(3)["os"]["version_id"], "9.4");
    assert_eq!(h(3)["cpus"], 2);
    assert_eq!(h(1)["cpus"], 8);
    // MemTotal reads 2% below the machine's size.
    let mem = |n: u32| h(n)["memory_bytes"].as_u64().unwrap_or(0);
    assert_eq!(mem(4), (8u64 << 30) / 1024 * 98 / 100 * 1024);
    assert!(mem(1) > 31 << 30 && mem(1) < 32 << 30, "{}", mem(1));
    assert_eq!(h(3)["disk"]["/var/lib"]["avail_bytes"], 12u64 << 30);
    assert_eq!(h(1)["disk"]["/"]["mount"], "/");
    let ports = |n: u32| -> Vec<u64> {
        h(n)["listening_tcp_ports"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    assert!(ports(4).contains(&80) && !ports(3).contains(&80));
    assert!(
        ports(1).contains(&6443) && !ports(2).contains(&6443),
        "managers listen on 6443"
    );
    assert_eq!(h(2)["machine_id"], h(4)["machine_id"]);
    assert_ne!(h(1)["machine_id"], h(2)["machine_id"]);
    assert_eq!(h(1)["hostname"], "sandbox-manager-1");
    assert_eq!(h(1)["docker_version"], "25.0.12");
    assert_eq!(r.step("small")["status"], "ok");
    // One host event per host, each with what the host is.
    let events = host_events(&r, "facts-ok");
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .any(|e| e.0 == node(2) && e.3.starts_with("rhel 8.10, 8 CPUs")),
        "{events:?}"
    );
    assert_no_secrets(&d, &[&r], &[]);
}

#[test]
fn a_missing_tool_fails_that_host_and_says_which_tool() {
    let d = Dir::new();
    d.write("pb.yaml", "steps:\n  - id: facts\n    facts: {}\n");
    let r = run(
        &d,
        &[
            "--sandbox-set",
            "node_missing_tool=[\"2=nproc\", \"3=docker\"]",
        ],
    );
    r.code(1);
    let end = r.step("facts");
    assert_eq!(end["status"], "failed");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("facts of 1 of 3 hosts could not be read: 127.0.0.12 (command: cpus: `nproc` is not installed on the node"),
        "{msg}"
    );
    let out = &end["output"]["hosts"];
    assert_eq!(out[node(2)]["cpus"], Value::Null);
    assert_eq!(out[node(2)]["ok"], false);
    assert!(
        out[node(2)]["errors"]["cpus"]
            .as_str()
            .unwrap_or("")
            .contains("command not found")
    );
    // Docker absent is no error: a null version and a note.
    assert_eq!(out[node(3)]["ok"], true);
    assert_eq!(out[node(3)]["docker_version"], Value::Null);
    assert_eq!(out[node(3)]["docker_note"], "docker is not installed");
    let failed: Vec<_> = host_events(&r, "facts")
        .into_iter()
        .filter(|e| e.1 != "ok")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0].0.as_str(), failed[0].2.as_str()),
        ("127.0.0.12", "command")
    );
}

const TEN_NODES_PROBE: &str = r#"name: probes
sandbox:
  nodes: 10
  commands:
    - run: "df --output=pcent /var/lib"
      nodes: [3, 7]
      stdout: "Use%\n 93%\n"
      stderr: "warning: almost full"
      rc: 1
    - run: "df --output=pcent /var/lib"
      stdout: "Use%\n 41%\n"
steps:
  - id: disk-below-90
    remote:
      argv: [df, --output=pcent, /var/lib]
      read_only: true
"#;

#[test]
fn a_probe_failing_on_two_of_ten_hosts_fails_the_check() {
    let d = Dir::new();
    d.write("pb.yaml", TEN_NODES_PROBE);
    let r = run(&d, &["--check"]);
    r.code(1);
    let end = r.step("disk-below-90");
    assert_eq!(end["status"], "failed", "{end}");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("`df --output=pcent /var/lib` failed on 2 of 10 hosts: 127.0.0.13 (command: `failed_when: rc != 0` holds: rc 1, stdout \"93%\", stderr \"warning: almost full\"), 127.0.0.17 ("),
        "{msg}"
    );
    let out = &end["output"];
    assert_eq!(
        (out["ok"].as_u64(), out["failed"].as_u64()),
        (Some(8), Some(2))
    );
    assert_eq!(out["hosts"][node(3)]["rc"], 1);
    assert_eq!(out["hosts"][node(3)]["stdout"], "Use%\n 93%");
    assert_eq!(out["hosts"][node(1)]["ok"], true);
    assert_eq!(out["hosts"][node(1)]["changed"], false);
    let failed: Vec<String> = host_events(&r, "disk-below-90")
        .into_iter()
        .filter(|e| e.1 == "failed")
        .map(|e| e.0)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.contains(&node(3)) && failed.contains(&node(7)));
    // The same in human output: the hosts, their output, and no "would change".
    let human = d.cmd(&["run", "pb.yaml", "--sandbox", "--check"]).run();
    human
        .code(1)
        .stdout_has("127.0.0.17 failed (command)")
        .stdout_has("stdout \"93%\"");
    assert!(!human.stdout.contains("would change"), "{}", human.stdout);

    // A threshold in failed_when over stdout: 41% passes, 93% fails (rc aside).
    let pb = TEN_NODES_PROBE.replace(
        "      read_only: true\n",
        "      read_only: true\n      failed_when: \"(stdout | split | last | replace('%', '') | int) >= 90\"\n",
    );
    d.write("pb.yaml", &pb);
    let r = run(&d, &["--check"]);
    r.code(1);
    let msg = r.step("disk-below-90")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("on 2 of 10 hosts"), "{msg}");
    assert!(
        msg.contains("`failed_when: (stdout | split | last"),
        "{msg}"
    );

    // A failed_when naming something undefined is refused when the
    // playbook loads, nothing contacted.
    d.write(
        "pb.yaml",
        &TEN_NODES_PROBE.replace(
            "      read_only: true\n",
            "      read_only: true\n      failed_when: \"rcc != 0\"\n",
        ),
    );
    let r = run(&d, &["--check"]);
    r.code(2)
        .stderr_has("pb.yaml:17:20: undefined variable `rcc`");
}

const UNLESS_ACTION: &str = r#"name: action
sandbox:
  nodes: 6
  managers: 3
  commands:
    - run: "grep -q ^mke /etc/motd"
      nodes: [2, 5]
    - run: "grep -q ^mke /etc/motd"
      rc: 1
    - run: "sh -c 'echo mke >> /etc/motd'"
      creates: /etc/motd.mke
steps:
  - id: motd
    remote:
      script: "echo mke >> /etc/motd"
      become: true
      unless: [grep, -q, ^mke, /etc/motd]
      creates: /etc/motd.mke
      on: managers
"#;

#[test]
fn an_action_with_unless_applies_only_where_needed_and_then_is_ok() {
    let d = Dir::new();
    d.write("pb.yaml", UNLESS_ACTION);
    // --check: would change on the managers whose probe says so (1 and 3).
    let r = run(&d, &["--check"]);
    r.code(3);
    let end = r.step("motd");
    assert_eq!(end["status"], "would_change");
    assert_eq!(
        end["message"],
        "would run `sh -c 'echo mke >> /etc/motd'` on 2 of 3 hosts: 127.0.0.11, 127.0.0.13"
    );
    assert_eq!(
        end["changes"][0]["to"],
        serde_json::json!([node(1), node(3)])
    );
    assert_eq!(end["output"]["roles_from"], "GET /nodes");
    let statuses: Vec<(String, String)> = host_events(&r, "motd")
        .into_iter()
        .map(|e| (e.0, e.1))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(statuses.contains(&(node(2), "ok".into())));
    assert!(ran_on(&d, "echo mke").is_empty(), "--check ran the action");

    // The real run: applied on 1 and 3 only, through sudo.
    let r = run(&d, &[]);
    r.code(0);
    let end = r.step("motd");
    assert_eq!(end["status"], "changed", "{end}");
    let mut applied = ran_on(&d, "echo mke");
    applied.sort_unstable();
    assert_eq!(applied, [1, 3]);
    let out = &end["output"];
    assert_eq!(
        (out["changed"].as_u64(), out["ok"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(out["hosts"][node(1)]["changed"], true);
    assert_eq!(out["hosts"][node(1)]["rc"], 0);
    assert_eq!(out["hosts"][node(2)]["changed"], false);
    assert_eq!(
        out["hosts"][node(2)]["reason"],
        "`grep -q '^mke' /etc/motd` exits 0"
    );
    let changed: Vec<String> = host_events(&r, "motd")
        .into_iter()
        .filter(|e| e.1 == "changed")
        .map(|e| e.0)
        .collect();
    assert_eq!(changed.len(), 2, "each host reported once");
    // Applied where needed: the re-check found the created file.
    let records = d.read(".mkeprep/sandbox/record.jsonl");
    assert!(
        records.contains("sudo -n -- sh -c"),
        "become goes through sudo -n"
    );

    // Again: nothing to do, nothing run.
    let r = run(&d, &[]);
    r.code(0);
    assert_eq!(r.step("motd")["status"], "ok");
    assert_eq!(ran_on(&d, "echo mke").len(), 2);
    run(&d, &["--check"]).code(0);
}

#[test]
fn on_selects_hosts_and_unknown_addresses_are_named() {
    let d = Dir::new();
    let pb = |on: &str| {
        format!(
            "sandbox:\n  nodes: 5\n  managers: 3\n  commands:\n    - run: hostname\n      stdout: x\nsteps:\n  - id: p\n    remote:\n      argv: [hostname]\n      read_only: true\n      on: {on}\n"
        )
    };
    d.write("pb.yaml", &pb("workers"));
    let r = run(&d, &[]);
    r.code(0);
    let hosts: Vec<String> = host_events(&r, "p").into_iter().map(|e| e.0).collect();
    assert_eq!(hosts.len(), 2);
    assert!(hosts.contains(&node(4)) && hosts.contains(&node(5)));
    assert_eq!(r.step("p")["message"], "`hostname` passed on 2 hosts");

    d.write("pb.yaml", &pb("[127.0.0.15, 127.0.0.11]"));
    let r = run(&d, &[]);
    r.code(0);
    let out = &r.step("p")["output"];
    assert_eq!(out["hosts"].as_object().map(|o| o.len()), Some(2));
    assert_eq!(out["on"], "[127.0.0.15, 127.0.0.11]");

    d.write("pb.yaml", &pb("[127.0.0.51]"));
    let r = run(&d, &[]);
    r.code(1);
    let msg = r.step("p")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("`127.0.0.51`, which is not an inventory host (did you mean `127.0.0.11`?)"),
        "{msg}"
    );

    d.write("pb.yaml", &pb("manager"));
    let r = d.cmd(&["validate", "pb.yaml"]).run();
    assert_ne!(r.code, 0);
    assert!(r.both().contains("did you mean `managers`"), "{}", r.both());
}

#[test]
fn become_needs_passwordless_sudo_and_scripts_are_not_simulated_unless_canned() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: p\n    remote:\n      argv: [nproc]\n      read_only: true\n      become: true\n  - id: q\n    remote:\n      script: \"uptime | cut -d, -f1\"\n      read_only: true\n",
    );
    let r = run(&d, &["--sandbox-set", "sudo_password_node=[2]"]);
    r.code(1);
    let end = r.step("p");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(msg.contains("on 1 of 3 hosts: 127.0.0.12"), "{msg}");
    assert!(msg.contains("sudo: a password is required"), "{msg}");
    // An unknown command is an error that says so, never a silent success.
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "--sandbox",
            "--output",
            "json",
            "--start-at",
            "q",
        ])
        .run();
    r.code(1);
    let msg = r.step("q")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("rc 127"), "{msg}");
    assert!(
        msg.contains("sandbox: command not simulated: uptime | cut -d, -f1"),
        "{msg}"
    );
}

/// 20 hosts, an action with a guard that one host answers slowly: killed
/// while that host's action runs, the resumed run re-checks that host only
/// and runs nothing again where the journal says it finished.
#[test]
fn a_run_killed_during_an_action_resumes_without_applying_twice() {
    for guarded in [true, false] {
        let d = Dir::new();
        let guard = if guarded {
            "      creates: /etc/mkeprep-done\n"
        } else {
            ""
        };
        d.write(
            "pb.yaml",
            &format!(
                "sandbox:\n  nodes: 20\n  commands:\n    - run: touch /etc/mkeprep-done\n      creates: /etc/mkeprep-done\n      nodes: [20]\n      seconds: 12\n    - run: touch /etc/mkeprep-done\n      creates: /etc/mkeprep-done\nsteps:\n  - id: mark\n    remote:\n      argv: [touch, /etc/mkeprep-done]\n{guard}"
            ),
        );
        let mut bg = d
            .cmd(&["run", "pb.yaml", "--sandbox", "--yes", "-f", "20"])
            .spawn(d.path(), "killed");
        // Wait until 19 hosts are recorded done in the journal.
        let done = wait_until(Duration::from_secs(60), || done_in_journal(&d) >= 19);
        assert!(done, "19 hosts never finished:\n{}", d.read("killed.err"));
        bg.signal(libc::SIGKILL);
        assert_eq!(bg.wait(Duration::from_secs(10)), Some(137));
        assert_eq!(ran_on(&d, "touch").len(), 20, "each host started once");

        let r = run(&d, &[]);
        if guarded {
            // Host 20 was in flight: its file exists now, so nothing runs again.
            r.code(0);
            let end = r.step("mark");
            assert_eq!(end["status"], "ok", "{end}");
            let msg = end["message"].as_str().unwrap_or_default();
            assert_eq!(
                msg,
                "in sync on 1 host; done on 19 hosts by the interrupted earlier run"
            );
            assert_eq!(
                end["output"]["hosts"][node(20)]["reason"],
                "/etc/mkeprep-done exists"
            );
            assert_eq!(end["output"]["hosts"][node(1)]["from_journal"], true);
            assert_eq!(ran_on(&d, "touch").len(), 20, "no host ran it twice");
        } else {
            // Without a guard the in-flight host cannot be read back: stop, name it.
            r.code(1);
            let end = r.step("mark");
            let msg = end["message"].as_str().unwrap_or_default();
            assert!(
                msg.starts_with(
                    "an earlier run was cut off while `touch /etc/mkeprep-done` ran on 127.0.0.30"
                ),
                "{msg}"
            );
            let remedy = end["remedy"].as_str().unwrap_or_default();
            assert!(
                remedy.contains("check 127.0.0.30 by hand") && remedy.contains("--resend mark"),
                "{remedy}"
            );
            assert_eq!(ran_on(&d, "touch").len(), 20, "nothing ran again");
            // And it keeps saying so until a person decides. (Against a
            // cluster --fresh would too; the sandbox's --fresh resets its
            // simulated cluster, and with it what was sent there.)
            run(&d, &[]).code(1);
            assert_eq!(ran_on(&d, "touch").len(), 20);
            // Deciding to send it again: it runs everywhere once more.
            run(&d, &["--resend", "mark"]).code(0);
            assert_eq!(ran_on(&d, "touch").len(), 40);
        }
    }
}

/// examples/site-checks.yaml rehearsed: facts, two probes with
/// thresholds, and an idempotent action.
#[test]
fn the_site_checks_example_rehearses_against_the_sandbox() {
    let d = Dir::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/site-checks.yaml");
    let go = |extra: &[&str]| {
        let mut args = vec!["run", example, "--sandbox", "--output", "json"];
        args.extend_from_slice(extra);
        d.cmd(&args).run()
    };
    // Every event of these runs (would_change and changed hosts among
    // them) is what docs/events.schema.json describes.
    let schema = crate::people::schema();
    let valid = |r: &Run| {
        for line in r.stdout.lines() {
            crate::people::assert_valid(&schema, line, "site-checks");
        }
    };
    let r = go(&["--check"]);
    r.code(3);
    valid(&r);
    let st = r.statuses();
    for id in ["facts", "cpus[1]", "cpus[5]", "ntp-synced", "docker-disk"] {
        assert_eq!(st[id], "ok", "{id}: {st:?}");
    }
    assert_eq!(st["ip-forward"], "would_change");
    assert_eq!(
        r.step("ip-forward")["changes"][0]["to"],
        serde_json::json!([node(3), node(4), node(5)])
    );
    // A node below the site's CPU floor, and a fuller disk than allowed,
    // fail the check: exit 1, not "would change".
    let r = go(&["--check", "--sandbox-set", "node_cpus=[\"4=2\"]"]);
    r.code(1);
    assert_eq!(r.statuses()["cpus[4]"], "failed");
    let r = go(&["--check", "-e", "max_docker_use_pct=40"]);
    r.code(1);
    let msg = r.step("docker-disk")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("on 5 of 5 hosts") && msg.contains("stdout \"41%\""),
        "{msg}"
    );

    let r = go(&["--yes"]);
    r.code(0);
    valid(&r);
    assert_eq!(r.statuses()["ip-forward"], "changed");
    assert!(
        host_events(&r, "ip-forward")
            .iter()
            .filter(|e| e.1 == "changed")
            .count()
            == 3,
        "{:?}",
        host_events(&r, "ip-forward")
    );
    let mut applied = ran_on(&d, "sysctl -q -p");
    applied.sort_unstable();
    assert_eq!(applied, [3, 4, 5]);
    let r = go(&[]);
    r.code(0);
    assert!(
        r.statuses().values().all(|s| s == "ok"),
        "{:?}",
        r.statuses()
    );
    assert_eq!(ran_on(&d, "sysctl -q -p").len(), 3);
    assert_no_secrets(&d, &[&r], &[]);
}

/// What a node prints goes through the same redaction as every other
/// output: a secret in a probe's stdout or stderr reaches no sink.
#[test]
fn secrets_in_node_output_are_masked_everywhere() {
    let d = Dir::new();
    let pw = crate::common::sandbox_password();
    d.write(
        "pb.yaml",
        &format!(
            "sandbox:\n  commands:\n    - run: cat /etc/mke/admin.txt\n      stdout: \"admin {pw}\\n\"\n      stderr: \"note: {pw}\"\n      nodes: [2]\n      rc: 3\n    - run: cat /etc/mke/admin.txt\n      stdout: \"admin {pw}\\n\"\nsteps:\n  - id: leaky\n    remote:\n      argv: [cat, /etc/mke/admin.txt]\n      read_only: true\n    ignore_errors: true\n"
        ),
    );
    let r = run(&d, &[]);
    r.code(0);
    let out = &r.step("leaky")["output"];
    assert_eq!(out["hosts"][node(1)]["stdout"], "admin ********");
    assert!(r.stdout.contains("********"), "{}", r.stdout);
    let human = d.cmd(&["run", "pb.yaml", "--sandbox", "-v"]).run();
    human.code(0);
    // The playbook holds the secret (the test wrote it there); nothing else may.
    crate::common::assert_no_secrets_except(&d, &[&r, &human], &[pw], &["pb.yaml"]);
}

/// A secret never goes into a remote command line (`ps` on the node would
/// show it): the step fails before any host is contacted, saying why.
#[test]
fn a_secret_in_a_remote_command_line_is_refused() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: leak\n    remote:\n      argv: [login, --password, \"{{ env.SITE_PASSWORD }}\"]\n      read_only: true\n",
    );
    let r = d
        .cmd(&["run", "pb.yaml", "--sandbox", "--output", "json"])
        .env("SITE_PASSWORD", "Hunter2-site-secret")
        .run();
    r.code(1);
    let msg = r.step("leak")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("`argv[2]` is a secret"), "{msg}");
    assert!(ran_on(&d, "login").is_empty(), "a host was contacted");
    assert_no_secrets(&d, &[&r], &["Hunter2-site-secret"]);
}
