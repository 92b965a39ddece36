//! `command`: run a program locally, never through a shell. An action is
//! idempotent through `creates` (a path whose existence means done) and
//! `unless` (a probe command whose exit 0 means done); the probe runs in
//! `--check` too, so it must be read-only. With `read_only: true` the
//! command itself is a probe: it runs in the check phase (under `--check`
//! too), can fail the step (`failed_when`), and never changes anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Change, Check, Facts, Module, StepContext, TaskError};
use crate::template::{error_text, with_locals};
use crate::util::secret::{MaybeSecret, has_marker, redact};

/// Registered stdout/stderr are cut to this many bytes.
const MAX_CAPTURE: usize = 64 * 1024;

/// Run a program without a shell.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Program and arguments. No shell: pipes, globs and `$VARS` are not interpreted.
    #[serde(deserialize_with = "super::string_list")]
    pub argv: Vec<String>,
    /// In sync (not run) when this path exists. Checked again after the run.
    #[serde(default)]
    pub creates: Option<PathBuf>,
    /// In sync (not run) when this probe command exits 0. Runs in `--check` too.
    #[serde(default, deserialize_with = "super::opt_string_list")]
    pub unless: Option<Vec<String>>,
    /// Working directory for the program (and the probe).
    #[serde(default)]
    pub chdir: Option<PathBuf>,
    /// Extra environment variables for the program. The one place a secret
    /// reaches a program: `PGPASSWORD: "{{ env.DB_PASSWORD }}"` passes the
    /// value, never shown (in `argv` a secret is refused: `ps` shows it).
    #[serde(default)]
    pub env: BTreeMap<String, MaybeSecret>,
    /// The program disrupts something (a restart, a failover): ask before
    /// running it, or require `--yes`.
    #[serde(default)]
    pub disruptive: bool,
    /// A probe that changes nothing (a `df`, a `curl` of a health
    /// endpoint): it runs in the check phase, also under `--check`, and the
    /// step is `ok` or fails (per `failed_when`), never `changed`.
    #[serde(default)]
    pub read_only: bool,
    /// When the step fails: an expression over `rc`, `stdout` and `stderr`
    /// (written without `{{ }}`, like `when`). Default: `rc != 0`.
    #[serde(default)]
    pub failed_when: Option<String>,
    /// When a run counts as a change: an expression over `rc`, `stdout`
    /// and `stderr`; false makes the step `ok`. Default: every run of an
    /// action is a change. Not for `read_only` probes.
    #[serde(default)]
    pub changed_when: Option<String>,
}

struct Ran {
    rc: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The program's output as text, secrets masked as it enters (so no later
/// escaping can hide one from the sinks).
fn capture(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_CAPTURE)];
    redact(&String::from_utf8_lossy(cut)).into_owned()
}

