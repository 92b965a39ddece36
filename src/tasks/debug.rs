//! `debug`: print a message (rendered) in the step's detail and register it.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Check, Facts, Module, StepContext, TaskError};

/// Show a message. Never changes anything.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Debug {
    /// The message; templates are rendered. A non-string value is shown as JSON.
    pub msg: serde_json::Value,
}

impl Module for Debug {
    const NAME: &'static str = "debug";
    const SUMMARY: &'static str = "Show a message (templated); changes nothing.";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> =
        Some(&[("msg", "the message, rendered")]);
    const EXAMPLE: &'static str =
        "- id: show-target\n  debug:\n    msg: \"Target MKE 4k {{ target }}\"";

    async fn check(&self, _cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let text = match &self.msg {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut output = Facts::new();
        output.insert("msg".into(), self.msg.clone());
        Ok(Check::InSync {
            message: text,
            output,
        })
    }
}
