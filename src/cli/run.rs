//! `mkeprep run`: load (exit 2 on bad input, nothing contacted), then hand
//! the playbook to the engine with the chosen reporters.

use std::io::IsTerminal;

use std::path::PathBuf;
use std::time::Duration;

use super::credentials::Credentials;
use super::inputs::{Loaded, load_inputs, mke_client, sandbox_options};
use super::terminal::{Prompt, can_prompt, interrupt_signal};
use super::{Output, RunArgs, VarsArgs, print_error};
use crate::engine::approve::{ApproveAll, RefuseAll};
use crate::engine::journal::Inputs;
use crate::engine::lock::RunLock;
use crate::engine::{Approver, RunOptions, Runner, check_selection, selected_steps};
use crate::model::events::{Event, Reporter, spawn_reporter};
use crate::model::exit;
use crate::report::Fanout;
use crate::report::human::HumanReporter;
use crate::report::live::Live;
use crate::ssh::{SshSettings, Transport};
use crate::tasks::Connections;
use crate::template::{Scope, to_value};
use crate::util::secret;

pub const AFTER_HELP: &str = "\
Credentials come from the environment: MKE_HOST, MKE_USERNAME, MKE_PASSWORD
(or --password-file / --password-stdin). A password is never a flag value.

A run records every step in the journal (--state-dir). If it is interrupted or
killed, run the same command again: finished steps are not repeated, and the
interrupted one is checked again before anything is applied.

Examples:
  mkeprep run site.yaml --check              # what would change? (exit 3 if anything)
  mkeprep run site.yaml -e target=4.1.5 -y   # apply, approving disruptive steps
  mkeprep run site.yaml --output json --junit report.xml
  mkeprep run site.yaml --check --report readiness.html   # a page for the change ticket";

/// Colour is allowed at all: not `--no-color`, not `NO_COLOR`, not a dumb
/// terminal.
fn color_allowed(no_color: bool) -> bool {
    !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Live bars on stderr: it is a terminal that can move the cursor.
fn live_progress() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Raises the soft open-file limit to the hard one (as Go programs do), so a
/// wide fan-out (`--forks`, up to 1000 connections) cannot run out of file
/// descriptors under a distribution's default soft limit of 1024.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The widest step key a run of `pb` can show: a step's id, and for a
/// looping step its `[N]` suffix (items count from 1: the length of a
/// literal list; for a list computed at run time, the most a loop may have).
fn widest_key(pb: &crate::playbook::Playbook) -> usize {
    let digits = |n: usize| n.max(1).ilog10() as usize + 1;
    pb.steps
        .iter()
        .map(|s| match &s.items {
            None => s.id.len(),
            Some(items) => {
                let last = items
                    .as_seq()
                    .map_or(crate::playbook::model::MAX_LOOP_ITEMS, <[_]>::len);
                s.id.len() + 2 + digits(last)
            }
        })
        .max()
        .unwrap_or(0)
}

pub fn run(a: RunArgs) -> i32 {
    super::stopped::mark_start();
    raise_open_file_limit();
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            return super::stopped::stopped(&a, exit::FAILED, &e);
        }
    };
    let code = rt.block_on(run_async(a));
    // Do not wait for blocking work still running (a prompt's stdin read
    // after Ctrl-C): the run is over and the journal is consistent.
    rt.shutdown_background();
    code
}

