//! Safety campaigns through the binary (issue 6): hostile inventory values
//! and templates, faults of the MKE endpoint itself (slow, unresolvable,
//! refused), and runs racing for one state directory. Every run is also
//! scanned for secrets.

use std::time::Duration;

use crate::common::{
    Dir, KDD_ONLY, Run, assert_no_secrets, assert_no_secrets_except, sandbox_args, wait_until,
};
use crate::sandbox_env::Sandbox;

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");
const HOSTS_STEP: &str =
    "steps:\n  - id: check-hosts\n    hosts: {sudo: skip, cluster_coverage: false}\n";
/// A password given to runs against endpoints that are not the sandbox.
const PASSWORD: &str = "Pw-of-an-unreachable-MKE-0451";

/// No `pwned*` file appeared in the test directory: no payload ran.
#[track_caller]
fn nothing_ran(d: &Dir) {
    let pwned: Vec<_> = d
        .all_files()
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pwned"))
        })
        .collect();
    assert!(pwned.is_empty(), "a payload ran: {pwned:?}");
}

// ------------------------------------------------------- hostile values

/// Shell and SSH option payloads; each would create `pwned` in the test
/// directory if it ever reached a shell (runs start there).
fn payloads(d: &Dir) -> Vec<String> {
    let target = d.join("pwned").display().to_string();
    vec![
        format!("$(touch {target})"),
        format!("`touch {target}`"),
        format!("x;touch {target}"),
        format!("x && touch {target}"),
        format!("x|touch {target}"),
        format!("-oProxyCommand=touch {target}"),
        format!("-oLocalCommand=touch {target} x"),
        "node 1".to_string(),
        "x\ny".to_string(),
    ]
}

#[test]
fn hostile_inventory_values_are_refused_at_their_line_before_anything_runs() {
    let d = Dir::new();
    d.write("pb.yaml", HOSTS_STEP);
    let key = d.write("id key", "not a key\n");
    let key = serde_json::to_string(&key.display().to_string()).unwrap();
    let mut tried = 0;
    for payload in payloads(&d) {
        let quoted = serde_json::to_string(&payload).unwrap();
        for (field, line) in [
            ("address", 3),
            ("user", 5),
            ("privateAddress", 7),
            ("privateInterface", 7),
        ] {
            let value = |f: &str, default: &str| {
                if f == field {
                    quoted.clone()
                } else {
                    default.to_string()
                }
            };
            let mut inv = format!(
                "hosts:\n  # one node\n  - address: {}\n    port: 22\n    user: {}\n    keyPath: {key}\n",
                value("address", "\"127.0.0.1\""),
                value("user", "ubuntu"),
            );
            if line == 7 {
                inv.push_str(&format!("    {field}: {quoted}\n"));
            }
            d.write("hosts.yaml", &inv);
            for extra in [&[][..], &["--sandbox"][..]] {
                let mut args = vec!["run", "pb.yaml", "-i", "hosts.yaml", "--yes"];
                args.extend_from_slice(extra);
                let r = d.cmd(&args).run();
                r.code(2)
                    .stderr_has(&format!("hosts.yaml:{line}:"))
                    .stderr_has("help:");
                assert!(
                    !d.join(".mkeprep/journal.jsonl").exists()
                        && !d.join(".mkeprep/sandbox").exists(),
                    "bad input must stop the run before it starts: {field} = {payload:?}"
                );
                tried += 1;
            }
        }
    }
    nothing_ran(&d);
    assert_eq!(tried, 9 * 4 * 2);
}

