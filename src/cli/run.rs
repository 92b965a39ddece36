//! `mkeprep run`: load (exit 2 on bad input, nothing contacted), then hand
//! the playbook to the engine with the chosen reporters.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indexmap::IndexMap;

use super::{Output, RunArgs, VarsArgs, print_error};
use crate::diag::SourceErrors;
use crate::engine::events::{Event, Reporter, spawn_reporter};
use crate::engine::journal::Inputs;
use crate::engine::runner::{RunOptions, Runner, can_prompt, exit, interrupt_signal};
use crate::engine::secret;
use crate::inventory::{self, Inventory};
use crate::playbook::template::{Scope, Templates, to_value};
use crate::playbook::{self, Playbook};
use crate::report::Fanout;
use crate::report::human::HumanReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;

pub const AFTER_HELP: &str = "\
Credentials come from the environment: MKE_HOST, MKE_USERNAME, MKE_PASSWORD
(or --password-file / --password-stdin). A password is never a flag value.

A run records every step in the journal (--state-dir). If it is interrupted or
killed, run the same command again: finished steps are not repeated, and the
interrupted one is checked again before anything is applied.

Examples:
  mkeprep run site.yaml --check              # what would change? (exit 3 if anything)
  mkeprep run site.yaml -e target=4.1.5 -y   # apply, approving disruptive steps
  mkeprep run site.yaml --output json --junit report.xml";

/// The process environment as UTF-8 pairs.
pub fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Everything a run or a validation loads before contacting anything.
pub struct Loaded {
    pub playbook: Playbook,
    pub inventory: Option<Inventory>,
    pub extra: IndexMap<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub templates: Templates,
}

/// Loads variables, playbook and inventory; errors are input errors (exit 2).
pub fn load_inputs(playbook: &std::path::Path, vars: &VarsArgs) -> Result<Loaded, SourceErrors> {
    secret::register_secret_env();
    let env = environment();
    let extra = playbook::extra::parse(&vars.extra_vars)?;
    let templates = Templates::new();
    let pb = playbook::load(playbook, &extra, &env, &templates);
    let inv = vars.inventory.as_deref().map(inventory::load);
    // Report playbook and inventory errors together.
    match (pb, inv) {
        (Ok(playbook), None) => Ok(Loaded {
            playbook,
            inventory: None,
            extra,
            env,
            templates,
        }),
        (Ok(playbook), Some(Ok(inv))) => Ok(Loaded {
            playbook,
            inventory: Some(inv),
            extra,
            env,
            templates,
        }),
        (Err(mut a), Some(Err(b))) => {
            a.0.extend(b.0);
            Err(a)
        }
        (Err(a), _) => Err(a),
        (Ok(_), Some(Err(b))) => Err(b),
    }
}

fn use_color(no_color: bool) -> bool {
    !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

pub fn run(a: RunArgs) -> i32 {
    let creds = match super::credentials::read(a.password_file.as_deref(), a.password_stdin) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return exit::USAGE;
        }
    };
    let loaded = match load_inputs(&a.playbook, &a.vars) {
        Ok(l) => l,
        Err(e) => {
            print_error(&e.to_string());
            return exit::USAGE;
        }
    };
    let Loaded {
        playbook,
        inventory,
        extra,
        env,
        templates,
    } = loaded;

    let inputs = Inputs {
        playbook: playbook.path.display().to_string(),
        playbook_digest: playbook.digest.clone(),
        inventory: inventory.as_ref().map(|i| i.path.display().to_string()),
        inventory_digest: inventory.as_ref().map(|i| i.digest.clone()),
        extra_vars: extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        target: creds.host.clone(),
    };
    let scope = Scope::with_inventory(
        playbook
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect(),
        extra
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect(),
        env,
        inventory
            .as_ref()
            .map(to_value)
            .unwrap_or(minijinja::Value::UNDEFINED),
    );

    let mut reporters: Vec<Box<dyn Reporter>> = Vec::new();
    match a.output {
        Output::Human => reporters.push(Box::new(HumanReporter::new(
            std::io::stdout(),
            std::io::stderr(),
            use_color(a.no_color),
            a.diff,
            a.verbose,
        ))),
        Output::Json => reporters.push(Box::new(JsonReporter::new(std::io::stdout()))),
    }
    if let Some(path) = &a.junit {
        reporters.push(Box::new(JunitReporter::new(path.clone())));
    }
    let (events, reporter) = spawn_reporter(Box::new(Fanout(reporters)));
    if let Some(inv) = &inventory {
        for w in &inv.warnings {
            events.emit(Event::Warning { message: w.clone() });
        }
    }

    let opts = RunOptions {
        check: a.check,
        yes: a.yes,
        tags: a.tags,
        skip_tags: a.skip_tags,
        start_at: a.start_at,
        fresh: a.fresh,
        state_dir: a.state_dir,
        interactive: can_prompt() && !a.password_stdin,
        inputs,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print_error(&format!("cannot start the async runtime: {e}"));
            return exit::FAILED;
        }
    };
    let code = rt.block_on(async {
        let interrupt = interrupt_signal();
        let runner = Runner::new(&playbook, &opts, &templates, scope, events);
        runner.run(interrupt).await
    });
    let code = match code {
        Ok(c) => c,
        Err(e) => {
            print_error(&e.to_string());
            e.exit_code()
        }
    };
    let finished = reporter
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the reporter thread panicked")));
    if let Err(e) = finished {
        print_error(&format!("cannot write the report: {e}"));
        return code.max(exit::FAILED);
    }
    code
}
