//! Typing a step's parameters, one path for load time (rendering what is
//! known then) and run time (rendering everything first): an invalid
//! parameter gets the same message, file, line, column and caret either
//! way.

use std::sync::Arc;

use super::load::Loader;
use super::model::Step;
use crate::diag::{Pos, Source, SourceError};
use crate::tasks::Task;
use crate::template::{Scope, Templates, error_text, is_template};
use crate::util::text::suggest;
use crate::yaml::{Key, Kind, Node};

type ParamsError = serde_path_to_error::Error<serde_json::Error>;

/// The error of module `module`'s parameters `params` (written in `src`,
/// the module key at `module_pos`) that failed to type.
fn param_error(
    src: &Source,
    module: &str,
    module_pos: Pos,
    params: &Node,
    e: &ParamsError,
) -> SourceError {
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
        return SourceError::at(
            src,
            pos,
            format!("unknown parameter `{field}` for module `{module}`"),
        )
        .help(help);
    }
    let path = e.path().to_string();
    let (what, pos) = if path == "." {
        (String::new(), module_pos)
    } else {
        (format!(" `{path}`"), at.pos)
    };
    SourceError::at(
        src,
        pos,
        format!("invalid parameter{what} for `{module}`: {inner}"),
    )
    .help(format!("see `mkeprep modules {module}`"))
}

/// Names whose values are known when the playbook loads: `env`, the
/// variables, `-e`, and the template engine's own functions.
fn is_static_name(name: &str, scope: &Scope, templates: &Templates) -> bool {
    name == "env"
        || scope.vars.contains_key(name)
        || scope.extra.contains_key(name)
        || templates.is_global(name)
}

/// Whether a node (or anything below it) holds a template that cannot be
/// rendered at load time.
fn has_deferred(node: &Node, scope: &Scope, templates: &Templates) -> bool {
    let mut strings = Vec::new();
    super::names::collect_strings(node, &mut strings);
    strings.iter().any(|(s, _)| {
        is_template(s)
            && templates
                .template_names(s)
                .map(|names| names.iter().any(|n| !is_static_name(n, scope, templates)))
                .unwrap_or(true)
    })
}

/// Renders every string of `node`, or (with `static_only`) the templates
/// whose names are all known at load; `Err` is the failing string's
/// position and the error.
fn render(
    templates: &Templates,
    node: &Node,
    scope: &Scope,
    sv: &minijinja::Value,
    static_only: bool,
) -> Result<serde_json::Value, (Pos, minijinja::Error)> {
    use serde_json::Value as J;
    Ok(match &node.kind {
        Kind::Str(s) if is_template(s) => {
            let renderable = !static_only
                || templates
                    .template_names(s)
                    .map_err(|e| (node.pos, e))?
                    .iter()
                    .all(|n| is_static_name(n, scope, templates));
            if renderable {
                templates
                    .render_json(&J::String(s.clone()), sv)
                    .map_err(|e| (node.pos, e))?
            } else {
                J::String(s.clone())
            }
        }
        Kind::Seq(items) => J::Array(
            items
                .iter()
                .map(|i| render(templates, i, scope, sv, static_only))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.name.clone(),
                        render(templates, v, scope, sv, static_only)?,
                    ))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => node.to_json(),
    })
}

/// At load: renders what can be rendered now and types the parameters;
/// an error is reported unless the value it is about holds a template only
/// the run can render (the run checks it again).
pub(super) fn check_at_load(
    l: &mut Loader<'_>,
    src: &Source,
    module: &'static str,
    module_key: &Key,
    params: &Node,
    scope: &Arc<Scope>,
    looped: bool,
) {
    let sv = scope.value();
    // Undefined names were reported already (see `names`); other template
    // errors are the run's to report with its values.
    let Ok(json) = render(l.templates, params, scope, &sv, true) else {
        return;
    };
    let Some(Err(e)) = Task::from_json(module, json) else {
        return;
    };
    let at = params.locate(e.path());
    let unknown_field = e.inner().to_string().starts_with("unknown field `");
    if !unknown_field && (looped || has_deferred(at, scope, l.templates)) {
        return;
    }
    l.errors
        .push(param_error(src, module, module_key.pos, params, &e));
}

/// At run time: renders every template of the step's parameters in
/// `scope` and types them.
pub fn render_and_type(
    step: &Step,
    templates: &Templates,
    scope: &Arc<Scope>,
    sv: &minijinja::Value,
) -> Result<Task, SourceError> {
    let json = render(templates, &step.params, scope, sv, false)
        .map_err(|(pos, e)| SourceError::at(&step.source, pos, error_text(&e)))?;
    match Task::from_json(step.module, json) {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(param_error(
            &step.source,
            step.module,
            step.module_pos,
            &step.params,
            &e,
        )),
        None => Err(SourceError::at(
            &step.source,
            step.module_pos,
            format!("unknown module `{}`", step.module),
        )),
    }
}
