//! `remote`: a command on each selected host, over the shared fan-out.
//!
//! - A **probe** (`read_only: true`) runs in the check phase, also under
//!   `--check`, and is never `changed`: where `failed_when` (default
//!   `rc != 0`) holds, the step fails, naming those hosts with their output.
//! - An **action** is idempotent through `creates: PATH` (`test -e` on the
//!   node) and/or `unless: [argv]` (exit 0 on the node = in sync): the check
//!   evaluates them on every host, and the apply runs only where they said
//!   the action is needed; the re-check reads them again. Without them the
//!   action is due everywhere, every run. Each host's apply is bracketed by
//!   journal checkpoints ([`ledger`]) so an interrupted run resumes without
//!   running it again where it finished.

mod host;
mod ledger;
mod report;
mod validate;
mod verdict;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fanout::{each_host_then, emit_host, listed, plural};
use super::targets::{On, select};
use super::{Change, Check, Facts, Module, StepContext, TaskError};
use crate::inventory::Host;
use crate::ssh::{SshSettings, quote};
use host::{Guards, HostRun, State};
use ledger::{Earlier, ledger};
use report::hosts_of;

/// Run a command on the inventory's hosts over SSH.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// Program and arguments, sent as quoted words: no shell interprets
    /// them on the node (pipes, globs and `$VARS` stay literal).
    #[serde(default, deserialize_with = "super::opt_string_list")]
    pub argv: Option<Vec<String>>,
    /// A shell script instead of `argv`, run on the node by `sh -c`
    /// (pipes, `&&`, `$VARS` work there; the text is sent as one quoted word).
    #[serde(default)]
    pub script: Option<String>,
    /// Which hosts: `all`, `managers`, `workers` (roles from GET /nodes, or
    /// from an earlier `hosts` step without the API), or a list of
    /// inventory addresses.
    #[serde(default)]
    pub on: On,
    /// Run the command (and the `creates`/`unless` checks) through
    /// `sudo -n`: passwordless sudo, never a password prompt.
    #[serde(default, rename = "become")]
    pub become_: bool,
    /// A probe: read-only, runs under --check too, never `changed`; where
    /// `failed_when` holds the step fails. Not with `creates`/`unless`.
    #[serde(default)]
    pub read_only: bool,
    /// An action is in sync on a host where this path exists (`test -e` on
    /// the node).
    #[serde(default)]
    pub creates: Option<String>,
    /// An action is in sync on a host where this probe exits 0 (run on the
    /// node, no shell; exit 126/127 is an error, not drift).
    #[serde(default, deserialize_with = "super::opt_string_list")]
    pub unless: Option<Vec<String>>,
    /// Per host, whether the result is a failure: an expression (no
    /// `{{ }}`) over `rc`, `stdout`, `stderr`, `host` and the playbook's
    /// names; default `rc != 0`.
    #[serde(default)]
    pub failed_when: Option<String>,
    /// Bound on each command on a host (OpenSSH: the connection included);
    /// default `--ssh-timeout` + 20 s. An action cut off by it has an
    /// unknown outcome.
    #[serde(default, deserialize_with = "super::opt_duration")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// The action disrupts something (a restart): ask before applying, or
    /// require --yes.
    #[serde(default)]
    pub disruptive: bool,
    /// What the check found and the apply did per host, for the
    /// registered output of the apply and the re-check.
    #[serde(skip)]
    #[schemars(skip)]
    memo: Mutex<Memo>,
}

#[derive(Debug, Default)]
struct Memo {
    /// Each host's record from the (first) check.
    checked: BTreeMap<String, Value>,
    /// Each host's record from the apply, once it ran.
    applied: Option<BTreeMap<String, Value>>,
}

impl Remote {
    /// The command as sent: quoted words, or `sh -c SCRIPT`; with `become`,
    /// through `sudo -n --`.
    fn line_of(&self, words: &[String]) -> String {
        let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        if self.become_ {
            format!("sudo -n -- {}", line.join(" "))
        } else {
            line.join(" ")
        }
    }

    fn command(&self) -> String {
        match (&self.argv, &self.script) {
            (Some(argv), _) => self.line_of(argv),
            (None, Some(script)) => self.line_of(&["sh".into(), "-c".into(), script.clone()]),
            (None, None) => String::new(),
        }
    }

    /// The command as people read it.
    fn shown(&self) -> String {
        match (&self.argv, &self.script) {
            (Some(argv), _) => argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
            (None, Some(s)) => format!("sh -c {}", quote(s)),
            (None, None) => String::new(),
        }
    }

    /// Settings for this step's commands (its `timeout`).
    fn settings(&self, s: Arc<SshSettings>) -> Arc<SshSettings> {
        match self.timeout {
            Some(t) => Arc::new(SshSettings {
                command_timeout: t,
                ..(*s).clone()
            }),
            None => s,
        }
    }

