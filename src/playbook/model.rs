//! The playbook model, as loaded and checked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::diag::{Pos, Source};
use crate::yaml::Node;

/// Keys a step may have besides its one module key.
pub const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "when",
    "register",
    "tags",
    "ignore_errors",
    "retries",
    "delay",
    "timeout",
    "requires",
];

/// Keys a playbook may have at the top.
pub const PLAYBOOK_KEYS: &[&str] = &["name", "vars", "mke", "sandbox", "steps"];

/// Keys of the `mke:` section.
pub const MKE_KEYS: &[&str] = &["host", "username", "ca_cert", "insecure"];

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub source: Arc<Source>,
    /// SHA-256 of the file's bytes.
    pub digest: String,
    pub name: Option<String>,
    /// Variables after templating, in file order.
    pub vars: IndexMap<String, serde_json::Value>,
    /// The optional `mke:` section, rendered.
    pub mke: IndexMap<String, serde_json::Value>,
    /// The optional `sandbox:` section (knobs for `--sandbox`).
    pub sandbox: Option<Node>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub name: Option<String>,
    /// The file the step is written in, and where in it the step starts.
    pub file: Arc<std::path::Path>,
    pub pos: Pos,
    pub module: &'static str,
    /// The module's parameters, unrendered.
    pub params: Node,
    pub when: Option<(String, Pos)>,
    pub register: Option<String>,
    pub tags: Vec<String>,
    pub ignore_errors: bool,
    pub retries: u32,
    pub delay: Duration,
    pub timeout: Option<Duration>,
    /// Earlier steps that must have passed (ok or changed) in this run, or
    /// in the run it resumes, before this one may run.
    pub requires: Vec<String>,
}

impl Step {
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}
