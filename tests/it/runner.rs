//! The runner (issue 2): loading errors, check/apply/re-check, journal and
//! resume, lock, signals, output formats, secrets.

use std::time::Duration;

use crate::common::{Dir, Run, assert_no_secrets, assert_no_secrets_except, wait_until};

const BASIC: &str = r#"name: Basic
vars:
  greeting: hello
steps:
  - id: say
    debug:
      msg: "{{ greeting }}"
    register: said
  - id: make-file
    command:
      argv: [touch, made.txt]
      creates: made.txt
  - id: confirm
    assert:
      that:
        - said.msg == 'hello'
        - steps.make_file.ran is defined
"#;

// ---------------------------------------------------------------- loading

#[test]
fn playbook_errors_name_file_line_and_column_and_contact_nothing() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: one\n    debug:\n      msg: hi\n  - id: two\n    command:\n      argv: [true]\n      creats: x\n",
    );
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("pb.yaml:8:7: unknown parameter `creats` for module `command`")
        .stderr_has("did you mean")
        .stderr_has(" 8 |       creats: x");
    assert!(
        !d.join(".mkeprep").exists(),
        "a rejected playbook must not create state"
    );
}

#[test]
fn every_kind_of_playbook_error_is_reported_at_once_with_its_line() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"name: Bad
colour: blue
steps:
  - name: no id
    debug: {msg: x}
  - id: Bad_Id
    debug: {msg: x}
  - id: dup
    debug: {msg: x}
  - id: dup
    debug: {msg: x}
  - id: two-modules
    debug: {msg: x}
    assert: {that: [true]}
  - id: nomodule
    when: "true"
  - id: unknown-module
    shell: {cmd: ls}
  - id: undefined-var
    debug: {msg: "{{ nothere }}"}
  - id: bad-step-ref
    debug: {msg: "{{ steps.later.x }}"}
  - id: later
    debug: {msg: x}
    retries: many
"#,
    );
    let r = d.cmd(&["validate", "pb.yaml"]).run();
    r.code(2)
        .stderr_has("pb.yaml:2:1: unknown key `colour` in the playbook")
        .stderr_has("pb.yaml:4:5: the step has no `id`")
        .stderr_has("pb.yaml:6:9: invalid step id `Bad_Id`")
        .stderr_has("pb.yaml:10:9: duplicate step id `dup` (first at line 8)")
        .stderr_has("pb.yaml:14:5: a step has exactly one module")
        .stderr_has("pb.yaml:15:5: the step has no module")
        .stderr_has("pb.yaml:18:5: unknown module or step key `shell`")
        .stderr_has("pb.yaml:20:18: undefined variable `nothere`")
        .stderr_has("pb.yaml:22:18: `steps.later` is not an earlier step")
        .stderr_has("pb.yaml:25:14: `retries` must be a whole number");
}

#[test]
fn yaml_syntax_errors_and_type_errors_have_positions() {
    let d = Dir::new();
    d.write("a.yaml", "steps:\n  - id: a\n    debug: {msg: [1, 2}\n");
    d.cmd(&["validate", "a.yaml"])
        .run()
        .code(2)
        .stderr_has("a.yaml:3:");
    d.write(
        "b.yaml",
        "steps:\n  - id: b\n    command:\n      argv: notalist\n",
    );
    d.cmd(&["validate", "b.yaml"])
        .run()
        .code(2)
        .stderr_has("b.yaml:4:13: invalid parameter `argv` for `command`");
    d.cmd(&["validate", "missing.yaml"])
        .run()
        .code(2)
        .stderr_has("missing.yaml: cannot read the playbook");
}

