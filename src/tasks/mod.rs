//! Task modules: the [`Module`] trait, the check/apply result types, and the
//! one registry (`modules!`) that maps a YAML key to a typed parameter
//! struct. Tasks never print; they return typed results and the engine emits
//! events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::inventory::{Host, Inventory};
use crate::mke::MkeClient;
use crate::model::events::{Event, Events, HostResult};
pub use crate::model::{Change, Facts, TextDiff};
use crate::ssh::SshSettings;
use crate::template::{Scope, Templates};

pub mod assert;
pub mod calico_kdd;
pub mod command;
pub mod debug;
pub mod hosts;
pub mod mke_backup;
pub mod mke_config;
pub mod mke_health;
pub mod mke_version;
pub mod mkectl;

/// The answer of a check phase.
#[derive(Debug, Clone)]
pub enum Check {
    /// The desired state is there; nothing to do.
    InSync { message: String, output: Facts },
    /// Apply would make these changes.
    Drift {
        message: String,
        changes: Vec<Change>,
        output: Facts,
    },
    /// This tool cannot fix it; a person must.
    Blocked {
        reason: String,
        remedy: String,
        output: Facts,
    },
    /// In `--check`: the answer depends on the pending change of an earlier
    /// step (`after`); the real run checks again once that is applied.
    AfterPending { after: String, message: String },
}

impl Check {
    pub fn in_sync(message: impl Into<String>) -> Self {
        Check::InSync {
            message: message.into(),
            output: Facts::new(),
        }
    }

    pub fn output(&self) -> Option<&Facts> {
        match self {
            Check::InSync { output, .. }
            | Check::Drift { output, .. }
            | Check::Blocked { output, .. } => Some(output),
            Check::AfterPending { .. } => None,
        }
    }
}

/// A step failed (as opposed to reporting drift or a blocked state).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub message: String,
    pub remedy: Option<String>,
    /// Output to register although the step failed (boxed: errors stay small).
    pub output: Box<Facts>,
    /// The apply may have taken effect although it failed: later runs must
    /// read the state back before trying again.
    pub outcome_unknown: bool,
}

impl TaskError {
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            remedy: None,
            output: Box::default(),
            outcome_unknown: false,
        }
    }

    /// Marks an apply failure whose effect on the target is unknown.
    pub fn unknown_outcome(mut self) -> Self {
        self.outcome_unknown = true;
        self
    }

    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }
}

/// What a run connects to: the MKE API, the nodes over SSH, this machine.
pub struct Connections {
    /// The MKE API client, or why there is none.
    pub mke: Result<MkeClient, String>,
    pub inventory: Option<Inventory>,
    pub ssh: SshSettings,
    /// The home directory of the machine that will run mkectl (for
    /// `~/.mke/mke.kubeconf`); the sandbox supplies its own.
    pub home: Option<PathBuf>,
    /// Searched before PATH for programs such as `mkectl` (the sandbox's
    /// stand-in).
    pub extra_path: Option<PathBuf>,
    /// Under `--sandbox`: its KDD conversion time per node, so progress and
    /// waits tell the truth about the simulated cluster.
    pub kdd_seconds_per_node: Option<f64>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            mke: Err("no MKE API is configured".into()),
            inventory: None,
            ssh: SshSettings::default(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            extra_path: None,
            kdd_seconds_per_node: None,
        }
    }
}

/// What a task may use while it runs.
pub struct StepContext<'a> {
    /// The step key this context runs (`ID`, or `ID[N]` in a loop).
    pub key: &'a crate::model::StepKey,
    pub check_mode: bool,
    pub templates: &'a Templates,
    pub scope: &'a Arc<Scope>,
    pub state_dir: &'a PathBuf,
    /// Pending changes of earlier steps in a `--check` run: (step id, change).
    pub pending: &'a [(String, Change)],
    pub conn: &'a Connections,
    pub events: &'a Events,
    /// An earlier, interrupted run started this step's apply and recorded
    /// no result: its effect is unknown until read back.
    pub interrupted_apply: bool,
    /// The checkpoints that interrupted apply had recorded.
    pub earlier_checkpoints: &'a [String],
    pub checkpointer: &'a dyn crate::model::Checkpoint,
}

