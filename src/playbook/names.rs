//! Names in templates and expressions, checked when the playbook loads, so
//! that a typo fails at load with its file, line and column, not halfway
//! through a run: every top-level name is known; `steps.X` is an earlier
//! step and `steps.X.field` a field its module registers; `item` and
//! `loop` appear only in looping steps. Then each template or expression
//! is evaluated with what is known at load (`env`, variables, `-e`, the
//! inventory given with `-i`), every name known only at run time standing
//! in as a wildcard: an undefined value there is an error now (a guarded
//! `x is defined` or `x | default(…)` is not).

use std::collections::HashSet;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::ErrorKind;
use minijinja::value::{Object, Value};

use super::load::{Loader, known_names};
use super::model::{LOOP_NAMES, Step};
use crate::diag::{Pos, Source};
use crate::template::{error_text, is_template, to_value};
use crate::util::text::suggest;
use crate::yaml::{Kind, Node};

/// The fields of `loop`.
const LOOP_FIELDS: &[&str] = &["index", "index0", "first", "last", "length"];

/// The fields a looping step registers.
const LOOP_OUTPUTS: &[(&str, &str)] = &[
    (
        "results",
        "one entry per item: the item's output, with `item` and `status`",
    ),
    ("ok", "items in sync"),
    ("changed", "items changed"),
    ("failed", "items failed or blocked"),
    ("skipped", "items skipped"),
];

/// What a step (or its register name) registers, as far as is known.
#[derive(Debug, Clone)]
pub struct StepOutputs {
    pub module: &'static str,
    /// The fields, when the module declares them.
    pub fields: Option<&'static [(&'static str, &'static str)]>,
}

impl StepOutputs {
    pub fn of(step: &Step) -> StepOutputs {
        StepOutputs {
            module: step.module,
            fields: if step.items.is_some() {
                Some(LOOP_OUTPUTS)
            } else {
                crate::tasks::outputs(step.module)
            },
        }
    }
}

/// One string to check: its names, where it is, and the extra names it
/// may use (`rc` in `failed_when`, …).
struct Site<'a> {
    text: String,
    expr: bool,
    names: HashSet<String>,
    pos: Pos,
    locals: &'a [&'a str],
    /// May use `item` and `loop` (a looping step, but not its `loop:`).
    in_loop: bool,
}

/// Checks the names of every template and expression of a step.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_step(
    l: &mut Loader<'_>,
    src: &Source,
    earlier: &[Step],
    vars: &IndexMap<String, serde_json::Value>,
    looped: bool,
    module: &'static str,
    params: &Node,
    when: &Option<(String, Pos)>,
    name: &Option<(String, Pos)>,
    items: &Option<Node>,
) {
    let mut sites: Vec<Site<'_>> = Vec::new();
    let expressions = crate::tasks::expressions(module);
    let mut add = |l: &mut Loader<'_>, text: &str, pos: Pos, expr: bool, locals, in_loop| {
        let found = if expr {
            l.templates.expression_names(text)
        } else if is_template(text) {
            l.templates.nested_names(text)
        } else {
            return;
        };
        match found {
            Ok(names) => sites.push(Site {
                text: text.to_string(),
                expr,
                names,
                pos,
                locals,
                in_loop,
            }),
            Err(e) => {
                let what = if expr { "expression" } else { "template" };
                l.err(src, pos, format!("{what} error: {}", error_text(&e)));
            }
        }
    };
    for (key, value) in params.as_map().unwrap_or_default() {
        let locals = expressions
            .iter()
            .find(|(p, _)| *p == key.name)
            .map(|(_, names)| *names);
        let mut strings = Vec::new();
        collect_strings(value, &mut strings);
        for (s, pos) in strings {
            // An expression parameter's plain strings are expressions.
            let expr = locals.is_some() && !is_template(s);
            add(l, s, pos, expr, locals.unwrap_or_default(), looped);
        }
    }
    if let Some((expr, pos)) = when {
        add(l, expr, *pos, true, &[], looped);
    }
    if let Some((text, pos)) = name {
        add(l, text, *pos, false, &[], looped);
    }
    match items.as_ref().map(|n| &n.kind) {
        Some(Kind::Str(expr)) => add(
            l,
            expr,
            items.as_ref().map(|n| n.pos).unwrap_or_default(),
            true,
            &[],
            false,
        ),
        Some(Kind::Seq(list)) => {
            for item in list {
                let mut strings = Vec::new();
                collect_strings(item, &mut strings);
                for (s, pos) in strings {
                    add(l, s, pos, false, &[], false);
                }
            }
        }
        _ => {}
    }
    let known = known_names(l, vars);
    for site in sites {
        let before = l.errors.len();
        let mut sorted: Vec<&String> = site.names.iter().collect();
        sorted.sort();
        for name in sorted {
            check_name(l, src, name, &site, &known, earlier);
        }
        if l.errors.len() == before {
            evaluate(l, src, &site, vars);
        }
    }
}