/// A playbook and its inventory are linted in CI, where the SSH keys are
/// not: `validate` warns about a `keyPath` it cannot read; `run` needs the
/// key and refuses (exit 2, with the file and line, and its machine outputs).
#[test]
fn validate_warns_about_missing_keys_and_run_refuses_them() {
    let d = Dir::new();
    d.write("pb.yaml", "steps:\n  - id: a\n    debug: {msg: hi}\n");
    d.write(
        "hosts.yaml",
        "hosts:\n  - address: 10.0.0.11\n    port: 22\n    user: ubuntu\n    keyPath: keys/absent.pem\n  - address: 10.0.0.12\n    port: 22\n    user: ubuntu\n    keyPath: keys\n",
    );
    std::fs::create_dir_all(d.join("keys")).unwrap();
    let r = d.cmd(&["validate", "pb.yaml", "-i", "hosts.yaml"]).run();
    r.code(0)
        .stdout_has("hosts.yaml: valid — 2 hosts")
        .stderr_has("warning: hosts.yaml:5:14: host 10.0.0.11: cannot read keyPath keys/absent.pem")
        .stderr_has("warning: hosts.yaml:9:14: host 10.0.0.12: keyPath keys is not a file")
        .stderr_has("`mkeprep run` needs this key");
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "-i",
            "hosts.yaml",
            "--output",
            "json",
            "--junit",
            "j.xml",
        ])
        .run();
    r.code(2)
        .stderr_has("hosts.yaml:5:14: host 10.0.0.11: cannot read keyPath keys/absent.pem")
        .stderr_has("hosts.yaml:9:14: host 10.0.0.12: keyPath keys is not a file");
    let events = r.events();
    assert_eq!(events.len(), 2, "{}", r.stdout);
    assert_eq!(events[0]["event"], "error");
    assert_eq!(events[1]["exit_code"], 2);
    assert!(
        d.read("j.xml")
            .contains("cannot read keyPath keys/absent.pem")
    );
    // Nothing ran: no journal.
    assert!(!d.join(".mkeprep/journal.jsonl").exists());
}

#[test]
fn validate_accepts_a_good_playbook_and_checks_templates_against_extra_vars() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: a\n    debug: {msg: \"{{ target }}\"}\n",
    );
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("undefined variable `target`");
    d.cmd(&["validate", "pb.yaml", "-e", "target=4.1.5"])
        .run()
        .code(0)
        .stdout_has("valid — 1 steps");
}

// ------------------------------------------------------- check and apply

#[test]
fn check_reports_would_change_exits_3_and_changes_nothing() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    let r = d
        .cmd(&["run", "pb.yaml", "--check", "--output", "json"])
        .run();
    r.code(3);
    let st = r.statuses();
    assert_eq!(st["say"], "ok");
    assert_eq!(st["make-file"], "would_change");
    // The assert reads the output of the pending step: honest, not a failure.
    assert_eq!(st["confirm"], "would_change");
    let confirm = r
        .events()
        .into_iter()
        .find(|e| e["step"] == "confirm" && e["event"] == "step_end")
        .unwrap();
    assert_eq!(confirm["after"], "make-file");
    assert!(
        !d.join("made.txt").exists(),
        "--check must not run the command"
    );
    assert!(
        !d.join(".mkeprep").exists(),
        "--check writes no journal and takes no lock"
    );
    let end = r.events().pop().unwrap();
    assert_eq!(end["event"], "run_end");
    assert_eq!(end["exit_code"], 3);
    assert_eq!(end["counts"]["would_change"], 2);
}

#[test]
fn apply_then_rerun_reports_every_step_ok() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    assert_eq!(r.statuses()["make-file"], "changed");
    assert!(d.join("made.txt").exists());
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    assert!(
        r.statuses().values().all(|s| s == "ok"),
        "{:?}",
        r.statuses()
    );
    d.cmd(&["run", "pb.yaml", "--check"])
        .run()
        .code(0)
        .stdout_has("nothing would change");
}

#[test]
fn changed_requires_the_recheck_to_be_in_sync() {
    let d = Dir::new();
    // The command succeeds but never creates what `creates` names.
    d.write(
        "pb.yaml",
        "steps:\n  - id: liar\n    command:\n      argv: [\"true\"]\n      creates: never.txt\n",
    );
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(1)
        .stdout_has("applied, but the re-check still finds drift");
}

#[test]
fn a_failing_command_fails_the_run_and_later_steps_do_not_run() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: boom\n    command:\n      argv: [sh, -c, 'echo nope >&2; exit 3']\n  - id: after\n    command:\n      argv: [touch, after.txt]\n      creates: after.txt\n",
    );
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(1);
    let boom = r
        .events()
        .into_iter()
        .find(|e| e["step"] == "boom" && e["event"] == "step_end")
        .unwrap();
    assert_eq!(boom["status"], "failed");
    assert!(
        boom["message"]
            .as_str()
            .unwrap()
            .contains("exited with 3: nope"),
        "{boom}"
    );
    assert_eq!(boom["output"]["rc"], 3);
    assert_eq!(r.statuses()["after"], "skipped");
    assert!(!d.join("after.txt").exists());
}