impl StepContext<'_> {
    /// Records, durably, that this step's apply reached `name` (call it
    /// right before an action whose effect could outlive a crash).
    pub fn checkpoint(&self, name: &str) -> Result<(), TaskError> {
        self.checkpointer
            .record(name)
            .map_err(|e| TaskError::new(format!("cannot record progress in the journal: {e}")))
    }

    /// Whether an interrupted earlier apply of this step reached `name`.
    pub fn earlier_reached(&self, name: &str) -> bool {
        self.interrupted_apply && self.earlier_checkpoints.iter().any(|c| c == name)
    }

    /// The MKE API client, or a failure saying how to configure it.
    pub fn mke(&self) -> Result<&MkeClient, TaskError> {
        self.conn.mke.as_ref().map_err(|why| {
            TaskError::new(format!("this step needs the MKE API: {why}")).remedy(
                "export MKE_HOST, MKE_USERNAME and MKE_PASSWORD (or use --password-file), or rehearse with --sandbox",
            )
        })
    }

    /// The inventory, or a failure saying how to give one.
    pub fn inventory(&self) -> Result<&Inventory, TaskError> {
        self.conn.inventory.as_ref().ok_or_else(|| {
            TaskError::new("this step needs the inventory (mkectl's hosts.yaml)")
                .remedy("pass -i hosts.yaml or set MKEPREP_INVENTORY")
        })
    }

    /// Streams one host's result to the reporters.
    pub fn host_result(&self, host: &Host, status: &str, message: impl Into<String>, ms: u64) {
        self.host_result_with_cause(host, status, None, message, ms);
    }

    /// [`StepContext::host_result`] with the cause of a failure or warning
    /// (a stable snake_case word, as [`crate::ssh::Cause`] serialises).
    pub fn host_result_with_cause(
        &self,
        host: &Host,
        status: &str,
        cause: Option<&str>,
        message: impl Into<String>,
        ms: u64,
    ) {
        self.events.emit(Event::Host(HostResult {
            step: self.key.to_string(),
            host: host.address.clone(),
            status: status.to_string(),
            cause: cause.map(str::to_string),
            message: message.into(),
            duration_ms: ms,
            total: self.conn.inventory.as_ref().map(|i| i.hosts.len()),
        }));
    }

    /// Reports progress of a long wait (shown to people, not in JSON).
    pub fn progress(&self, message: impl Into<String>) {
        self.events.emit(Event::Progress {
            step: self.key.to_string(),
            message: message.into(),
            elapsed_s: None,
            expected_s: None,
        });
    }

    /// Progress of a wait with a known start (and, when known, an expected
    /// length), so a terminal can draw a bar. `message` stays complete text
    /// for logs.
    pub fn progress_timed(
        &self,
        message: impl Into<String>,
        elapsed: Duration,
        expected: Option<Duration>,
    ) {
        self.events.emit(Event::Progress {
            step: self.key.to_string(),
            message: message.into(),
            elapsed_s: Some(elapsed.as_secs_f64()),
            expected_s: expected.map(|d| d.as_secs_f64()),
        });
    }

    /// The earlier step whose pending change has this key, in `--check`.
    pub fn pending(&self, key: &str) -> Option<&str> {
        self.pending
            .iter()
            .find(|(_, c)| c.key == key)
            .map(|(s, _)| s.as_str())
    }
}

/// A task module: typed parameters with a check phase and an apply phase.
#[allow(async_fn_in_trait)]
pub trait Module: DeserializeOwned + JsonSchema + Sized {
    /// The YAML key that selects this module.
    const NAME: &'static str;
    /// One line for `mkeprep modules`.
    const SUMMARY: &'static str;
    /// A step using this module, for `mkeprep modules NAME`.
    const EXAMPLE: &'static str;
    /// Whether apply is always disruptive (needs confirmation or `--yes`).
    const DISRUPTIVE: bool = false;
    /// What the module does in check mode.
    const CHECK_MODE: &'static str = "full: the check phase is read-only";

    /// Is the desired state there? What would change? Read-only.
    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError>;

