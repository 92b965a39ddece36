//! A small builder that runs the built binary and states what it expects.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sandbox's admin password in every test: [`Cmd::new`] fixes it
/// through `MKEPREP_SANDBOX_PASSWORD`, so scans know what must never appear.
/// Random per test process.
pub fn sandbox_password() -> &'static str {
    use std::hash::{BuildHasher, Hasher};
    static PW: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PW.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("SbxPw{:016x}Zq", h.finish())
    })
}

/// Marks of a session token in a file or an output: the header the client
/// sends and the field of the login answer.
const TOKEN_MARKS: &[&str] = &["Bearer ", "\"auth_token\""];

/// Fails when the sandbox password, a token mark or any of `secrets`
/// appears in the runs' stdout or stderr, or in any file under the test
/// directory (journal, saved configurations, JUnit, the sandbox record,
/// captured outputs of background runs) other than `exempt` (files the
/// test itself wrote a secret into). Returns the number of files scanned.
#[track_caller]
pub fn assert_no_secrets_except(
    d: &Dir,
    runs: &[&Run],
    secrets: &[&str],
    exempt: &[&str],
) -> usize {
    let mut needles: Vec<&str> = vec![sandbox_password()];
    needles.extend(TOKEN_MARKS);
    needles.extend(secrets.iter().filter(|s| !s.is_empty()));
    let hit = |what: &str, text: &str| {
        for n in &needles {
            assert!(!text.contains(n), "secret {n:?} in {what}:\n{text}");
        }
    };
    for (i, r) in runs.iter().enumerate() {
        hit(&format!("stdout of run {i}"), &r.stdout);
        hit(&format!("stderr of run {i}"), &r.stderr);
    }
    let files: Vec<PathBuf> = d
        .all_files()
        .into_iter()
        .filter(|f| !exempt.iter().any(|e| f.ends_with(e)))
        .collect();
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        hit(&f.display().to_string(), &String::from_utf8_lossy(&bytes));
    }
    files.len()
}

/// [`assert_no_secrets_except`] with no exempt file.
#[track_caller]
pub fn assert_no_secrets(d: &Dir, runs: &[&Run], secrets: &[&str]) -> usize {
    assert_no_secrets_except(d, runs, secrets, &[])
}

/// A playbook of the KDD migration alone, with a short settle wait.
pub const KDD_ONLY: &str =
    "steps:\n  - id: migrate-kdd\n    calico_kdd:\n      settle_timeout: 3s\n";

/// `run PLAYBOOK --sandbox`, a `--sandbox-set` per knob, then `extra`.
pub fn sandbox_args<'a>(playbook: &'a str, knobs: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", playbook, "--sandbox"];
    for k in knobs {
        args.extend(["--sandbox-set", k]);
    }
    args.extend_from_slice(extra);
    args
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mkeprep"))
}

/// A scratch directory with helpers to write files into it.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_default()
    }

    /// The records of `.mkeprep/journal.jsonl` (unparseable lines left out).
    pub fn journal(&self) -> Vec<serde_json::Value> {
        self.read(".mkeprep/journal.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The config PUTs the sandbox received: it saves every body as
    /// `.mkeprep/sandbox/config-put-N.toml` before acting on it (so a PUT cut
    /// off by a kill counts too). Sorted by name.
    pub fn config_puts(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.join(".mkeprep/sandbox"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.retain(|n| n.starts_with("config-put-") && n.ends_with(".toml"));
        names.sort();
        names
    }

    /// A command in this directory with a clean MKE environment.
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(self.path(), args)
    }

    /// Every file below the directory (for secret scans).
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p, out);
                    } else {
                        out.push(p);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), &mut out);
        out
    }
}

pub struct Cmd {
    cmd: Command,
    stdin: Option<String>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Run {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Run {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The JSON events on stdout.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The `step_end` event of step `id` (panics, showing the run, if none).
    #[track_caller]
    pub fn step(&self, id: &str) -> serde_json::Value {
        self.events()
            .into_iter()
            .find(|e| e["event"] == "step_end" && e["step"] == id)
            .unwrap_or_else(|| panic!("no step_end for {id}:\n{}", self.both()))
    }

    /// step id → status from `step_end` events.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "step_end")
            .map(|e| {
                (
                    e["step"].as_str().unwrap_or("").to_string(),
                    e["status"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

impl Cmd {
    pub fn new(dir: &Path, args: &[&str]) -> Cmd {
        let mut cmd = Command::new(bin());
        cmd.args(args).current_dir(dir);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("MKE") || k == "NO_COLOR" || k == "SSH_AUTH_SOCK" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("MKEPREP_SANDBOX_PASSWORD", sandbox_password());
        Cmd { cmd, stdin: None }
    }

    pub fn env(mut self, k: &str, v: &str) -> Cmd {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, s: &str) -> Cmd {
        self.stdin = Some(s.to_string());
        self
    }

    pub fn run(mut self) -> Run {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self.cmd.spawn().expect("spawn mkeprep");
        if let Some(input) = self.stdin.take()
            && let Some(mut si) = child.stdin.take()
        {
            let _ = si.write_all(input.as_bytes());
        }
        let out = wait_bounded(child, Duration::from_secs(120));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts the command in the background (stdout/stderr to files in `dir`).
    pub fn spawn(mut self, dir: &Path, tag: &str) -> Bg {
        let out = std::fs::File::create(dir.join(format!("{tag}.out"))).expect("out file");
        let err = std::fs::File::create(dir.join(format!("{tag}.err"))).expect("err file");
        self.cmd.stdout(out).stderr(err).stdin(Stdio::null());
        Bg {
            child: Some(self.cmd.spawn().expect("spawn mkeprep")),
        }
    }
}

/// Waits for a child, killing it after `limit` so no test hangs. Its
/// output is read while it runs, so a run that writes more than a pipe
/// holds does not block.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A background process, killed when dropped.
pub struct Bg {
    pub child: Option<Child>,
}

impl Bg {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// Waits (bounded) for the exit code; `Duration::ZERO` only looks.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                return Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Makes a FIFO (named pipe) at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {path:?}"
    );
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
