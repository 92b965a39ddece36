//! Property tests of the playbook loader and of `-e` extra variables:
//! generated input loads to exactly the values written; mutated input never
//! panics and is refused with errors that point into the file.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{extra, load};
use crate::template::Templates;
use crate::testing::{self, edits, mutate, positioned, scalar};

#[derive(Debug, Clone)]
enum GenValue {
    Int(i64),
    Bool(bool),
    Str(String, u8),
    List(Vec<i32>, bool),
}

impl GenValue {
    fn yaml(&self) -> String {
        match self {
            GenValue::Int(i) => i.to_string(),
            GenValue::Bool(b) => b.to_string(),
            GenValue::Str(s, style) => scalar(s, *style),
            GenValue::List(items, flow) => {
                let items: Vec<String> = items.iter().map(i32::to_string).collect();
                if *flow || items.is_empty() {
                    format!("[{}]", items.join(", "))
                } else {
                    items
                        .iter()
                        .map(|i| format!("\n    - {i}"))
                        .collect::<String>()
                }
            }
        }
    }

    fn json(&self) -> Value {
        match self {
            GenValue::Int(i) => json!(i),
            GenValue::Bool(b) => json!(b),
            GenValue::Str(s, _) => json!(s),
            GenValue::List(items, _) => json!(items),
        }
    }
}

/// Text that is not a template (templates are rendered, not kept).
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}".prop_filter("not a template", |s| !crate::template::is_template(s))
}

fn value() -> impl Strategy<Value = GenValue> {
    prop_oneof![
        any::<i64>().prop_map(GenValue::Int),
        any::<bool>().prop_map(GenValue::Bool),
        (text(), any::<u8>()).prop_map(|(s, st)| GenValue::Str(s, st)),
        (prop::collection::vec(any::<i32>(), 0..4), any::<bool>())
            .prop_map(|(v, f)| GenValue::List(v, f)),
    ]
}

/// Variables with distinct names that are neither reserved nor secret-named
/// (a secret-named value would be masked in every other test's output).
fn vars() -> impl Strategy<Value = Vec<(String, GenValue)>> {
    prop::collection::vec(("v_[a-z0-9_]{0,6}", value()), 0..6).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|(k, _)| seen.insert(k.clone()) && !crate::util::secret::is_secret_name(k));
        v
    })
}

#[derive(Debug, Clone)]
struct GenStep {
    suffix: String,
    module: u8,
    name: Option<(String, u8)>,
    tags: Vec<String>,
    arg: (String, u8),
    /// `loop:` items.
    items: Option<Vec<i32>>,
}

fn steps() -> impl Strategy<Value = Vec<GenStep>> {
    prop::collection::vec(
        (
            "[a-z0-9-]{0,6}",
            0u8..3,
            prop::option::of((text(), any::<u8>())),
            prop::collection::vec("[a-z]{1,6}", 0..3),
            (text(), any::<u8>()),
            prop::option::of(prop::collection::vec(any::<i32>(), 0..4)),
        )
            .prop_map(|(suffix, module, name, tags, arg, items)| GenStep {
                suffix,
                module,
                name,
                tags,
                arg,
                items,
            }),
        1..6,
    )
}

const MODULES: [&str; 3] = ["debug", "assert", "command"];

fn render(vars: &[(String, GenValue)], steps: &[GenStep], crlf: bool) -> String {
    render_split(vars, steps, crlf, steps.len()).0
}

/// The playbook, with the steps from `split` on in an included file
/// (`lib.yaml`, returned second) when `split` is less than their count.
fn render_split(
    vars: &[(String, GenValue)],
    steps: &[GenStep],
    crlf: bool,
    split: usize,
) -> (String, Option<String>) {
    let mut out = String::from("# generated\nname: generated\n");
    if !vars.is_empty() {
        out.push_str("vars:\n");
        for (k, v) in vars {
            out.push_str(&format!("  {k}: {}\n", v.yaml()));
        }
    }
    out.push_str("steps:\n");
    let split = split.min(steps.len());
    out.push_str(&render_steps(vars, &steps[..split], 0));
    let lib = (split < steps.len()).then(|| {
        out.push_str("  - include: lib.yaml\n");
        format!("steps:\n{}", render_steps(vars, &steps[split..], split))
    });
    let fix = |t: String| if crlf { t.replace('\n', "\r\n") } else { t };
    (fix(out), lib.map(fix))
}

