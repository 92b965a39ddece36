//! `node_requirements` through the binary against the sandbox: one test
//! per blocker class (each knob makes the step block, naming the node and
//! what to do), the warnings that do not block, and the standard playbook.

use crate::common::{Dir, Run};
use crate::nodes::host_events;

const ONE_STEP: &str = "vars:\n  target: \"4.1.5\"\nsteps:\n  - id: check-nodes\n    node_requirements:\n      target: \"{{ target }}\"\n";

fn run(knobs: &[&str], extra: &[&str]) -> (Dir, Run) {
    let d = Dir::new();
    d.write("pb.yaml", ONE_STEP);
    let mut args = vec!["run", "pb.yaml", "--sandbox", "--check", "--output", "json"];
    for k in knobs {
        args.extend(["--sandbox-set", k]);
    }
    args.extend_from_slice(extra);
    let r = d.cmd(&args).run();
    (d, r)
}

/// The step blocks; `host` fails with `message` in its event; the remedy
/// names the check, the host and says `remedy`.
#[track_caller]
fn blocks(
    knobs: &[&str],
    extra: &[&str],
    host: &str,
    check: &str,
    message: &str,
    remedy: &str,
) -> Run {
    let (_d, r) = run(knobs, extra);
    r.code(1);
    let end = r.step("check-nodes");
    assert_eq!(end["status"], "blocked", "{end}");
    let reason = end["message"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("{host} (")), "{reason}");
    assert!(reason.contains(message), "{reason}");
    let what = end["remedy"].as_str().unwrap_or_default();
    assert!(what.contains(&format!("{check} on {host}")), "{what}");
    assert!(what.contains(remedy), "{what}");
    let ev = host_events(&r, "check-nodes");
    let e = ev.iter().find(|e| e.0 == host).expect("host event");
    assert_eq!(e.1, "failed", "{ev:?}");
    assert!(e.3.contains(message), "{ev:?}");
    let problems = &end["output"]["hosts"][host]["problems"];
    assert!(
        problems
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["check"] == check)),
        "{problems}"
    );
    r
}