#[test]
fn unless_probe_and_ignore_errors_and_when() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"vars:
  enabled: false
steps:
  - id: probe-true
    command:
      argv: [touch, should-not-exist]
      unless: ["true"]
  - id: allowed-to-fail
    command:
      argv: ["false"]
    ignore_errors: true
  - id: conditional
    command:
      argv: [touch, conditional.txt]
    when: enabled
"#,
    );
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    let st = r.statuses();
    assert_eq!(st["probe-true"], "ok");
    assert_eq!(st["allowed-to-fail"], "failed");
    assert_eq!(st["conditional"], "skipped");
    assert!(!d.join("should-not-exist").exists());
    assert!(!d.join("conditional.txt").exists());
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "--output",
            "json",
            "--fresh",
            "-e",
            "@vars.yaml",
        ])
        .run();
    assert!(r.code == 2, "a missing vars file is an input error");
    d.write("vars.yaml", "enabled: true\n");
    d.cmd(&["run", "pb.yaml", "-e", "@vars.yaml"]).run().code(0);
    assert!(
        d.join("conditional.txt").exists(),
        "-e @file wins over vars"
    );
}

#[test]
fn tags_skip_tags_and_start_at_select_steps() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: a
    command: {argv: [touch, a], creates: a}
    tags: [one]
  - id: b
    command: {argv: [touch, b], creates: b}
    tags: [two]
  - id: c
    command: {argv: [touch, c], creates: c}
    tags: [always]
  - id: d
    command: {argv: [touch, d], creates: d}
    tags: [never, debug]
"#,
    );
    d.cmd(&["run", "pb.yaml", "--tags", "two"]).run().code(0);
    assert!(
        !d.join("a").exists()
            && d.join("b").exists()
            && d.join("c").exists()
            && !d.join("d").exists()
    );
    d.cmd(&["run", "pb.yaml", "--skip-tags", "two,always"])
        .run()
        .code(0);
    assert!(d.join("a").exists() && !d.join("d").exists());
    d.cmd(&["run", "pb.yaml", "--tags", "debug", "--start-at", "d"])
        .run()
        .code(0);
    assert!(d.join("d").exists());
    d.cmd(&["run", "pb.yaml", "--start-at", "zzz"])
        .run()
        .code(2)
        .stderr_has("--start-at `zzz`: no step has that id");
}

#[test]
fn retries_recheck_until_in_sync_and_timeout_bounds_a_step() {
    let d = Dir::new();
    // `ready` appears a moment after the command returns: re-checks wait for it.
    d.write(
        "pb.yaml",
        r#"steps:
  - id: eventually
    command:
      argv: [sh, -c, '(sleep 0.3; touch ready) &']
      creates: ready
    retries: 40
    delay: 0.05
  - id: slow
    command:
      argv: [sleep, "5"]
    timeout: 0.3s
"#,
    );
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(1);
    let st = r.statuses();
    assert_eq!(st["eventually"], "changed");
    assert_eq!(st["slow"], "failed");
    let slow = r
        .events()
        .into_iter()
        .find(|e| e["step"] == "slow" && e["event"] == "step_end")
        .unwrap();
    assert!(
        slow["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 300ms"),
        "{slow}"
    );
    assert!(slow["duration_ms"].as_u64().unwrap() < 3000);
}

#[test]
fn disruptive_steps_need_yes_when_not_on_a_terminal() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: restart\n    command:\n      argv: [touch, restarted]\n      creates: restarted\n      disruptive: true\n",
    );
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(1)
        .stdout_has("disruptive, needs approval")
        .stdout_has("--yes");
    assert!(
        !d.join("restarted").exists(),
        "nothing may be applied without approval"
    );
    d.cmd(&["run", "pb.yaml", "--yes"]).run().code(0);
    assert!(d.join("restarted").exists());
}

