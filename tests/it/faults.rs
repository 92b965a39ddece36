//! The MKE client against the sandbox's faults, through the binary: token
//! expiry and re-login, 5xx bursts and dropped answers on idempotent reads,
//! error bodies, malformed TOML, a wrong CA, and a dropped KDD PUT (read
//! back, never repeated). Each run also proves no secret leaks.

use crate::common::{Dir, KDD_ONLY, Run, assert_no_secrets, sandbox_args};

const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

fn run(d: &Dir, sets: &[&str], extra: &[&str]) -> Run {
    let mut args = sandbox_args(
        STANDARD,
        sets,
        &["--output", "json", "--junit", "j.xml", "--report", "r.html"],
    );
    args.extend_from_slice(extra);
    let r = d.cmd(&args).run();
    // The sandbox's password and tokens never reach any output or file
    // (the JUnit file and the readiness report included).
    assert_no_secrets(d, &[&r], &[]);
    r
}

#[test]
fn tokens_that_expire_mid_run_are_renewed_by_one_login() {
    let d = Dir::new();
    let r = run(&d, &["token_expiry_requests=3"], &["--yes"]);
    r.code(0);
    let logins = d
        .read(".mkeprep/sandbox/record.jsonl")
        .lines()
        .filter(|l| l.contains("\"login\":\"ok\""))
        .count();
    assert!(
        logins >= 2,
        "the client should have logged in again after expiry ({logins} logins)"
    );
}

#[test]
fn bursts_of_5xx_and_dropped_answers_on_reads_are_retried() {
    let d = Dir::new();
    let r = run(
        &d,
        &[
            "http_error=[\"GET /info=503*2\"]",
            "drop=[\"GET /nodes*1\"]",
        ],
        &["--check"],
    );
    r.code(3);
    assert_eq!(r.step("verify-version")["status"], "ok", "{}", r.both());
    assert_eq!(r.step("cluster-healthy")["status"], "ok", "{}", r.both());
}

#[test]
fn persistent_server_errors_name_the_endpoint_status_and_message() {
    let d = Dir::new();
    let r = run(
        &d,
        &["http_error=[\"GET /api/ucp/backups=500\"]"],
        &["--check"],
    );
    r.code(1);
    let b = r.step("confirm-backup");
    assert_eq!(b["status"], "failed");
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.contains("GET /api/ucp/backups") && msg.contains("500"),
        "{msg}"
    );
}

#[test]
fn malformed_toml_is_reported_not_edited() {
    let d = Dir::new();
    let r = run(&d, &["malformed_toml=100"], &["--check"]);
    r.code(1);
    let c = r.step("check-cni");
    assert_eq!(c["status"], "failed");
    assert!(
        c["message"].as_str().unwrap().contains("not valid TOML"),
        "{c}"
    );
    assert!(
        !d.join(".mkeprep/sandbox/config-put-1.toml").exists(),
        "nothing may be PUT"
    );
}

#[test]
fn a_wrong_ca_is_a_clear_tls_error_naming_ca_cert() {
    let d = Dir::new();
    let r = run(&d, &["wrong_ca=true"], &["--check"]);
    r.code(1);
    let v = r.step("verify-version");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("not trusted") && msg.contains("--ca-cert"),
        "{msg}"
    );
    assert!(
        !msg.contains("--insecure"),
        "never suggest --insecure first: {msg}"
    );
}

#[test]
fn a_dropped_kdd_put_is_read_back_not_repeated() {
    let d = Dir::new();
    d.write("kdd.yaml", KDD_ONLY);
    let r = d
        .cmd(&sandbox_args(
            "kdd.yaml",
            &["drop=[\"PUT /api/ucp/config-toml*1\"]"],
            &["--yes", "--output", "json"],
        ))
        .run();
    let puts = d.config_puts().len();
    assert!(puts <= 1, "a dropped PUT was sent again ({puts} PUTs)");
    // The drop happens before the sandbox acts on the PUT: the migration did
    // not run, the outcome was unknown, and the step failed rather than
    // sending a second PUT; the next run reads back and will not PUT either.
    let kdd = r.step("migrate-kdd");
    if r.code != 0 {
        assert_eq!(kdd["status"], "failed", "{kdd}");
        assert!(
            kdd["message"]
                .as_str()
                .unwrap()
                .contains("still reads false"),
            "{kdd}"
        );
    }
}

#[test]
fn every_read_fault_at_once_in_verbose_human_output_leaks_no_secret() {
    let d = Dir::new();
    for verbose in ["-v", "-vv"] {
        let knobs = [
            "token_expiry_requests=2",
            "http_error=[\"GET /info=503*2\", \"GET /api/ucp/backups=500\"]",
            "drop=[\"GET /nodes*1\"]",
            "slow=[\"GET /api/ucp/config-toml=5*1\"]",
        ];
        let extra = ["--check", verbose, "--api-timeout", "2", "--junit", "j.xml"];
        let r = d.cmd(&sandbox_args(STANDARD, &knobs, &extra)).run();
        r.code(1)
            .stdout_has("GET /api/ucp/backups")
            .stdout_has("500");
        assert_no_secrets(&d, &[&r], &[]);
    }
}