impl Command {
    /// A secret may reach the program only through `env`: on the command
    /// line `ps` shows it to every user, and in a path it means nothing.
    fn refuse_secrets(&self) -> Result<(), TaskError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (i, a) in self.argv.iter().enumerate() {
            fields.push((format!("argv[{i}]"), a.clone()));
        }
        for (i, a) in self.unless.iter().flatten().enumerate() {
            fields.push((format!("unless[{i}]"), a.clone()));
        }
        for (name, p) in [("creates", &self.creates), ("chdir", &self.chdir)] {
            if let Some(p) = p {
                fields.push((name.to_string(), p.display().to_string()));
            }
        }
        match fields.iter().find(|(_, v)| has_marker(v)) {
            None => Ok(()),
            Some((field, _)) => Err(TaskError::new(format!(
                "`{field}` is a secret: a secret reaches a program only through `env`, never its command line (where `ps` shows it to every user) or a path"
            ))
            .remedy("pass it as an environment variable: `env: {DB_PASSWORD: \"{{ env.DB_PASSWORD }}\"}`, and let the program read it from there")),
        }
    }

    fn program_line(argv: &[String]) -> String {
        argv.iter()
            .map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c))
                {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    async fn run(&self, argv: &[String], what: &str) -> Result<Ran, TaskError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| TaskError::new(format!("`{what}` is empty: give a program to run")))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.chdir {
            cmd.current_dir(dir);
        }
        crate::util::child::die_with_parent(&mut cmd);
        let out = cmd.output().await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!("is `{program}` installed and on PATH? (no shell is used: write the program and its arguments as separate list items)")
            } else {
                "check the program path and permissions".to_string()
            };
            TaskError::new(format!("cannot start `{program}`: {e}")).remedy(hint)
        })?;
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
        #[cfg(not(unix))]
        let signal = None;
        Ok(Ran {
            rc: out.status.code(),
            signal,
            stdout: capture(&out.stdout),
            stderr: capture(&out.stderr),
        })
    }

    /// Whether a guard says the work is already done.
    async fn guard_holds(&self) -> Result<Option<String>, TaskError> {
        if let Some(path) = &self.creates {
            let path = match &self.chdir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.clone(),
            };
            if path.exists() {
                return Ok(Some(format!("{} exists", path.display())));
            }
        }
        if let Some(probe) = &self.unless {
            let ran = self.run(probe, "unless").await?;
            if ran.rc == Some(0) {
                return Ok(Some(format!("`{}` exits 0", Self::program_line(probe))));
            }
        }
        Ok(None)
    }
}

impl Ran {
    fn facts(&self) -> Facts {
        let mut out = Facts::new();
        out.insert("ran".into(), true.into());
        out.insert("rc".into(), self.rc.into());
        out.insert("stdout".into(), self.stdout.clone().into());
        out.insert("stderr".into(), self.stderr.clone().into());
        out
    }

    /// `expr` over this run's `rc`, `stdout` and `stderr` (and the
    /// playbook's names).
    fn holds(&self, cx: &StepContext<'_>, what: &str, expr: &str) -> Result<bool, TaskError> {
        let scope = with_locals(
            &cx.scope.value(),
            vec![
                (
                    "rc",
                    self.rc.map(minijinja::Value::from).unwrap_or_default(),
                ),
                ("stdout", self.stdout.as_str().into()),
                ("stderr", self.stderr.as_str().into()),
            ],
        );
        cx.templates
            .eval_bool(expr, &scope)
            .map_err(|e| TaskError::new(format!("`{what}: {expr}`: {}", error_text(&e))))
    }

    /// Whether the run failed: `failed_when`, or by default a non-zero
    /// exit or a signal.
    fn failed(&self, cx: &StepContext<'_>, failed_when: Option<&str>) -> Result<bool, TaskError> {
        match failed_when {
            Some(expr) => self.holds(cx, "failed_when", expr),
            None => Ok(self.rc != Some(0)),
        }
    }

    /// The error of a failed run, naming the command, how it ended and
    /// its last line of stderr.
    fn error(&self, argv: &[String], failed_when: Option<&str>) -> TaskError {
        let line = Command::program_line(argv);
        let how = match (self.rc, self.signal, failed_when) {
            (Some(rc), _, Some(expr)) => {
                format!("exited with {rc}, and `failed_when: {expr}` holds")
            }
            (Some(rc), _, None) => format!("exited with {rc}"),
            (None, Some(sig), _) => format!("was killed by signal {sig}"),
            (None, None, _) => "ended abnormally".to_string(),
        };
        let last = self
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let mut message = format!("`{line}` {how}");
        if !last.is_empty() {
            message.push_str(&format!(": {}", last.trim()));
        }
        TaskError {
            message,
            remedy: None,
            output: Box::new(self.facts()),
            outcome_unknown: false,
        }
    }
}

fn not_run(reason: &str) -> Facts {
    let mut f = Facts::new();
    f.insert("ran".into(), false.into());
    f.insert("rc".into(), serde_json::Value::Null);
    f.insert("stdout".into(), "".into());
    f.insert("stderr".into(), "".into());
    f.insert("reason".into(), reason.into());
    f.insert("changed".into(), false.into());
    f
}

