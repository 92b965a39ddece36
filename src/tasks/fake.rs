//! A scripted module for the engine's unit tests: each step names a script
//! that says what its checks answer, in order (the last answer repeats),
//! and what its apply does; every call is logged, so a test can count
//! checks and applies across runs and resumes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Change, Check, Facts, Module, StepContext, TaskError};

/// What one check answers.
#[derive(Debug, Clone)]
pub enum Answer {
    InSync,
    Drift,
    Blocked,
    Fail,
}

/// What the apply does.
#[derive(Debug, Clone)]
pub enum Apply {
    Ok,
    Fail,
    /// Fails, not knowing whether it took effect.
    Unknown,
    /// Records the checkpoint, then waits (to be interrupted).
    CheckpointThenHang(&'static str),
}

#[derive(Debug, Clone)]
pub struct Script {
    pub checks: Vec<Answer>,
    pub apply: Apply,
    pub disruptive: bool,
    /// Whether a re-check can confirm an apply (a `command` without
    /// `creates`/`unless` cannot).
    pub verifiable: bool,
    /// `check`, `apply`, `apply:earlier` (an interrupted apply was seen).
    pub calls: Vec<String>,
}

impl Script {
    pub fn new(checks: &[Answer], apply: Apply) -> Script {
        Script {
            checks: checks.to_vec(),
            apply,
            disruptive: false,
            verifiable: true,
            calls: Vec::new(),
        }
    }
}

static SCRIPTS: Mutex<Option<HashMap<String, Script>>> = Mutex::new(None);

/// Registers a script under `name` (unique per test).
pub fn script(name: &str, s: Script) {
    SCRIPTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), s);
}

/// The calls made so far to the script `name`.
pub fn calls(name: &str) -> Vec<String> {
    with(name, |s| s.calls.clone())
}

fn with<T>(name: &str, f: impl FnOnce(&mut Script) -> T) -> T {
    let mut all = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
    let s = all
        .get_or_insert_with(HashMap::new)
        .get_mut(name)
        .unwrap_or_else(|| panic!("no fake script `{name}`"));
    f(s)
}

/// A step whose check and apply follow the script `script`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fake {
    pub script: String,
}

impl Module for Fake {
    const NAME: &'static str = "fake";
    const SUMMARY: &'static str = "A scripted module for the engine's tests.";
    const EXAMPLE: &'static str = "- id: x\n  fake:\n    script: name";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let earlier = cx.interrupted_apply;
        let answer = with(&self.script, |s| {
            let n = s.calls.iter().filter(|c| c.starts_with("check")).count();
            s.calls.push(if earlier {
                "check:earlier".into()
            } else {
                "check".into()
            });
            s.checks[n.min(s.checks.len() - 1)].clone()
        });
        let mut output = Facts::new();
        output.insert("script".into(), self.script.clone().into());
        Ok(match answer {
            Answer::InSync => Check::InSync {
                message: "in sync".into(),
                output,
            },
            Answer::Drift => Check::Drift {
                message: "drift".into(),
                changes: vec![Change::new("fake", format!("set {}", self.script))],
                output,
            },
            Answer::Blocked => Check::Blocked {
                reason: "blocked".into(),
                remedy: "unblock it".into(),
                output,
            },
            Answer::Fail => return Err(TaskError::new("check failed").remedy("fix it")),
        })
    }

    async fn apply(&self, cx: &StepContext<'_>, _: &[Change]) -> Result<Facts, TaskError> {
        let apply = with(&self.script, |s| {
            s.calls.push("apply".into());
            s.apply.clone()
        });
        match apply {
            Apply::Ok => Ok(Facts::new()),
            Apply::Fail => Err(TaskError::new("apply failed")),
            Apply::Unknown => Err(TaskError::new("apply timed out").unknown_outcome()),
            Apply::CheckpointThenHang(name) => {
                cx.checkpoint(name)?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Facts::new())
            }
        }
    }

    fn disruptive(&self) -> bool {
        with(&self.script, |s| s.disruptive)
    }

    fn verifiable(&self) -> bool {
        with(&self.script, |s| s.verifiable)
    }
}
