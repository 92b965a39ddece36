//! `mkeprep validate`: parse, type-check and template-check; contact nothing.

use super::{ValidateArgs, print_error};
use crate::model::exit;
use crate::util::secret::redact;
use crate::util::text::terminal_safe;

pub fn run(a: ValidateArgs) -> i32 {
    match super::inputs::load_inputs(&a.playbook, &a.vars, Vec::new(), true) {
        Ok(l) => {
            let mut modules: Vec<&str> = l.playbook.steps.iter().map(|s| s.module).collect();
            modules.sort_unstable();
            modules.dedup();
            let mut out = format!(
                "{}: valid — {} steps ({})\n",
                a.playbook.display(),
                l.playbook.steps.len(),
                modules.join(", ")
            );
            let mut err = String::new();
            for w in &l.warnings {
                err.push_str(&format!("warning: {w}\n"));
            }
            if let Some(inv) = &l.inventory {
                out.push_str(&format!(
                    "{}: valid — {} hosts\n",
                    inv.path.display(),
                    inv.hosts.len()
                ));
                for w in &inv.warnings {
                    err.push_str(&format!("warning: {w}\n"));
                }
                // The keys are for logging in; a lint (CI) does not have them.
                for e in &inv.key_errors {
                    err.push_str(&format!(
                        "warning: {e}\n  note: `mkeprep run` needs this key; validate checks the inventory without it\n"
                    ));
                }
            }
            // Paths and warnings quote what the user's files say.
            let safe = |t: &str| terminal_safe(&redact(t)).into_owned();
            print!("{}", safe(&out));
            eprint!("{}", safe(&err));
            exit::OK
        }
        Err(e) => {
            print_error(&e.to_string());
            exit::USAGE
        }
    }
}