fn render_steps(vars: &[(String, GenValue)], steps: &[GenStep], first: usize) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate().map(|(i, s)| (i + first, s)) {
        out.push_str(&format!("  - id: s{i}{}\n", s.suffix));
        if let Some((name, style)) = &s.name {
            out.push_str(&format!("    name: {}\n", scalar(name, *style)));
        }
        if !s.tags.is_empty() {
            out.push_str(&format!("    tags: [{}]\n", s.tags.join(", ")));
        }
        if let Some(items) = &s.items {
            let items: Vec<String> = items.iter().map(i32::to_string).collect();
            out.push_str(&format!("    loop: [{}]\n", items.join(", ")));
        }
        let arg = scalar(&s.arg.0, s.arg.1);
        match MODULES[usize::from(s.module)] {
            "debug" => out.push_str(&format!("    debug:\n      msg: {arg}\n")),
            "assert" => {
                let that = vars
                    .first()
                    .map(|(k, _)| format!("{k} is defined"))
                    .unwrap_or_else(|| "true".into());
                out.push_str(&format!(
                    "    assert:\n      that:\n        - {that}\n      message: {arg}\n"
                ));
            }
            _ => out.push_str(&format!("    command:\n      argv: [echo, {arg}]\n")),
        }
    }
    out
}

fn load_text(
    dir: &tempfile::TempDir,
    text: &str,
) -> Result<super::Playbook, crate::diag::SourceErrors> {
    let path = testing::write(dir, "pb.yaml", text);
    load(&path, &IndexMap::new(), &BTreeMap::new(), &Templates::new())
}