async fn run_async(mut a: RunArgs) -> i32 {
    if !a.ssh_options.is_empty() && a.ssh_transport != Transport::Openssh {
        return super::stopped::stopped(
            &a,
            exit::USAGE,
            &format!(
                "--ssh-option {} is an OpenSSH option, and the SSH transport is `{}`: add --ssh-transport openssh (or MKEPREP_SSH_TRANSPORT=openssh) to use it",
                a.ssh_options[0],
                a.ssh_transport.name()
            ),
        );
    }
    let mut creds = match a.mke.credentials() {
        Ok(c) => c,
        Err(e) => {
            return super::stopped::stopped(&a, exit::USAGE, &e);
        }
    };

    // With --sandbox, a real run takes the state directory's lock before the
    // sandbox starts in it; bad input is reported before either (exit 2,
    // nothing touched). Without it, the engine takes the lock after loading.
    if a.sandbox {
        let placeholders = vec![
            (
                "MKE_HOST".to_string(),
                "https://sandbox.invalid".to_string(),
            ),
            ("MKE_USERNAME".to_string(), "admin".to_string()),
            ("MKE_PASSWORD".to_string(), "placeholder".to_string()),
        ];
        let vars = VarsArgs {
            inventory: a.vars.inventory.clone(),
            extra_vars: a.vars.extra_vars.clone(),
        };
        // The sandbox supplies the inventory: names only it can answer
        // wait for the load after it started.
        match load_inputs(&a.playbook, &vars, placeholders, true) {
            Err(e) => {
                return super::stopped::stopped(&a, exit::USAGE, &e.to_string());
            }
            Ok(l) => {
                if let Err(e) =
                    check_selection(&l.playbook, &a.tags, &a.skip_tags, a.start_at.as_deref())
                {
                    return super::stopped::stopped(&a, e.exit_code(), &e.to_string());
                }
            }
        }
    }
    // With --sandbox even --check takes the lock: the simulated cluster
    // lives in the state directory.
    let lock = if !a.sandbox {
        None
    } else {
        let made = crate::util::fsx::ensure_dir(&a.state_dir).map_err(|e| {
            format!(
                "cannot use the state directory {}: {e}",
                a.state_dir.display()
            )
        });
        if let Err(e) = made {
            return super::stopped::stopped(&a, exit::FAILED, &e);
        }
        match RunLock::acquire(&a.state_dir) {
            Ok(l) => Some(l),
            Err(e) => {
                return super::stopped::stopped(&a, e.exit_code(), &e.to_string());
            }
        }
    };

    let mut sandbox = None;
    let mut home = std::env::var_os("HOME").map(PathBuf::from);
    let mut extra_path = None;
    let mut kdd_rate = None;
    let mut env_overrides = Vec::new();
    if a.sandbox {
        let opts = match sandbox_options(&a.playbook, &a.sandbox_set) {
            Ok(o) => o,
            Err(e) => {
                return super::stopped::stopped(&a, exit::USAGE, &e);
            }
        };
        let dir = a.state_dir.join("sandbox");
        if a.fresh && !a.check {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let sb = match crate::sandbox::start(&opts, &dir).await {
            Ok(sb) => sb,
            Err(e) => {
                return super::stopped::stopped(
                    &a,
                    exit::FAILED,
                    &format!("cannot start the sandbox: {e}"),
                );
            }
        };
        // Templates see the sandbox's connection as `env.MKE_*`.
        env_overrides = vec![
            ("MKE_HOST".to_string(), sb.mke_host.clone()),
            ("MKE_USERNAME".to_string(), sb.username.clone()),
            ("MKE_PASSWORD".to_string(), sb.password.expose().to_string()),
        ];
        env_overrides.extend(sb.upgrade_env());
        creds.host = Some(sb.mke_host.clone());
        creds.username = Some(sb.username.clone());
        creds.password = Some(sb.password.clone());
        a.mke.ca_cert = Some(sb.ca_cert.clone());
        if a.vars.inventory.is_none() {
            a.vars.inventory = Some(sb.inventory.clone());
        }
        a.known_hosts = Some(sb.known_hosts.clone());
        home = Some(sb.home_dir.clone());
        extra_path = Some(sb.bin_dir.clone());
        kdd_rate = Some(opts.kdd_seconds_per_node);
        sandbox = Some(sb);
    }

    let code = run_loaded(a, creds, lock, (home, extra_path, kdd_rate), env_overrides).await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    code
}

async fn run_loaded(
    a: RunArgs,
    creds: Credentials,
    lock: Option<RunLock>,
    (home, extra_path, kdd_seconds_per_node): (Option<PathBuf>, Option<PathBuf>, Option<f64>),
    env_overrides: Vec<(String, String)>,
) -> i32 {
    let loaded = match load_inputs(&a.playbook, &a.vars, env_overrides, false) {
        Ok(l) => l,
        Err(e) => {
            return super::stopped::stopped(&a, exit::USAGE, &e.to_string());
        }
    };
    if let Err(e) = check_selection(
        &loaded.playbook,
        &a.tags,
        &a.skip_tags,
        a.start_at.as_deref(),
    ) {
        return super::stopped::stopped(&a, e.exit_code(), &e.to_string());
    }
    let Loaded {
        playbook,
        inventory,
        extra,
        env,
        templates,
        ..
    } = loaded;
    let mke = match mke_client(
        &creds,
        &playbook.mke,
        a.mke.ca_cert.clone(),
        a.mke.insecure,
        a.sandbox,
        Duration::from_secs(a.mke.api_timeout),
    ) {
        Ok(m) => m,
        Err(e) => {
            return super::stopped::stopped(&a, exit::USAGE, &e);
        }
    };
    if let Err(why) = &mke {
        let needing: Vec<&str> =
            selected_steps(&playbook, &a.tags, &a.skip_tags, a.start_at.as_deref())
                .into_iter()
                .filter(|s| crate::tasks::needs_api(s.module))
                .map(|s| s.id.as_str())
                .collect();
        if !needing.is_empty() {
            print_error(&format!(
                "{why}, and these steps need the MKE API: {}\n  help: export MKE_HOST, MKE_USERNAME and MKE_PASSWORD (or use --password-file), or rehearse with --sandbox; nothing was contacted",
                needing.join(", ")
            ));
            return exit::USAGE;
        }
    }

    let inputs = Inputs {
        playbook: playbook.path.display().to_string(),
        playbook_digest: playbook.digest.clone(),
        files: playbook
            .files
            .iter()
            .filter(|_| playbook.files.len() > 1)
            .map(|(p, d)| (p.display().to_string(), d.clone()))
            .collect(),
        inventory: inventory.as_ref().map(|i| i.path.display().to_string()),
        inventory_digest: inventory.as_ref().map(|i| i.digest.clone()),
        // Secret-named variables are compared by digest, never stored.
        extra_vars: extra
            .iter()
            .map(|(k, v)| {
                let v = if secret::is_secret_name(k) {
                    let text = serde_json::to_string(v).unwrap_or_default();
                    serde_json::Value::String(format!(
                        "sha256:{}",
                        crate::util::text::sha256_hex(text.as_bytes())
                    ))
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
        // The sandbox's port may differ from one start to the next.
        target: if a.sandbox {
            Some("the sandbox".to_string())
        } else {
            mke.as_ref()
                .ok()
                .map(|c| c.target().to_string())
                .or(creds.host.clone())
        },
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
        Output::Human => {
            let color = color_allowed(a.no_color);
            let mut human = HumanReporter::new(
                std::io::stdout(),
                std::io::stderr(),
                color && std::io::stdout().is_terminal(),
                a.diff,
                a.verbose,
            )
            .err_color(color && std::io::stderr().is_terminal())
            .key_width(widest_key(&playbook));
            if live_progress() {
                human = human.live(Live::stderr(color));
            }
            reporters.push(Box::new(human));
        }
        // JSON is one of the machine sinks below.
        Output::Json => {}
    }
    reporters.extend(super::stopped::sinks(&a, Some(&inputs)));
    let (events, reporter) = spawn_reporter(Box::new(Fanout(reporters)));
    // Kept to end the run's outputs if the engine stops outside its steps.
    let tail = events.clone();
    if let Some(inv) = &inventory {
        for w in &inv.warnings {
            events.emit(Event::Warning { message: w.clone() });
        }
    }
    if mke.as_ref().is_ok_and(|c| c.config().insecure) {
        events.emit(Event::Warning {
            message: "--insecure: the MKE API's TLS certificate is not verified; anyone on the network path could read the password. Pass the MKE CA with --ca-cert instead".into(),
        });
    }

    let conn = Connections {
        mke,
        inventory,
        ssh: SshSettings {
            transport: a.ssh_transport,
            home: home.clone(),
            known_hosts: a.known_hosts.clone(),
            accept_new_host_keys: a.accept_new_host_keys,
            forks: usize::from(a.forks),
            connect_timeout: Duration::from_secs(a.ssh_timeout.max(1)),
            command_timeout: Duration::from_secs(a.ssh_timeout.max(1).saturating_add(20)),
            options: a.ssh_options.clone(),
            ..SshSettings::default()
        },
        home,
        extra_path,
        kdd_seconds_per_node,
    };
    let opts = RunOptions {
        check: a.check,
        tags: a.tags,
        skip_tags: a.skip_tags,
        start_at: a.start_at,
        fresh: a.fresh,
        resend: a.resend,
        // --sandbox --fresh reset the simulated cluster (above).
        forget_unknown: a.sandbox && a.fresh && !a.check,
        state_dir: a.state_dir,
        inputs,
    };
    let approver: Box<dyn Approver> = if a.yes {
        Box::new(ApproveAll)
    } else if can_prompt() && !a.mke.password_stdin {
        Box::new(Prompt)
    } else {
        Box::new(RefuseAll("no terminal to ask on".into()))
    };
    let interrupt = interrupt_signal();
    let runner = Runner {
        pb: &playbook,
        opts: &opts,
        templates: &templates,
        scope,
        events,
        conn: &conn,
        approver: approver.as_ref(),
        lock,
    };
    let code = match runner.run(interrupt).await {
        Ok(status) => status.exit_code(),
        Err(e) => super::stopped::stopped_running(&tail, e.exit_code(), &e.to_string()),
    };
    drop(tail);
    let finished = reporter
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the reporter thread panicked")));
    if let Err(e) = finished {
        print_error(&format!("cannot write the report: {e}"));
        return code.max(exit::FAILED);
    }
    code
}
