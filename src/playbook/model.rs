//! The playbook model, as loaded and checked.

use std::path::{Path, PathBuf};
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
    "loop",
    "register",
    "tags",
    "ignore_errors",
    "retries",
    "delay",
    "timeout",
    "requires",
];

/// Keys a playbook may have at the top.
pub const PLAYBOOK_KEYS: &[&str] = &["name", "vars", "vars_files", "mke", "sandbox", "steps"];

/// Keys of the `mke:` section.
pub const MKE_KEYS: &[&str] = &["host", "username", "ca_cert", "insecure"];

/// Names every template may use without declaring them.
pub const BUILTIN_NAMES: &[&str] = &["env", "steps", "inventory"];

/// Names a looping step's templates may use besides the playbook's.
pub const LOOP_NAMES: &[&str] = &["item", "loop"];

/// At most this many items in one loop.
pub const MAX_LOOP_ITEMS: usize = 100_000;

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub source: Arc<Source>,
    /// SHA-256 over the playbook and every file it reads (`vars_files`,
    /// `include`s), so that a change to any of them refuses a resume.
    pub digest: String,
    /// Every file the playbook is made of, with its own SHA-256: the
    /// playbook first, then variables files and included files.
    pub files: Vec<(PathBuf, String)>,
    pub name: Option<String>,
    /// Variables after templating (`vars`, then `vars_files`, which win).
    pub vars: IndexMap<String, serde_json::Value>,
    /// The optional `mke:` section, rendered.
    pub mke: IndexMap<String, serde_json::Value>,
    /// The optional `sandbox:` section (knobs for `--sandbox`).
    pub sandbox: Option<Node>,
    pub steps: Vec<Step>,
}

impl Playbook {
    /// Every tag some step carries, sorted.
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self
            .steps
            .iter()
            .flat_map(|s| s.tags.iter().map(String::as_str))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// The step's name; may be a template, rendered when the step runs.
    pub name: Option<String>,
    /// The file the step is written in (the playbook or an included file).
    pub source: Arc<Source>,
    /// Where the step starts, and its module key.
    pub pos: Pos,
    pub module_pos: Pos,
    pub module: &'static str,
    /// The module's parameters, unrendered.
    pub params: Node,
    pub when: Option<(String, Pos)>,
    /// `loop:`: a list (its items may be templates) or an expression that
    /// gives one; evaluated when the step runs.
    pub items: Option<Box<Node>>,
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

    /// The file the step is written in.
    pub fn file(&self) -> &Path {
        &self.source.name
    }
}
