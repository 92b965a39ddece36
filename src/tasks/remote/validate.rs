//! A `remote` step's parameters checked before any host is contacted.

use super::{Remote, verdict};
use crate::tasks::{StepContext, TaskError};
use crate::util::secret::has_marker;

impl Remote {
    pub(super) fn validate(&self, cx: &StepContext<'_>) -> Result<(), TaskError> {
        let bad = |m: &str| Err(TaskError::new(m.to_string()));
        match (&self.argv, &self.script) {
            (Some(_), Some(_)) => return bad("give `argv` or `script`, not both"),
            (None, None) => return bad("give `argv: [program, arg, …]` or `script: \"…\"`"),
            (Some(a), None) if a.is_empty() || a[0].is_empty() => {
                return bad("`argv` is empty: give the program and its arguments");
            }
            (None, Some(s)) if s.trim().is_empty() => return bad("`script` is empty"),
            _ => {}
        }
        // A secret in a remote command line would show in `ps` on the node
        // (and travel as its marker, not its value): refused.
        let mut fields: Vec<(String, &str)> = Vec::new();
        for (i, a) in self.argv.iter().flatten().enumerate() {
            fields.push((format!("argv[{i}]"), a));
        }
        for (i, a) in self.unless.iter().flatten().enumerate() {
            fields.push((format!("unless[{i}]"), a));
        }
        for (name, v) in [("script", &self.script), ("creates", &self.creates)] {
            if let Some(v) = v {
                fields.push((name.to_string(), v));
            }
        }
        if let Some((field, _)) = fields.iter().find(|(_, v)| has_marker(v)) {
            return Err(TaskError::new(format!(
                "`{field}` is a secret: a remote command line shows in `ps` on the node, so a secret cannot go there"
            ))
            .remedy("keep the secret on the node (a file only root reads, used by the script there), or run the step with `command` on this machine, whose `env` carries secrets"));
        }
        if self.read_only && (self.creates.is_some() || self.unless.is_some()) {
            return bad(
                "`read_only` probes change nothing, so `creates`/`unless` (which make actions idempotent) do not apply: drop one or the other",
            );
        }
        if self.read_only && self.disruptive {
            return bad("a `read_only` probe cannot be `disruptive`");
        }
        if matches!(&self.unless, Some(u) if u.is_empty() || u[0].is_empty()) {
            return bad("`unless` is empty: give the probe's program and arguments");
        }
        if matches!(&self.creates, Some(p) if p.is_empty() || p.contains(['\n', '\0'])) {
            return bad("`creates` must be a path on the node");
        }
        if let Some(e) = &self.failed_when {
            if e.contains("{{") {
                return bad(
                    "`failed_when` is an expression, written without `{{ }}` (e.g. `rc != 0 or 'error' in stdout`)",
                );
            }
            verdict::check_names(cx, e)?;
        }
        Ok(())
    }
}
