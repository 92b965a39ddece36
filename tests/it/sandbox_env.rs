//! Helpers for the sandbox tests: start `mkeprep sandbox`, talk to it with
//! curl and ssh as a user would. Every wait is bounded.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mkeprep");

/// A running `mkeprep sandbox`; killed on drop (also when a test fails).
pub struct Sandbox {
    child: Option<Child>,
    pub env: HashMap<String, String>,
    pub dir: PathBuf,
}

/// Reverses the shell quoting of `export NAME=VALUE` lines.
fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => value.to_string(),
    }
}

impl Sandbox {
    /// Starts `mkeprep sandbox --dir DIR ARGS...` and waits (at most 60 s)
    /// for all its export lines (the last is `MKEPREP_GATEWAY_HTTP_NODE_PORT`;
    /// `MKEPREP_EXTERNAL_ADDRESS`, the load balancer, comes before it).
    pub fn start(dir: &Path, args: &[&str]) -> Sandbox {
        let mut child = Command::new(BIN)
            .arg("sandbox")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mkeprep sandbox");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sandbox = Sandbox {
            child: Some(child),
            env: HashMap::new(),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sandbox.env.contains_key("MKEPREP_GATEWAY_HTTP_NODE_PORT") {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let stderr = sandbox.stop_and_stderr();
                    panic!("sandbox printed no exports in time; stderr:\n{stderr}");
                }
            };
            let rest = line
                .strip_prefix("export ")
                .unwrap_or_else(|| panic!("unexpected stdout line {line:?}"));
            let (name, value) = rest.split_once('=').expect("NAME=VALUE");
            sandbox.env.insert(name.to_string(), unquote(value));
        }
        sandbox
    }

    pub fn var(&self, name: &str) -> &str {
        self.env.get(name).map(String::as_str).unwrap_or_default()
    }

    /// Kills the process and returns what it wrote to stderr.
    fn stop_and_stderr(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = child.kill();
        child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default()
    }

    /// Sends `signal` (e.g. "INT") and waits at most 15 s for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("sandbox running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                return (status, stderr);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sandbox did not stop within 15 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs curl against the API with the sandbox's CA; returns the HTTP
    /// status (0 when curl got no answer), the body and curl's exit code.
    pub fn curl(&self, method: &str, path: &str, extra: &[&str]) -> Reply {
        let url = format!("{}{path}", self.var("MKE_HOST"));
        self.curl_url(method, &url, extra)
    }

    pub fn curl_url(&self, method: &str, url: &str, extra: &[&str]) -> Reply {
        let started = Instant::now();
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "--cacert",
                self.var("MKEPREP_CA_CERT"),
            ])
            .args(["-X", method, "-w", "\n%{http_code}"])
            .args(extra)
            .arg(url)
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        Reply {
            status: code.trim().parse().unwrap_or(0),
            body: body.to_string(),
            curl_exit: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Logs in with the exported credentials and returns the token.
    pub fn login(&self) -> String {
        let body = serde_json::json!({
            "username": self.var("MKE_USERNAME"),
            "password": self.var("MKE_PASSWORD"),
        })
        .to_string();
        let reply = self.curl(
            "POST",
            "/auth/login",
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &body,
            ],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["auth_token"]
            .as_str()
            .expect("auth_token")
            .to_string()
    }

    /// An authenticated request.
    pub fn api(&self, token: &str, method: &str, path: &str, extra: &[&str]) -> Reply {
        let auth = format!("Authorization: Bearer {token}");
        let mut args = vec!["-H", auth.as_str()];
        args.extend_from_slice(extra);
        self.curl(method, path, &args)
    }

    /// (address, port) of every inventory host, in order.
    pub fn hosts(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.var("MKEPREP_INVENTORY")).expect("inventory");
        let mut hosts = Vec::new();
        let mut address = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(a) = line.strip_prefix("- address: ") {
                address = a.split_whitespace().next().map(str::to_string);
            } else if let Some(p) = line.strip_prefix("port: ") {
                hosts.push((address.take().expect("address before port"), p.to_string()));
            }
        }
        hosts
    }

    /// Runs `command` on node `node` (1-based) with the real OpenSSH client,
    /// strict host key checking against the sandbox's known_hosts.
    pub fn ssh(&self, node: usize, command: &str) -> Output {
        self.ssh_as(node, "ubuntu", command)
    }

    pub fn ssh_as(&self, node: usize, user: &str, command: &str) -> Output {
        let (address, port) = self.hosts()[node - 1].clone();
        let key = self.dir.join("ssh/id_ed25519");
        Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&key)
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.var("MKEPREP_KNOWN_HOSTS")
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"])
            .args(["-p", &port])
            .arg(format!("{user}@{address}"))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// The record's lines, parsed.
    pub fn record(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("record.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("record line is JSON"))
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub curl_exit: i32,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