// ------------------------------------------------------ journal and resume

const LONG: &str = r#"steps:
  - id: first
    command:
      argv: [sh, -c, 'echo ran >> first.log']
    register: first
  - id: long
    command:
      argv: [sleep, "{{ env.LONG_SLEEP }}"]
  - id: last
    assert:
      that:
        - first.ran
        - steps.first.rc == 0
"#;

#[test]
fn sigkill_mid_step_resumes_without_rerunning_finished_steps() {
    let d = Dir::new();
    d.write("pb.yaml", LONG);
    let mut bg = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .env("LONG_SLEEP", "31.4159")
        .spawn(d.path(), "first-run");
    let started = wait_until(Duration::from_secs(20), || {
        d.journal()
            .iter()
            .any(|r| r["type"] == "apply_start" && r["step"] == "long")
    });
    assert!(started, "the long step never started");
    bg.signal(libc::SIGKILL);
    bg.wait(Duration::from_secs(10));
    // The command died with mkeprep (it would otherwise run on unobserved).
    let orphan_gone = wait_until(Duration::from_secs(5), || {
        !std::process::Command::new("pgrep")
            .args(["-f", "sleep 31.4159"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    assert!(orphan_gone, "the step's process outlived the killed run");

    let r = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .env("LONG_SLEEP", "0")
        .run();
    r.code(0);
    let ev = r.events();
    assert_eq!(ev[0]["event"], "run_start");
    assert_eq!(ev[0]["resumed"], true);
    let first = ev
        .iter()
        .find(|e| e["event"] == "step_end" && e["step"] == "first")
        .unwrap();
    assert_eq!(first["from_journal"], true);
    assert_eq!(first["status"], "changed");
    assert_eq!(d.read("first.log"), "ran\n", "a finished step ran again");
    assert_eq!(r.statuses()["long"], "changed");
    assert_eq!(
        r.statuses()["last"],
        "ok",
        "registered outputs were not restored"
    );
    d.cmd(&["journal", "show"])
        .run()
        .code(0)
        .stdout_has("(from journal)")
        .stdout_has("resumed");
}

/// A journal written by mkeprep before steps were keyed `ID`/`ID[N]` (the
/// binary of commit 72aebbc, killed with SIGKILL while `slow` applied):
/// the records are unchanged for steps without a loop, so a run of this
/// build resumes it: `marker` comes from the journal without running again,
/// `slow` (open apply) is checked again and applied only if still needed.
fn old_journal(done_before_the_kill: bool) -> (Dir, Run) {
    let d = Dir::new();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/journal-before-step-keys"
    );
    let read = |f: &str| std::fs::read_to_string(format!("{data}/{f}")).unwrap();
    // The journal names the playbook as the old run was given it.
    d.write("pb2.yaml", &read("playbook.yaml"));
    d.write(".mkeprep/journal.jsonl", &read("journal.jsonl"));
    d.write("marker", "");
    if done_before_the_kill {
        d.write("done", "");
    }
    let r = d
        .cmd(&["run", "pb2.yaml", "--yes", "--output", "json"])
        .run();
    (d, r)
}

#[test]
fn a_journal_written_before_step_keys_still_resumes() {
    for done in [false, true] {
        let (d, r) = old_journal(done);
        r.code(0);
        let ev = r.events();
        assert_eq!(ev[0]["resumed"], true, "{}", r.both());
        assert_eq!(r.step("marker")["from_journal"], true);
        assert!(
            !d.join("marker-applied").exists(),
            "a finished step ran again"
        );
        if done {
            assert_eq!(r.statuses()["slow"], "ok", "{}", r.both());
            assert!(
                !d.join("slow-applied").exists(),
                "applied again though done"
            );
        } else {
            assert_eq!(r.statuses()["slow"], "changed", "{}", r.both());
            assert_eq!(d.read("slow-applied"), "s\n");
        }
    }
}

#[test]
fn a_concurrent_run_exits_4_naming_the_holder() {
    let d = Dir::new();
    d.write("pb.yaml", LONG);
    let mut bg = d
        .cmd(&["run", "pb.yaml"])
        .env("LONG_SLEEP", "30")
        .spawn(d.path(), "holder");
    assert!(wait_until(Duration::from_secs(20), || {
        d.journal()
            .iter()
            .any(|r| r["type"] == "apply_start" && r["step"] == "long")
    }));
    let r = d.cmd(&["run", "pb.yaml"]).env("LONG_SLEEP", "0").run();
    r.code(4)
        .stderr_has(&format!("pid {}", bg.pid()))
        .stderr_has("holds the lock");
    d.cmd(&["journal", "clear"]).run().code(4);
    // --check takes no lock.
    d.cmd(&["run", "pb.yaml", "--check"])
        .env("LONG_SLEEP", "0")
        .run()
        .code(3);
    bg.signal(libc::SIGTERM);
    assert_eq!(bg.wait(Duration::from_secs(10)), Some(130));
}

#[test]
fn sigint_exits_130_with_a_consistent_journal_then_resumes() {
    let d = Dir::new();
    d.write("pb.yaml", LONG);
    let mut bg = d
        .cmd(&["run", "pb.yaml"])
        .env("LONG_SLEEP", "30")
        .spawn(d.path(), "int");
    assert!(wait_until(Duration::from_secs(20), || {
        d.journal()
            .iter()
            .any(|r| r["type"] == "apply_start" && r["step"] == "long")
    }));
    bg.signal(libc::SIGINT);
    assert_eq!(bg.wait(Duration::from_secs(10)), Some(130));
    let recs = d.journal();
    let last = recs.last().unwrap();
    assert_eq!(last["type"], "run_end");
    assert_eq!(last["status"], "interrupted");
    assert!(
        recs.iter()
            .any(|r| r["type"] == "apply_end" && r["step"] == "long" && r["ok"] == false)
    );
    assert!(
        d.read("int.out").contains("interrupted"),
        "{}",
        d.read("int.out")
    );
    let r = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .env("LONG_SLEEP", "0")
        .run();
    r.code(0);
    assert_eq!(r.events()[0]["resumed"], true);
    assert_eq!(d.read("first.log"), "ran\n");
}

#[test]
fn a_changed_playbook_or_variable_refuses_to_resume_until_fresh() {
    let d = Dir::new();
    d.write("pb.yaml", LONG);
    let mut bg = d
        .cmd(&["run", "pb.yaml", "-e", "who=a"])
        .env("LONG_SLEEP", "30")
        .spawn(d.path(), "r1");
    assert!(wait_until(Duration::from_secs(20), || {
        d.journal()
            .iter()
            .any(|r| r["type"] == "apply_start" && r["step"] == "long")
    }));
    bg.signal(libc::SIGKILL);
    bg.wait(Duration::from_secs(10));
    d.cmd(&["run", "pb.yaml", "-e", "who=b"])
        .env("LONG_SLEEP", "0")
        .run()
        .code(2)
        .stderr_has("variable `who` is \"b\" now, was \"a\"")
        .stderr_has("--fresh");
    d.write("pb.yaml", &LONG.replace("echo ran", "echo ran "));
    d.cmd(&["run", "pb.yaml", "-e", "who=a"])
        .env("LONG_SLEEP", "0")
        .run()
        .code(2)
        .stderr_has("the playbook pb.yaml was edited");
    let r = d
        .cmd(&[
            "run", "pb.yaml", "-e", "who=b", "--fresh", "--output", "json",
        ])
        .env("LONG_SLEEP", "0")
        .run();
    r.code(0);
    assert_eq!(r.events()[0]["resumed"], false);
    assert_eq!(
        d.read("first.log").lines().count(),
        2,
        "--fresh starts over"
    );
}

#[test]
fn a_torn_last_journal_line_is_cut_off_and_reported() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    d.cmd(&["run", "pb.yaml"]).run().code(0);
    let path = d.join(".mkeprep/journal.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let intact = text.clone();
    text.push_str("{\"type\":\"step_end\",\"run_id\":\"x\",\"st");
    std::fs::write(&path, &text).unwrap();
    d.cmd(&["journal", "show"]).run().code(0).stdout_has("torn");
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(0)
        .stderr_has("torn by a crash");
    // The finished run before is kept as journal.prev.jsonl, torn bytes cut.
    assert_eq!(
        d.read(".mkeprep/journal.prev.jsonl"),
        intact,
        "the torn bytes must be cut off"
    );
    let now = std::fs::read_to_string(&path).unwrap();
    d.cmd(&["journal", "show", "--all"])
        .run()
        .code(0)
        .stdout_has("RUN ")
        .stdout_has("ok (exit 0)");
    // Damage in the middle is not silently dropped.
    std::fs::write(&path, format!("garbage\n{now}")).unwrap();
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(1)
        .stderr_has("damaged at line 1");
    d.cmd(&["run", "pb.yaml", "--fresh"]).run().code(0);
    assert!(
        d.all_files()
            .iter()
            .any(|p| p.to_string_lossy().contains("journal.damaged-"))
    );
}

#[test]
fn state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    d.cmd(&["run", "pb.yaml"]).run().code(0);
    let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(".mkeprep"), 0o700);
    assert_eq!(mode(".mkeprep/journal.jsonl"), 0o600);
    assert_eq!(mode(".mkeprep/lock"), 0o600);
}

#[test]
fn journal_show_json_and_clear() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    d.cmd(&["journal", "show"])
        .run()
        .code(0)
        .stdout_has("no journal");
    d.cmd(&["run", "pb.yaml"]).run().code(0);
    let r = d.cmd(&["journal", "show", "--output", "json"]).run();
    r.code(0);
    let types: Vec<String> = r
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("run_start"));
    assert_eq!(types.last().map(String::as_str), Some("run_end"));
    assert!(types.contains(&"apply_start".to_string()) && types.contains(&"apply_end".to_string()));
    d.cmd(&["journal", "clear"])
        .run()
        .code(0)
        .stdout_has("removed");
    assert!(!d.join(".mkeprep/journal.jsonl").exists());
}

