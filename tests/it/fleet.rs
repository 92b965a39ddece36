//! The fleet example (examples/ci): the pipelines are valid YAML with one
//! job per cluster from one list, and the job script they call prepares
//! each cluster with its own state directory and reports — run here against
//! two sandboxes at once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Dir, bin, sandbox_password};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const STANDARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/upgrade-prep.yaml");

fn yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{ROOT}/{file}")).unwrap_or_default();
    let src = mkeprep::diag::Source::new(file, text);
    match mkeprep::yaml::parse(&src) {
        Ok(root) => root.to_json(),
        Err(e) => panic!("{file} is not valid YAML: {}", e.message),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

#[test]
fn the_fleet_pipelines_run_one_job_per_cluster_from_one_list() {
    let gl = yaml("examples/ci/gitlab-fleet.yml");
    let fleet = &gl[".fleet"];
    let clusters = strings(&fleet["parallel"]["matrix"][0]["CLUSTER"]);
    assert!(clusters.len() >= 2, "{fleet}");
    for c in &clusters {
        assert!(
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "cluster name {c}"
        );
    }
    // Its own state directory, cached per cluster; reports as artifacts.
    assert!(fleet["cache"]["key"].as_str().unwrap().contains("$CLUSTER"));
    assert_eq!(fleet["cache"]["when"], "always");
    assert!(strings(&fleet["artifacts"]["paths"]).contains(&"reports/".to_string()));
    assert_eq!(fleet["artifacts"]["reports"]["junit"], "reports/*.xml");
    assert!(
        fleet["resource_group"]
            .as_str()
            .unwrap()
            .contains("$CLUSTER")
    );
    for (job, mode) in [("fleet:check", "check"), ("fleet:apply", "apply")] {
        assert_eq!(gl[job]["extends"], ".fleet", "{job}");
        let script = strings(&gl[job]["script"]).join("\n");
        assert!(
            script.contains(&format!("MODE={mode} sh examples/ci/fleet-job.sh")),
            "{job}: {script}"
        );
    }
    assert_eq!(
        gl["fleet:check"]["allow_failure"]["exit_codes"],
        serde_json::json!([3])
    );
    assert_eq!(gl["fleet:apply"]["when"], "manual");

    let gh = yaml("examples/ci/github-fleet.yml");
    for job in ["check", "apply"] {
        let j = &gh["jobs"][job];
        let listed: Vec<String> = j["strategy"]["matrix"]["include"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["cluster"].as_str().map(String::from))
            .collect();
        assert_eq!(
            listed, clusters,
            "{job}: the same clusters as GitLab's list"
        );
        assert_eq!(j["strategy"]["fail-fast"], false);
        let steps = j["steps"].to_string();
        assert!(steps.contains("sh examples/ci/fleet-job.sh"), "{job}");
        assert!(steps.contains("actions/upload-artifact"), "{job}");
    }
    let apply = gh["jobs"]["apply"].to_string();
    assert!(
        apply.contains("mkeprep-${{ matrix.cluster }}-"),
        "cache key per cluster"
    );
    assert!(apply.contains(".mkeprep-fleet/${{ matrix.cluster }}"));
    assert_eq!(
        gh["jobs"]["apply"]["environment"],
        "mke-${{ matrix.cluster }}"
    );
}

/// `sh examples/ci/fleet-job.sh` in `d` for one cluster, against its own
/// sandbox; output in `d/CLUSTER-MODE.log`.
fn job(d: &Dir, cluster: &str, mode: &str) -> Child {
    let log = std::fs::File::create(d.join(&format!("{cluster}-{mode}.log"))).unwrap();
    let mut cmd = Command::new("sh");
    // Nothing of this process's MKE or fleet settings leaks in.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("MKE") || k.starts_with("FLEET") || k == "CLUSTER_DIR" {
            cmd.env_remove(&k);
        }
    }
    cmd.arg(format!("{ROOT}/examples/ci/fleet-job.sh"))
        .current_dir(d.path())
        .env("CLUSTER", cluster)
        .env("MODE", mode)
        .env("PLAYBOOK", STANDARD)
        .env("MKEPREP", bin())
        .env("MKEPREP_FLEET_SANDBOX", "1")
        .env("MKEPREP_ARGS", "--sandbox-set kdd_seconds_per_node=0.1")
        .env("MKEPREP_SANDBOX_PASSWORD", sandbox_password())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd.spawn().expect("sh")
}

/// Waits (at most 120 s) for the job; its exit code and log.
fn wait(d: &Dir, mut child: Child, cluster: &str, mode: &str) -> (i32, String) {
    let start = Instant::now();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, d.read(&format!("{cluster}-{mode}.log")))
}

fn verdict(d: &Dir, report: &str) -> String {
    let html = d.read(report);
    html.split("<span class=\"verdict-word\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no verdict in {report}"))
        .to_string()
}

#[test]
fn the_fleet_job_prepares_each_cluster_in_its_own_state_dir() {
    let d = Dir::new();
    // Both clusters' checks at once: no shared lock, no shared sandbox.
    let (a, b) = (job(&d, "alpha", "check"), job(&d, "beta", "check"));
    for (child, cluster) in [(a, "alpha"), (b, "beta")] {
        let (code, log) = wait(&d, child, cluster, "check");
        assert_eq!(code, 3, "{cluster}: {log}");
        assert!(
            log.contains(&format!(
                "fleet-job: {cluster} (check): exit 3, changes pending"
            )),
            "{log}"
        );
        assert_eq!(
            verdict(&d, &format!("reports/{cluster}-check.html")),
            "Pending changes"
        );
        assert!(
            d.read(&format!("reports/{cluster}-check.xml"))
                .contains("<testsuite")
        );
        assert!(
            d.join(&format!(".mkeprep-fleet/{cluster}/sandbox"))
                .is_dir()
        );
    }
    // Apply alpha only; beta's cluster is untouched.
    let (code, log) = wait(&d, job(&d, "alpha", "apply"), "alpha", "apply");
    assert_eq!(code, 0, "{log}");
    assert_eq!(verdict(&d, "reports/alpha-apply.html"), "Ready");
    assert!(
        d.read("reports/alpha-apply.html")
            .contains("<td><code>false</code></td><td><code>true</code></td>")
    );
    assert!(Path::new(&d.join(".mkeprep-fleet/alpha/journal.jsonl")).exists());
    assert!(
        !d.join(".mkeprep-fleet/beta/journal.jsonl").exists(),
        "a check writes no journal"
    );
    let (code, log) = wait(&d, job(&d, "alpha", "check"), "alpha", "check");
    assert_eq!(code, 0, "alpha is prepared: {log}");
    let (code, log) = wait(&d, job(&d, "beta", "check"), "beta", "check");
    assert_eq!(code, 3, "beta still needs its migration: {log}");
    // A bad cluster name is refused before anything runs.
    let (code, log) = wait(&d, job(&d, "Bad_Name", "check"), "Bad_Name", "check");
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("must be lower-case letters, digits and '-'"),
        "{log}"
    );
}
