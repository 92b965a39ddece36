//! Task modules: the [`Module`] trait, the check/apply result types, and the
//! one registry (`modules!`) that maps a YAML key to a typed parameter
//! struct. Tasks never print; they return typed results and the engine emits
//! events.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use crate::model::{Change, Facts, TextDiff};

pub mod assert;
pub mod calico_kdd;
pub mod cluster_content;
pub mod command;
mod context;
pub mod debug;
#[cfg(test)]
pub mod fake;
pub mod fanout;
pub mod hosts;
pub mod mke_backup;
pub mod mke_compat;
pub mod mke_config;
pub mod mke_health;
pub mod mke_version;
pub mod mkectl;
mod params;
pub mod upgrade_inputs;

pub use context::{Connections, StepContext};
pub(crate) use params::Scalar;
pub use params::{duration, opt_duration, opt_string_list, string_list};

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
    /// Whether a step of this module cannot work without the MKE API (a
    /// run whose selected steps need it refuses to start without one).
    const NEEDS_API: bool = false;
    /// The fields a step of this module registers, with what each holds;
    /// `None` when the module does not declare them (then `steps.X.field`
    /// is not checked when the playbook loads).
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = None;
    /// Parameters whose plain strings are expressions (not templates),
    /// each with the names it may use besides the playbook's
    /// (`failed_when` may use `rc`, `stdout`, `stderr`).
    const EXPRESSIONS: &'static [(&'static str, &'static [&'static str])] = &[];

    /// Is the desired state there? What would change? Read-only.
    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError>;

    /// Make the changes `check` reported. Returns output to register.
    /// Read-only modules keep this default: their check never reports
    /// drift, so the engine never calls it.
    async fn apply(&self, _cx: &StepContext<'_>, _changes: &[Change]) -> Result<Facts, TaskError> {
        Err(TaskError::new(format!(
            "`{}` changes nothing: what its check finds needs a person (see its remedy)",
            Self::NAME
        )))
    }

    /// Whether this step's apply is disruptive; a module may decide per step.
    fn disruptive(&self) -> bool {
        Self::DISRUPTIVE
    }

    /// After a successful apply: whether it changed anything (a `command`
    /// whose `changed_when` is false did not: the step is `ok`).
    fn changed(&self, _output: &Facts) -> bool {
        true
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
    /// What a step of the module registers, when declared.
    pub outputs: Option<&'static [(&'static str, &'static str)]>,
}

fn doc_of<M: Module>() -> ModuleDoc {
    ModuleDoc {
        name: M::NAME,
        summary: M::SUMMARY,
        example: M::EXAMPLE,
        disruptive: M::DISRUPTIVE,
        check_mode: M::CHECK_MODE,
        schema: schemars::schema_for!(M),
        outputs: M::OUTPUTS,
    }
}

/// The one registry: each line maps a module key to its type. The enum,
/// the name list, parsing, dispatch and docs all come from here. Modules
/// after `test:` exist only in the crate's unit tests (fakes that drive the
/// engine) and have no docs.
macro_rules! modules {
    ($($variant:ident => $ty:ty),* $(,)? ; test: $($tvariant:ident => $tty:ty),* $(,)?) => {
        /// A step's module with its evaluated, typed parameters.
        pub enum Task {
            $($variant($ty),)*
            $(#[cfg(test)] $tvariant($tty),)*
        }

        /// Every module key, in registry order.
        #[cfg(not(test))]
        pub const NAMES: &[&str] = &[$(<$ty as Module>::NAME),*];
        #[cfg(test)]
        pub const NAMES: &[&str] = &[$(<$ty as Module>::NAME,)* $(<$tty as Module>::NAME),*];

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
                $(
                    #[cfg(test)]
                    if name == <$tty as Module>::NAME {
                        return Some(serde_path_to_error::deserialize(params).map(Task::$tvariant));
                    }
                )*
                None
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Task::$variant(_) => <$ty as Module>::NAME,)*
                    $(#[cfg(test)] Task::$tvariant(_) => <$tty as Module>::NAME,)*
                }
            }

            pub fn disruptive(&self) -> bool {
                match self {
                    $(Task::$variant(m) => m.disruptive(),)*
                    $(#[cfg(test)] Task::$tvariant(m) => m.disruptive(),)*
                }
            }

            pub fn changed(&self, output: &Facts) -> bool {
                match self {
                    $(Task::$variant(m) => m.changed(output),)*
                    $(#[cfg(test)] Task::$tvariant(m) => m.changed(output),)*
                }
            }

            pub fn verifiable(&self) -> bool {
                match self {
                    $(Task::$variant(m) => m.verifiable(),)*
                    $(#[cfg(test)] Task::$tvariant(m) => m.verifiable(),)*
                }
            }

            pub async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
                match self {
                    $(Task::$variant(m) => m.check(cx).await,)*
                    $(#[cfg(test)] Task::$tvariant(m) => m.check(cx).await,)*
                }
            }

            pub async fn apply(&self, cx: &StepContext<'_>, changes: &[Change]) -> Result<Facts, TaskError> {
                match self {
                    $(Task::$variant(m) => m.apply(cx, changes).await,)*
                    $(#[cfg(test)] Task::$tvariant(m) => m.apply(cx, changes).await,)*
                }
            }
        }

        /// Whether module `name` needs the MKE API.
        pub fn needs_api(name: &str) -> bool {
            $(
                if name == <$ty as Module>::NAME {
                    return <$ty as Module>::NEEDS_API;
                }
            )*
            false
        }

        /// The fields module `name` declares it registers.
        pub fn outputs(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
            $(
                if name == <$ty as Module>::NAME {
                    return <$ty as Module>::OUTPUTS;
                }
            )*
            None
        }

        /// Module `name`'s expression parameters and their local names.
        pub fn expressions(name: &str) -> &'static [(&'static str, &'static [&'static str])] {
            $(
                if name == <$ty as Module>::NAME {
                    return <$ty as Module>::EXPRESSIONS;
                }
            )*
            &[]
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
    MkeCompat => mke_compat::MkeCompat,
    UpgradeInputs => upgrade_inputs::UpgradeInputs,
    ClusterContent => cluster_content::ClusterContent,
    CalicoKdd => calico_kdd::CalicoKdd,
    MkeHealth => mke_health::MkeHealth,
    Assert => assert::Assert,
    Command => command::Command,
    Debug => debug::Debug,
    ;
    test:
    Fake => fake::Fake,
}
