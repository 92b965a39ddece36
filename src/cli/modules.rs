//! `mkeprep modules [NAME]`: generated from the modules' own types, so the
//! documentation cannot drift from the code.

use serde_json::Value;

use super::{ModulesArgs, print_error};
use crate::model::exit;
use crate::tasks::{self, ModuleDoc};
use crate::util::text::suggest;

/// One parameter, as read from the module's schema.
pub struct Param {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub default: Option<String>,
    pub description: String,
}

fn type_of(schema: &Value, defs: &Value) -> String {
    // One value of a documented enum (schemars writes `oneOf` of consts).
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match defs.get(name) {
            Some(d) => type_of(d, defs),
            None => name.to_string(),
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts
                .iter()
                .map(|a| type_of(a, defs))
                .filter(|t| t != "null")
                .collect();
            return parts.join(" | ");
        }
    }
    let base = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any YAML value".to_string(),
    };
    match base.as_str() {
        "array" => {
            let item = schema
                .get("items")
                .map(|i| type_of(i, defs))
                .unwrap_or_else(|| "any YAML value".into());
            format!("list of {item}")
        }
        "object" => match schema.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of {}", type_of(v, defs)),
            _ => "mapping".to_string(),
        },
        _ => match schema.get("enum").and_then(Value::as_array) {
            Some(vals) => vals
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            None => base,
        },
    }
}

/// A `std::time::Duration` as serde writes it: `{"secs": N, "nanos": N}`.
fn as_duration(v: &Value) -> Option<std::time::Duration> {
    let o = v.as_object()?;
    if o.len() != 2 {
        return None;
    }
    let secs = o.get("secs")?.as_u64()?;
    let nanos = u32::try_from(o.get("nanos")?.as_u64()?).ok()?;
    Some(std::time::Duration::new(secs, nanos))
}

/// A default as a playbook would write it (JSON for scalars; a duration,
/// which serde writes as seconds and nanoseconds, as `"24h"`).
fn default_text(v: &Value) -> String {
    match as_duration(v) {
        Some(d) => Value::String(crate::util::text::format_duration_str(d)).to_string(),
        None => v.to_string(),
    }
}

pub fn params(doc: &ModuleDoc) -> Vec<Param> {
    let schema = doc.schema.as_value();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| Param {
            name: name.clone(),
            ty: type_of(p, &defs),
            required: required.contains(&name.as_str()),
            default: p.get("default").filter(|d| !d.is_null()).map(default_text),
            description: p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\n', " "),
        })
        .collect()
}

/// The text of `mkeprep modules NAME`.
pub fn render(doc: &ModuleDoc) -> String {
    let mut s = format!("{}: {}\n\n", doc.name, doc.summary);
    s.push_str(&format!("check mode: {}\n", doc.check_mode));
    if doc.disruptive {
        s.push_str("disruptive: yes — apply asks for confirmation, or needs --yes\n");
    }
    s.push_str("\nparameters:\n");
    let ps = params(doc);
    if ps.is_empty() {
        s.push_str("  (none)\n");
    }
    for p in ps {
        let req = if p.required {
            "required".to_string()
        } else {
            match &p.default {
                Some(d) => format!("default {d}"),
                None => "optional".to_string(),
            }
        };
        s.push_str(&format!(
            "  {:<16} {} ({req})\n      {}\n",
            p.name, p.ty, p.description
        ));
    }
    if let Some(outputs) = doc.outputs {
        s.push_str("\nregisters (steps.ID.FIELD, or REGISTER.FIELD):\n");
        if outputs.is_empty() {
            s.push_str("  (nothing)\n");
        }
        for (field, what) in outputs {
            s.push_str(&format!("  {field:<16} {what}\n"));
        }
    }
    s.push_str(&format!("\nexample:\n{}\n", indent(doc.example, "  ")));
    s
}

/// The Markdown reference of every module (checked into docs/modules.md).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Task modules\n\nGenerated by `mkeprep modules --markdown` from the modules' own types; a test keeps this file in step with the code.\n",
    );
    for doc in tasks::docs() {
        s.push_str(&format!("\n## `{}`\n\n{}\n\n", doc.name, doc.summary));
        s.push_str(&format!("- check mode: {}\n", doc.check_mode));
        s.push_str(&format!(
            "- disruptive: {}\n\n",
            if doc.disruptive {
                "yes (asks for confirmation, or needs `--yes`)"
            } else {
                "no"
            }
        ));
        s.push_str("| parameter | type | required / default | description |\n|---|---|---|---|\n");
        for p in params(&doc) {
            let req = if p.required {
                "required".to_string()
            } else {
                p.default
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| "optional".into())
            };
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                p.name,
                p.ty.replace('|', "\\|"),
                req,
                p.description.replace('|', "\\|")
            ));
        }
        if let Some(outputs) = doc.outputs {
            s.push_str("\nRegisters (`steps.ID.FIELD`, or `REGISTER.FIELD`):");
            if outputs.is_empty() {
                s.push_str(" nothing.\n");
            } else {
                s.push_str("\n\n| field | holds |\n|---|---|\n");
                for (field, what) in outputs {
                    s.push_str(&format!("| `{field}` | {} |\n", what.replace('|', "\\|")));
                }
            }
        }
        s.push_str(&format!("\n```yaml\n{}\n```\n", doc.example));
    }
    s
}

