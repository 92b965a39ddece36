//! The playbook language for site libraries, through the binary: loops,
//! includes, variables files, typed `-e`, selection that cannot select
//! nothing, read-only commands, names checked at load, and the Ansible
//! keys answered with the mkeprep way.

use std::time::Duration;

use crate::common::{Dir, wait_until};

/// A 10-item loop whose 5th item waits for a `go` file: every item
/// appends its number to `counter`.
const TEN: &str = r#"steps:
  - id: items
    name: "item {{ item }} of {{ loop.length }}"
    loop: "{{ range(1, 11) | list }}"
    command:
      argv: [sh, -c, "echo {{ item }} >> counter; [ {{ item }} != 5 ] || [ -e go ] || sleep 60"]
    register: all
  - id: after
    assert:
      that: ["all.results | length == 10", "all.changed == 10"]
"#;

#[test]
fn a_loop_killed_at_item_5_resumes_there_without_running_items_1_to_4_again() {
    let d = Dir::new();
    d.write("pb.yaml", TEN);
    let mut bg = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .spawn(d.path(), "first");
    assert!(
        wait_until(Duration::from_secs(30), || d
            .read("counter")
            .lines()
            .count()
            >= 5),
        "item 5 never started: {}",
        d.read("first.err")
    );
    bg.signal(libc::SIGKILL);
    bg.wait(Duration::from_secs(10));
    assert_eq!(d.read("counter"), "1\n2\n3\n4\n5\n");
    d.write("go", "");
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    // Items 1-4 ran once; item 5, cut off mid-run, ran again; 6-10 once.
    assert_eq!(d.read("counter"), "1\n2\n3\n4\n5\n5\n6\n7\n8\n9\n10\n");
    let ends: Vec<(String, bool)> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "step_end")
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_string(),
                e["from_journal"] == true,
            )
        })
        .collect();
    let from_journal: Vec<&str> = ends
        .iter()
        .filter(|(_, j)| *j)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        from_journal,
        ["items[1]", "items[2]", "items[3]", "items[4]"]
    );
    assert_eq!(r.step("items[7]")["name"], "item 7 of 10");
    assert_eq!(r.statuses()["after"], "ok");
    // The journal keys each item.
    let keys: Vec<String> = d
        .journal()
        .iter()
        .filter(|r| r["type"] == "step_end")
        .map(|r| r["step"].as_str().unwrap().to_string())
        .collect();
    assert!(keys.contains(&"items[10]".to_string()), "{keys:?}");
}

#[test]
fn loops_evaluate_when_per_item_collect_results_and_rehearse_with_check() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"vars:
  ports: [80, 443, 6443, 9443]
steps:
  - id: probe
    loop: "{{ ports }}"
    when: item > 100
    command:
      argv: [sh, -c, "echo {{ item }}"]
      read_only: true
    register: probes
  - id: check
    assert:
      that:
        - probes.skipped == 1
        - probes.ok == 3
        - probes.results[1].stdout == '443\n'
        - probes.results[0].status == 'skipped'
        - probes.results[0].item == 80
"#,
    );
    for extra in [&[][..], &["--check"][..]] {
        let mut args = vec!["run", "pb.yaml", "--output", "json"];
        args.extend_from_slice(extra);
        let r = d.cmd(&args).run();
        r.code(0);
        let st = r.statuses();
        assert_eq!(st["probe[1]"], "skipped");
        assert_eq!(st["probe[4]"], "ok");
        assert_eq!(st["check"], "ok");
    }
    // A loop over something that is not a list is named as such.
    d.write(
        "bad.yaml",
        "vars:\n  m: {a: 1}\nsteps:\n  - id: x\n    loop: \"{{ m }}\"\n    debug: {msg: \"{{ item }}\"}\n",
    );
    d.cmd(&["run", "bad.yaml"])
        .run()
        .code(1)
        .stdout_has("must give a list, and gives a mapping");
}

#[test]
fn an_include_is_loaded_in_place_its_errors_at_its_own_lines_and_its_changes_refuse_a_resume() {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("lib")).unwrap();
    d.write(
        "lib/site.yaml",
        "steps:\n  - id: site-a\n    debug: {msg: a}\n  - id: site-b\n    command:\n      argv: [sleep, \"30\"]\n",
    );
    d.write(
        "pb.yaml",
        "steps:\n  - id: first\n    debug: {msg: x}\n  - include: lib/site.yaml\n  - id: last\n    debug: {msg: y}\n",
    );
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(0)
        .stdout_has("4 steps");
    // A run cut off inside the included steps...
    let mut bg = d
        .cmd(&["run", "pb.yaml", "--output", "json"])
        .spawn(d.path(), "bg");
    assert!(wait_until(Duration::from_secs(30), || d
        .read("bg.out")
        .contains("\"site-b\"")));
    bg.signal(libc::SIGKILL);
    bg.wait(Duration::from_secs(10));
    // ...and an edit of the included file: no resume.
    d.write(
        "lib/site.yaml",
        "steps:\n  - id: site-a\n    debug: {msg: changed}\n  - id: site-b\n    debug: {msg: b}\n",
    );
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("lib/site.yaml (read by the playbook) was edited")
        .stderr_has("--fresh");
    d.cmd(&["run", "pb.yaml", "--fresh"]).run().code(0);

    // A typo in the included file: its file, line and column.
    d.write(
        "lib/site.yaml",
        "steps:\n  - id: site-a\n    debug: {msg: a}\n  - id: site-b\n    debgu: {msg: b}\n",
    );
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("lib/site.yaml:5:5: unknown module or step key `debgu`")
        .stderr_has("did you mean `debug`");
    // Ids are unique across files; a cycle names the chain.
    d.write(
        "lib/site.yaml",
        "steps:\n  - id: first\n    debug: {msg: a}\n",
    );
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("duplicate step id `first` (first in pb.yaml at line 2)");
    d.write("lib/site.yaml", "steps:\n  - include: ../pb.yaml\n");
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("include cycle:")
        .stderr_has("site.yaml ->");
}

