//! `mkeprep sandbox` driven as a user would: the built binary, curl with the
//! printed CA, the real OpenSSH client with the printed inventory.

use std::time::{Duration, Instant};

use base64::Engine;

use crate::sandbox_env::{BIN, Sandbox, stderr, stdout};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn curl_logs_in_and_reads_the_config() {
    let tmp = tempdir();
    let sb = Sandbox::start(&tmp.path().join("sb"), &[]);
    assert!(sb.var("MKE_HOST").starts_with("https://127.0.0.1:"));
    assert_eq!(sb.var("MKE_USERNAME"), "admin");
    let password = sb.var("MKE_PASSWORD").to_string();
    assert!(password.len() >= 16, "{password}");

    // No auth needed for _ping; everything else wants a token.
    let ping = sb.curl("GET", "/_ping", &[]);
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    let anon = sb.curl("GET", "/info", &[]);
    assert_eq!(anon.status, 401);
    assert!(
        anon.json()["message"]
            .as_str()
            .unwrap()
            .contains("unauthorized")
    );
    let anon = sb.curl("GET", "/api/ucp/config-toml", &[]);
    assert_eq!(anon.status, 401);
    assert!(
        anon.body.starts_with("unauthorized"),
        "plain text: {anon:?}"
    );
    let bogus = sb.api("not-a-token", "GET", "/nodes", &[]);
    assert_eq!(bogus.status, 401);

    let denied = sb.curl(
        "POST",
        "/auth/login",
        &[
            "--data-binary",
            r#"{"username":"admin","password":"wrong-password"}"#,
        ],
    );
    assert_eq!(denied.status, 401);
    assert_eq!(denied.json()["errors"][0]["code"], "UNAUTHORIZED");

    let token = sb.login();
    let config = sb.api(
        &token,
        "GET",
        "/api/ucp/config-toml",
        &["-H", "Accept: application/toml"],
    );
    assert_eq!(config.status, 200);
    for needle in [
        "[cluster_config]",
        "calico_kdd = false",
        "unmanaged_cni = false",
        "calico_ebpf_enabled = false",
        "kube_proxy_mode = \"iptables\"",
        "lifetime_minutes = 60",
    ] {
        assert!(config.body.contains(needle), "{needle} missing");
    }
    let info = sb.api(&token, "GET", "/info", &[]).json();
    assert_eq!(info["ServerVersion"], "ucp/3.8.10");
    let version = sb.api(&token, "GET", "/version", &[]).json();
    assert_eq!(
        version["Components"][1]["Name"],
        "Mirantis Kubernetes Engine"
    );
    let nodes = sb.api(&token, "GET", "/nodes", &[]).json();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["ManagerStatus"]["Addr"], "127.0.0.11:2377");
    assert_eq!(nodes[2]["Status"]["Addr"], "127.0.0.13");
    assert!(nodes.iter().all(|n| n["Status"]["State"] == "ready"));
    let backups = sb.api(&token, "GET", "/api/ucp/backups", &[]).json();
    assert_eq!(backups.as_array().unwrap().len(), 2);
    let missing = sb.api(&token, "GET", "/api/ucp/backup/nope", &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.json()["errors"][0]["message"].is_string());
    assert_eq!(sb.api(&token, "GET", "/no/such/path", &[]).status, 404);

    // Files are private; the record holds neither password nor token.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in [
            "ca.pem",
            "hosts.yaml",
            "known_hosts",
            "record.jsonl",
            "state.json",
            "ssh/id_ed25519",
        ] {
            let mode = std::fs::metadata(sb.dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let mode = std::fs::metadata(&sb.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let record = std::fs::read_to_string(sb.dir.join("record.jsonl")).unwrap();
    assert!(!record.contains(&password) && !record.contains(&token));
    let lines = sb.record();
    let logins: Vec<_> = lines
        .iter()
        .filter(|l| l["path"] == "/auth/login")
        .collect();
    assert_eq!(logins.len(), 2);
    assert_eq!(logins[0]["login"], "denied");
    assert_eq!(
        (logins[1]["login"].as_str(), logins[1]["logins"].as_u64()),
        (Some("ok"), Some(1))
    );

    // The stand-in mkectl and the known_hosts format.
    let mkectl = std::process::Command::new(sb.dir.join("bin/mkectl"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(stdout(&mkectl), "Version: v4.1.5\n");
    let known = std::fs::read_to_string(sb.var("MKEPREP_KNOWN_HOSTS")).unwrap();
    assert!(known.starts_with("[127.0.0.11]:"), "{known}");
    assert_eq!(known.lines().count(), 3);
    assert!(
        known
            .lines()
            .all(|l| l.split(' ').nth(1) == Some("ssh-ed25519"))
    );
}

#[test]
fn ssh_nodes_answer_the_command_vocabulary() {
    let tmp = tempdir();
    let sb = Sandbox::start(
        &tmp.path().join("sb"),
        &[
            "--sudo-password-node",
            "2",
            "--backup-file",
            "/var/backups/it's.tar",
            "--backup-age",
            "3h",
        ],
    );
    let ok = sb.ssh(1, "true");
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(sb.ssh(1, "sudo -n true").status.success());
    let sudo = sb.ssh(2, "sudo -n true");
    assert_eq!(sudo.status.code(), Some(1));
    assert!(stderr(&sudo).contains("sudo: a password is required"));

    let inspect = "docker inspect --format '{{.Config.Image}}' ucp-proxy";
    let manager = sb.ssh(1, inspect);
    assert_eq!(stdout(&manager), "mirantis/ucp-proxy:3.8.10\n");
    let worker = sb.ssh(3, inspect);
    assert_eq!(worker.status.code(), Some(1));
    assert!(stderr(&worker).contains("Error: No such object: ucp-proxy"));

    let stat = sb.ssh(1, r"stat -c '%s %Y' -- '/var/backups/it'\''s.tar'");
    assert!(stat.status.success(), "{}", stderr(&stat));
    let text = stdout(&stat);
    let (size, mtime) = text.trim().split_once(' ').unwrap();
    assert!(size.parse::<u64>().unwrap() > 100 * 1024);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let age = now - mtime.parse::<u64>().unwrap();
    assert!((3 * 3600 - 60..3 * 3600 + 60).contains(&age), "age {age}");

    let head = sb.ssh(1, r"head -c 512 -- '/var/backups/it'\''s.tar' | base64 -w0");
    assert!(head.status.success());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stdout(&head))
        .unwrap();
    assert_eq!(bytes.len(), 512);
    assert_eq!(&bytes[257..262], b"ustar");

    let missing = sb.ssh(2, r"stat -c '%s %Y' -- '/var/backups/it'\''s.tar'");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing)
            .contains("stat: cannot stat '/var/backups/it's.tar': No such file or directory")
    );
    let missing_head = sb.ssh(1, "head -c 512 -- '/nope' | base64 -w0");
    assert_eq!(
        (missing_head.status.code(), stdout(&missing_head).as_str()),
        (Some(0), "")
    );
    assert!(stderr(&missing_head).contains("head: cannot open '/nope'"));

    for unknown in ["uname -a", "true; id", "cat /etc/passwd | base64 -w0"] {
        let out = sb.ssh(1, unknown);
        assert_eq!(out.status.code(), Some(127), "{unknown}");
        assert!(stderr(&out).contains(&format!("sandbox: command not simulated: {unknown}")));
    }
    // Another user, with the right key, is refused (ssh exits 255).
    assert_eq!(sb.ssh_as(1, "root", "true").status.code(), Some(255));

    let record = sb.record();
    let ssh: Vec<_> = record.iter().filter(|l| l["kind"] == "ssh").collect();
    assert!(
        ssh.iter()
            .any(|l| l["command"] == "uname -a" && l["exit"] == 127)
    );
    assert!(ssh.iter().any(|l| l["node"] == 2 && l["exit"] == 1));
}

fn set_kdd(config: &str, value: bool) -> String {
    let from = format!("calico_kdd = {}", !value);
    assert!(config.contains(&from), "{from}");
    config.replacen(&from, &format!("calico_kdd = {value}"), 1)
}

#[test]
fn kdd_conversion_takes_its_time_is_recorded_refuses_to_go_back_and_persists() {
    let tmp = tempdir();
    let dir = tmp.path().join("sb");
    let mut sb = Sandbox::start(
        &dir,
        &[
            "--nodes",
            "4",
            "--kdd-seconds-per-node",
            "0.5",
            "--kdd-message",
            "upgrade",
        ],
    );
    let token = sb.login();
    let original = sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body;
    let edited = set_kdd(&original, true);
    let body_path = tmp.path().join("edited.toml");
    std::fs::write(&body_path, &edited).unwrap();
    let upload = body_path.to_str().unwrap();

    let put = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &["--upload-file", upload],
    );
    assert_eq!(put.status, 200, "{put:?}");
    assert!(
        put.elapsed >= Duration::from_secs(2),
        "took {:?}",
        put.elapsed
    );
    assert_eq!(
        put.json()["message"],
        "Calico datastore upgrade from etcd to kdd successful"
    );
    let after = sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body;
    assert_eq!(after, edited, "stored byte for byte");

    let record = sb.record();
    let puts: Vec<_> = record.iter().filter(|l| l["method"] == "PUT").collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0]["status"], 200);
    assert!(puts[0]["ms"].as_u64().unwrap() >= 2000);
    let saved = puts[0]["body_file"].as_str().unwrap();
    assert_eq!(saved, "config-put-1.toml");
    assert_eq!(std::fs::read_to_string(dir.join(saved)).unwrap(), edited);

    // true -> false is refused; invalid TOML too; neither changes anything.
    std::fs::write(&body_path, set_kdd(&edited, false)).unwrap();
    let back = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &["--upload-file", upload],
    );
    assert_eq!(back.status, 400);
    assert!(back.body.contains("irreversible"), "{back:?}");
    std::fs::write(&body_path, "[cluster_config\ncalico_kdd = true\n").unwrap();
    let bad = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &["--upload-file", upload],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.starts_with("invalid TOML"), "{bad:?}");
    // Other changes are accepted quickly and stored byte for byte.
    let other = edited.replace("kubelet_max_pods = 110", "kubelet_max_pods = 120");
    std::fs::write(&body_path, &other).unwrap();
    let ok = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &["--upload-file", upload],
    );
    assert_eq!(ok.status, 200);
    assert!(ok.elapsed < Duration::from_secs(2));
    assert!(dir.join("config-put-4.toml").exists());

    let host = sb.var("MKE_HOST").to_string();
    let (status, err) = sb.signal_and_wait("INT");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("stopped"), "{err}");

    // A restart with the same directory sees the converted cluster.
    let sb = Sandbox::start(&dir, &["--nodes", "4"]);
    let token = sb.login();
    let config = sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body;
    assert_eq!(config, other);
    assert_eq!(sb.var("MKE_HOST"), host, "the port is kept when free");
    let starts: Vec<_> = sb
        .record()
        .into_iter()
        .filter(|l| l["kind"] == "start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["resumed"], true);
}

