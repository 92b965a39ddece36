//! The upgrade-prep modules and the standard playbook, end to end against
//! the sandbox, through the binary (issue 4).

use std::time::Duration;

use crate::common::{Dir, Run, assert_no_secrets_except, wait_until};

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

/// `mkeprep run playbooks/upgrade-prep.yaml --sandbox --output json ARGS…`
fn prep(d: &Dir, args: &[&str]) -> Run {
    let mut all = vec!["run", STANDARD, "--sandbox", "--output", "json"];
    all.extend_from_slice(args);
    d.cmd(&all).run()
}

fn record(d: &Dir) -> Vec<serde_json::Value> {
    d.read(".mkeprep/sandbox/record.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn quick_start_check_then_apply_then_all_ok_with_one_put_changing_one_line() {
    let d = Dir::new();
    let r = prep(&d, &["--check"]);
    r.code(3);
    let st = r.statuses();
    for id in [
        "verify-version",
        "confirm-backup",
        "check-mkectl",
        "check-cni",
        "cluster-healthy",
    ] {
        assert_eq!(st[id], "ok", "{id}: {}", r.both());
    }
    assert_eq!(st["migrate-kdd"], "would_change");
    assert_eq!(st["verify"], "would_change");
    assert_eq!(r.step("verify")["after"], "migrate-kdd");
    assert!(d.config_puts().is_empty(), "--check must not PUT");
    assert!(!d.join(".mkeprep/journal.jsonl").exists());

    let r = prep(&d, &["--yes"]);
    r.code(0);
    assert_eq!(r.statuses()["migrate-kdd"], "changed");
    assert_eq!(r.statuses()["verify"], "ok");
    let kdd = r.step("migrate-kdd");
    assert_eq!(kdd["changes"][0]["key"], "cluster_config.calico_kdd");
    assert_eq!(kdd["output"]["put"], true);

    let r = prep(&d, &[]);
    r.code(0);
    assert!(
        r.statuses().values().all(|s| s == "ok"),
        "{:?}",
        r.statuses()
    );

    let puts = d.config_puts();
    assert_eq!(
        puts.len(),
        1,
        "exactly one config PUT for the whole sequence: {puts:?}"
    );
    let body = d.read(&format!(".mkeprep/sandbox/{}", puts[0]));
    let recorded: Vec<_> = record(&d)
        .into_iter()
        .filter(|r| r["kind"] == "http" && r["method"] == "PUT")
        .collect();
    assert_eq!(recorded.len(), 1, "the record shows one PUT: {recorded:?}");
    assert_eq!(recorded[0]["body_file"], puts[0].as_str());
    let original = d.read(".mkeprep/mke-config.before-kdd.toml");
    assert!(!original.is_empty(), "the original config is saved");
    let differing: Vec<(&str, &str)> = original
        .lines()
        .zip(body.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(original.lines().count(), body.lines().count());
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert_eq!(differing[0].0.trim(), "calico_kdd = false");
    assert_eq!(differing[0].1.trim(), "calico_kdd = true");
    assert_eq!(
        original.len(),
        body.len() + 1,
        "only `false` → `true` may change"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join(".mkeprep/mke-config.before-kdd.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_disruptive_step_needs_yes_and_diff_shows_the_one_line() {
    let d = Dir::new();
    let r = d
        .cmd(&["run", STANDARD, "--sandbox", "--check", "--diff"])
        .run();
    r.code(3)
        .stdout_has("-  calico_kdd = false")
        .stdout_has("+  calico_kdd = true");
    let r = prep(&d, &[]);
    r.code(1);
    assert_eq!(r.statuses()["migrate-kdd"], "failed");
    assert!(
        r.step("migrate-kdd")["remedy"]
            .as_str()
            .unwrap()
            .contains("--yes")
    );
    assert!(
        d.config_puts().is_empty(),
        "nothing may be applied without approval"
    );
}

fn blocked_in_check(knobs: &[&str], extra: &[&str], id: &str, needle: &str) {
    let d = Dir::new();
    let mut args = vec!["--check"];
    for k in knobs {
        args.push("--sandbox-set");
        args.push(k);
    }
    args.extend_from_slice(extra);
    let r = prep(&d, &args);
    r.code(1);
    let s = r.step(id);
    assert_eq!(s["status"], "blocked", "{id} with {knobs:?}: {s}");
    let text = format!("{} {}", s["message"], s["remedy"]);
    assert!(text.contains(needle), "{id}: {needle:?} not in {text}");
}

#[test]
fn an_old_or_mismatched_mke_version_is_blocked_with_the_upgrade_path() {
    blocked_in_check(&["mke_version=3.7.14"], &[], "verify-version", "3.7.15");
    blocked_in_check(
        &["mke_version=3.8.10"],
        &["-e", "target=4.2.1"],
        "verify-version",
        "3.9.x",
    );
    blocked_in_check(&["mke_version=3.9.1"], &[], "verify-version", "4.2");
}

#[test]
fn the_version_falls_back_from_info_to_version() {
    let d = Dir::new();
    let r = prep(
        &d,
        &[
            "--check",
            "--sandbox-set",
            "plain_info_version=true",
            "--sandbox-set",
            "legacy_component_name=true",
        ],
    );
    r.code(3);
    let v = r.step("verify-version");
    assert_eq!(v["output"]["version"], "3.8.10");
    assert!(
        v["output"]["source"]
            .as_str()
            .unwrap()
            .contains("Universal Control Plane"),
        "{v}"
    );
}

#[test]
fn a_missing_or_old_backup_is_blocked_with_the_commands_to_take_one() {
    blocked_in_check(
        &["backups=absent"],
        &[],
        "confirm-backup",
        "/api/ucp/backup",
    );
    blocked_in_check(
        &["backups=old"],
        &[],
        "confirm-backup",
        "old, more than 1day",
    );
    blocked_in_check(
        &["backups=failed"],
        &[],
        "confirm-backup",
        "no recent MKE backup",
    );
}

#[test]
fn an_old_mkectl_is_blocked_with_install_instructions() {
    blocked_in_check(&["mkectl_version=4.1.2"], &[], "check-mkectl", "install.sh");
}

#[test]
fn cni_settings_the_upgrade_cannot_carry_are_blocked() {
    // An unmanaged CNI blocks 4.1.0 only; 4.1.1 and later carry it over
    // (reference/mke4k-upgrade-checks.md §8.5), with a caution.
    blocked_in_check(
        &["unmanaged_cni=true"],
        &["-e", "target=4.1.0"],
        "check-cni",
        "unmanaged CNI",
    );
    let d = Dir::new();
    let r = prep(&d, &["--check", "--sandbox-set", "unmanaged_cni=true"]);
    assert_eq!(r.step("check-cni")["status"], "ok", "{}", r.both());
    let compat = r.step("check-compat");
    assert_eq!(compat["status"], "ok", "{compat}");
    assert!(
        compat["message"]
            .as_str()
            .unwrap()
            .contains("CNI check window"),
        "{compat}"
    );
    blocked_in_check(&["calico_ebpf=true"], &[], "check-cni", "eBPF");
    blocked_in_check(&["ipvs=true"], &[], "check-cni", "iptables");
    blocked_in_check(
        &["leftover_kubeconf=true"],
        &[],
        "check-cni",
        "mke.kubeconf",
    );
}

#[test]
fn an_unhealthy_cluster_is_not_migrated() {
    let d = Dir::new();
    let r = prep(&d, &["--yes", "--sandbox-set", "down_node=[2]"]);
    r.code(1);
    let h = r.step("cluster-healthy");
    assert_eq!(h["status"], "blocked");
    assert!(h["message"].as_str().unwrap().contains("is down"), "{h}");
    assert_eq!(r.statuses()["migrate-kdd"], "skipped");
    assert!(d.config_puts().is_empty());
}

#[test]
fn a_backup_file_on_a_node_is_checked_over_ssh_and_create_makes_one_through_the_api() {
    let d = Dir::new();
    d.write(
        "backup.yaml",
        r#"sandbox:
  backups: absent
  backup_file_kind: pgp
steps:
  - id: file-on-node
    mke_backup:
      api: false
      file: /var/backups/mke3/backup.tar
      node: 127.0.0.11
      encrypted: true
  - id: file-wrongly-plain
    mke_backup:
      api: false
      file: /var/backups/mke3/backup.tar
      node: 127.0.0.11
    ignore_errors: true
  - id: create
    mke_backup:
      create: true
      passphrase_env: BACKUP_PASSPHRASE
"#,
    );
    let r = d
        .cmd(&[
            "run",
            "backup.yaml",
            "--sandbox",
            "--output",
            "json",
            "--sandbox-set",
            "backup_seconds=0.5",
        ])
        .env("BACKUP_PASSPHRASE", "correct-horse-battery")
        .run();
    r.code(0);
    assert_eq!(r.statuses()["file-on-node"], "ok");
    assert_eq!(r.statuses()["file-wrongly-plain"], "blocked");
    assert!(
        r.step("file-wrongly-plain")["message"]
            .as_str()
            .unwrap()
            .contains("PGP-encrypted")
    );
    assert_eq!(r.statuses()["create"], "changed");
    assert!(!r.both().contains("correct-horse-battery"));
    for f in d.all_files() {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("correct-horse-battery") || f.ends_with("backup.yaml"),
            "passphrase in {}",
            f.display()
        );
    }
}

#[test]
fn a_run_killed_during_the_kdd_put_resumes_without_a_second_put() {
    let d = Dir::new();
    let mut bg = d
        .cmd(&[
            "run",
            STANDARD,
            "--sandbox",
            "--yes",
            "--sandbox-set",
            "kdd_seconds_per_node=1",
        ])
        .spawn(d.path(), "killed");
    let put_started = wait_until(Duration::from_secs(60), || {
        d.read(".mkeprep/journal.jsonl")
            .contains("\"type\":\"apply_start\"")
    });
    assert!(
        put_started,
        "the migration never started: {}",
        d.read("killed.err")
    );
    std::thread::sleep(Duration::from_millis(500));
    bg.signal(libc::SIGKILL);
    bg.wait(Duration::from_secs(10));
    let r = prep(&d, &["--yes"]);
    r.code(0);
    assert_eq!(r.events()[0]["resumed"], true);
    assert_eq!(
        d.config_puts().len(),
        1,
        "the resumed run must not PUT again: {:?}",
        d.config_puts()
    );
    let kdd = r.step("migrate-kdd");
    assert!(kdd["status"] == "changed" || kdd["status"] == "ok", "{kdd}");
    // The gates were checked again (a resumed run trusts no earlier check).
    for id in ["verify-version", "confirm-backup"] {
        assert_eq!(r.step(id)["status"], "ok", "{id}");
        assert_eq!(r.step(id)["from_journal"], serde_json::Value::Null, "{id}");
    }
    assert_eq!(r.statuses()["verify"], "ok");
}

#[test]
fn the_customised_example_runs_against_a_4_2_sandbox() {
    let d = Dir::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custom-4.2.yaml");
    let r = d
        .cmd(&["run", example, "--sandbox", "--yes", "--output", "json"])
        .run();
    r.code(0);
    let st = r.statuses();
    assert_eq!(st["verify-version"], "ok");
    assert_eq!(r.step("verify-version")["output"]["version"], "3.9.2");
    assert_eq!(st["migrate-kdd"], "changed");
    assert_eq!(st["write-report"], "changed");
    assert!(d.read("upgrade-prep-report.txt").contains("MKE 3.9.2"));
    let r = d
        .cmd(&["run", example, "--sandbox", "--yes", "--output", "json"])
        .run();
    r.code(0);
    assert!(
        r.statuses().values().all(|s| s == "ok"),
        "{:?}",
        r.statuses()
    );
}

const KDD_ONLY: &str =
    "sandbox:\n  kdd_seconds_per_node: 3\nsteps:\n  - id: migrate-kdd\n    calico_kdd: {}\n";

#[test]
fn a_twice_interrupted_migration_never_sends_a_second_put() {
    let d = Dir::new();
    d.write("kdd.yaml", KDD_ONLY);
    for (tag, wait_ms) in [("one", 1500u64), ("two", 1000)] {
        let mut bg = d
            .cmd(&["run", "kdd.yaml", "--sandbox", "--yes"])
            .spawn(d.path(), tag);
        assert!(wait_until(Duration::from_secs(30), || d
            .read(".mkeprep/journal.jsonl")
            .contains("\"name\":\"put-sent\"")));
        std::thread::sleep(Duration::from_millis(wait_ms));
        bg.signal(libc::SIGINT);
        assert_eq!(
            bg.wait(Duration::from_secs(20)),
            Some(130),
            "{}",
            d.read(&format!("{tag}.out"))
        );
    }
    let r = d
        .cmd(&["run", "kdd.yaml", "--sandbox", "--yes", "--output", "json"])
        .run();
    r.code(0);
    assert_eq!(
        d.config_puts().len(),
        1,
        "a second PUT was sent: {:?}",
        d.config_puts()
    );
    // Either the conversion was done by now (in sync) or this run waited for it.
    let kdd = r.step("migrate-kdd");
    assert_ne!(kdd["output"]["put"], true, "{kdd}");
}

#[test]
fn a_migration_that_timed_out_is_read_back_by_the_next_run_not_repeated() {
    let d = Dir::new();
    d.write("kdd.yaml", &format!("{KDD_ONLY}    timeout: 2s\n"));
    d.write("again.yaml", KDD_ONLY);
    let r = d
        .cmd(&["run", "kdd.yaml", "--sandbox", "--yes", "--output", "json"])
        .run();
    r.code(1);
    assert!(
        r.step("migrate-kdd")["message"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    // The failed run is over (no resume), but its PUT's outcome is unknown:
    // the next run, whatever its playbook, reads back instead of repeating.
    let r = d
        .cmd(&[
            "run",
            "again.yaml",
            "--sandbox",
            "--yes",
            "--output",
            "json",
        ])
        .run();
    r.code(0);
    assert_eq!(r.events()[0]["resumed"], false);
    assert_eq!(d.config_puts().len(), 1, "{:?}", d.config_puts());
}

#[test]
fn secret_named_variables_are_masked_everywhere() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "vars:\n  api_token: tok-from-vars-4242\nsteps:\n  - id: show\n    debug:\n      msg: \"{{ backup_passphrase }} {{ api_token }}\"\n",
    );
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "-e",
            "backup_passphrase=Hunter2Hunter2xyz",
            "--junit",
            "j.xml",
            "-vv",
        ])
        .run();
    r.code(0);
    // pb.yaml holds the token itself.
    let scanned = assert_no_secrets_except(&d, &[&r], &["Hunter2", "tok-from-vars"], &["pb.yaml"]);
    assert!(scanned >= 3, "journal, JUnit and lock at least: {scanned}");
    // A changed secret is named, not shown.
    let journal = d.read(".mkeprep/journal.jsonl");
    assert!(journal.contains("sha256:"), "{journal}");
}

#[test]
fn start_at_or_tags_cannot_skip_the_gates_of_the_migration() {
    let d = Dir::new();
    for args in [["--start-at", "migrate-kdd"], ["--tags", "network"]] {
        let r = prep(&d, &["--yes", args[0], args[1]]);
        r.code(1);
        let kdd = r.step("migrate-kdd");
        assert_eq!(kdd["status"], "blocked", "{kdd}");
        assert!(
            kdd["message"]
                .as_str()
                .unwrap()
                .contains("`confirm-backup`"),
            "{kdd}"
        );
    }
    assert!(d.config_puts().is_empty(), "no PUT without the gates");
    // The whole playbook passes its gates and migrates.
    prep(&d, &["--yes"]).code(0);
    assert_eq!(d.config_puts().len(), 1);
}
