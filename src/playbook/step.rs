//! One step of a playbook (or of an included file): its id, its one module
//! and the step keys, each checked with an error at its line and column.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use super::load::{Loader, is_identifier, is_reserved};
use super::model::{STEP_KEYS, Step};
use super::{names, typing};
use crate::diag::Source;
use crate::tasks::NAMES;
use crate::template::Scope;
use crate::util::text::{parse_duration_str, suggest};
use crate::yaml::{Key, Kind, Node};

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

fn is_step_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// `{{ expr }}` → `expr`, for `when:` written with braces.
pub fn strip_braces(s: &str) -> &str {
    let t = s.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") => inner.trim(),
        _ => t,
    }
}

/// The module key of a step, checking every other key.
fn module_of<'n>(
    l: &mut Loader<'_>,
    src: &Source,
    entries: &'n [(Key, Node)],
) -> Option<(&'static str, &'n Key, &'n Node)> {
    let mut module: Option<(&'static str, &Key, &Node)> = None;
    for (key, value) in entries {
        if STEP_KEYS.contains(&key.name.as_str()) {
            continue;
        }
        match NAMES.iter().find(|n| **n == key.name) {
            Some(name) => {
                if let Some((first, _, _)) = module {
                    l.help(
                        src,
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
                let help = match super::ansible::step_key_hint(&key.name) {
                    Some(hint) => hint.to_string(),
                    None => {
                        let mut all: Vec<&str> = STEP_KEYS.to_vec();
                        all.extend(NAMES.iter().copied());
                        let listing = format!(
                            "modules: {}; step keys: {}",
                            NAMES.join(", "),
                            STEP_KEYS.join(", ")
                        );
                        match suggest(&key.name, all.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? {listing}"),
                            None => listing,
                        }
                    }
                };
                l.help(
                    src,
                    key.pos,
                    format!("unknown module or step key `{}`", key.name),
                    help,
                );
            }
        }
    }
    module
}

pub(super) fn load_step(
    l: &mut Loader<'_>,
    src: &Arc<Source>,
    node: &Node,
    earlier: &[Step],
    scope: &Arc<Scope>,
    vars: &IndexMap<String, serde_json::Value>,
) -> Option<Step> {
    let Some(entries) = node.as_map() else {
        let msg = format!(
            "a step must be a mapping with `id` and one module, found {}",
            node.type_name()
        );
        l.err(src, node.pos, msg);
        return None;
    };
    let errors_before = l.errors.len();
    let module = module_of(l, src, entries);
    let id = step_id(l, src, node);
    let Some((module_name, module_key, params)) = module else {
        l.help(
            src,
            node.pos,
            "the step has no module",
            format!("add one of: {}", NAMES.join(", ")),
        );
        return None;
    };

    let name_node = node.get("name");
    let name = name_node.and_then(|n| l.string(src, n, "name"));
    let name_site = name.clone().zip(name_node.map(|n| n.pos));
    let when = node.get("when").and_then(|w| {
        let text = match &w.kind {
            Kind::Bool(b) => b.to_string(),
            _ => l.string(src, w, "when")?,
        };
        Some((strip_braces(&text).to_string(), w.pos))
    });
    let items = node.get("loop").and_then(|n| match &n.kind {
        Kind::Seq(_) => Some(n.clone()),
        Kind::Str(s) => Some(Node {
            pos: n.pos,
            kind: Kind::Str(strip_braces(s).to_string()),
        }),
        _ => {
            l.help(
                src,
                n.pos,
                format!(
                    "`loop` must be a list or an expression giving one, found {}",
                    n.type_name()
                ),
                "write `loop: [a, b]`, a YAML list, or `loop: \"{{ some_list }}\"`",
            );
            None
        }
    });
    let register = node.get("register").and_then(|r| register(l, src, r, vars));
    let tags = match node.get("tags") {
        None => Vec::new(),
        Some(t) => match &t.kind {
            Kind::Str(s) => vec![s.clone()],
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| l.string(src, i, "tags"))
                .collect(),
            _ => {
                let msg = format!("`tags` must be a list of strings, found {}", t.type_name());
                l.err(src, t.pos, msg);
                Vec::new()
            }
        },
    };
    let ignore_errors = match node.get("ignore_errors") {
        None => false,
        Some(n) => match n.kind {
            Kind::Bool(b) => b,
            _ => {
                let msg = format!(
                    "`ignore_errors` must be true or false, found {}",
                    n.type_name()
                );
                l.err(src, n.pos, msg);
                false
            }
        },
    };
    let retries = match node.get("retries") {
        None => 0,
        Some(n) => match n.kind {
            Kind::Int(i) if (0..=10_000).contains(&i) => i as u32,
            _ => {
                l.err(
                    src,
                    n.pos,
                    "`retries` must be a whole number from 0 to 10000",
                );
                0
            }
        },
    };
    let delay = match node.get("delay") {
        None => Duration::from_secs(5),
        Some(n) => parse_duration(n).unwrap_or_else(|e| {
            l.err(src, n.pos, format!("`delay`: {e}"));
            Duration::ZERO
        }),
    };
    let requires = requires(l, src, node);
    let timeout = node.get("timeout").and_then(|n| match parse_duration(n) {
        Ok(d) if d.is_zero() => {
            l.err(src, n.pos, "`timeout` must be more than zero");
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            l.err(src, n.pos, format!("`timeout`: {e}"));
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
                src,
                params.pos,
                msg,
                format!("see `mkeprep modules {module_name}`"),
            );
            return None;
        }
    };

    // Templates: every name must be known (and its path, where its value
    // is known now); `steps.X` must be an earlier step.
    let looped = items.is_some();
    names::check_step(
        l,
        src,
        earlier,
        vars,
        looped,
        module_name,
        &params,
        &when,
        &name_site,
        &items,
    );

    // Type-check the parameters now, rendering what can be rendered now.
    if l.errors.len() == errors_before {
        typing::check_at_load(l, src, module_name, module_key, &params, scope, looped);
    }

    Some(Step {
        id: id?,
        name,
        source: src.clone(),
        pos: node.pos,
        module_pos: module_key.pos,
        module: module_name,
        params,
        when,
        items: items.map(Box::new),
        register,
        tags,
        ignore_errors,
        retries,
        delay,
        timeout,
        requires,
    })
}

fn step_id(l: &mut Loader<'_>, src: &Source, node: &Node) -> Option<String> {
    let Some(v) = node.get("id") else {
        l.help(
            src,
            node.pos,
            "the step has no `id`",
            "add `id: some-name` (lowercase letters, digits and `-`); it keys the journal and --start-at",
        );
        return None;
    };
    match v.as_str() {
        Some(s) if is_step_id(s) => {
            if let Some((file, line)) = l.ids.get(s).map(|(f, n)| (f.name.clone(), *n)) {
                let msg = if file == src.name {
                    format!("duplicate step id `{s}` (first at line {line})")
                } else {
                    format!(
                        "duplicate step id `{s}` (first in {} at line {line}); ids are unique across included files",
                        file.display()
                    )
                };
                l.err(src, v.pos, msg);
            }
            Some(s.to_string())
        }
        _ => {
            let shown = v.scalar_text().unwrap_or_else(|| v.type_name().to_string());
            l.help(
                src,
                v.pos,
                format!("invalid step id `{shown}`"),
                "an id is lowercase letters, digits and `-`, such as `migrate-kdd`",
            );
            None
        }
    }
}

fn register(
    l: &mut Loader<'_>,
    src: &Source,
    r: &Node,
    vars: &IndexMap<String, serde_json::Value>,
) -> Option<String> {
    let s = l.string(src, r, "register")?;
    if !is_identifier(&s) {
        l.help(
            src,
            r.pos,
            format!("`{s}` is not a valid register name"),
            "use letters, digits and underscores",
        );
        return None;
    }
    if vars.contains_key(&s) || l.cx.extra.contains_key(&s) || is_reserved(&s) {
        l.help(
            src,
            r.pos,
            format!("register name `{s}` shadows a variable"),
            "pick another name",
        );
    }
    if let Some(first) = l.registers.get(&s) {
        let msg = format!("register name `{s}` is already used by step `{first}`");
        l.err(src, r.pos, msg);
    }
    Some(s)
}

fn requires(l: &mut Loader<'_>, src: &Source, node: &Node) -> Vec<String> {
    let Some(r) = node.get("requires") else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &r.kind {
        Kind::Str(_) => vec![r],
        Kind::Seq(items) => items.iter().collect(),
        _ => {
            l.err(src, r.pos, "`requires` must be a list of earlier step ids");
            Vec::new()
        }
    };
    items
        .into_iter()
        .filter_map(|i| {
            let id = l.string(src, i, "requires")?;
            if !l.ids.contains_key(&id) {
                l.help(
                    src,
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
