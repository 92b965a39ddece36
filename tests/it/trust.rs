//! What a run takes from the journal, and what it never trusts: a resumed
//! run checks every step again and takes from the journal only what must
//! not be repeated; rejected credentials stop the run after one login;
//! `--fresh` never forgets an apply of unknown outcome (`--resend` does,
//! on purpose); and `journal show` tells how a resumed run ended.

use crate::common::{Dir, KDD_ONLY, assert_no_secrets, sandbox_args};
use crate::sandbox_env::Sandbox;

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

/// The journal with `edit` applied to every record, the run's end removed
/// (an unfinished run, as a crash leaves it).
fn forge(d: &Dir, edit: impl Fn(&mut serde_json::Value)) {
    let mut lines = String::new();
    for mut r in d.journal() {
        if r["type"] == "run_end" {
            continue;
        }
        edit(&mut r);
        lines.push_str(&serde_json::to_string(&r).unwrap());
        lines.push('\n');
    }
    d.write(".mkeprep/journal.jsonl", &lines);
}

#[test]
fn a_journal_edited_to_pass_the_backup_gate_does_not_lead_to_the_migration() {
    let d = Dir::new();
    let args = sandbox_args(
        STANDARD,
        &["backups=absent"],
        &["--yes", "--output", "json"],
    );
    let r = d.cmd(&args).run();
    r.code(1);
    assert_eq!(r.statuses()["confirm-backup"], "blocked");
    // Someone marks the backup gate passed, and the rest skipped, in a
    // journal that looks unfinished.
    forge(&d, |r| {
        if r["type"] == "step_end" && r["step"] == "confirm-backup" {
            r["status"] = "ok".into();
        }
    });
    let r = d.cmd(&args).run();
    r.code(1);
    assert_eq!(r.events()[0]["resumed"], true);
    assert_eq!(r.statuses()["confirm-backup"], "blocked", "checked again");
    assert_eq!(
        r.step("confirm-backup")["from_journal"],
        serde_json::Value::Null
    );
    assert_eq!(d.config_puts().len(), 0, "no migration without a backup");
}

#[test]
fn a_journal_forged_all_ok_cannot_report_success_while_calico_kdd_is_false() {
    let d = Dir::new();
    // A real run that stops at the migration (no --yes: nothing applied).
    let args = sandbox_args(STANDARD, &[], &["--output", "json"]);
    let r = d.cmd(&args).run();
    r.code(1);
    assert_eq!(r.statuses()["migrate-kdd"], "failed");
    // Every step forged ok, and migrate-kdd's apply forged as finished.
    forge(&d, |r| {
        if r["type"] == "step_end" {
            r["status"] = "ok".into();
        }
    });
    let mut text = d.read(".mkeprep/journal.jsonl");
    let run_id = d.journal()[0]["run_id"].as_str().unwrap().to_string();
    for t in ["apply_start", "apply_end"] {
        text.push_str(&format!(
            "{{\"type\":\"{t}\",\"run_id\":\"{run_id}\",\"ts\":\"2026-01-01T00:00:00Z\",\"step\":\"migrate-kdd\",\"changes\":[],\"ok\":true,\"unknown\":false,\"message\":\"applied\"}}\n"
        ));
    }
    d.write(".mkeprep/journal.jsonl", &text);
    let r = d.cmd(&args).run();
    r.code(1);
    let kdd = r.step("migrate-kdd");
    assert_eq!(kdd["status"], "failed", "{kdd}");
    assert!(
        kdd["message"]
            .as_str()
            .unwrap()
            .contains("the journal records this step as applied"),
        "{kdd}"
    );
    assert_eq!(d.config_puts().len(), 0, "never applied a second time");
}

#[test]
fn a_resumed_run_does_not_reuse_stale_health() {
    let d = Dir::new();
    let args = sandbox_args(STANDARD, &[], &["--output", "json"]);
    d.cmd(&args).run().code(1); // stops at the migration: needs --yes
    forge(&d, |_| {});
    // Since then a node went down.
    let args = sandbox_args(STANDARD, &["down_node=[2]"], &["--output", "json"]);
    let r = d.cmd(&args).run();
    assert_eq!(r.events()[0]["resumed"], true);
    assert_eq!(r.statuses()["cluster-healthy"], "blocked", "{}", r.both());
    assert_eq!(d.config_puts().len(), 0);
}