#[test]
fn vars_files_sit_between_vars_and_extra_vars_and_their_errors_name_them() {
    let d = Dir::new();
    d.write("site.yaml", "a: from-file\nb: from-file\n");
    d.write(
        "pb.yaml",
        "vars_files: [site.yaml]\nvars:\n  a: from-vars\n  c: \"{{ a }}\"\nsteps:\n  - id: show\n    assert:\n      that: [\"a == 'from-file'\", \"b == 'from-extra'\", \"c == 'from-file'\"]\n",
    );
    d.cmd(&["run", "pb.yaml", "-e", "b=from-extra"])
        .run()
        .code(0);
    d.cmd(&["run", "pb.yaml"])
        .run()
        .code(1)
        .stdout_has("assertion failed");
    d.write("site.yaml", "a: [\n");
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("site.yaml:2:1: invalid YAML");
}

#[test]
fn extra_vars_are_typed_and_a_number_compared_with_a_string_is_an_error() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: gate\n    assert:\n      that: \"50 <= max_used_pct\"\n  - id: flagged\n    when: run_it\n    debug: {msg: ran}\n",
    );
    // 5 is a number: 50 <= 5 is false, the gate fails.
    d.cmd(&[
        "run",
        "pb.yaml",
        "-e",
        "max_used_pct=5",
        "-e",
        "run_it=true",
    ])
    .run()
    .code(1)
    .stdout_has("assertion failed: `50 <= max_used_pct`");
    // '5' is a string: comparing it with 50 is an error naming both (and
    // the expression), found when the playbook loads: nothing runs.
    d.cmd(&[
        "run",
        "pb.yaml",
        "-e",
        "max_used_pct='5'",
        "-e",
        "run_it=true",
    ])
    .run()
    .code(2)
    .stderr_has("pb.yaml:4:13:")
    .stderr_has("cannot compare the number 50 with the string \"5\"")
    .stderr_has("in `50 <= max_used_pct`");
    // The same comparison with a value known only at run time fails there.
    d.write(
        "pb2.yaml",
        "steps:\n  - id: read\n    command:\n      argv: [echo, \"5\"]\n      read_only: true\n  - id: gate\n    assert:\n      that: \"50 <= steps.read.stdout | trim\"\n",
    );
    d.cmd(&["run", "pb2.yaml"])
        .run()
        .code(1)
        .stdout_has("cannot compare the number 50 with the string \"5\"");
    // false is false: the step is skipped.
    let r = d
        .cmd(&[
            "run",
            "pb.yaml",
            "-e",
            "max_used_pct=60",
            "-e",
            "run_it=false",
            "--output",
            "json",
        ])
        .run();
    r.code(0);
    assert_eq!(r.statuses()["flagged"], "skipped");
}

#[test]
fn a_selection_that_matches_nothing_is_a_usage_error_with_a_suggestion() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        "steps:\n  - id: migrate-kdd\n    tags: [network]\n    debug: {msg: x}\n  - id: other\n    debug: {msg: y}\n",
    );
    d.cmd(&["run", "pb.yaml", "--tags", "netwrok"])
        .run()
        .code(2)
        .stderr_has("--tags `netwrok`: no step has that tag (did you mean `network`?)")
        .stderr_has("tags in this playbook: network");
    d.cmd(&["run", "pb.yaml", "--skip-tags", "nope", "--check"])
        .run()
        .code(2)
        .stderr_has("--skip-tags `nope`");
    d.cmd(&["run", "pb.yaml", "--start-at", "migrate_kdd"])
        .run()
        .code(2)
        .stderr_has("did you mean `migrate-kdd`");
    assert!(!d.join(".mkeprep/journal.jsonl").exists(), "nothing ran");
    // The special tags and real ones still work.
    d.cmd(&["run", "pb.yaml", "--tags", "network"])
        .run()
        .code(0);
    d.cmd(&["run", "pb.yaml", "--skip-tags", "never"])
        .run()
        .code(0);
}