    async fn probe(&self, cx: &StepContext<'_>, hosts: &[Host]) -> Vec<HostRun> {
        let line = Arc::new(self.command());
        let expr = self.failed_when.as_deref();
        each_host_then(
            cx,
            hosts,
            hosts.len(),
            &format!("running `{}` on", self.shown()),
            |host, settings| host::probe(host, self.settings(settings), line.clone()),
            |i, mut run| {
                verdict::settle(cx, expr, &hosts[i].address, &mut run, false);
                run
            },
        )
        .await
    }

    fn guards(&self) -> Guards {
        Guards {
            creates: self.creates.as_ref().map(|p| {
                (
                    p.clone(),
                    self.line_of(&["test".into(), "-e".into(), p.clone()]),
                )
            }),
            unless: self.unless.as_ref().map(|u| {
                (
                    u.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
                    self.line_of(u),
                )
            }),
        }
    }

    async fn action_check(
        &self,
        cx: &StepContext<'_>,
        hosts: &[Host],
    ) -> Result<Vec<HostRun>, TaskError> {
        let recheck = self.memo().applied.is_some();
        let earlier = Earlier::of(cx);
        let guarded = self.creates.is_some() || self.unless.is_some();
        let in_flight: Vec<String> = earlier
            .in_flight()
            .into_iter()
            .filter(|a| hosts.iter().any(|h| &h.address == a))
            .collect();
        if !guarded && !in_flight.is_empty() && !recheck {
            return Err(TaskError::new(format!(
                "an earlier run was cut off while `{}` ran on {}: whether it took effect there is unknown, and without `creates`/`unless` it cannot be read back, so it is not run again there",
                self.shown(),
                listed(&in_flight)
            ))
            .remedy(format!(
                "check {} by hand (did `{}` take effect?); then add `creates:` or `unless:` so the state can be read back, or run with `--resend {}` to forget the interrupted apply (the action then runs again on every host)",
                listed(&in_flight),
                self.shown(),
                cx.key.id()
            )));
        }
        let total = hosts.len();
        let mut runs: Vec<Option<HostRun>> = vec![None; total];
        let mut todo: Vec<Host> = Vec::new();
        let mut todo_at: Vec<usize> = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            if earlier.done(&h.address) {
                let run = HostRun::new(State::DoneBefore);
                if !recheck {
                    emit_host(cx, &h.address, &run, total);
                }
                runs[i] = Some(run);
            } else if !guarded {
                let run = HostRun {
                    quiet: !cx.check_mode,
                    ..HostRun::new(State::Drift(
                        "no `creates`/`unless`: due on every run".into(),
                    ))
                };
                if cx.check_mode {
                    emit_host(cx, &h.address, &run, total);
                }
                runs[i] = Some(run);
            } else {
                todo.push(h.clone());
                todo_at.push(i);
            }
        }
        if !todo.is_empty() {
            let guards = Arc::new(self.guards());
            let check_mode = cx.check_mode;
            let checked = each_host_then(
                cx,
                &todo,
                total,
                &format!("checking `{}` on", self.shown()),
                |host, settings| host::guard(host, self.settings(settings), guards.clone()),
                |_, mut run| {
                    // A drifting host is reported by the apply in a real
                    // run; the re-check reports nothing.
                    run.quiet = recheck || (!check_mode && matches!(run.state, State::Drift(_)));
                    run
                },
            )
            .await;
            for (i, run) in todo_at.into_iter().zip(checked) {
                runs[i] = Some(run);
            }
        }
        let runs: Vec<HostRun> = runs
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    HostRun::new(State::Unknown(
                        crate::ssh::Cause::Other,
                        "not checked".into(),
                    ))
                })
            })
            .collect();
        if !recheck {
            self.memo().checked = hosts
                .iter()
                .zip(&runs)
                .map(|(h, r)| (h.address.clone(), verdict::record(r)))
                .collect();
        }
        Ok(runs)
    }
}

