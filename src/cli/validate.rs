//! `mkeprep validate`: parse, type-check and template-check; contact nothing.

use super::{ValidateArgs, print_error};
use crate::model::exit;

pub fn run(a: ValidateArgs) -> i32 {
    match super::inputs::load_inputs(&a.playbook, &a.vars, Vec::new(), true) {
        Ok(l) => {
            let mut modules: Vec<&str> = l.playbook.steps.iter().map(|s| s.module).collect();
            modules.sort_unstable();
            modules.dedup();
            println!(
                "{}: valid — {} steps ({})",
                a.playbook.display(),
                l.playbook.steps.len(),
                modules.join(", ")
            );
            for w in &l.warnings {
                eprintln!("warning: {w}");
            }
            if let Some(inv) = &l.inventory {
                println!("{}: valid — {} hosts", inv.path.display(), inv.hosts.len());
                for w in &inv.warnings {
                    eprintln!("warning: {w}");
                }
                // The keys are for logging in; a lint (CI) does not have them.
                for e in &inv.key_errors {
                    eprintln!(
                        "warning: {}\n  note: `mkeprep run` needs this key; validate checks the inventory without it",
                        crate::util::secret::redact(&e.to_string())
                    );
                }
            }
            exit::OK
        }
        Err(e) => {
            print_error(&e.to_string());
            exit::USAGE
        }
    }
}