/// A value known only at run time (a step's output, `item`, a local of an
/// expression): any attribute of it is another wildcard.
#[derive(Debug)]
struct Wildcard;

impl Object for Wildcard {
    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from_object(Wildcard))
    }
}

/// What templates see at load time: the values known now, and wildcards
/// for the names known only at run time.
#[derive(Debug)]
struct AtLoad {
    known: IndexMap<String, Value>,
    dynamic: HashSet<String>,
    /// Whether the evaluation read a wildcard (then only an undefined
    /// value is surely an error; anything else may be the wildcard's).
    read_wildcard: std::sync::atomic::AtomicBool,
}

impl Object for AtLoad {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Some(v) = self.known.get(key) {
            return Some(v.clone());
        }
        let wild = self.dynamic.contains(key);
        if wild {
            self.read_wildcard
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        wild.then(|| Value::from_object(Wildcard))
    }
}

/// Evaluates a site with what is known at load: an undefined value among
/// the names known now is an error now.
fn evaluate(
    l: &mut Loader<'_>,
    src: &Source,
    site: &Site<'_>,
    vars: &IndexMap<String, serde_json::Value>,
) {
    let mut known: IndexMap<String, Value> = IndexMap::new();
    for (k, v) in vars {
        known.insert(k.clone(), to_value(v));
    }
    for (k, v) in &l.cx.extra {
        known.insert(k.clone(), to_value(v));
    }
    known.insert("env".into(), to_value(&l.cx.env));
    if let Some(inv) = &l.cx.inventory {
        known.insert("inventory".into(), to_value(inv));
    }
    let mut dynamic: HashSet<String> = l.registers.keys().cloned().collect();
    dynamic.insert("steps".into());
    dynamic.insert("inventory".into());
    dynamic.extend(site.locals.iter().map(|s| s.to_string()));
    if site.in_loop {
        dynamic.extend(LOOP_NAMES.iter().map(|s| s.to_string()));
    }
    let at_load = Arc::new(AtLoad {
        known,
        dynamic,
        read_wildcard: Default::default(),
    });
    let scope = Value::from_dyn_object(at_load.clone());
    let result = if site.expr {
        l.templates.eval(&site.text, &scope).map(|_| ())
    } else {
        l.templates.render_str(&site.text, &scope).map(|_| ())
    };
    let Err(e) = result else { return };
    let only_known = !at_load
        .read_wildcard
        .load(std::sync::atomic::Ordering::Relaxed);
    if e.kind() != ErrorKind::UndefinedError {
        // With only values known now, the error is the run's too (a file
        // read, a limit hit, a type error); otherwise it may be the
        // wildcard's, and the run reports it with its values.
        if only_known {
            let what = if site.expr { "expression" } else { "template" };
            l.err(src, site.pos, format!("{what} error: {}", error_text(&e)));
        }
        return;
    }
    let text = error_text(&e);
    if text.contains("`env.") {
        unknown_now(
            l,
            src,
            site.pos,
            format!("{text}: not set in the environment"),
            "export it before the run, guard it with `is defined` or `| default(…)`, or put the value under `vars:`",
        );
    } else {
        l.help(
            src,
            site.pos,
            text,
            "check the name against the variables (`vars:`, `vars_files:`, `-e`) and the inventory; guard optional values with `is defined` or `| default(…)`",
        );
    }
}

