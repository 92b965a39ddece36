//! `assert`: every expression in `that` must be true.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Check, Module, StepContext, TaskError};
use crate::template::error_text;

/// One expression or a list of them (`true` and numbers count as their text).
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| super::Scalar::deserialize(i).map(String::from))
                .collect::<Result<_, _>>()
                .map(OneOrMany::Many),
            other => super::Scalar::deserialize(other).map(|s| OneOrMany::One(s.0)),
        }
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "`that` is an expression, such as `mke.version is defined`, or a list of them: {e}"
            ))
        })
    }
}

impl OneOrMany {
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// Fail the step unless every expression is true.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    /// Expressions (minijinja syntax, without `{{ }}`), all of which must be true.
    pub that: OneOrMany,
    /// Message shown when an expression is false.
    #[serde(default)]
    pub message: Option<String>,
}

impl Module for Assert {
    const NAME: &'static str = "assert";
    const SUMMARY: &'static str =
        "Check that expressions over variables and step outputs are true.";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[]);
    const EXPRESSIONS: &'static [(&'static str, &'static [&'static str])] = &[("that", &[])];
    const EXAMPLE: &'static str = "- id: target-is-4-2\n  assert:\n    that:\n      - target is startingwith('4.2')\n      - steps.verify_version.version is defined\n    message: this playbook is for 4.2 targets";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let scope = cx.scope.value();
        let that = self.that.as_slice();
        if that.is_empty() {
            return Err(TaskError::new(
                "`that` is empty: give at least one expression",
            ));
        }
        for expr in that {
            let ok = cx
                .templates
                .eval_bool(expr, &scope)
                .map_err(|e| TaskError::new(format!("`{expr}`: {}", error_text(&e))))?;
            if !ok {
                let message = match &self.message {
                    Some(m) => format!("{m} (`{expr}` is false)"),
                    None => format!("assertion failed: `{expr}`"),
                };
                return Err(TaskError::new(message));
            }
        }
        let n = that.len();
        Ok(Check::in_sync(if n == 1 {
            "assertion holds".to_string()
        } else {
            format!("all {n} assertions hold")
        }))
    }
}