    /// Make the changes `check` reported. Returns output to register.
    async fn apply(&self, cx: &StepContext<'_>, changes: &[Change]) -> Result<Facts, TaskError>;

    /// Whether this step's apply is disruptive; a module may decide per step.
    fn disruptive(&self) -> bool {
        Self::DISRUPTIVE
    }

    /// After a successful apply: whether the engine must re-check to call
    /// the step `changed`. Modules that cannot observe their effect (a
    /// `command` without `creates`/`unless`) return false.
    fn verifiable(&self) -> bool {
        true
    }
}

/// Documentation of one module, generated from its code.
pub struct ModuleDoc {
    pub name: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
    pub disruptive: bool,
    pub check_mode: &'static str,
    pub schema: schemars::Schema,
}

fn doc_of<M: Module>() -> ModuleDoc {
    ModuleDoc {
        name: M::NAME,
        summary: M::SUMMARY,
        example: M::EXAMPLE,
        disruptive: M::DISRUPTIVE,
        check_mode: M::CHECK_MODE,
        schema: schemars::schema_for!(M),
    }
}

/// The one registry: each line maps a module key to its type. The enum,
/// the name list, parsing, dispatch and docs all come from here.
macro_rules! modules {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// A step's module with its evaluated, typed parameters.
        pub enum Task {
            $($variant($ty),)*
        }

        /// Every module key, in registry order.
        pub const NAMES: &[&str] = &[$(<$ty as Module>::NAME),*];

        impl Task {
            /// Types the (rendered) parameters of module `name`.
            pub fn from_json(
                name: &str,
                params: serde_json::Value,
            ) -> Option<Result<Task, serde_path_to_error::Error<serde_json::Error>>> {
                $(
                    if name == <$ty as Module>::NAME {
                        return Some(serde_path_to_error::deserialize(params).map(Task::$variant));
                    }
                )*
                None
            }

            pub fn name(&self) -> &'static str {
                match self { $(Task::$variant(_) => <$ty as Module>::NAME,)* }
            }

            pub fn disruptive(&self) -> bool {
                match self { $(Task::$variant(m) => m.disruptive(),)* }
            }

            pub fn verifiable(&self) -> bool {
                match self { $(Task::$variant(m) => m.verifiable(),)* }
            }

            pub async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
                match self { $(Task::$variant(m) => m.check(cx).await,)* }
            }

            pub async fn apply(&self, cx: &StepContext<'_>, changes: &[Change]) -> Result<Facts, TaskError> {
                match self { $(Task::$variant(m) => m.apply(cx, changes).await,)* }
            }
        }

        /// Documentation of every module, generated from the code.
        pub fn docs() -> Vec<ModuleDoc> {
            vec![$(doc_of::<$ty>()),*]
        }
    };
}

modules! {
    MkeVersion => mke_version::MkeVersionCheck,
    MkeBackup => mke_backup::MkeBackup,
    Mkectl => mkectl::Mkectl,
    Hosts => hosts::Hosts,
    MkeConfig => mke_config::MkeConfig,
    CalicoKdd => calico_kdd::CalicoKdd,
    MkeHealth => mke_health::MkeHealth,
    Assert => assert::Assert,
    Command => command::Command,
    Debug => debug::Debug,
}

/// A scalar written where a string is expected (`argv: [sleep, 5]`):
/// numbers and booleans are taken as their text; anything else is an error
/// that says what was expected.
pub(crate) struct Scalar(pub String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Scalar(s)),
            Value::Bool(b) => Ok(Scalar(b.to_string())),
            Value::Number(n) => Ok(Scalar(match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(f)) => f.to_string(),
                _ => n.to_string(),
            })),
            other => Err(serde::de::Error::custom(format!(
                "expected text (or a number or true/false), found {}",
                match other {
                    Value::Null => "nothing (null)",
                    Value::Array(_) => "a list",
                    _ => "a mapping",
                }
            ))),
        }
    }
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> String {
        s.0
    }
}

/// Deserialises a list of strings, taking numbers and booleans as their text.
pub fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Scalar> = serde::Deserialize::deserialize(d)?;
    Ok(items.into_iter().map(String::from).collect())
}

/// [`string_list`] for an optional list.
pub fn opt_string_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let items: Option<Vec<Scalar>> = serde::Deserialize::deserialize(d)?;
    Ok(items.map(|v| v.into_iter().map(String::from).collect()))
}

/// Deserialises a duration parameter: `30s`, `2m`, `24h` or a number of seconds.
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(f64),
    }
    match <Raw as serde::Deserialize>::deserialize(d)? {
        Raw::N(n) if n >= 0.0 && n.is_finite() => Ok(std::time::Duration::from_secs_f64(n)),
        Raw::N(_) => Err(serde::de::Error::custom(
            "a duration must be a positive number of seconds",
        )),
        Raw::S(s) => crate::util::text::parse_duration_str(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a duration such as 30s, 2m or 24h"))
        }),
    }
}

/// [`duration`] for an optional parameter.
pub fn opt_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    duration(d).map(Some)
}
