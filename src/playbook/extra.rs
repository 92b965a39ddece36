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

/// The value of `-e KEY=VALUE`, typed as a YAML scalar: `5` and `-3` are
/// numbers, `true`/`false` booleans, `null` null, `'5'` and `"5"` the
/// string 5. Anything else stays text, decimals included, so that a
/// version such as `4.10` is never turned into the number 4.1 (convert
/// with `| float` where a decimal is meant). Lists and mappings come from
/// `-e @FILE`.
pub fn typed(text: &str) -> serde_json::Value {
    use serde_json::Value;
    match text {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    for q in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q))
            && text.len() >= 2
        {
            return Value::String(inner.to_string());
        }
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    if canonical && let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    Value::String(text.to_string())
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
        let value = typed(value);
        crate::util::secret::register_secret_var(key, &value);
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::typed;
    use serde_json::{Value, json};

    #[test]
    fn extra_values_are_typed_as_yaml_scalars_but_decimals_stay_text() {
        for (text, want) in [
            ("5", json!(5)),
            ("-3", json!(-3)),
            ("0", json!(0)),
            ("true", json!(true)),
            ("False", json!(false)),
            ("null", Value::Null),
            ("'5'", json!("5")),
            ("\"false\"", json!("false")),
            ("4.10", json!("4.10")),
            ("4.2", json!("4.2")),
            ("1e3", json!("1e3")),
            ("007", json!("007")),
            ("0x1F", json!("0x1F")),
            ("-0", json!("-0")),
            ("yes", json!("yes")),
            ("", json!("")),
            ("'", json!("'")),
            ("99999999999999999999", json!("99999999999999999999")),
            ("a=b", json!("a=b")),
        ] {
            assert_eq!(typed(text), want, "{text}");
        }
    }
}