// ------------------------------------------------------------ outputs

#[test]
fn json_output_is_pure_json_lines_with_the_documented_envelope() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    let ev = r.events();
    for e in &ev {
        assert_eq!(e["v"], 1, "{e}");
        assert!(e["event"].is_string() && e["ts"].is_string(), "{e}");
    }
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "run_start",
            "step_start",
            "step_end",
            "step_start",
            "step_end",
            "step_start",
            "step_end",
            "run_end"
        ]
    );
    assert_eq!(ev[0]["playbook"], "pb.yaml");
    assert_eq!(ev[0]["check"], false);
    assert_eq!(ev[0]["digest"].as_str().unwrap().len(), 64);
    let end = &ev[ev.len() - 1];
    assert_eq!(end["status"], "ok");
    assert_eq!(end["counts"]["ok"], 2);
    assert_eq!(end["counts"]["changed"], 1);
    for e in ev.iter().filter(|e| e["event"] == "step_end") {
        for k in [
            "step",
            "module",
            "status",
            "changes",
            "message",
            "duration_ms",
            "output",
        ] {
            assert!(!e[k].is_null(), "step_end lacks {k}: {e}");
        }
    }
}

#[test]
fn human_output_has_status_lines_and_a_recap_without_colour_off_a_terminal() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    let r = d.cmd(&["run", "pb.yaml"]).run();
    r.code(0)
        .stdout_has("PLAYBOOK Basic")
        .stdout_has("changed      make-file")
        .stdout_has("RECAP 2 ok, 1 changed");
    assert!(
        !r.stdout.contains('\x1b'),
        "no escape codes when stdout is not a terminal"
    );
}

