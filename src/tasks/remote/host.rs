//! One host of a `remote` step: the probe, the guards (`creates`,
//! `unless`) or the action, over one SSH session, and how the host fared.

use std::sync::Arc;
use std::time::Instant;

use super::ledger::Ledger;
use crate::inventory::Host;
use crate::ssh::{Cause, SshError, SshSettings};
use crate::tasks::fanout::{HostOutcome, HostSession};

/// What a command printed and how it exited (stdout/stderr as the
/// transport kept them, up to 1 MiB each, without their final newline, as
/// Ansible registers them).
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
    /// `rc N, stdout "…", stderr "…"` of the whole output, kept once the
    /// texts are cut to what is registered ([`Ran::compact`]).
    pub summary: Option<String>,
}

impl Ran {
    pub fn of(out: crate::ssh::Output) -> Ran {
        let chomp = |mut s: String| {
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            s
        };
        Ran {
            rc: out.status,
            stdout: chomp(out.stdout),
            stderr: chomp(out.stderr),
            summary: None,
        }
    }

    /// Keeps only what is registered of each stream (a host's whole
    /// output is not held until the step ends: a thousand hosts printing
    /// a megabyte each would be a gigabyte), and the summary messages use.
    pub fn compact(&mut self) {
        self.summary = Some(said(self));
        self.stdout = super::verdict::kept(&self.stdout);
        self.stderr = super::verdict::kept(&self.stderr);
    }
}

/// Where a host stands.
#[derive(Debug, Clone)]
pub enum State {
    /// The probe passed (`failed_when` false).
    Passed,
    /// A guard says the action is done already (the reason).
    InSync(String),
    /// The action would run here (the reason).
    Drift(String),
    /// The action ran and passed.
    Changed,
    /// An interrupted earlier run recorded the action done here.
    DoneBefore,
    /// The command ran and `failed_when` holds, a guard could not run, or
    /// the host could not be reached (nothing ran).
    Failed(Cause, String),
    /// The action may or may not have taken effect (cut off, timed out,
    /// connection lost after it started).
    Unknown(Cause, String),
    /// The command ran; `failed_when` is still to be evaluated.
    Ran,
}

/// One host's outcome.
#[derive(Debug, Clone)]
pub struct HostRun {
    pub state: State,
    /// The action's (or probe's) output, when it ran.
    pub ran: Option<Ran>,
    pub ms: u64,
    /// Leave the `host` event to a later phase.
    pub quiet: bool,
}

impl HostRun {
    pub fn new(state: State) -> HostRun {
        HostRun {
            state,
            ran: None,
            ms: 0,
            quiet: false,
        }
    }

    pub fn ok(&self) -> bool {
        !matches!(self.state, State::Failed(..) | State::Unknown(..))
    }

    pub fn changed(&self) -> bool {
        matches!(self.state, State::Changed | State::DoneBefore)
    }
}

/// The last non-empty line of a text, at most 160 characters, quoted.
pub fn tail(text: &str) -> String {
    format!("{:?}", crate::util::text::last_line(text, 160))
}

/// `rc N, stdout "…", stderr "…"` for messages.
pub fn said(ran: &Ran) -> String {
    if let Some(s) = &ran.summary {
        return s.clone();
    }
    let mut s = format!("rc {}", ran.rc);
    if !ran.stdout.trim().is_empty() {
        s.push_str(&format!(", stdout {}", tail(&ran.stdout)));
    }
    if !ran.stderr.trim().is_empty() {
        s.push_str(&format!(", stderr {}", tail(&ran.stderr)));
    }
    s
}

impl HostOutcome for HostRun {
    fn status(&self) -> &'static str {
        match self.state {
            State::Passed | State::InSync(_) | State::Ran => "ok",
            State::Drift(_) => "would_change",
            State::Changed | State::DoneBefore => "changed",
            State::Failed(..) | State::Unknown(..) => "failed",
        }
    }

    fn cause(&self) -> Option<Cause> {
        match &self.state {
            State::Failed(c, _) | State::Unknown(c, _) => Some(*c),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match &self.state {
            State::Passed | State::Changed | State::Ran => {
                self.ran.as_ref().map(said).unwrap_or_default()
            }
            State::InSync(why) => format!("in sync: {why}"),
            State::Drift(why) => format!("would run: {why}"),
            State::DoneBefore => {
                "done by the interrupted earlier run (journal): not run again".into()
            }
            State::Failed(c, m) => format!("{}: {m}", c.word()),
            State::Unknown(c, m) => format!("{}: {m} (outcome unknown)", c.word()),
        }
    }

    fn duration_ms(&self) -> u64 {
        self.ms
    }

    fn stopped(why: String) -> Self {
        HostRun::new(State::Unknown(Cause::Other, why))
    }

    fn report(&self) -> bool {
        !self.quiet
    }
}

fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs `line` once (a probe): `Ran`, or the transport's failure.
pub async fn probe(host: Host, settings: Arc<SshSettings>, line: Arc<String>) -> HostRun {
    let started = Instant::now();
    let ran = async {
        let mut s = HostSession::open(&host, settings).await?;
        let out = s.exec(&line).await;
        s.close().await;
        out
    }
    .await;
    let mut run = match ran {
        Ok(out) => HostRun {
            ran: Some(Ran::of(out)),
            ..HostRun::new(State::Ran)
        },
        Err(e) => HostRun::new(State::Failed(e.cause, e.message)),
    };
    run.ms = ms_since(started);
    run
}

/// The guards of an action, on the node: `creates` (a `test -e` command)
/// first, then `unless`; in sync when either holds.
pub struct Guards {
    /// (the path, its `test -e` command).
    pub creates: Option<(String, String)>,
    /// (the probe as written, its command).
    pub unless: Option<(String, String)>,
}

impl Guards {
    fn count(&self) -> usize {
        usize::from(self.creates.is_some()) + usize::from(self.unless.is_some())
    }
}

/// Evaluates the guards on one host over one session.
pub async fn guard(host: Host, settings: Arc<SshSettings>, g: Arc<Guards>) -> HostRun {
    let started = Instant::now();
    let state = async {
        let mut s = if g.count() > 1 {
            HostSession::open_many(&host, settings).await?
        } else {
            HostSession::open(&host, settings).await?
        };
        let state = guard_on(&mut s, &g).await;
        s.close().await;
        state
    }
    .await
    .unwrap_or_else(|e: SshError| State::Failed(e.cause, e.message));
    HostRun {
        ms: ms_since(started),
        ..HostRun::new(state)
    }
}

async fn guard_on(s: &mut HostSession, g: &Guards) -> Result<State, SshError> {
    let mut reasons = Vec::new();
    if let Some((path, test)) = &g.creates {
        let out = s.exec(test).await?;
        match out.status {
            0 => return Ok(State::InSync(format!("{path} exists"))),
            1 => reasons.push(format!("{path} does not exist")),
            rc => {
                return Ok(State::Failed(
                    Cause::Command,
                    format!(
                        "`{test}` (the `creates` test) exited {rc}: {}",
                        tail(&format!("{}{}", out.stdout, out.stderr))
                    ),
                ));
            }
        }
    }
    if let Some((shown, probe)) = &g.unless {
        let ran = Ran::of(s.exec(probe).await?);
        match ran.rc {
            0 => return Ok(State::InSync(format!("`{shown}` exits 0"))),
            126 | 127 => {
                return Ok(State::Failed(
                    Cause::Command,
                    format!(
                        "the `unless` probe `{shown}` could not run ({}); fix it: a probe that cannot run would make every host look out of sync",
                        said(&ran)
                    ),
                ));
            }
            rc => reasons.push(format!("`{shown}` exits {rc}")),
        }
    }
    Ok(State::Drift(reasons.join(", ")))
}

/// Runs the action on one host: records in the journal that it starts
/// (durably, before the command is sent), then runs it.
pub async fn act(
    host: Host,
    settings: Arc<SshSettings>,
    line: Arc<String>,
    ledger: Ledger,
) -> HostRun {
    let started = Instant::now();
    let mut session = match HostSession::open(&host, settings).await {
        Ok(s) => s,
        Err(e) => {
            return HostRun {
                ms: ms_since(started),
                ..HostRun::new(State::Failed(
                    e.cause,
                    format!("{} (the action was not sent)", e.message),
                ))
            };
        }
    };
    if let Err(why) = ledger.started(&host.address).await {
        session.close().await;
        return HostRun {
            ms: ms_since(started),
            ..HostRun::new(State::Failed(
                Cause::Other,
                format!(
                    "cannot record in the journal that the action starts ({why}); it was not sent"
                ),
            ))
        };
    }
    let out = session.exec(&line).await;
    session.close().await;
    let run = match out {
        Ok(out) => HostRun {
            ran: Some(Ran::of(out)),
            ..HostRun::new(State::Ran)
        },
        // The connection was never made (OpenSSH connects per command):
        // nothing ran.
        Err(e)
            if matches!(
                e.cause,
                Cause::Dns | Cause::Refused | Cause::Auth | Cause::HostKey
            ) =>
        {
            ledger.finished(&host.address, false);
            HostRun::new(State::Failed(
                e.cause,
                format!("{} (the action was not run)", e.message),
            ))
        }
        Err(e) => HostRun::new(State::Unknown(e.cause, e.message)),
    };
    HostRun {
        ms: ms_since(started),
        ..run
    }
}
