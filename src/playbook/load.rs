//! Loading a playbook: YAML with positions → checked [`Playbook`]. Every
//! error names the file (the playbook, a variables file or an included
//! file), the line and the column, and says what to do; all errors found
//! are reported at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::model::{BUILTIN_NAMES, MKE_KEYS, PLAYBOOK_KEYS, Playbook, Step};
use super::names::StepOutputs;
use super::{step, vars};
use crate::diag::{Pos, Source, SourceError, SourceErrors, read_source};
use crate::template::{Scope, Templates, error_text};
use crate::util::text::{sha256_hex, suggest};
use crate::yaml::{self, Key, Kind, Node};

/// What the loader knows besides the playbook.
#[derive(Default)]
pub struct Context {
    /// `-e` variables.
    pub extra: IndexMap<String, serde_json::Value>,
    /// The process environment (templates may read it at load time).
    pub env: BTreeMap<String, String>,
    /// The inventory (`-i`), when one is given, as templates see it.
    pub inventory: Option<serde_json::Value>,
    /// `validate`: names whose values are only known at run time (an
    /// environment variable not set here, `inventory` without `-i`) are
    /// warnings, not errors.
    pub lenient: bool,
}

pub(super) struct Loader<'a> {
    pub errors: Vec<SourceError>,
    pub warnings: Vec<String>,
    pub templates: &'a Templates,
    pub cx: &'a Context,
    /// Step id (and its `_` spelling) → the file and line it is at.
    pub ids: HashMap<String, (Arc<Source>, usize)>,
    /// Register name → step id.
    pub registers: HashMap<String, String>,
    /// Step id → what it registers.
    pub outputs: HashMap<String, StepOutputs>,
    /// Every file read after the playbook, with its SHA-256.
    pub files: Vec<(PathBuf, String)>,
    /// The include chain being loaded (for cycles).
    pub chain: Vec<PathBuf>,
}