/// The detail column of the human output starts at the same place on every
/// step line, from the first: the width is known before the run (the
/// longest id, and a loop's `[N]`), not widened when a longer key shows up.
#[test]
fn human_step_lines_keep_their_columns_when_a_longer_key_appears() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: a
    debug: {msg: "detail-first"}
  - id: each-item-of-the-list
    debug: {msg: "detail-{{ item }}"}
    loop: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  - id: computed
    debug: {msg: "detail-c{{ item }}"}
    loop: "{{ range(3) | list }}"
  - id: z
    debug: {msg: "detail-last"}
"#,
    );
    let r = d.cmd(&["run", "pb.yaml"]).run();
    r.code(0);
    let columns: Vec<usize> = r.stdout.lines().filter_map(|l| l.find("detail-")).collect();
    assert_eq!(columns.len(), 1 + 10 + 3 + 1, "{}", r.stdout);
    assert!(
        columns.iter().all(|&c| c == columns[0]),
        "the detail column moves:\n{}",
        r.stdout
    );
}

#[test]
fn junit_report_has_one_case_per_step_with_failures() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "name: J <&>\nsteps:\n  - id: good\n    debug: {msg: fine}\n  - id: bad\n    assert:\n      that: ['1 == 2']\n      message: one is not two\n",
    );
    d.cmd(&["run", "pb.yaml", "--junit", "report.xml"])
        .run()
        .code(1);
    let x = d.read("report.xml");
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
    assert!(x.contains("<testsuite name=\"J &lt;&amp;&gt;\""), "{x}");
    assert!(
        x.contains("name=\"bad\"") && x.contains("<failure message=\"one is not two"),
        "{x}"
    );
}

