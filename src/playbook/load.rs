//! Loading a playbook: YAML with positions → checked [`Playbook`]. Every
//! error names the file, line and column, and says what to do; all errors
//! found are reported at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use super::model::{MKE_KEYS, PLAYBOOK_KEYS, Playbook, STEP_KEYS, Step};
use crate::diag::{Pos, Source, SourceError, SourceErrors, read_source};
use crate::tasks::{NAMES, Task};
use crate::template::{Scope, Templates, error_text, is_template, to_value};
use crate::util::text::{parse_duration_str, sha256_hex, suggest};
use crate::yaml::{self, Key, Kind, Node};

/// Names every template may use without declaring them.
pub const BUILTIN_NAMES: &[&str] = &["env", "steps", "inventory"];

/// Names that can be rendered when the playbook is loaded: `env`, the
/// variables, and the template engine's own functions (`range`, `dict`, …).
fn is_static_name(name: &str, scope: &Scope, templates: &Templates) -> bool {
    name == "env"
        || scope.vars.contains_key(name)
        || scope.extra.contains_key(name)
        || templates.is_global(name)
}

/// Parses `30s`, `5m`, `1h30m`, `24h`, `2d` or a number of seconds.
pub fn parse_duration(node: &Node) -> Result<Duration, String> {
    let bad = || {
        format!(
            "expected a duration such as `30s`, `5m`, `24h` or a number of seconds, found {}",
            node.type_name()
        )
    };
    match &node.kind {
        Kind::Int(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
        Kind::Float(f) if *f >= 0.0 && f.is_finite() => Ok(Duration::from_secs_f64(*f)),
        Kind::Str(s) => parse_duration_str(s).ok_or_else(|| {
            format!("`{s}` is not a duration: write it as `30s`, `5m`, `1h30m` or `24h`")
        }),
        _ => Err(bad()),
    }
}

struct Loader<'a> {
    src: Arc<Source>,
    file: Arc<Path>,
    errors: Vec<SourceError>,
    templates: &'a Templates,
    /// Step id (and its `_` spelling) → line, of the steps loaded so far.
    ids: HashMap<String, usize>,
    /// Register name → step id.
    registers: HashMap<String, String>,
    /// Names templates may use: built-ins, vars, -e, registers so far.
    known: HashSet<String>,
}

