//! What a task may use while it runs: the connections of the run and the
//! step's context (its key, templates, events, checkpoints).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::TaskError;
use crate::inventory::{Host, Inventory};
use crate::mke::MkeClient;
use crate::model::events::{Event, Events, HostResult};
use crate::model::{Change, StepKey};
use crate::ssh::SshSettings;
use crate::template::{Scope, Templates};

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
    pub key: &'a StepKey,
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