impl Module for Command {
    const NAME: &'static str = "command";
    const SUMMARY: &'static str =
        "Run a local program without a shell; idempotent through `creates` and/or `unless`.";
    const EXAMPLE: &'static str = "- id: fetch-ca\n  command:\n    argv: [curl, -fsSo, mke-ca.pem, \"https://{{ env.MKE_HOST }}/ca\"]\n    creates: mke-ca.pem";
    const CHECK_MODE: &'static str = "full: an action reports `would change` with the command line, and its `unless` probe runs (keep it read-only); a `read_only` probe runs and can fail the step";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        (
            "ran",
            "whether the program ran (false when `creates`/`unless` said done)",
        ),
        (
            "rc",
            "its exit status (null when it did not run or was killed)",
        ),
        ("stdout", "what it printed (at most 64 KiB)"),
        ("stderr", "what it printed on stderr (at most 64 KiB)"),
        ("reason", "why it did not run, when it did not"),
        (
            "changed",
            "whether the run counts as a change (`changed_when`)",
        ),
    ]);
    const EXPRESSIONS: &'static [(&'static str, &'static [&'static str])] = &[
        ("failed_when", &["rc", "stdout", "stderr"]),
        ("changed_when", &["rc", "stdout", "stderr"]),
    ];

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        self.refuse_secrets()?;
        if self.argv.is_empty() {
            return Err(TaskError::new(
                "`argv` is empty: give the program and its arguments",
            ));
        }
        if self.read_only {
            return self.probe(cx).await;
        }
        if let Some(reason) = self.guard_holds().await? {
            return Ok(Check::InSync {
                message: reason.clone(),
                output: not_run(&reason),
            });
        }
        let line = Self::program_line(&self.argv);
        let mut change = Change::new("run", format!("run `{line}`"));
        change.to = Some(serde_json::Value::from(self.argv.clone()));
        Ok(Check::Drift {
            message: format!("would run `{line}`"),
            changes: vec![change],
            output: Facts::new(),
        })
    }

    async fn apply(&self, cx: &StepContext<'_>, _: &[Change]) -> Result<Facts, TaskError> {
        self.refuse_secrets()?;
        let ran = self.run(&self.argv, "argv").await?;
        if ran.failed(cx, self.failed_when.as_deref())? {
            return Err(ran.error(&self.argv, self.failed_when.as_deref()));
        }
        let changed = match &self.changed_when {
            Some(expr) => ran.holds(cx, "changed_when", expr)?,
            None => true,
        };
        let mut out = ran.facts();
        out.insert("changed".into(), changed.into());
        Ok(out)
    }

    fn changed(&self, output: &Facts) -> bool {
        output.get("changed") != Some(&serde_json::Value::Bool(false))
    }

    fn disruptive(&self) -> bool {
        self.disruptive
    }

    fn verifiable(&self) -> bool {
        self.creates.is_some() || self.unless.is_some()
    }
}

impl Command {
    /// `read_only: true`: the command is the check.
    async fn probe(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        if self.creates.is_some() || self.unless.is_some() || self.changed_when.is_some() {
            return Err(TaskError::new(
                "a `read_only` command is a probe: it takes no `creates`, `unless` or `changed_when` (it never changes anything)",
            )
            .remedy("drop `read_only` to make it an action, or drop those keys"));
        }
        let ran = self.run(&self.argv, "argv").await?;
        if ran.failed(cx, self.failed_when.as_deref())? {
            return Err(ran.error(&self.argv, self.failed_when.as_deref()));
        }
        let mut out = ran.facts();
        out.insert("changed".into(), false.into());
        Ok(Check::InSync {
            message: format!(
                "`{}` passed (rc {})",
                Self::program_line(&self.argv),
                ran.rc
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "none".into())
            ),
            output: out,
        })
    }
}