// ------------------------------------------------------------- secrets

#[test]
fn the_mke_password_appears_in_no_output_or_state_file() {
    const PW: &str = "S3cr3t-Pa55\"word-zz";
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: leak-debug
    debug:
      msg: "password is {{ env.MKE_PASSWORD }}"
  - id: leak-command
    command:
      argv: [sh, -c, 'echo "$P"; echo "$P" >&2; touch leaked']
      env: {P: "{{ env.MKE_PASSWORD }}"}
      creates: leaked
  - id: leak-assert
    assert:
      that: ["env.MKE_PASSWORD == 'x'"]
      message: "bad password {{ env.MKE_PASSWORD }}"
    ignore_errors: true
"#,
    );
    for args in [
        vec![
            "run", "pb.yaml", "-vv", "--junit", "j.xml", "--fresh", "--report", "r.html",
        ],
        vec![
            "run", "pb.yaml", "--output", "json", "--fresh", "--report", "r.md",
        ],
        vec!["run", "pb.yaml", "--check", "-vv", "--report", "c.html"],
    ] {
        let r = d.cmd(&args).env("MKE_PASSWORD", PW).run();
        assert!(r.code == 0 || r.code == 3, "{}", r.both());
        assert_no_secrets(&d, &[&r], &["S3cr3t"]);
        assert!(
            r.both().contains("********"),
            "the mask should show where the secret was"
        );
        let _ = std::fs::remove_file(d.join("leaked"));
    }
    // --password-file and --password-stdin register the password too.
    d.write("pw.txt", &format!("{PW}\n"));
    let r = d
        .cmd(&["run", "pb.yaml", "--password-file", "pw.txt", "-e", "x=1"])
        .run();
    assert_no_secrets_except(&d, &[&r], &["S3cr3t"], &["pw.txt"]);
}

#[test]
fn the_password_is_never_a_flag_value() {
    let d = Dir::new();
    d.write("pb.yaml", BASIC);
    d.cmd(&["run", "pb.yaml", "--password", "x"])
        .run()
        .code(2)
        .stderr_has("unexpected argument");
    d.cmd(&["run", "pb.yaml", "--password-stdin"])
        .stdin("\n")
        .run()
        .code(2)
        .stderr_has("password is empty");
}

// ------------------------------------------------------------- the rest

#[test]
fn modules_are_documented_from_code_and_docs_do_not_drift() {
    let d = Dir::new();
    let r = d.cmd(&["modules"]).run();
    r.code(0)
        .stdout_has("command")
        .stdout_has("assert")
        .stdout_has("debug");
    d.cmd(&["modules", "command"])
        .run()
        .code(0)
        .stdout_has("argv")
        .stdout_has("creates")
        .stdout_has("example:");
    d.cmd(&["modules", "comand"])
        .run()
        .code(2)
        .stderr_has("did you mean `command`");
    let md = d.cmd(&["modules", "--markdown"]).run();
    md.code(0);
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/modules.md"))
            .unwrap_or_default();
    assert!(
        checked_in == md.stdout,
        "docs/modules.md is stale: run `cargo run -- modules --markdown > docs/modules.md`"
    );
}

#[test]
fn completions_are_generated() {
    let d = Dir::new();
    d.cmd(&["completions", "bash"])
        .run()
        .code(0)
        .stdout_has("_mkeprep()");
}
