//! `-e KEY=VALUE` and `-e @FILE` extra variables.

use std::path::Path;

use indexmap::IndexMap;

use super::load::{is_identifier, is_reserved};
use crate::diag::read_source;
use crate::diag::{SourceError, SourceErrors};
use crate::yaml;

const RESERVED_HELP: &str = "reserved: env, steps, inventory, item, loop (templates read them from the run itself); give the variable another name";

fn reserved(name: &str) -> String {
    format!("`{name}` is a reserved name, which -e cannot set")
}

/// Parses the `-e` arguments in order; later ones win.
pub fn parse(args: &[String]) -> Result<IndexMap<String, serde_json::Value>, SourceErrors> {
    let mut out = IndexMap::new();
    for arg in args {
        if let Some(file) = arg.strip_prefix('@') {
            let path = Path::new(file);
            let src = read_source(path, "variables file")?;
            let node = yaml::parse(&src)?;
            let Some(entries) = node.as_map() else {
                return Err(SourceError::at(
                    &src,
                    node.pos,
                    format!(
                        "a variables file is a mapping of names to values, found {}",
                        node.type_name()
                    ),
                )
                .into());
            };
            for (key, value) in entries {
                if !is_identifier(&key.name) {
                    return Err(SourceError::at(
                        &src,
                        key.pos,
                        format!("`{}` is not a valid variable name", key.name),
                    )
                    .help("use letters, digits and underscores, not starting with a digit")
                    .into());
                }
                if is_reserved(&key.name) {
                    return Err(SourceError::at(&src, key.pos, reserved(&key.name))
                        .help(RESERVED_HELP)
                        .into());
                }
                let value = value.to_json();
                crate::util::secret::register_secret_var(&key.name, &value);
                out.insert(key.name.clone(), value);
            }
            continue;
        }
        let Some((key, value)) = arg.split_once('=') else {
            return Err(SourceError::file(
                Path::new("-e"),
                format!("`{arg}` is not KEY=VALUE or @FILE"),
            )
            .help("write -e target=4.1.5 or -e @vars.yaml")
            .into());
        };
        if !is_identifier(key) {
            return Err(SourceError::file(
                Path::new("-e"),
                format!("`{key}` is not a valid variable name"),
            )
            .help("use letters, digits and underscores, not starting with a digit")
            .into());
        }
        if is_reserved(key) {
            return Err(SourceError::file(Path::new("-e"), reserved(key))
                .help(RESERVED_HELP)
                .into());
        }
        let value = serde_json::Value::String(value.to_string());
        crate::util::secret::register_secret_var(key, &value);
        out.insert(key.to_string(), value);
    }
    Ok(out)
}