impl Loader<'_> {
    fn err(&mut self, pos: Pos, message: impl Into<String>) -> &mut SourceError {
        self.errors.push(SourceError::at(&self.src, pos, message));
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    fn help(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        let e = SourceError::at(&self.src, pos, message).help(help);
        self.errors.push(e);
    }

    fn unknown_key(&mut self, key: &Key, context: &str, allowed: &[&str]) {
        let help = match suggest(&key.name, allowed.iter().copied()) {
            Some(s) => format!(
                "did you mean `{s}`? {context} keys are: {}",
                allowed.join(", ")
            ),
            None => format!("{context} keys are: {}", allowed.join(", ")),
        };
        self.help(
            key.pos,
            format!("unknown key `{}` in {context}", key.name),
            help,
        );
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    node.pos,
                    format!("`{what}` must be a string, found {}", node.type_name()),
                );
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
    let src = read_source(path, "playbook")?;
    let digest = sha256_hex(src.text.as_bytes());
    let root = yaml::parse(&src)?;
    let mut l = Loader {
        src: src.clone(),
        file: Arc::from(path),
        errors: Vec::new(),
        templates,
        ids: HashMap::new(),
        registers: HashMap::new(),
        known: BUILTIN_NAMES
            .iter()
            .map(|s| s.to_string())
            .chain(templates.global_names())
            .collect(),
    };

    let Some(entries) = root.as_map() else {
        let msg = format!(
            "a playbook is a mapping with `steps:`, found {}",
            root.type_name()
        );
        l.help(root.pos, msg, "start from playbooks/upgrade-prep.yaml");
        return Err(SourceErrors(l.errors));
    };
    for (key, _) in entries {
        if !PLAYBOOK_KEYS.contains(&key.name.as_str()) {
            l.unknown_key(key, "the playbook", PLAYBOOK_KEYS);
        }
    }

    let name = root.get("name").and_then(|n| l.string(n, "name"));

    // Variables, rendered in order: each may use env, -e and earlier vars.
    let extra_values: IndexMap<String, minijinja::Value> = extra
        .iter()
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect();
    let mut vars = IndexMap::new();
    let mut var_values = IndexMap::new();
    if let Some(vnode) = root.get("vars") {
        match vnode.as_map() {
            Some(ventries) => {
                for (key, value) in ventries {
                    if !is_identifier(&key.name) {
                        l.help(
                            key.pos,
                            format!("`{}` is not a valid variable name", key.name),
                            "use letters, digits and underscores, not starting with a digit",
                        );
                        continue;
                    }
                    if BUILTIN_NAMES.contains(&key.name.as_str()) {
                        l.help(
                            key.pos,
                            format!("`{}` is a reserved name", key.name),
                            format!("reserved: {}", BUILTIN_NAMES.join(", ")),
                        );
                        continue;
                    }
                    let scope = Scope::new(var_values.clone(), extra_values.clone(), env.clone());
                    match templates.render_json(&value.to_json(), &scope.value()) {
                        Ok(v) => {
                            crate::util::secret::register_secret_var(&key.name, &v);
                            var_values.insert(key.name.clone(), to_value(&v));
                            vars.insert(key.name.clone(), v);
                        }
                        Err(e) => {
                            l.err(
                                value.pos,
                                format!("in variable `{}`: {}", key.name, error_text(&e)),
                            );
                        }
                    }
                }
            }
            None if matches!(vnode.kind, Kind::Null) => {}
            None => {
                let msg = format!("`vars` must be a mapping, found {}", vnode.type_name());
                l.err(vnode.pos, msg);
            }
        }
    }
    let scope = Scope::new(var_values, extra_values, env.clone());
    l.known.extend(scope.vars.keys().cloned());
    l.known.extend(scope.extra.keys().cloned());

    let mut mke = IndexMap::new();
    if let Some(m) = root.get("mke") {
        match m.as_map() {
            Some(me) => {
                for (key, value) in me {
                    if MKE_KEYS.contains(&key.name.as_str()) {
                        match templates.render_json(&value.to_json(), &scope.value()) {
                            Ok(v) => {
                                mke.insert(key.name.clone(), v);
                            }
                            Err(e) => {
                                l.err(
                                    value.pos,
                                    format!("in `mke.{}`: {}", key.name, error_text(&e)),
                                );
                            }
                        }
                    } else {
                        l.unknown_key(key, "the `mke` section", MKE_KEYS);
                    }
                }
            }
            None => {
                let msg = format!("`mke` must be a mapping, found {}", m.type_name());
                l.err(m.pos, msg);
            }
        }
    }

    let mut steps: Vec<Step> = Vec::new();
    match root.get("steps") {
        None => l.help(
            root.pos,
            "the playbook has no `steps:`",
            "add `steps:` with a list of steps, each with an `id` and one module",
        ),
        Some(snode) => match snode.as_seq() {
            Some([]) => {
                l.err(snode.pos, "`steps` is empty: add at least one step");
            }
            Some(items) => {
                for item in items {
                    if let Some(step) = load_step(&mut l, item, &steps, &scope) {
                        l.ids.insert(step.id.clone(), step.pos.line);
                        l.ids.insert(step.id.replace('-', "_"), step.pos.line);
                        if let Some(r) = &step.register {
                            l.registers.insert(r.clone(), step.id.clone());
                            l.known.insert(r.clone());
                        }
                        steps.push(step);
                    }
                }
            }
            None => {
                let msg = format!("`steps` must be a list, found {}", snode.type_name());
                l.err(snode.pos, msg);
            }
        },
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
    Ok(Playbook {
        path: path.to_path_buf(),
        source: src,
        digest,
        name,
        vars,
        mke,
        sandbox,
        steps,
    })
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_step_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn load_step(
    l: &mut Loader<'_>,
    node: &Node,
    earlier: &[Step],
    scope: &Arc<Scope>,
) -> Option<Step> {
    let Some(entries) = node.as_map() else {
        let msg = format!(
            "a step must be a mapping with `id` and one module, found {}",
            node.type_name()
        );
        l.err(node.pos, msg);
        return None;
    };
    let errors_before = l.errors.len();
    let mut module: Option<(&'static str, &Key, &Node)> = None;
    for (key, value) in entries {
        if STEP_KEYS.contains(&key.name.as_str()) {
            continue;
        }
        match NAMES.iter().find(|n| **n == key.name) {
            Some(name) => {
                if let Some((first, _, _)) = module {
                    l.help(
                        key.pos,
                        format!(
                            "a step has exactly one module: found `{first}` and `{}`",
                            key.name
                        ),
                        "split it into two steps",
                    );
                } else {
                    module = Some((name, key, value));
                }
            }
            None => {
                let mut all: Vec<&str> = STEP_KEYS.to_vec();
                all.extend(NAMES.iter().copied());
                let help = match suggest(&key.name, all.iter().copied()) {
                    Some(s) => format!(
                        "did you mean `{s}`? modules: {}; step keys: {}",
                        NAMES.join(", "),
                        STEP_KEYS.join(", ")
                    ),
                    None => format!(
                        "modules: {}; step keys: {}",
                        NAMES.join(", "),
                        STEP_KEYS.join(", ")
                    ),
                };
                l.help(
                    key.pos,
                    format!("unknown module or step key `{}`", key.name),
                    help,
                );
            }
        }
    }

    let id = match node.get("id") {
        None => {
            l.help(node.pos, "the step has no `id`", "add `id: some-name` (lowercase letters, digits and `-`); it keys the journal and --start-at");
            None
        }
        Some(v) => match v.as_str() {
            Some(s) if is_step_id(s) => {
                if let Some(first) = l.ids.get(s).copied() {
                    let msg = format!("duplicate step id `{s}` (first at line {first})");
                    l.err(v.pos, msg);
                }
                Some(s.to_string())
            }
            _ => {
                let shown = v.scalar_text().unwrap_or_else(|| v.type_name().to_string());
                l.help(
                    v.pos,
                    format!("invalid step id `{shown}`"),
                    "an id is lowercase letters, digits and `-`, such as `migrate-kdd`",
                );
                None
            }
        },
    };

    let Some((module_name, module_key, params)) = module else {
        l.help(
            node.pos,
            "the step has no module",
            format!("add one of: {}", NAMES.join(", ")),
        );
        return None;
    };

    let name = node.get("name").and_then(|n| l.string(n, "name"));
    let when = node.get("when").and_then(|w| {
        let text = match &w.kind {
            Kind::Bool(b) => b.to_string(),
            _ => l.string(w, "when")?,
        };
        let expr = strip_braces(&text).to_string();
        Some((expr, w.pos))
    });
    let register = node.get("register").and_then(|r| {
        let s = l.string(r, "register")?;
        if !is_identifier(&s) {
            l.help(
                r.pos,
                format!("`{s}` is not a valid register name"),
                "use letters, digits and underscores",
            );
            return None;
        }
        if scope.vars.contains_key(&s)
            || scope.extra.contains_key(&s)
            || BUILTIN_NAMES.contains(&s.as_str())
        {
            l.help(
                r.pos,
                format!("register name `{s}` shadows a variable"),
                "pick another name",
            );
        }
        if let Some(first) = l.registers.get(&s) {
            let msg = format!("register name `{s}` is already used by step `{first}`");
            l.err(r.pos, msg);
        }
        Some(s)
    });
    let tags = match node.get("tags") {
        None => Vec::new(),
        Some(t) => match &t.kind {
            Kind::Str(s) => vec![s.clone()],
            Kind::Seq(items) => items.iter().filter_map(|i| l.string(i, "tags")).collect(),
            _ => {
                l.err(
                    t.pos,
                    format!("`tags` must be a list of strings, found {}", t.type_name()),
                );
                Vec::new()
            }
        },
    };
    let ignore_errors = match node.get("ignore_errors") {
        None => false,
        Some(n) => match n.kind {
            Kind::Bool(b) => b,
            _ => {
                l.err(
                    n.pos,
                    format!(
                        "`ignore_errors` must be true or false, found {}",
                        n.type_name()
                    ),
                );
                false
            }
        },
    };
    let retries = match node.get("retries") {
        None => 0,
        Some(n) => match n.kind {
            Kind::Int(i) if (0..=10_000).contains(&i) => i as u32,
            _ => {
                l.err(n.pos, "`retries` must be a whole number from 0 to 10000");
                0
            }
        },
    };
    let delay = match node.get("delay") {
        None => Duration::from_secs(5),
        Some(n) => parse_duration(n).unwrap_or_else(|e| {
            l.err(n.pos, format!("`delay`: {e}"));
            Duration::ZERO
        }),
    };
    let requires = match node.get("requires") {
        None => Vec::new(),
        Some(r) => {
            let items: Vec<&Node> = match &r.kind {
                Kind::Str(_) => vec![r],
                Kind::Seq(items) => items.iter().collect(),
                _ => {
                    l.err(r.pos, "`requires` must be a list of earlier step ids");
                    Vec::new()
                }
            };
            items
                .into_iter()
                .filter_map(|i| {
                    let id = l.string(i, "requires")?;
                    if !l.ids.contains_key(&id) {
                        l.help(
                            i.pos,
                            format!("`requires: {id}` is not an earlier step"),
                            "list ids of steps above this one",
                        );
                        return None;
                    }
                    Some(id)
                })
                .collect()
        }
    };
    let timeout = node.get("timeout").and_then(|n| match parse_duration(n) {
        Ok(d) if d.is_zero() => {
            l.err(n.pos, "`timeout` must be more than zero");
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            l.err(n.pos, format!("`timeout`: {e}"));
            None
        }
    });

    let params = match &params.kind {
        Kind::Null => Node {
            pos: params.pos,
            kind: Kind::Map(Vec::new()),
        },
        Kind::Map(_) => params.clone(),
        _ => {
            let msg = format!(
                "the parameters of `{module_name}` must be a mapping, found {}",
                params.type_name()
            );
            l.help(
                params.pos,
                msg,
                format!("see `mkeprep modules {module_name}`"),
            );
            return None;
        }
    };

    // Templates: every name must be known; `steps.X` must be an earlier step.
    let known = std::mem::take(&mut l.known);
    let mut strings = Vec::new();
    collect_strings(&params, &mut strings);
    for (s, pos) in strings {
        if !is_template(s) {
            continue;
        }
        match l.templates.nested_names(s) {
            Ok(names) => check_names(l, &names, &known, earlier, pos),
            Err(e) => {
                l.err(pos, format!("template error: {}", error_text(&e)));
            }
        }
    }
    if let Some((expr, pos)) = &when {
        match l.templates.expression_names(expr) {
            Ok(names) => check_names(l, &names, &known, earlier, *pos),
            Err(e) => {
                l.err(
                    *pos,
                    format!("`when` is not a valid expression: {}", error_text(&e)),
                );
            }
        }
    }
    l.known = known;

    // Type-check the parameters now, rendering what can be rendered now.
    if l.errors.len() == errors_before {
        type_check(l, module_name, module_key, &params, scope);
    }

    Some(Step {
        id: id?,
        name,
        file: l.file.clone(),
        pos: node.pos,
        module: module_name,
        params,
        when,
        register,
        tags,
        ignore_errors,
        retries,
        delay,
        timeout,
        requires,
    })
}

/// `{{ expr }}` → `expr`, for `when:` written with braces.
fn strip_braces(s: &str) -> &str {
    let t = s.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") => inner.trim(),
        _ => t,
    }
}

fn check_names(
    l: &mut Loader<'_>,
    names: &HashSet<String>,
    known: &HashSet<String>,
    earlier: &[Step],
    pos: Pos,
) {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    for name in sorted {
        let top = name.split('.').next().unwrap_or(name);
        if !known.contains(top) {
            let help = match suggest(top, known.iter().map(String::as_str)) {
                Some(s) => {
                    format!("did you mean `{s}`? Define it under `vars:` or pass `-e {top}=VALUE`")
                }
                None => format!("define it under `vars:` or pass `-e {top}=VALUE`"),
            };
            l.help(pos, format!("undefined variable `{top}`"), help);
            continue;
        }
        if let Some(rest) = name.strip_prefix("steps.") {
            let id = rest.split('.').next().unwrap_or(rest);
            let found = l.ids.contains_key(id);
            if !found {
                let help = if id.contains('-') {
                    "write `steps.some_step` or `steps['some-step']`: in templates `-` is minus"
                        .to_string()
                } else {
                    format!(
                        "`steps.<id>` reads the output of an earlier step; earlier steps: {}",
                        if earlier.is_empty() {
                            "none".to_string()
                        } else {
                            earlier
                                .iter()
                                .map(|s| s.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )
                };
                l.help(pos, format!("`steps.{id}` is not an earlier step"), help);
            }
        }
    }
}

fn collect_strings<'n>(node: &'n Node, out: &mut Vec<(&'n str, Pos)>) {
    match &node.kind {
        Kind::Str(s) => out.push((s, node.pos)),
        Kind::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Kind::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

/// Whether a node (or anything below it) holds a template that could not be
/// rendered at load time.
fn has_deferred(node: &Node, scope: &Scope, templates: &Templates) -> bool {
    let mut strings = Vec::new();
    collect_strings(node, &mut strings);
    strings.iter().any(|(s, _)| {
        is_template(s)
            && templates
                .template_names(s)
                .map(|names| names.iter().any(|n| !is_static_name(n, scope, templates)))
                .unwrap_or(true)
    })
}

/// Renders what can be rendered now and types the parameters; errors point
/// at the offending parameter.
fn type_check(
    l: &mut Loader<'_>,
    module: &str,
    module_key: &Key,
    params: &Node,
    scope: &Arc<Scope>,
) {
    let sv = scope.value();
    let json = render_static(l.templates, params, scope, &sv);
    let json = match json {
        Ok(j) => j,
        Err((pos, msg)) => {
            l.err(pos, msg);
            return;
        }
    };
    let Some(Err(e)) = Task::from_json(module, json) else {
        return;
    };
    let at = params.locate(e.path());
    let inner = e.inner().to_string();
    // An unknown field: point at the key itself.
    if let Some(field) = inner
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let pos = params
            .locate_key(e.path(), field)
            .or_else(|| at.key(field).map(|k| k.pos))
            .unwrap_or(at.pos);
        let expected = inner.split(", expected ").nth(1).unwrap_or("");
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let help = match suggest(field, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? `{module}` takes {expected}"),
            None => format!("`{module}` takes {expected}; see `mkeprep modules {module}`"),
        };
        l.help(
            pos,
            format!("unknown parameter `{field}` for module `{module}`"),
            help,
        );
        return;
    }
    if has_deferred(at, scope, l.templates) {
        return; // checked again when the step runs
    }
    let path = e.path().to_string();
    let what = if path == "." {
        String::new()
    } else {
        format!(" `{path}`")
    };
    let pos = if path == "." { module_key.pos } else { at.pos };
    l.help(
        pos,
        format!("invalid parameter{what} for `{module}`: {inner}"),
        format!("see `mkeprep modules {module}`"),
    );
}

fn render_static(
    templates: &Templates,
    node: &Node,
    scope: &Scope,
    sv: &minijinja::Value,
) -> Result<serde_json::Value, (Pos, String)> {
    use serde_json::Value as J;
    Ok(match &node.kind {
        Kind::Str(s) if is_template(s) => {
            let names = templates
                .template_names(s)
                .map_err(|e| (node.pos, error_text(&e)))?;
            if names.iter().all(|n| is_static_name(n, scope, templates)) {
                templates
                    .render_json(&J::String(s.clone()), sv)
                    .map_err(|e| (node.pos, error_text(&e)))?
            } else {
                J::String(s.clone())
            }
        }
        Kind::Seq(items) => J::Array(
            items
                .iter()
                .map(|i| render_static(templates, i, scope, sv))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| Ok((k.name.clone(), render_static(templates, v, scope, sv)?)))
                .collect::<Result<_, _>>()?,
        ),
        _ => node.to_json(),
    })
}