#[test]
fn a_key_path_with_spaces_and_shell_syntax_is_one_argument_and_works() {
    let d = Dir::new();
    let sb = Sandbox::start(&d.join("sb"), &[]);
    // The sandbox's key, under a directory and a name a shell would run.
    let dir = d.join("my keys/$(touch pwned-dir)");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("id `touch pwned-key` ; x");
    std::fs::copy(d.join("sb/ssh/id_ed25519"), &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let quoted = serde_json::to_string(&key.display().to_string()).unwrap();
    let inv: String = std::fs::read_to_string(sb.var("MKEPREP_INVENTORY"))
        .unwrap()
        .lines()
        .map(|l| match l.find("keyPath:") {
            Some(i) => format!("{}keyPath: {quoted}\n", &l[..i]),
            None => format!("{l}\n"),
        })
        .collect();
    assert!(inv.contains("touch pwned-key"), "{inv}");
    d.write("hosts.yaml", &inv);
    d.write("pb.yaml", HOSTS_STEP);
    for json in [false, true] {
        let mut args = vec!["run", "pb.yaml", "-i", "hosts.yaml", "--known-hosts"];
        args.push(sb.var("MKEPREP_KNOWN_HOSTS"));
        if json {
            args.extend(["--output", "json"]);
        } else {
            args.push("-vv");
        }
        let r = d
            .cmd(&args)
            .env("MKE_HOST", sb.var("MKE_HOST"))
            .env("MKE_USERNAME", sb.var("MKE_USERNAME"))
            .env("MKE_PASSWORD", sb.var("MKE_PASSWORD"))
            .env("MKEPREP_CA_CERT", sb.var("MKEPREP_CA_CERT"))
            .run();
        r.code(0);
        if json {
            assert_eq!(r.step("check-hosts")["status"], "ok", "{}", r.both());
        }
        assert_no_secrets(&d, &[&r], &[sb.var("MKE_PASSWORD")]);
    }
    nothing_ran(&d);
}

// ---------------------------------------------------- hostile templates

/// A one-step playbook whose debug message is `msg` (YAML-quoted).
fn debug_playbook(d: &Dir, msg: &str) {
    let msg = serde_json::to_string(msg).unwrap();
    d.write(
        "pb.yaml",
        &format!(
            "steps:\n  - id: first\n    command:\n      argv: [echo, hi]\n  - id: show\n    debug:\n      msg: {msg}\n"
        ),
    );
}

#[test]
fn templates_cannot_read_files_or_run_without_end() {
    let d = Dir::new();
    let secret_file = d.write("notes.txt", "FILE-CONTENT-5521\n");
    let f = secret_file.display().to_string();
    let cases = [
        (format!("{{% include '{f}' %}}"), "cannot read files"),
        (format!("{{% import '{f}' as m %}}"), "cannot read files"),
        ("{% from 'notes.txt' import x %}".into(), "cannot read files"),
        ("{% extends 'notes.txt' %}".into(), "cannot read files"),
        (
            "{% for i in range(10**9) %}x{% endfor %}".into(),
            "at most 100000",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                .into(),
            "bounded amount of work",
        ),
        (
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}".into(),
            "64 deep",
        ),
        ("{{ 'x' * 1000000000 }}".into(), "bounded amount of work"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
                .into(),
            "bounded amount of work",
        ),
    ];
    for (template, hint) in &cases {
        // Rendered when the playbook is loaded: exit 2 at the line.
        debug_playbook(&d, template);
        let r = d.cmd(&["run", "pb.yaml"]).run();
        r.code(2).stderr_has("pb.yaml:7:").stderr_has(hint);
        assert_no_secrets_except(&d, &[&r], &["FILE-CONTENT"], &["notes.txt"]);
        // Rendered while the run runs (it reads an earlier step's output):
        // the step fails with the same words, and the run stops there.
        debug_playbook(&d, &format!("{{{{ steps.first.rc }}}}{template}"));
        let r = d.cmd(&["run", "pb.yaml", "--output", "json"]).run();
        r.code(1);
        let show = r.step("show");
        assert_eq!(show["status"], "failed", "{template}: {show}");
        assert!(
            show["message"].as_str().unwrap().contains(hint),
            "{template}: {show}"
        );
        assert_no_secrets_except(&d, &[&r], &["FILE-CONTENT"], &["notes.txt"]);
    }
}

// ------------------------------------------------- faults of the endpoint

