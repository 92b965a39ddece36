//! `mkeprep validate`: parse, type-check and template-check; contact nothing.

use super::{ValidateArgs, print_error};
use crate::model::exit;

pub fn run(a: ValidateArgs) -> i32 {
    match super::inputs::load_inputs(&a.playbook, &a.vars, Vec::new()) {
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
            if let Some(inv) = &l.inventory {
                println!("{}: valid — {} hosts", inv.path.display(), inv.hosts.len());
                for w in &inv.warnings {
                    eprintln!("warning: {w}");
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