impl Module for Remote {
    const NAME: &'static str = "remote";
    const SUMMARY: &'static str = "Run a command on the inventory's hosts over SSH: a read-only probe (fails the step where `failed_when` holds, also under --check) or an action made idempotent by `creates`/`unless` checked on each node.";
    const EXAMPLE: &'static str = "- id: ntp-synced\n  remote:\n    argv: [timedatectl, show, -p, NTPSynchronized, --value]\n    read_only: true\n    failed_when: \"stdout != 'yes'\"\n- id: sysctl-forwarding\n  remote:\n    script: \"echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-mke.conf && sysctl -p /etc/sysctl.d/90-mke.conf\"\n    become: true\n    creates: /etc/sysctl.d/90-mke.conf\n    on: workers";
    const CHECK_MODE: &'static str = "probes (`read_only: true`) run and can fail; actions run only their `creates`/`unless` checks and report `would change` with the hosts";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        (
            "hosts",
            "per inventory address: `rc` (null where the command did not run), `stdout` and `stderr` (without the final newline; the first 4 KiB each), `ok`, `changed`, and `reason` (why in sync or due), `cause`/`error` (a failure), `from_journal` (done by an interrupted earlier run)",
        ),
        (
            "ok",
            "how many hosts passed (probe), or are in sync or changed (action)",
        ),
        ("failed", "how many hosts failed"),
        ("changed", "how many hosts the action changed"),
        ("on", "the selection, as written"),
        (
            "roles_from",
            "where the roles `on` needed came from: `GET /nodes` or an earlier `hosts` step (absent when none were needed)",
        ),
    ]);
    const EXPRESSIONS: &'static [(&'static str, &'static [&'static str])] =
        &[("failed_when", &["rc", "stdout", "stderr", "host"])];

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        self.validate(cx)?;
        let (hosts, roles) = select(cx, &self.on).await?;
        let roles_from = roles.as_ref().map(|r| r.source.as_str());
        if hosts.is_empty() {
            return Ok(Check::InSync {
                message: format!("no hosts selected (on: {})", self.on.describe()),
                output: self.output(&[], &[], roles_from),
            });
        }
        if self.read_only {
            let runs = self.probe(cx, &hosts).await;
            let output = self.output(&hosts, &runs, roles_from);
            if runs.iter().any(|r| !r.ok()) {
                return Err(self.failure("failed", &hosts, &runs, output));
            }
            return Ok(Check::InSync {
                message: format!(
                    "`{}` passed on {}",
                    self.shown(),
                    plural(hosts.len(), "host", "hosts")
                ),
                output,
            });
        }
        let runs = self.action_check(cx, &hosts).await?;
        let output = self.output(&hosts, &runs, roles_from);
        if runs.iter().any(|r| !r.ok()) {
            return Err(self.failure("could not be checked", &hosts, &runs, output));
        }
        let due: Vec<String> = hosts
            .iter()
            .zip(&runs)
            .filter(|(_, r)| matches!(r.state, State::Drift(_)))
            .map(|(h, _)| h.address.clone())
            .collect();
        let before = runs
            .iter()
            .filter(|r| matches!(r.state, State::DoneBefore))
            .count();
        let earlier = if before > 0 {
            format!(
                "; done on {} by the interrupted earlier run",
                plural(before, "host", "hosts")
            )
        } else {
            String::new()
        };
        if due.is_empty() {
            let message = if before == hosts.len() {
                format!(
                    "done on {} by the interrupted earlier run",
                    plural(before, "host", "hosts")
                )
            } else {
                format!(
                    "in sync on {}{earlier}",
                    plural(hosts.len() - before, "host", "hosts")
                )
            };
            return Ok(Check::InSync { message, output });
        }
        let mut change = Change::new(
            "hosts",
            format!(
                "run `{}` on {}",
                self.shown(),
                plural(due.len(), "host", "hosts")
            ),
        );
        change.to = Some(json!(due));
        Ok(Check::Drift {
            message: format!(
                "would run `{}` on {} of {}: {}{earlier}",
                self.shown(),
                due.len(),
                plural(hosts.len(), "host", "hosts"),
                listed(&due)
            ),
            changes: vec![change],
            output,
        })
    }

    async fn apply(&self, cx: &StepContext<'_>, changes: &[Change]) -> Result<Facts, TaskError> {
        let (selected, roles) = select(cx, &self.on).await?;
        let due = hosts_of(changes);
        let targets: Vec<Host> = selected
            .iter()
            .filter(|h| due.contains(&h.address))
            .cloned()
            .collect();
        let line = Arc::new(self.command());
        let expr = self.failed_when.as_deref();
        let (book, writer) = ledger();
        let run_all = async {
            let for_hosts = book.clone();
            let for_results = book;
            each_host_then(
                cx,
                &targets,
                selected.len(),
                &format!("running `{}` on", self.shown()),
                |host, settings| {
                    host::act(
                        host,
                        self.settings(settings),
                        line.clone(),
                        for_hosts.clone(),
                    )
                },
                |i, mut run| {
                    verdict::settle(cx, expr, &targets[i].address, &mut run, true);
                    match run.state {
                        State::Changed => for_results.finished(&targets[i].address, true),
                        State::Failed(..) if run.ran.is_some() => {
                            for_results.finished(&targets[i].address, false);
                        }
                        _ => {}
                    }
                    run
                },
            )
            .await
        };
        let (runs, ()) = tokio::join!(run_all, writer.serve(cx));
        let applied: BTreeMap<String, Value> = targets
            .iter()
            .zip(&runs)
            .map(|(h, r)| (h.address.clone(), verdict::record(r)))
            .collect();
        // Every selected host: what the apply did, else what the check found.
        let records: Vec<(String, Value)> = {
            let mut memo = self.memo();
            memo.applied = Some(applied);
            selected
                .iter()
                .filter_map(|h| {
                    let a = memo.applied.as_ref().and_then(|a| a.get(&h.address));
                    let rec = a.or_else(|| memo.checked.get(&h.address))?;
                    Some((h.address.clone(), rec.clone()))
                })
                .collect()
        };
        let roles_from = roles.as_ref().map(|r| r.source.as_str());
        let output = self.output_of(records, roles_from);
        if runs.iter().any(|r| !r.ok()) {
            return Err(self.failure("failed", &targets, &runs, output));
        }
        Ok(output)
    }

    fn disruptive(&self) -> bool {
        self.disruptive
    }

    fn verifiable(&self) -> bool {
        self.creates.is_some() || self.unless.is_some()
    }
}