#[test]
fn a_read_slower_than_the_api_timeout_is_retried_and_then_named() {
    let d = Dir::new();
    // Once slow: the read is retried and the step passes.
    let r = d
        .cmd(&sandbox_args(
            STANDARD,
            &["slow=[\"GET /info=5*1\"]"],
            &["--check", "--api-timeout", "2", "--output", "json"],
        ))
        .run();
    r.code(3);
    assert_eq!(r.step("verify-version")["status"], "ok", "{}", r.both());
    assert_no_secrets(&d, &[&r], &[]);

    // Always slow: the step fails naming the endpoint, the timeout and the
    // flag; a real run applies nothing (migrate-kdd requires the version).
    for verbose in [None, Some("-v"), Some("-vv")] {
        let mut args = sandbox_args(
            STANDARD,
            &["slow=[\"GET /info=5\"]"],
            &["--yes", "--api-timeout", "2", "--junit", "j.xml"],
        );
        args.extend(verbose);
        let r = d.cmd(&args).run();
        r.code(1)
            .stdout_has("GET /info: no answer from 127.0.0.1:")
            .stdout_has("within the request timeout of 2s")
            .stdout_has("--api-timeout");
        assert_eq!(d.config_puts().len(), 0, "nothing may be applied");
        assert!(
            !d.journal().iter().any(|j| j["type"] == "apply_start"),
            "no apply may start"
        );
        assert_no_secrets(&d, &[&r], &[]);
    }
}

#[test]
fn a_slow_config_read_is_never_followed_by_a_put() {
    let d = Dir::new();
    d.write("kdd.yaml", KDD_ONLY);
    let r = d
        .cmd(&sandbox_args(
            "kdd.yaml",
            &["slow=[\"GET /api/ucp/config-toml=5\"]"],
            &["--yes", "--api-timeout", "2", "--output", "json"],
        ))
        .run();
    r.code(1);
    let kdd = r.step("migrate-kdd");
    assert_eq!(kdd["status"], "failed", "{kdd}");
    assert!(
        kdd["message"]
            .as_str()
            .unwrap()
            .contains("GET /api/ucp/config-toml"),
        "{kdd}"
    );
    assert_eq!(d.config_puts().len(), 0, "a PUT without a fresh read");
    assert_no_secrets(&d, &[&r], &[]);
}

/// `run PLAYBOOK --yes` against `host` with a password in the environment.
fn run_against(d: &Dir, host: &str, playbook: &str, extra: &[&str]) -> Run {
    let mut args = vec!["run", playbook, "--yes"];
    args.extend_from_slice(extra);
    d.cmd(&args)
        .env("MKE_HOST", host)
        .env("MKE_USERNAME", "admin")
        .env("MKE_PASSWORD", PASSWORD)
        .run()
}

#[test]
fn an_mke_host_that_does_not_resolve_or_refuses_is_named_and_nothing_is_applied() {
    let d = Dir::new();
    d.write("kdd.yaml", KDD_ONLY);
    // A port that refuses: bound, then closed again.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!("127.0.0.1:{refused}");
    for (host, words) in [
        (
            "mke.invalid",
            &["cannot resolve the host name of mke.invalid", "MKE_HOST"][..],
        ),
        (
            "https://mke.invalid:8443",
            &["cannot resolve the host name of mke.invalid:8443"][..],
        ),
        (
            refused.as_str(),
            &["connection refused by 127.0.0.1", "MKE_HOST"][..],
        ),
    ] {
        for verbose in [&[][..], &["-vv"][..]] {
            let r = run_against(&d, host, "kdd.yaml", verbose);
            r.code(1);
            for w in words {
                r.stdout_has(w);
            }
            let journal = d.journal();
            assert!(
                !journal.iter().any(|j| j["type"] == "apply_start"),
                "{host}: nothing may be applied: {journal:?}"
            );
            assert_no_secrets(&d, &[&r], &[PASSWORD]);
        }
        let r = run_against(&d, host, STANDARD, &["--output", "json", "-i", "none.yaml"]);
        r.code(2).stderr_has("none.yaml");
    }
}

// ------------------------------------------------------------ concurrency

/// A run that holds the lock until the file `gate` exists.
const GATED: &str = r#"steps:
  - id: wait-for-gate
    command:
      argv: [sh, -c, 'while [ ! -e gate ]; do sleep 0.05; done']
"#;

