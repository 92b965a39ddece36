//! Playbook variables: `vars_files` (each a YAML mapping, relative to the
//! playbook) and `vars`. Precedence: `-e` over `vars_files` over `vars`.
//! Values are rendered as they load: a variables file's values may use
//! `env`, `-e` and the values before them; `vars` may use those and the
//! variables files' values (which win over a `vars` key of the same name).

use indexmap::IndexMap;

use super::load::{Loader, is_identifier, is_reserved};
use crate::diag::Source;
use crate::template::{Scope, error_text, to_value};
use crate::yaml::{Kind, Node};

/// The playbook's variables, rendered, in precedence order.
pub(super) fn load(
    l: &mut Loader<'_>,
    src: &Source,
    root: &Node,
) -> IndexMap<String, serde_json::Value> {
    let mut values: IndexMap<String, serde_json::Value> = IndexMap::new();
    if let Some(files) = root.get("vars_files") {
        let list: Vec<&Node> = match &files.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Str(_) => vec![files],
            _ => {
                let msg = format!(
                    "`vars_files` must be a list of files, found {}",
                    files.type_name()
                );
                l.err(src, files.pos, msg);
                Vec::new()
            }
        };
        for file in list {
            let Some((fsrc, froot)) = l.read_file(src, file, "variables file") else {
                continue;
            };
            match froot.as_map() {
                Some(_) => mapping(l, &fsrc, &froot, &mut values, false),
                None if matches!(froot.kind, Kind::Null) => {}
                None => {
                    let msg = format!(
                        "a variables file is a mapping of names to values, found {}",
                        froot.type_name()
                    );
                    l.err(&fsrc, froot.pos, msg);
                }
            }
        }
    }
    if let Some(vnode) = root.get("vars") {
        match vnode.kind {
            Kind::Map(_) => mapping(l, src, vnode, &mut values, true),
            Kind::Null => {}
            _ => {
                let msg = format!("`vars` must be a mapping, found {}", vnode.type_name());
                l.err(src, vnode.pos, msg);
            }
        }
    }
    values
}

/// Renders the entries of one mapping into `values`. `below`: the mapping
/// is `vars`, below the variables files (a name they set keeps their value).
fn mapping(
    l: &mut Loader<'_>,
    src: &Source,
    node: &Node,
    values: &mut IndexMap<String, serde_json::Value>,
    below: bool,
) {
    let extra: IndexMap<String, minijinja::Value> =
        l.cx.extra
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect();
    for (key, value) in node.as_map().unwrap_or_default() {
        if !is_identifier(&key.name) {
            l.help(
                src,
                key.pos,
                format!("`{}` is not a valid variable name", key.name),
                "use letters, digits and underscores, not starting with a digit",
            );
            continue;
        }
        if is_reserved(&key.name) {
            l.help(
                src,
                key.pos,
                format!("`{}` is a reserved name", key.name),
                "reserved: env, steps, inventory, item, loop",
            );
            continue;
        }
        if below && values.contains_key(&key.name) {
            continue;
        }
        let scope = Scope::new(
            values
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect(),
            extra.clone(),
            l.cx.env.clone(),
        );
        match l.templates.render_json(&value.to_json(), &scope.value()) {
            Ok(v) => {
                crate::util::secret::register_secret_var(&key.name, &v);
                values.insert(key.name.clone(), v);
            }
            Err(e) => l.err(
                src,
                value.pos,
                format!("in variable `{}`: {}", key.name, error_text(&e)),
            ),
        }
    }
}