proptest! {
    #![proptest_config(testing::config())]

    #[test]
    fn generated_playbooks_load_to_the_values_written(
        vars in vars(), steps in steps(), crlf in any::<bool>()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = render(&vars, &steps, crlf);
        let pb = match load_text(&dir, &text) {
            Ok(pb) => pb,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- input\n{text}"))),
        };
        let want: IndexMap<String, Value> =
            vars.iter().map(|(k, v)| (k.clone(), v.json())).collect();
        prop_assert_eq!(&pb.vars, &want);
        prop_assert_eq!(pb.steps.len(), steps.len());
        for (i, (got, s)) in pb.steps.iter().zip(&steps).enumerate() {
            prop_assert_eq!(&got.id, &format!("s{i}{}", s.suffix));
            prop_assert_eq!(got.module, MODULES[usize::from(s.module)]);
            prop_assert_eq!(got.name.as_deref(), s.name.as_ref().map(|(n, _)| n.as_str()));
            prop_assert_eq!(&got.tags, &s.tags);
            let arg = match got.module {
                "debug" => got.params.get("msg").map(|n| n.to_json()),
                "assert" => got.params.get("message").map(|n| n.to_json()),
                _ => got.params.get("argv").map(|n| n.to_json()[1].clone()),
            };
            prop_assert_eq!(arg, Some(json!(s.arg.0)));
        }
    }

    #[test]
    fn steps_split_into_an_included_file_load_as_written_with_their_loops(
        vars in vars(), steps in steps(), crlf in any::<bool>(), split in 0usize..6
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (main, lib) = render_split(&vars, &steps, crlf, split);
        if let Some(lib) = &lib {
            testing::write(&dir, "lib.yaml", lib);
        }
        let pb = match load_text(&dir, &main) {
            Ok(pb) => pb,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- input\n{main}\n--- lib\n{lib:?}"))),
        };
        prop_assert_eq!(pb.steps.len(), steps.len());
        prop_assert_eq!(pb.files.len(), 1 + usize::from(lib.is_some()));
        for (i, (got, s)) in pb.steps.iter().zip(&steps).enumerate() {
            prop_assert_eq!(&got.id, &format!("s{i}{}", s.suffix));
            let file = if i < split { "pb.yaml" } else { "lib.yaml" };
            prop_assert!(got.file().ends_with(file), "{} in {}", got.id, got.file().display());
            prop_assert_eq!(
                got.items.as_ref().map(|n| n.to_json()),
                s.items.as_ref().map(|v| json!(v))
            );
        }
    }

    #[test]
    fn a_mutated_included_file_is_refused_at_its_own_lines(
        vars in vars(), steps in steps(), e in edits()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (main, lib) = render_split(&vars, &steps, false, 0);
        let lib = mutate(&lib.unwrap_or_default(), &e);
        testing::write(&dir, "lib.yaml", &lib);
        if let Err(errors) = load_text(&dir, &main) {
            // Every error names a file; those in lib.yaml point into it.
            let in_lib: Vec<_> = errors.0.iter().filter(|e| e.file.ends_with("lib.yaml")).cloned().collect();
            prop_assert!(errors.0.iter().all(|e| e.file.ends_with("lib.yaml") || e.file.ends_with("pb.yaml")));
            if !in_lib.is_empty() {
                positioned(&crate::diag::SourceErrors(in_lib), &lib)?;
            }
        }
    }

    #[test]
    fn mutated_playbooks_never_panic_and_errors_point_into_the_file(
        vars in vars(), steps in steps(), crlf in any::<bool>(), e in edits()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = mutate(&render(&vars, &steps, crlf), &e);
        if let Err(errors) = load_text(&dir, &text) {
            positioned(&errors, &text)?;
        }
    }

    #[test]
    fn key_value_extra_vars_are_the_text_after_the_first_equals_sign(
        pairs in prop::collection::vec(("v_[a-z0-9_]{0,4}", "\\PC{0,24}"), 0..8)
    ) {
        let args: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut want = IndexMap::new();
        for (k, v) in &pairs {
            want.insert(k.clone(), extra::typed(v));
        }
        prop_assert_eq!(extra::parse(&args).map_err(|e| e.to_string()), Ok(want));
    }

    #[test]
    fn extra_values_are_typed_as_written(
        n in any::<i64>(), b in any::<bool>(), quoted in "[^'\"]{0,12}",
        whole in 0u32..1000, frac in 0u32..1000, text in "[a-z][a-z0-9 .:-]{0,12}"
    ) {
        let parsed = extra::parse(&[
            format!("n={n}"),
            format!("b={b}"),
            format!("q='{quoted}'"),
            format!("d={whole}.{frac}"),
            format!("t={text}"),
        ])
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed["n"], &json!(n));
        prop_assert_eq!(&parsed["b"], &json!(b));
        prop_assert_eq!(&parsed["q"], &json!(quoted));
        // Decimals stay text: a version is never rewritten (4.10 is not 4.1).
        prop_assert_eq!(&parsed["d"], &json!(format!("{whole}.{frac}")));
        let want = match text.as_str() {
            "true" => json!(true),
            "false" => json!(false),
            "null" => Value::Null,
            _ => json!(text),
        };
        prop_assert_eq!(&parsed["t"], &want);
    }

    #[test]
    fn variable_files_load_to_the_values_written_and_later_arguments_win(
        vars in vars(), later in prop::option::of("\\PC{0,12}"), crlf in any::<bool>()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text: String = vars.iter().map(|(k, v)| format!("{k}: {}\n", v.yaml())).collect();
        if text.is_empty() {
            text.push_str("{}\n");
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let path = testing::write(&dir, "vars.yaml", &text);
        let mut args = vec![format!("@{}", path.display())];
        let mut want: IndexMap<String, Value> =
            vars.iter().map(|(k, v)| (k.clone(), v.json())).collect();
        if let (Some(v), Some((k, _))) = (&later, vars.first()) {
            args.push(format!("{k}={v}"));
            want.insert(k.clone(), extra::typed(v));
        }
        let got = extra::parse(&args).map_err(|e| format!("{e}\n--- input\n{text}"));
        prop_assert_eq!(got, Ok(want));
    }

    #[test]
    fn arbitrary_extra_var_arguments_never_panic(
        args in prop::collection::vec(prop_oneof!["\\PC{0,16}", "[a-z_=@.]{0,8}"], 0..6)
    ) {
        // `@…` names a file that does not exist: an error naming it.
        if let Err(e) = extra::parse(&args) {
            prop_assert!(!e.0.is_empty() && e.0.iter().all(|e| !e.message.is_empty()));
        }
    }

    #[test]
    fn mutated_variable_files_never_panic_and_errors_point_into_the_file(
        vars in vars(), e in edits()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let valid: String = vars.iter().map(|(k, v)| format!("{k}: {}\n", v.yaml())).collect();
        let text = mutate(&valid, &e);
        let path = testing::write(&dir, "vars.yaml", &text);
        if let Err(errors) = extra::parse(&[format!("@{}", path.display())]) {
            positioned(&errors, &text)?;
        }
    }
}