fn indent(text: &str, pad: &str) -> String {
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(a: ModulesArgs) -> i32 {
    let docs = tasks::docs();
    if a.markdown {
        print!("{}", markdown());
        return exit::OK;
    }
    match a.name {
        None => {
            let w = docs.iter().map(|d| d.name.len()).max().unwrap_or(8);
            for d in &docs {
                println!("{:<w$}  {}", d.name, d.summary);
            }
            println!(
                "\nmkeprep modules NAME shows a module's parameters, defaults and an example."
            );
            exit::OK
        }
        Some(name) => match docs.iter().find(|d| d.name == name) {
            Some(d) => {
                print!("{}", render(d));
                exit::OK
            }
            None => {
                let hint = suggest(&name, docs.iter().map(|d| d.name))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                print_error(&format!(
                    "no module named `{name}`{hint}; `mkeprep modules` lists them"
                ));
                exit::USAGE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module says what each parameter is, its type, whether it is
    /// required or its default, and shows an example step that uses it.
    #[test]
    fn every_module_documents_types_defaults_and_an_example() {
        for doc in tasks::docs() {
            assert!(!doc.summary.is_empty(), "{}: no summary", doc.name);
            assert!(
                doc.example.contains(&format!("{}:", doc.name)),
                "{}: the example does not use the module:\n{}",
                doc.name,
                doc.example
            );
            let text = render(&doc);
            assert!(text.contains("\nexample:\n"), "{}", doc.name);
            for p in params(&doc) {
                assert!(
                    !p.ty.is_empty() && p.ty != "any",
                    "{}.{}: no type ({})",
                    doc.name,
                    p.name,
                    p.ty
                );
                assert!(
                    !p.description.is_empty(),
                    "{}.{}: no description",
                    doc.name,
                    p.name
                );
                assert!(
                    text.contains(&format!("  {:<16} {} (", p.name, p.ty)),
                    "{}.{}: not rendered with its type:\n{text}",
                    doc.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn enum_parameters_list_their_values() {
        let doc = tasks::docs()
            .into_iter()
            .find(|d| d.name == "mke_config")
            .map(|d| params(&d));
        let leftover = doc
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.name == "leftover_kubeconf");
        let leftover = leftover.map(|p| (p.ty, p.default));
        assert_eq!(
            leftover,
            Some((
                "\"block\" | \"warn\" | \"skip\"".to_string(),
                Some("\"block\"".to_string())
            ))
        );
    }

    /// Every default the docs show can be written into a playbook as shown
    /// and is accepted; a duration's reads back as the same duration (they
    /// were shown as serde's `{"secs":86400,"nanos":0}`).
    #[test]
    fn every_default_is_shown_as_a_playbook_would_write_it() {
        let mut durations = 0;
        for doc in tasks::docs() {
            let raw = doc.schema.as_value().clone();
            // The example supplies the required parameters.
            let src = crate::diag::Source::new("example", doc.example.to_string());
            let example = crate::yaml::parse(&src)
                .expect("the example parses")
                .to_json();
            let base = example[0][doc.name].clone();
            for p in params(&doc) {
                let Some(shown) = &p.default else { continue };
                assert!(
                    !shown.contains("secs") && !shown.contains("nanos"),
                    "{}.{}: default shown as {shown}",
                    doc.name,
                    p.name
                );
                let value: Value = serde_json::from_str(shown).expect("a default is JSON");
                let mut params = base.clone();
                params[&p.name] = value.clone();
                let typed = crate::tasks::Task::from_json(doc.name, params).expect("a module");
                assert!(
                    typed.is_ok(),
                    "{}.{}: the shown default {shown} is refused: {:?}",
                    doc.name,
                    p.name,
                    typed.err().map(|e| e.to_string())
                );
                if let Some(d) = as_duration(&raw["properties"][&p.name]["default"]) {
                    durations += 1;
                    assert_eq!(
                        crate::util::text::parse_duration_str(value.as_str().unwrap_or("")),
                        Some(d),
                        "{}.{}",
                        doc.name,
                        p.name
                    );
                }
            }
        }
        assert!(durations >= 2, "the duration defaults were not seen");
        let backup = tasks::docs()
            .into_iter()
            .find(|d| d.name == "mke_backup")
            .unwrap();
        let shown: Vec<(String, Option<String>)> = params(&backup)
            .into_iter()
            .map(|p| (p.name, p.default))
            .collect();
        assert!(
            shown.contains(&("max_age".into(), Some("\"24h\"".into()))),
            "{shown:?}"
        );
        assert!(
            shown.contains(&("wait".into(), Some("\"30m\"".into()))),
            "{shown:?}"
        );
    }
}