pub(super) fn collect_strings<'n>(node: &'n Node, out: &mut Vec<(&'n str, Pos)>) {
    match &node.kind {
        Kind::Str(s) => out.push((s, node.pos)),
        Kind::Seq(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Kind::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

/// A name whose value is only known when the run starts: an error when
/// loading for a run, a warning for `validate`.
fn unknown_now(l: &mut Loader<'_>, src: &Source, pos: Pos, message: String, help: &str) {
    if l.cx.lenient {
        l.warnings.push(format!(
            "{}:{}:{}: {message} ({help})",
            src.name.display(),
            pos.line,
            pos.col
        ));
    } else {
        l.help(src, pos, message, help);
    }
}

fn check_name(
    l: &mut Loader<'_>,
    src: &Source,
    name: &str,
    site: &Site<'_>,
    known: &HashSet<String>,
    earlier: &[Step],
) {
    let parts: Vec<&str> = name.split('.').collect();
    let top = parts[0];
    let pos = site.pos;
    if site.locals.contains(&top) {
        return;
    }
    if LOOP_NAMES.contains(&top) {
        if !site.in_loop {
            l.help(
                src,
                pos,
                format!("`{top}` is only defined in a step with `loop:`"),
                "add `loop:` to the step (its items are `item`, their position `loop.index`); the `loop:` list itself cannot use them",
            );
        } else if top == "loop"
            && let Some(field) = parts.get(1)
            && !LOOP_FIELDS.contains(field)
        {
            let help = match suggest(field, LOOP_FIELDS.iter().copied()) {
                Some(s) => format!(
                    "did you mean `loop.{s}`? `loop` has: {}",
                    LOOP_FIELDS.join(", ")
                ),
                None => format!("`loop` has: {}", LOOP_FIELDS.join(", ")),
            };
            l.help(src, pos, format!("undefined `{name}`"), help);
        }
        return;
    }
    if !known.contains(top) {
        let help = match suggest(top, known.iter().map(String::as_str)) {
            Some(s) => {
                format!("did you mean `{s}`? Define it under `vars:` or pass `-e {top}=VALUE`")
            }
            None => format!("define it under `vars:` or pass `-e {top}=VALUE`"),
        };
        l.help(src, pos, format!("undefined variable `{top}`"), help);
        return;
    }
    match top {
        "inventory" if l.cx.inventory.is_none() && parts.len() > 1 => unknown_now(
            l,
            src,
            pos,
            format!("`{name}` reads the inventory, and none is given"),
            "pass -i hosts.yaml (or set MKEPREP_INVENTORY)",
        ),
        "steps" => {
            let Some(id) = parts.get(1) else { return };
            if !l.ids.contains_key(*id) {
                let help = if id.contains('-') {
                    "write `steps.some_step` or `steps['some-step']`: in templates `-` is minus"
                        .to_string()
                } else if earlier.is_empty() {
                    "`steps.<id>` reads the output of an earlier step; there is none before this one"
                        .to_string()
                } else {
                    let ids: Vec<&str> = earlier.iter().map(|s| s.id.as_str()).collect();
                    match suggest(id, ids.iter().copied()) {
                        Some(s) => format!(
                            "did you mean `steps.{}`? earlier steps: {}",
                            s.replace('-', "_"),
                            ids.join(", ")
                        ),
                        None => format!(
                            "`steps.<id>` reads the output of an earlier step; earlier steps: {}",
                            ids.join(", ")
                        ),
                    }
                };
                l.help(
                    src,
                    pos,
                    format!("`steps.{id}` is not an earlier step"),
                    help,
                );
                return;
            }
            if let Some(field) = parts.get(2) {
                output_field(l, src, pos, &format!("steps.{id}"), id, field);
            }
        }
        _ if l.registers.contains_key(top) => {
            if let Some(field) = parts.get(1) {
                output_field(l, src, pos, top, top, field);
            }
        }
        _ => {}
    }
}

/// `what.field` of a step's output (`key` is the step id in either
/// spelling, or a register name): the module must register `field`.
fn output_field(l: &mut Loader<'_>, src: &Source, pos: Pos, what: &str, key: &str, field: &str) {
    let id = match l.registers.get(key) {
        Some(id) => id.clone(),
        None if l.outputs.contains_key(key) => key.to_string(),
        None => key.replace('_', "-"),
    };
    let Some(out) = l.outputs.get(&id).cloned() else {
        return;
    };
    let Some(fields) = out.fields else { return };
    if fields.iter().any(|(f, _)| *f == field) {
        return;
    }
    let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
    let (message, help) = if names.is_empty() {
        (
            format!(
                "`{what}.{field}`: step `{}` ({}) registers nothing",
                id, out.module
            ),
            format!(
                "`{}` has no outputs to read; see `mkeprep modules {}`",
                out.module, out.module
            ),
        )
    } else {
        let listing = format!("`{}` registers: {}", out.module, names.join(", "));
        (
            format!("`{what}.{field}`: step `{id}` registers no `{field}`"),
            match suggest(field, names.iter().copied()) {
                Some(s) => format!("did you mean `{what}.{s}`? {listing}"),
                None => listing,
            },
        )
    };
    l.help(src, pos, message, help);
}