impl Loader<'_> {
    pub fn err(&mut self, src: &Source, pos: Pos, message: impl Into<String>) {
        self.errors.push(SourceError::at(src, pos, message));
    }

    pub fn help(
        &mut self,
        src: &Source,
        pos: Pos,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.errors
            .push(SourceError::at(src, pos, message).help(help));
    }

    pub fn unknown_key(&mut self, src: &Source, key: &Key, context: &str, allowed: &[&str]) {
        let help = match suggest(&key.name, allowed.iter().copied()) {
            Some(s) => format!(
                "did you mean `{s}`? {context} keys are: {}",
                allowed.join(", ")
            ),
            None => format!("{context} keys are: {}", allowed.join(", ")),
        };
        self.help(
            src,
            key.pos,
            format!("unknown key `{}` in {context}", key.name),
            help,
        );
    }

    pub fn string(&mut self, src: &Source, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    src,
                    node.pos,
                    format!("`{what}` must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Reads a file the playbook names (relative to the file naming it),
    /// recording its digest.
    pub fn read_file(
        &mut self,
        from: &Source,
        node: &Node,
        what: &str,
    ) -> Option<(Arc<Source>, Node)> {
        let name = self.string(from, node, what)?;
        let base = from.name.parent().unwrap_or(Path::new(""));
        let path = base.join(&name);
        let src = match read_source(&path, what) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("cannot read {what} `{name}` ({})", path.display());
                let detail = e.message;
                self.help(
                    from,
                    node.pos,
                    msg,
                    format!("{detail}; paths are relative to {}", base.display()),
                );
                return None;
            }
        };
        self.files
            .push((path.clone(), sha256_hex(src.text.as_bytes())));
        match yaml::parse(&src) {
            Ok(root) => Some((src, root)),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}

/// Loads and checks a playbook. `extra` are the `-e` variables, `env` the
/// process environment (templates may read both at load time).
pub fn load(
    path: &Path,
    extra: &IndexMap<String, serde_json::Value>,
    env: &BTreeMap<String, String>,
    templates: &Templates,
) -> Result<Playbook, SourceErrors> {
    let cx = Context {
        extra: extra.clone(),
        env: env.clone(),
        ..Context::default()
    };
    load_with(path, &cx, templates).map(|(pb, _)| pb)
}

/// [`load`] with everything the loader may know: returns the playbook and
/// warnings (names only known at run time, in lenient mode).
pub fn load_with(
    path: &Path,
    cx: &Context,
    templates: &Templates,
) -> Result<(Playbook, Vec<String>), SourceErrors> {
    let src = read_source(path, "playbook")?;
    let root = yaml::parse(&src)?;
    let mut l = Loader {
        errors: Vec::new(),
        warnings: Vec::new(),
        templates,
        cx,
        ids: HashMap::new(),
        registers: HashMap::new(),
        outputs: HashMap::new(),
        files: Vec::new(),
        chain: vec![canonical(path)],
    };

    let Some(entries) = root.as_map() else {
        let msg = format!(
            "a playbook is a mapping with `steps:`, found {}",
            root.type_name()
        );
        l.help(
            &src,
            root.pos,
            msg,
            "start from playbooks/upgrade-prep.yaml",
        );
        return Err(SourceErrors(l.errors));
    };
    for (key, _) in entries {
        if !PLAYBOOK_KEYS.contains(&key.name.as_str()) {
            match super::ansible::playbook_key_hint(&key.name) {
                Some(hint) => l.help(
                    &src,
                    key.pos,
                    format!("unknown key `{}` in the playbook", key.name),
                    hint,
                ),
                None => l.unknown_key(&src, key, "the playbook", PLAYBOOK_KEYS),
            }
        }
    }
    let name = root.get("name").and_then(|n| l.string(&src, n, "name"));
    let vars = vars::load(&mut l, &src, &root);
    let scope = Scope::new(
        vars.iter()
            .map(|(k, v)| (k.clone(), crate::template::to_value(v)))
            .collect(),
        cx.extra
            .iter()
            .map(|(k, v)| (k.clone(), crate::template::to_value(v)))
            .collect(),
        cx.env.clone(),
    );
    let mke = mke_section(&mut l, &src, &root, &scope);

    let mut steps: Vec<Step> = Vec::new();
    match root.get("steps") {
        None => l.help(
            &src,
            root.pos,
            "the playbook has no `steps:`",
            "add `steps:` with a list of steps, each with an `id` and one module",
        ),
        Some(snode) => {
            load_steps(&mut l, &src, snode, &scope, &vars, &mut steps);
            if steps.is_empty() && l.errors.is_empty() {
                l.err(&src, snode.pos, "`steps` is empty: add at least one step");
            }
        }
    }

    if !l.errors.is_empty() {
        return Err(SourceErrors(l.errors));
    }
    let sandbox = root.get("sandbox").cloned();
    if let Some(sb) = &sandbox
        && let Err(e) =
            serde_path_to_error::deserialize::<_, crate::sandbox::SandboxOptions>(sb.to_json())
    {
        let at = sb.locate(e.path());
        return Err(SourceError::at(
            &src,
            at.pos,
            format!("invalid `sandbox` knob: {}", e.inner()),
        )
        .help("see `mkeprep sandbox --help`; knob names are the flag names with `_`")
        .into());
    }
    let mut files = vec![(path.to_path_buf(), sha256_hex(src.text.as_bytes()))];
    files.extend(l.files);
    Ok((
        Playbook {
            path: path.to_path_buf(),
            digest: digest_of(&files),
            files,
            source: src,
            name,
            vars,
            mke,
            sandbox,
            steps,
        },
        l.warnings,
    ))
}

/// One digest over every file a playbook is made of: the playbook's own
/// when it reads no other file (as journals before `include` recorded it).
fn digest_of(files: &[(PathBuf, String)]) -> String {
    if files.len() == 1 {
        return files[0].1.clone();
    }
    let mut all = String::new();
    for (path, digest) in files {
        all.push_str(&format!("{}\0{digest}\n", path.display()));
    }
    sha256_hex(all.as_bytes())
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn mke_section(
    l: &mut Loader<'_>,
    src: &Source,
    root: &Node,
    scope: &Arc<Scope>,
) -> IndexMap<String, serde_json::Value> {
    let mut mke = IndexMap::new();
    let Some(m) = root.get("mke") else {
        return mke;
    };
    let Some(entries) = m.as_map() else {
        let msg = format!("`mke` must be a mapping, found {}", m.type_name());
        l.err(src, m.pos, msg);
        return mke;
    };
    for (key, value) in entries {
        if !MKE_KEYS.contains(&key.name.as_str()) {
            l.unknown_key(src, key, "the `mke` section", MKE_KEYS);
            continue;
        }
        match l.templates.render_json(&value.to_json(), &scope.value()) {
            Ok(v) => {
                mke.insert(key.name.clone(), v);
            }
            Err(e) => l.err(
                src,
                value.pos,
                format!("in `mke.{}`: {}", key.name, error_text(&e)),
            ),
        }
    }
    mke
}

/// Loads a list of steps (of the playbook or of an included file), with
/// `include:` items replaced by the steps of the file they name.
pub(super) fn load_steps(
    l: &mut Loader<'_>,
    src: &Arc<Source>,
    snode: &Node,
    scope: &Arc<Scope>,
    vars: &IndexMap<String, serde_json::Value>,
    out: &mut Vec<Step>,
) {
    let Some(items) = snode.as_seq() else {
        if !matches!(snode.kind, Kind::Null) {
            let msg = format!("`steps` must be a list, found {}", snode.type_name());
            l.err(src, snode.pos, msg);
        }
        return;
    };
    out.reserve_exact(items.len());
    for item in items {
        if let Some(inc) = item.get("include") {
            include(l, src, item, inc, scope, vars, out);
            continue;
        }
        if let Some(step) = step::load_step(l, src, item, out, scope, vars) {
            let at = (src.clone(), step.pos.line);
            l.ids.insert(step.id.clone(), at.clone());
            if step.id.contains('-') {
                l.ids.insert(step.id.replace('-', "_"), at);
            }
            l.outputs.insert(step.id.clone(), StepOutputs::of(&step));
            if let Some(r) = &step.register {
                l.registers.insert(r.clone(), step.id.clone());
            }
            out.push(step);
        }
    }
}

/// `- include: FILE`: the steps of another file, in place.
fn include(
    l: &mut Loader<'_>,
    src: &Arc<Source>,
    item: &Node,
    inc: &Node,
    scope: &Arc<Scope>,
    vars: &IndexMap<String, serde_json::Value>,
    out: &mut Vec<Step>,
) {
    for (key, _) in item.as_map().unwrap_or_default() {
        if key.name != "include" {
            l.help(
                src,
                key.pos,
                format!("`{}` next to `include`", key.name),
                "an `include:` item takes only the file; put `when`, `tags` and the like on the included steps",
            );
        }
    }
    let Some((isrc, root)) = l.read_file(src, inc, "included file") else {
        return;
    };
    let path = canonical(&isrc.name);
    if let Some(first) = l.chain.iter().position(|p| *p == path) {
        let mut names: Vec<String> = l.chain[first..]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.push(path.display().to_string());
        l.help(
            src,
            inc.pos,
            format!("include cycle: {}", names.join(" -> ")),
            "a file cannot include itself, directly or through others",
        );
        return;
    }
    let Some(entries) = root.as_map() else {
        let msg = format!(
            "an included file is a mapping with `steps:`, found {}",
            root.type_name()
        );
        l.err(&isrc, root.pos, msg);
        return;
    };
    for (key, _) in entries {
        if key.name != "steps" {
            l.help(
                &isrc,
                key.pos,
                format!("unknown key `{}` in an included file", key.name),
                "an included file has only `steps:`; variables belong in the playbook's `vars:` or `vars_files:`",
            );
        }
    }
    let Some(snode) = root.get("steps") else {
        l.help(
            &isrc,
            root.pos,
            "the included file has no `steps:`",
            "write `steps:` with a list of steps, as in a playbook",
        );
        return;
    };
    l.chain.push(path);
    load_steps(l, &isrc, snode, scope, vars, out);
    l.chain.pop();
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` may be used as a variable (not reserved).
pub fn is_reserved(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name) || super::model::LOOP_NAMES.contains(&name)
}

/// Names usable in templates at load time.
pub(super) fn known_names(
    l: &Loader<'_>,
    vars: &IndexMap<String, serde_json::Value>,
) -> HashSet<String> {
    BUILTIN_NAMES
        .iter()
        .map(|s| s.to_string())
        .chain(l.templates.global_names())
        .chain(vars.keys().cloned())
        .chain(l.cx.extra.keys().cloned())
        .chain(l.registers.keys().cloned())
        .collect()
}