#[test]
fn a_read_only_command_runs_under_check_and_can_fail_there_never_changed() {
    let d = Dir::new();
    d.write(
        "pb.yaml",
        r#"steps:
  - id: disk
    command:
      argv: [sh, -c, "echo 93"]
      read_only: true
      failed_when: "stdout | trim | int > 90"
  - id: act
    command:
      argv: [sh, -c, "echo same"]
      changed_when: "'changed' in stdout"
"#,
    );
    let r = d
        .cmd(&["run", "pb.yaml", "--check", "--output", "json"])
        .run();
    r.code(1);
    assert_eq!(r.statuses()["disk"], "failed");
    assert!(
        r.step("disk")["message"]
            .as_str()
            .unwrap()
            .contains("failed_when")
    );
    d.write("pb.yaml", &d.read("pb.yaml").replace("> 90", "> 95"));
    let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
    r.code(0);
    assert_eq!(r.statuses()["disk"], "ok");
    assert_eq!(
        r.statuses()["act"],
        "ok",
        "changed_when says nothing changed"
    );
}

#[test]
fn undefined_names_are_caught_at_load_with_their_full_path_line_and_column() {
    let d = Dir::new();
    d.write(
        "hosts.yaml",
        "hosts:\n  - address: 10.0.0.11\n    port: 22\n    user: ubuntu\n",
    );
    let cases = [
        (
            "msg: \"{{ env.MKEPREP_SURELY_UNSET }}\"",
            "env.MKEPREP_SURELY_UNSET",
        ),
        ("msg: \"{{ site.dc.nmae }}\"", "undefined"),
        ("msg: \"{{ inventory.hosts[0].adress }}\"", "undefined"),
        (
            "msg: \"{{ steps.first.nope }}\"",
            "`steps.first.nope`: step `first` registers no `nope`",
        ),
        (
            "msg: \"{{ item }}\"",
            "`item` is only defined in a step with `loop:`",
        ),
    ];
    for (param, says) in cases {
        d.write(
            "pb.yaml",
            &format!(
                "vars:\n  site: {{dc: {{name: x}}}}\nsteps:\n  - id: first\n    debug: {{msg: a}}\n  - id: second\n    debug:\n      {param}\n"
            ),
        );
        d.cmd(&["run", "pb.yaml", "-i", "hosts.yaml", "--check"])
            .run()
            .code(2)
            .stderr_has("pb.yaml:8:")
            .stderr_has(says);
    }
    // validate only warns where the run's environment may differ.
    d.write(
        "pb.yaml",
        "steps:\n  - id: a\n    debug: {msg: \"{{ env.MKEPREP_SURELY_UNSET }}\"}\n",
    );
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(0)
        .stderr_has("warning: pb.yaml:3:");
    // A guarded name is fine.
    d.write(
        "pb.yaml",
        "steps:\n  - id: a\n    when: env.MKEPREP_SURELY_UNSET is defined\n    debug: {msg: \"{{ env.MKEPREP_SURELY_UNSET | default('none') }}\"}\n",
    );
    d.cmd(&["run", "pb.yaml"]).run().code(0);
}

#[test]
fn ansible_keys_name_the_mkeprep_way() {
    let d = Dir::new();
    for (key, says) in [
        ("until: x", "retries"),
        ("block: []", "ignore_errors"),
        ("delegate_to: x", "remote"),
        ("changed_when: x", "only `command` and `remote`"),
        ("with_items: [a]", "loop:"),
        ("notify: x", "handlers"),
    ] {
        d.write(
            "pb.yaml",
            &format!("steps:\n  - id: a\n    debug: {{msg: x}}\n    {key}\n"),
        );
        d.cmd(&["validate", "pb.yaml"])
            .run()
            .code(2)
            .stderr_has(says);
    }
    d.write("pb.yaml", "tasks:\n  - debug: {msg: x}\n");
    d.cmd(&["validate", "pb.yaml"])
        .run()
        .code(2)
        .stderr_has("under `steps:`");
}

#[test]
fn the_site_library_example_is_shared_by_two_playbooks_rehearsed_on_the_sandbox() {
    let d = Dir::new();
    let root = env!("CARGO_MANIFEST_DIR");
    for pb in ["site-prod-4.1.yaml", "site-staging-4.2.yaml"] {
        let path = format!("{root}/examples/{pb}");
        let r = d
            .cmd(&[
                "run",
                &path,
                "--sandbox",
                "--check",
                "-e",
                "change_ticket=CHG-1234",
                "--output",
                "json",
            ])
            .run();
        r.code(0);
        let st = r.statuses();
        assert_eq!(st["tool-present[1]"], "ok", "{pb}");
        assert_eq!(st["change-ticket"], "ok", "{pb}");
        assert_eq!(st["verify-version"], "ok", "{pb}");
        // Without a change request the shared gate fails both.
        d.cmd(&["run", &path, "--sandbox", "--check", "--fresh"])
            .run()
            .code(1)
            .stdout_has("pass the change request");
    }
}