#[test]
fn a_clean_cluster_meets_every_requirement() {
    let (_d, r) = run(&[], &[]);
    r.code(0);
    let end = r.step("check-nodes");
    assert_eq!(end["status"], "ok");
    assert_eq!(
        end["message"],
        "3 hosts meet MKE 4k 4.1.5's host requirements"
    );
    let out = &end["output"];
    assert_eq!(
        (out["ok"].as_u64(), out["failed"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(out["roles_from"], "GET /nodes");
    assert_eq!(out["hosts"]["127.0.0.11"]["role"], "manager");
    // Where each threshold comes from is part of the output.
    let rules = &out["rules"];
    assert!(
        rules["cpus"]["source"]
            .as_str()
            .unwrap_or("")
            .contains("2 vCPU / 8 GB")
    );
    assert!(
        rules["disk"]["source"]
            .as_str()
            .unwrap_or("")
            .contains("[I]")
    );
    assert_eq!(
        rules["os"]["value"],
        serde_json::json!(["ubuntu 22.04", "rhel 8.10", "rocky 9.4"])
    );
}

#[test]
fn unsupported_os() {
    blocks(
        &["node_os=[\"3=debian-12\"]"],
        &[],
        "127.0.0.13",
        "os",
        "Debian GNU/Linux 12 (bookworm) is not supported by MKE 4k 4.1.5",
        "move the node to ubuntu 22.04, rhel 8.10, rocky 9.4",
    );
    // Ubuntu 24.04 is not on the 4.1.x list.
    blocks(
        &["node_os=[\"2=ubuntu-24.04\"]"],
        &[],
        "127.0.0.12",
        "os",
        "Ubuntu 24.04.1 LTS is not supported",
        "move the node",
    );
}

#[test]
fn unsupported_architecture() {
    blocks(
        &["node_arch=[\"2=aarch64\"]"],
        &[],
        "127.0.0.12",
        "arch",
        "aarch64 is not a supported architecture (x86_64)",
        "amd64",
    );
}

#[test]
fn too_few_cpus() {
    blocks(
        &["node_cpus=[\"3=2\"]"],
        &[],
        "127.0.0.13",
        "cpus",
        "2 vCPUs: Mirantis saw the upgrade fail repeatedly",
        "cpus_fail_at_or_below",
    );
}

#[test]
fn too_little_memory() {
    blocks(
        &["node_memory=[\"1=8GiB\"]"],
        &[],
        "127.0.0.11",
        "memory",
        "7.8 GiB of memory",
        "give the node more memory",
    );
}

#[test]
fn cgroup_v1_for_a_4_2_target() {
    // RHEL 8 boots cgroup v1; 4.1.x does not mind, 4.2 does.
    let (_d, r) = run(&["node_os=[\"2=rhel-8.10\"]"], &[]);
    r.code(0);
    blocks(
        &["node_os=[\"2=rhel-8.10\"]"],
        &["-e", "target=4.2.1"],
        "127.0.0.12",
        "cgroup",
        "cgroup v1: MKE 4.2.1 (k0s 1.35+) needs cgroup v2",
        "grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1",
    );
}

#[test]
fn too_little_room_for_the_k0s_data_dir() {
    blocks(
        &["node_disk_free=[\"2=12GiB\"]"],
        &[],
        "127.0.0.12",
        "disk",
        "12.0 GiB free (6%) for /var/lib/k0s (to be created on /)",
        "--data-dir",
    );
}

#[test]
fn cloned_machine_ids() {
    let r = blocks(
        &["duplicate_machine_id=[1,3]"],
        &[],
        "127.0.0.11",
        "machine_id",
        "is also 127.0.0.13's (cloned machines)",
        "systemd-machine-id-setup",
    );
    let end = r.step("check-nodes");
    assert!(
        end["remedy"]
            .as_str()
            .unwrap_or("")
            .contains("machine_id on 127.0.0.11, 127.0.0.13")
    );
    assert_eq!(end["output"]["hosts"]["127.0.0.12"]["status"], "ok");
}

#[test]
fn the_cni_check_port_is_taken_on_one_of_the_first_workers() {
    blocks(
        &["node_ports=[\"3=80\"]"],
        &[],
        "127.0.0.13",
        "cni_port",
        "port 80 is in use",
        "--cni-check-port",
    );
    // Another port: the parameter follows mkectl's --cni-check-port.
    let d = Dir::new();
    d.write(
        "pb.yaml",
        &ONE_STEP.replace(
            "target: \"{{ target }}\"\n",
            "target: \"{{ target }}\"\n      cni_check_port: 81\n",
        ),
    );
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "--sandbox",
            "--check",
            "--sandbox-set",
            "node_ports=[\"3=80\"]",
        ])
        .run();
    r.code(0);
    // The third worker is not one of the first two: port 80 there is fine.
    let (_d, r) = run(&["nodes=4", "node_ports=[\"4=80\"]"], &[]);
    r.code(0);
}

#[test]
fn k0s_ports_taken_on_a_manager() {
    blocks(
        &["node_ports=[\"1=9443,2380\"]"],
        &[],
        "127.0.0.11",
        "manager_ports",
        "port 2380, 9443 in use on this manager",
        "stop what listens on 2380, 9443",
    );
    // The same ports on a worker do not matter.
    let (_d, r) = run(&["node_ports=[\"2=9443\"]"], &[]);
    r.code(0);
}

#[test]
fn a_node_whose_facts_cannot_be_read() {
    let r = blocks(
        &["node_missing_tool=[\"2=nproc\"]"],
        &[],
        "127.0.0.12",
        "facts",
        "cannot read cpus: `nproc` is not installed",
        "install what is missing",
    );
    let ev = host_events(&r, "check-nodes");
    assert!(
        ev.iter().any(|e| e.0 == "127.0.0.12" && e.2 == "command"),
        "{ev:?}"
    );
}

#[test]
fn below_guidance_warns_without_blocking() {
    let (_d, r) = run(
        &[
            "node_cpus=[\"2=4\"]",
            "node_memory=[\"3=16GiB\"]",
            "node_os=[\"1=rocky-9.4\"]",
        ],
        &[],
    );
    r.code(0);
    let end = r.step("check-nodes");
    assert_eq!(end["status"], "ok");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(msg.contains("; 2 are below Mirantis' guidance: 127.0.0.12 (cpus: 4 vCPUs, below Mirantis' guidance of 8); 127.0.0.13 (memory: 15.7 GiB of memory"), "{msg}");
    let warned: Vec<String> = host_events(&r, "check-nodes")
        .into_iter()
        .filter(|e| e.1 == "warn")
        .map(|e| e.0)
        .collect();
    assert_eq!(warned, ["127.0.0.12", "127.0.0.13"]);
    assert_eq!(end["output"]["warned"], 2);
}

#[test]
fn a_skewed_or_unsynchronised_clock_warns_and_blocks_when_told() {
    // Warnings by default ([I]): node 2 is 45 s behind, node 3's systemd
    // says its clock is not synchronised.
    let knobs = ["node_clock_offset=[\"2=-45\"]", "node_ntp=[\"3=no\"]"];
    let (_d, r) = run(&knobs, &[]);
    r.code(0);
    let end = r.step("check-nodes");
    let msg = end["message"].as_str().unwrap_or_default();
    // Against the other nodes (their median); the value itself is checked
    // in the output below, within its error.
    assert!(msg.contains("127.0.0.12 (clock: the clock is 4"), "{msg}");
    assert!(
        msg.contains(" s behind the other nodes' (their median; ±"),
        "{msg}"
    );
    assert!(
        msg.contains("127.0.0.13 (ntp: systemd says the clock is not NTP-synchronised"),
        "{msg}"
    );
    let hosts = &end["output"]["hosts"];
    let offset = |h: &str| {
        hosts[h]["clock_offset_seconds"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let error = |h: &str| {
        hosts[h]["clock_offset_error_seconds"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    assert!(
        (offset("127.0.0.12") + 45.0).abs() <= error("127.0.0.12") + 0.01,
        "{hosts}"
    );
    assert!(
        offset("127.0.0.11").abs() <= error("127.0.0.11") + 0.01,
        "{hosts}"
    );
    // The sandbox's nodes have systemd: sync is known everywhere.
    assert!(!msg.contains("NTP sync unknown"), "{msg}");
    assert_eq!(hosts["127.0.0.13"]["ntp_synchronized"], false);
    assert_eq!(end["output"]["rules"]["time_sync"]["level"], "warn");
    // `time_sync: fail` makes them block, each with its remedy.
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: check-nodes\n    node_requirements:\n      target: \"4.1.5\"\n      time_sync: fail\n      max_clock_skew: 1m\n",
    );
    let mut args = vec!["run", "pb.yaml", "--sandbox", "--check", "--output", "json"];
    for k in knobs.iter().chain(&["node_clock_offset=[\"1=+75\"]"]) {
        args.extend(["--sandbox-set", k]);
    }
    let r = d.cmd(&args).run();
    r.code(1);
    let end = r.step("check-nodes");
    assert_eq!(end["status"], "blocked", "{end}");
    let reason = end["message"].as_str().unwrap_or_default();
    assert!(reason.starts_with("2 of 3 hosts do not meet"), "{reason}");
    assert!(
        reason.contains("127.0.0.11 (clock: the clock is 7"),
        "{reason}"
    );
    assert!(
        reason.contains(" s ahead of the other nodes' (their median; ±"),
        "{reason}"
    );
    assert!(reason.contains("more than 60 s)"), "{reason}");
    assert!(
        !reason.contains("127.0.0.12"),
        "45 s is within 1m: {reason}"
    );
    let remedy = end["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy.contains("clock on 127.0.0.11: synchronise the node's clock"),
        "{remedy}"
    );
    assert!(
        remedy.contains("ntp on 127.0.0.13: turn on time sync"),
        "{remedy}"
    );
}

/// This machine's clock off the nodes' (all nodes 30 s ahead of it): no
/// node is off the others, and the message says to fix this machine.
#[test]
fn a_clock_off_on_this_machine_is_a_note_not_a_node_problem() {
    let (_d, r) = run(&["node_clock_offset=[\"+30\"]"], &[]);
    r.code(0);
    let end = r.step("check-nodes");
    assert_eq!(end["output"]["warned"], 0, "{end}");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(
            "3 hosts meet MKE 4k 4.1.5's host requirements; note: this machine's clock is "
        ),
        "{msg}"
    );
    assert!(
        msg.contains(" s behind the nodes' (their median): synchronise it too"),
        "{msg}"
    );
    // A node where systemd cannot say: said, not passed over.
    let (_d, r) = run(&["node_missing_tool=[\"2=timedatectl\"]"], &[]);
    r.code(0);
    let end = r.step("check-nodes");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.ends_with("; NTP sync unknown (clocks still compared) on 127.0.0.12 (timedatectl is not installed)"),
        "{msg}"
    );
    assert_eq!(
        end["output"]["hosts"]["127.0.0.12"]["ntp_note"],
        "timedatectl is not installed"
    );
    // A clock that cannot be read is a time finding (a warning by default),
    // not a host whose facts cannot be judged.
    let (_d, r) = run(&["node_missing_tool=[\"3=date\"]"], &[]);
    r.code(0);
    let end = r.step("check-nodes");
    let msg = end["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("127.0.0.13 (clock: its clock could not be read ("),
        "{msg}"
    );
    assert_eq!(end["output"]["warned"], 1, "{end}");
}

#[test]
fn the_standard_playbook_blocks_before_the_migration() {
    let d = Dir::new();
    let playbook = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");
    let r = d
        .cmd(&[
            "run",
            playbook,
            "--sandbox",
            "--yes",
            "--output",
            "json",
            "--sandbox-set",
            "node_ports=[\"2=80\"]",
        ])
        .run();
    r.code(1);
    let st = r.statuses();
    assert_eq!(st["check-nodes"], "blocked", "{st:?}");
    assert!(
        !st.contains_key("migrate-kdd") || st["migrate-kdd"] != "changed",
        "{st:?}"
    );
    assert!(
        d.config_puts().is_empty(),
        "nothing migrated on a cluster that cannot be upgraded"
    );
}