#[test]
fn rejected_credentials_stop_the_run_after_one_login_with_one_message() {
    let d = Dir::new();
    let sb = Sandbox::start(&d.join("sb"), &[]);
    let wrong = "not-the-password-0123";
    for check in [false, true] {
        let before = sb
            .record()
            .iter()
            .filter(|r| r["path"] == "/auth/login")
            .count();
        let mut args = vec![
            "run",
            STANDARD,
            "-i",
            sb.var("MKEPREP_INVENTORY"),
            "--known-hosts",
            sb.var("MKEPREP_KNOWN_HOSTS"),
            "--output",
            "json",
            "--fresh",
        ];
        if check {
            args.push("--check");
        }
        let r = d
            .cmd(&args)
            .env("MKE_HOST", sb.var("MKE_HOST"))
            .env("MKE_USERNAME", sb.var("MKE_USERNAME"))
            .env("MKE_PASSWORD", wrong)
            .env("MKEPREP_CA_CERT", sb.var("MKEPREP_CA_CERT"))
            .env(
                "PATH",
                &format!(
                    "{}:{}",
                    d.join("sb/bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .run();
        r.code(1);
        let logins = sb
            .record()
            .iter()
            .filter(|r| r["path"] == "/auth/login")
            .count()
            - before;
        assert_eq!(logins, 1, "one login per run, check={check}");
        // The version step does not pass through its SSH fallback.
        let v = r.step("verify-version");
        assert_eq!(v["status"], "failed", "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("rejected the credentials"),
            "{v}"
        );
        let later: Vec<String> = r
            .statuses()
            .into_iter()
            .filter(|(k, _)| k != "verify-version")
            .map(|(_, s)| s)
            .collect();
        assert!(later.iter().all(|s| s == "skipped"), "{later:?}");
        let said = r.stdout.matches("rejected the credentials").count();
        assert!(
            said <= 2,
            "one step says it (its event and the run's end): {said}"
        );
        assert_no_secrets(&d, &[&r], &[wrong, sb.var("MKE_PASSWORD")]);
    }
}

#[test]
fn no_mke_host_is_one_usage_error_before_any_step() {
    let d = Dir::new();
    for extra in [&[][..], &["--check"][..]] {
        let mut args = vec!["run", STANDARD];
        args.extend_from_slice(extra);
        let r = d.cmd(&args).run();
        r.code(2)
            .stderr_has("MKE_HOST is not set, and these steps need the MKE API: verify-version");
        assert_eq!(
            r.stderr.matches("MKE_HOST is not set").count(),
            1,
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    assert!(!d.join(".mkeprep/journal.jsonl").exists());
    // A playbook that needs no API runs without one.
    d.write("pb.yaml", "steps:\n  - id: a\n    debug: {msg: x}\n");
    d.cmd(&["run", "pb.yaml"]).run().code(0);
}

/// An unfinished journal whose migrate-kdd apply reached `put-sent` and
/// never learnt its outcome.
fn put_sent_journal(d: &Dir) {
    let rec = |json: &str| format!("{json}\n");
    let mut text = rec(
        r#"{"type":"run_start","run_id":"r1","ts":"2026-01-01T00:00:00Z","pid":1,"inputs":{"playbook":"old.yaml","playbook_digest":"0"}}"#,
    );
    text += &rec(
        r#"{"type":"apply_start","run_id":"r1","ts":"2026-01-01T00:00:01Z","step":"migrate-kdd","changes":[]}"#,
    );
    text += &rec(
        r#"{"type":"checkpoint","run_id":"r1","ts":"2026-01-01T00:00:02Z","step":"migrate-kdd","name":"put-sent"}"#,
    );
    std::fs::create_dir_all(d.join(".mkeprep")).unwrap();
    d.write(".mkeprep/journal.jsonl", &text);
}

/// `run pb.yaml ARGS` against the standalone sandbox `sb` (a cluster that
/// outlives the runs, as a real one does).
fn against(d: &Dir, sb: &Sandbox, args: &[&str]) -> crate::common::Run {
    let mut all = vec!["run", "pb.yaml", "--output", "json"];
    all.extend_from_slice(args);
    d.cmd(&all)
        .env("MKE_HOST", sb.var("MKE_HOST"))
        .env("MKE_USERNAME", sb.var("MKE_USERNAME"))
        .env("MKE_PASSWORD", sb.var("MKE_PASSWORD"))
        .env("MKEPREP_CA_CERT", sb.var("MKEPREP_CA_CERT"))
        .run()
}

fn puts(sb: &Sandbox) -> usize {
    sb.record()
        .iter()
        .filter(|r| r["method"] == "PUT" && r["path"] == "/api/ucp/config-toml")
        .count()
}

#[test]
fn fresh_never_resends_a_migration_of_unknown_outcome_and_resend_does_on_purpose() {
    let d = Dir::new();
    let sb = Sandbox::start(&d.join("sb"), &[]);
    d.write("pb.yaml", KDD_ONLY);
    put_sent_journal(&d);
    // The playbook differs from the crashed run's: only --fresh starts.
    against(&d, &sb, &["--yes"]).code(2).stderr_has("--fresh");
    let r = against(&d, &sb, &["--yes", "--fresh"]);
    r.code(1);
    assert_eq!(
        puts(&sb),
        0,
        "--fresh sent the migration again: {}",
        r.both()
    );
    assert!(r.stdout.contains("--resend migrate-kdd"), "{}", r.stdout);
    assert!(
        r.events().iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap_or("")
                .contains("--fresh keeps")),
        "{}",
        r.stdout
    );
    // A later run still knows (the unknown apply is carried).
    against(&d, &sb, &["--yes", "--fresh"]).code(1);
    assert_eq!(puts(&sb), 0);
    // --resend forgets it on purpose: one PUT, migrated.
    let r = against(&d, &sb, &["--yes", "--resend", "migrate-kdd"]);
    r.code(0);
    assert_eq!(puts(&sb), 1);
    assert_eq!(r.statuses()["migrate-kdd"], "changed");
    // Nothing left to resend.
    against(&d, &sb, &["--yes", "--resend", "migrate-kdd"])
        .code(2)
        .stderr_has(
            "--resend migrate-kdd: step `migrate-kdd` has no earlier apply of unknown outcome",
        );
    assert_no_secrets(&d, &[&r], &[sb.var("MKE_PASSWORD")]);
}

#[test]
fn journal_show_after_a_resume_that_read_the_migration_back_has_no_open_apply() {
    let d = Dir::new();
    // The cluster did convert: the resumed check reads true.
    let sb = Sandbox::start(&d.join("sb"), &["--calico-kdd"]);
    d.write("pb.yaml", KDD_ONLY);
    put_sent_journal(&d);
    against(&d, &sb, &["--fresh"]).code(0);
    assert_eq!(puts(&sb), 0);
    let show = d.cmd(&["journal", "show"]).run();
    show.code(0);
    assert!(!show.stdout.contains("unknown"), "{}", show.stdout);
    assert!(!show.stdout.contains("interrupted"), "{}", show.stdout);
    // And the next run has nothing open.
    let r = against(&d, &sb, &[]);
    r.code(0);
    assert!(!r.stdout.contains("unknown outcome"), "{}", r.stdout);
}

#[test]
fn sandbox_fresh_resets_the_cluster_and_forgets_what_was_sent_to_the_old_one() {
    let d = Dir::new();
    d.write("pb.yaml", KDD_ONLY);
    put_sent_journal(&d);
    let r = d
        .cmd(&sandbox_args(
            "pb.yaml",
            &[],
            &["--yes", "--fresh", "--output", "json"],
        ))
        .run();
    r.code(0);
    assert_eq!(d.config_puts().len(), 1);
    assert!(
        r.stdout.contains("the simulated cluster was reset"),
        "{}",
        r.stdout
    );
}

#[test]
fn verify_under_skip_tags_says_the_migration_was_left_out_not_to_repair_the_cluster() {
    let d = Dir::new();
    let r = d
        .cmd(&sandbox_args(
            STANDARD,
            &[],
            &["--skip-tags", "network", "--check", "--output", "json"],
        ))
        .run();
    r.code(1);
    let v = r.step("verify");
    assert_eq!(v["status"], "blocked", "{v}");
    let remedy = v["remedy"].as_str().unwrap();
    assert!(remedy.contains("did not run in this run"), "{remedy}");
    assert!(!remedy.contains("repair the cluster"), "{remedy}");
    // A cluster that is unhealthy too gets both.
    let r = d
        .cmd(&sandbox_args(
            STANDARD,
            &["down_node=[2]"],
            &[
                "--skip-tags",
                "network",
                "--output",
                "json",
                "--fresh",
                "--check",
            ],
        ))
        .run();
    let remedy = r.step("cluster-healthy")["remedy"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(remedy.contains("repair the cluster"), "{remedy}");
}

#[test]
fn a_gate_that_failed_is_named_to_fix_not_to_run_the_whole_playbook() {
    let d = Dir::new();
    let r = d
        .cmd(&sandbox_args(
            STANDARD,
            &["backups=old"],
            &["--check", "--output", "json"],
        ))
        .run();
    r.code(1);
    let kdd = r.step("migrate-kdd");
    assert_eq!(kdd["status"], "blocked", "{kdd}");
    let remedy = kdd["remedy"].as_str().unwrap();
    assert!(remedy.contains("fix `confirm-backup` first"), "{remedy}");
    assert!(!remedy.contains("run the whole playbook"), "{remedy}");
    // Left out by a selection, it is the other way round.
    let r = d
        .cmd(&sandbox_args(
            STANDARD,
            &[],
            &["--check", "--tags", "network", "--output", "json"],
        ))
        .run();
    let remedy = r.step("migrate-kdd")["remedy"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(remedy.contains("run the whole playbook"), "{remedy}");
}

#[test]
fn an_interrupted_migration_says_whether_the_put_was_sent() {
    let d = Dir::new();
    let args = sandbox_args(
        STANDARD,
        &["kdd_seconds_per_node=10"],
        &["--yes", "--output", "json"],
    );
    let mut bg = d.cmd(&args).spawn(d.path(), "int");
    assert!(
        crate::common::wait_until(std::time::Duration::from_secs(60), || d
            .read(".mkeprep/journal.jsonl")
            .contains("\"put-sent\"")),
        "{}",
        d.read("int.err")
    );
    bg.signal(libc::SIGINT);
    assert_eq!(bg.wait(std::time::Duration::from_secs(30)), Some(130));
    let out = d.read("int.out");
    let kdd: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "step_end" && e["step"] == "migrate-kdd")
        .unwrap_or_else(|| panic!("{out}"));
    let msg = kdd["message"].as_str().unwrap();
    assert!(msg.contains("after `put-sent`"), "{msg}");
    assert!(msg.contains("reads it back"), "{msg}");
}