#[test]
fn kdd_conversion_completes_when_the_client_disconnects() {
    let tmp = tempdir();
    let sb = Sandbox::start(
        &tmp.path().join("sb"),
        &["--nodes", "2", "--kdd-seconds-per-node", "1"],
    );
    let token = sb.login();
    let edited = set_kdd(
        &sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body,
        true,
    );
    let body_path = tmp.path().join("edited.toml");
    std::fs::write(&body_path, &edited).unwrap();
    let cut = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &[
            "--upload-file",
            body_path.to_str().unwrap(),
            "--max-time",
            "0.5",
        ],
    );
    assert_eq!(cut.curl_exit, 28, "curl timed out: {cut:?}");
    // While converting, another PUT is refused.
    let busy = sb.api(
        &token,
        "PUT",
        "/api/ucp/config-toml",
        &["--upload-file", body_path.to_str().unwrap()],
    );
    assert_eq!(busy.status, 409, "{busy:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let config = sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body;
        if config == edited {
            break;
        }
        assert!(Instant::now() < deadline, "conversion never completed");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The PUT's record line is written when its handler ends, which may be
    // a moment after the configuration shows the change: wait for it too.
    let recorded = || {
        sb.record()
            .iter()
            .any(|l| l["method"] == "PUT" && l["status"] == 200 && l["ms"].as_u64() >= Some(2000))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recorded() {
        assert!(
            Instant::now() < deadline,
            "the completed PUT was never recorded: {:?}",
            sb.record()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn faults_are_injected_as_asked() {
    let tmp = tempdir();
    let sb = Sandbox::start(
        &tmp.path().join("sb"),
        &[
            "--http-error",
            "GET /info=503*2",
            "--http-error",
            "/api/ucp/backup*=500*1",
            "--drop",
            "GET /nodes*1",
            "--slow",
            "GET /version=1.2*1",
            "--malformed-toml",
            "1",
            "--token-expiry-requests",
            "8",
        ],
    );
    let token = sb.login();
    for _ in 0..2 {
        let r = sb.api(&token, "GET", "/info", &[]);
        assert_eq!(r.status, 503);
        assert!(r.json()["message"].as_str().unwrap().contains("injected"));
    }
    assert_eq!(sb.api(&token, "GET", "/info", &[]).status, 200);
    let backups = sb.api(&token, "GET", "/api/ucp/backups", &[]);
    assert_eq!(backups.status, 500);
    assert_eq!(backups.json()["errors"][0]["code"], "INTERNAL_ERROR");
    assert_eq!(sb.api(&token, "GET", "/api/ucp/backups", &[]).status, 200);

    let dropped = sb.api(&token, "GET", "/nodes", &[]);
    assert_eq!(
        (dropped.status, dropped.curl_exit),
        (0, 52),
        "empty reply: {dropped:?}"
    );
    assert_eq!(sb.api(&token, "GET", "/nodes", &[]).status, 200);

    let slow = sb.api(&token, "GET", "/version", &[]);
    assert_eq!(slow.status, 200);
    assert!(slow.elapsed >= Duration::from_millis(1200));
    assert!(sb.api(&token, "GET", "/version", &[]).elapsed < Duration::from_millis(1200));

    let malformed = sb.api(&token, "GET", "/api/ucp/config-toml", &[]);
    assert_eq!(malformed.status, 200);
    assert!(malformed.body.parse::<toml_edit::DocumentMut>().is_err());
    let good = sb.api(&token, "GET", "/api/ucp/config-toml", &[]);
    assert!(good.body.parse::<toml_edit::DocumentMut>().is_ok());

    // Injected errors and drops answer before authentication, so 7
    // authenticated requests so far; the 8th is the last one allowed.
    assert_eq!(sb.api(&token, "GET", "/info", &[]).status, 200);
    let expired = sb.api(&token, "GET", "/info", &[]);
    assert_eq!(expired.status, 401);
    assert!(expired.body.contains("expired"), "{expired:?}");
    let fresh = sb.login();
    assert_eq!(sb.api(&fresh, "GET", "/info", &[]).status, 200);

    let faults: Vec<String> = sb
        .record()
        .iter()
        .filter_map(|l| l["fault"].as_str().map(str::to_string))
        .collect();
    for f in ["http-error", "drop", "slow", "malformed-toml"] {
        assert!(
            faults.iter().any(|x| x == f),
            "{f} not recorded: {faults:?}"
        );
    }
}

#[test]
fn tokens_expire_after_seconds_and_wrong_ca_fails_tls() {
    let tmp = tempdir();
    let sb = Sandbox::start(&tmp.path().join("a"), &["--token-expiry-seconds", "1"]);
    let token = sb.login();
    assert_eq!(sb.api(&token, "GET", "/info", &[]).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(sb.api(&token, "GET", "/info", &[]).status, 401);

    let wrong = Sandbox::start(&tmp.path().join("b"), &["--wrong-ca"]);
    let r = wrong.curl("GET", "/_ping", &[]);
    assert_eq!(r.curl_exit, 60, "certificate verification must fail: {r:?}");
    assert!(r.stderr.contains("certificate"), "{r:?}");
    // The server itself is fine: with the real CA (none handed out) only --insecure would work.
    let insecure = wrong.curl("GET", "/_ping", &["--insecure"]);
    assert_eq!(insecure.status, 200);
}

#[test]
fn backups_are_made_through_the_api_and_land_on_a_manager() {
    let tmp = tempdir();
    let sb = Sandbox::start(
        &tmp.path().join("sb"),
        &[
            "--backups",
            "absent",
            "--backup-seconds",
            "1",
            "--backup-file-kind",
            "absent",
        ],
    );
    let token = sb.login();
    assert_eq!(sb.api(&token, "GET", "/api/ucp/backups", &[]).body, "[]");
    let post = |body: &str| {
        sb.api(
            &token,
            "POST",
            "/api/ucp/backup",
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    let no_pass = post(r#"{"fileName":"b.tar"}"#);
    assert_eq!(no_pass.status, 400);
    assert!(
        no_pass.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("passphrase")
    );
    let made = post(
        r#"{"passphrase":"secret12chars","fileName":"b.tar","hostPath":"/srv/backup","includeLogs":false}"#,
    );
    assert_eq!(made.status, 200, "{made:?}");
    let id = made.json()["backupId"].as_str().unwrap().to_string();
    let busy = post(r#"{"noPassphrase":true}"#);
    assert_eq!(busy.status, 400);
    let first = sb
        .api(&token, "GET", &format!("/api/ucp/backup/{id}"), &[])
        .json();
    assert_eq!(first["backupState"], "IN_PROGRESS");
    assert_eq!(first["completed_at"], "0001-01-01T00:00:00Z");
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let b = sb
            .api(&token, "GET", &format!("/api/ucp/backup/{id}"), &[])
            .json();
        if b["backupState"] != "IN_PROGRESS" {
            break b;
        }
        assert!(Instant::now() < deadline, "backup never finished");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["backupState"], "SUCCESS");
    assert_eq!(done["nodeLocation"], "sandbox-manager-1");
    assert_eq!(done["encrypted"], true);
    let head = sb.ssh(1, "head -c 512 -- /srv/backup/b.tar | base64 -w0");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stdout(&head))
        .unwrap();
    assert_eq!(bytes[0], 0x8c, "a passphrase makes a PGP file");
    let record = std::fs::read_to_string(sb.dir.join("record.jsonl")).unwrap();
    assert!(!record.contains("secret12chars"));
}

#[test]
fn knobs_shape_the_simulated_cluster() {
    let tmp = tempdir();
    let sb = Sandbox::start(
        &tmp.path().join("sb"),
        &[
            "--mke-version",
            "3.7.15",
            "--legacy-component-name",
            "--plain-info-version",
            "--nodes",
            "5",
            "--managers",
            "3",
            "--down-node",
            "2",
            "--manager-addr-zero",
            "3",
            "--calico-kdd",
            "--unmanaged-cni",
            "--calico-ebpf",
            "--ipvs",
            "--backups",
            "old",
            "--backup-file-kind",
            "pgp",
            "--leftover-kubeconf",
            "--mkectl-version",
            "4.2.0-rc.8",
            "--username",
            "boss",
        ],
    );
    assert_eq!(sb.var("MKE_USERNAME"), "boss");
    let token = sb.login();
    let config = sb.api(&token, "GET", "/api/ucp/config-toml", &[]).body;
    for needle in [
        "calico_kdd = true",
        "unmanaged_cni = true",
        "calico_ebpf_enabled = true",
        "kube_proxy_mode = \"ipvs\"",
    ] {
        assert!(config.contains(needle), "{needle}");
    }
    let info = sb.api(&token, "GET", "/info", &[]).json();
    assert!(!info["ServerVersion"].as_str().unwrap().starts_with("ucp/"));
    let version = sb.api(&token, "GET", "/version", &[]).json();
    assert_eq!(version["Components"][1]["Name"], "Universal Control Plane");
    assert_eq!(version["Components"][1]["Version"], "3.7.15");
    let nodes = sb.api(&token, "GET", "/nodes", &[]).json();
    let managers: Vec<_> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n.get("ManagerStatus").is_some())
        .collect();
    assert_eq!(managers.len(), 3);
    assert_eq!(nodes[1]["Status"]["State"], "down");
    assert_eq!(nodes[2]["Status"]["Addr"], "0.0.0.0");
    assert_eq!(nodes[2]["ManagerStatus"]["Addr"], "127.0.0.13:2377");
    let backups = sb.api(&token, "GET", "/api/ucp/backups", &[]).json();
    assert_eq!(backups.as_array().unwrap().len(), 1);
    let created = humantime::parse_rfc3339(backups[0]["created_at"].as_str().unwrap()).unwrap();
    let age = created.elapsed().unwrap();
    assert!(age > Duration::from_secs(29 * 86400), "old backup: {age:?}");

    // Managers answer _ping at their own address and the API port; a down one fails.
    let port = sb.var("MKE_HOST").rsplit(':').next().unwrap().to_string();
    let ping = |addr: &str| {
        sb.curl_url("GET", &format!("https://{addr}:{port}/_ping"), &[])
            .status
    };
    assert_eq!(ping("127.0.0.11"), 200);
    assert_eq!(ping("127.0.0.12"), 503);
    assert_eq!(ping("127.0.0.13"), 200);

    assert_eq!(
        stdout(&sb.ssh(2, "docker inspect --format '{{.Config.Image}}' ucp-proxy")),
        "mirantis/ucp-proxy:3.7.15\n"
    );
    let head = sb.ssh(1, "head -c 1 -- /var/backups/mke3/backup.tar | base64 -w0");
    assert_eq!(stdout(&head), "jA==", "PGP packet tag 0x8c");
    assert!(sb.dir.join("home/.mke/mke.kubeconf").exists());
    let mkectl = std::process::Command::new(sb.dir.join("bin/mkectl"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(stdout(&mkectl), "Version: v4.2.0-rc.8\n");
}

#[test]
fn invalid_knobs_exit_2_and_help_lists_the_knobs() {
    let tmp = tempdir();
    let out = std::process::Command::new(BIN)
        .args(["sandbox", "--nodes", "2", "--managers", "3", "--dir"])
        .arg(tmp.path().join("sb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("managers = 3"), "{}", stderr(&out));
    let out = std::process::Command::new(BIN)
        .args(["sandbox", "--http-error", "GET /info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = std::process::Command::new(BIN)
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    let help = stdout(&help);
    for flag in [
        "--kdd-seconds-per-node",
        "--http-error",
        "--slow",
        "--drop",
        "--token-expiry-requests",
        "--malformed-toml",
        "--wrong-ca",
        "--backups",
        "--leftover-kubeconf",
        "--sudo-password-node",
        "--manager-addr-zero",
        "--down-node",
        "--mkectl-version",
        "--backup-file",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn sigterm_stops_cleanly_too() {
    let tmp = tempdir();
    let mut sb = Sandbox::start(&tmp.path().join("sb"), &["--nodes", "1"]);
    assert!(sb.ssh(1, "true").status.success());
    let (status, err) = sb.signal_and_wait("TERM");
    assert_eq!(status.code(), Some(0), "{err}");
    let record = sb.record();
    assert_eq!(record.last().unwrap()["kind"], "stop");
}