#[test]
fn two_runs_started_together_one_proceeds_the_other_exits_4() {
    for trial in 0..4 {
        let d = Dir::new();
        d.write("pb.yaml", GATED);
        let mut a = d.cmd(&["run", "pb.yaml"]).spawn(d.path(), "a");
        let mut b = d.cmd(&["run", "pb.yaml"]).spawn(d.path(), "b");
        // The loser leaves at once; the winner waits for the gate, so it
        // still holds the lock whatever the machine's speed.
        let (mut code_a, mut code_b) = (None, None);
        assert!(
            wait_until(Duration::from_secs(60), || {
                code_a = code_a.or_else(|| a.wait(Duration::ZERO));
                code_b = code_b.or_else(|| b.wait(Duration::ZERO));
                code_a.is_some() || code_b.is_some()
            }),
            "trial {trial}: neither run ended"
        );
        let (loser, winner, mut winner_bg) = match (code_a, code_b) {
            (Some(_), None) => ("a", "b", b),
            (None, Some(_)) => ("b", "a", a),
            other => panic!("trial {trial}: both ended: {other:?}"),
        };
        assert_eq!(
            code_a.or(code_b),
            Some(4),
            "trial {trial}: the loser {loser}: {}",
            d.read(&format!("{loser}.err"))
        );
        let err = d.read(&format!("{loser}.err"));
        assert!(
            err.contains("holds the lock") && err.contains(&format!("pid {}", winner_bg.pid())),
            "trial {trial}: {err}"
        );
        d.write("gate", "");
        assert_eq!(
            winner_bg.wait(Duration::from_secs(60)),
            Some(0),
            "trial {trial}: the winner {winner}: {}",
            d.read(&format!("{winner}.err"))
        );
        let starts = d
            .journal()
            .iter()
            .filter(|j| j["type"] == "run_start")
            .count();
        assert_eq!(starts, 1, "trial {trial}: the loser wrote to the journal");
    }
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over_and_said_so() {
    let d = Dir::new();
    d.write("pb.yaml", GATED);
    let mut bg = d.cmd(&["run", "pb.yaml", "-v"]).spawn(d.path(), "killed");
    assert!(wait_until(Duration::from_secs(30), || {
        d.journal().iter().any(|j| j["type"] == "apply_start")
    }));
    let pid = bg.pid();
    bg.signal(libc::SIGKILL);
    assert!(bg.wait(Duration::from_secs(10)).is_some());
    assert!(
        d.read(".mkeprep/lock").contains(&format!("\"pid\":{pid}")),
        "the killed run's record stays in the lock file"
    );
    d.write("gate", "");
    let r = d.cmd(&["run", "pb.yaml"]).run();
    r.code(0)
        .stderr_has(&format!("an earlier run (pid {pid}"))
        .stderr_has("taking it over");
    // Released cleanly this time: the next run takes nothing over.
    let again = d.cmd(&["run", "pb.yaml"]).run();
    again.code(0);
    assert!(!again.stderr.contains("taking it over"), "{}", again.stderr);
    assert_no_secrets(&d, &[&r, &again], &[]);
}

// ---------------------------------------------------------------- secrets

#[test]
fn the_secret_scan_knows_the_sandbox_password_and_catches_a_leak() {
    let d = Dir::new();
    // The runs' sandbox uses the password the scans look for.
    let pw = crate::common::sandbox_password();
    d.write(
        "pb.yaml",
        &format!(
            "steps:\n  - id: same\n    command:\n      argv: [sh, -c, 'test \"$P\" = {pw}']\n      env: {{P: \"{{{{ env.MKE_PASSWORD }}}}\"}}\n"
        ),
    );
    let r = d.cmd(&["run", "pb.yaml", "--sandbox", "-vv"]).run();
    r.code(0);
    assert_no_secrets_except(&d, &[&r], &[], &["pb.yaml"]);
    // A leak into any file below the directory is caught.
    d.write(".mkeprep/leak.log", &format!("x{pw}x"));
    let caught = std::panic::catch_unwind(|| assert_no_secrets_except(&d, &[], &[], &["pb.yaml"]));
    assert!(caught.is_err(), "the scan missed a password in a file");
    std::fs::remove_file(d.join(".mkeprep/leak.log")).unwrap();
    let leaky = Run {
        code: 0,
        stdout: String::new(),
        stderr: "Authorization: Bearer abc".into(),
    };
    let caught =
        std::panic::catch_unwind(|| assert_no_secrets_except(&d, &[&leaky], &[], &["pb.yaml"]));
    assert!(caught.is_err(), "the scan missed a token in stderr");
}
