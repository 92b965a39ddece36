//! One host of the `hosts` check: DNS, then one SSH login running the
//! probe command (`sudo -n true`, or `true` with `sudo: skip`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::SudoPolicy;
use crate::inventory::Host;
use crate::ssh::{Cause, SshError, SshSettings};
use crate::tasks::fanout::{HostOutcome, HostSession};

/// How one host fared.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Ok,
    /// Usable, but with a problem the policy lets pass (sudo under `warn`).
    Warn(Cause, String),
    Failed(Cause, String),
}

#[derive(Debug, Clone)]
pub(super) struct HostCheck {
    /// The addresses the host's name resolved to (for coverage matching).
    pub(super) ips: Vec<IpAddr>,
    pub(super) outcome: Outcome,
    pub(super) ms: u64,
}

impl HostCheck {
    pub(super) fn label(&self) -> &'static str {
        match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Warn(..) => "warn",
            Outcome::Failed(..) => "failed",
        }
    }

    /// SSH login worked (whatever sudo said).
    pub(super) fn reachable(&self) -> bool {
        match &self.outcome {
            Outcome::Failed(c, _) => *c == Cause::Sudo,
            _ => true,
        }
    }

    pub(super) fn cause_of(&self) -> Option<Cause> {
        match &self.outcome {
            Outcome::Ok => None,
            Outcome::Warn(c, _) | Outcome::Failed(c, _) => Some(*c),
        }
    }

    pub(super) fn message(&self, sudo: SudoPolicy) -> String {
        match &self.outcome {
            Outcome::Ok if sudo == SudoPolicy::Skip => "SSH login runs `true`".to_string(),
            Outcome::Ok => "SSH login runs `sudo -n true`".to_string(),
            Outcome::Warn(c, m) | Outcome::Failed(c, m) => format!("{}: {m}", c.word()),
        }
    }
}

/// The probe's result for a host, with the host's sudo policy (for its
/// message in events).
pub(super) struct Probed {
    pub(super) check: HostCheck,
    sudo: SudoPolicy,
}

impl HostOutcome for Probed {
    fn status(&self) -> &'static str {
        self.check.label()
    }

    fn cause(&self) -> Option<Cause> {
        self.check.cause_of()
    }

    fn message(&self) -> String {
        self.check.message(self.sudo)
    }

    fn duration_ms(&self) -> u64 {
        self.check.ms
    }

    fn stopped(why: String) -> Self {
        Probed {
            check: HostCheck {
                ips: Vec::new(),
                outcome: Outcome::Failed(Cause::Other, why),
                ms: 0,
            },
            sudo: SudoPolicy::Skip,
        }
    }
}

/// Checks one host: its name resolves, and one SSH login runs the probe.
pub(super) async fn check_host(host: Host, settings: Arc<SshSettings>, sudo: SudoPolicy) -> Probed {
    let started = Instant::now();
    let (ips, outcome) = probe_host(&host, settings, sudo).await;
    Probed {
        check: HostCheck {
            ips,
            outcome,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
        sudo,
    }
}

async fn probe_host(
    host: &Host,
    settings: Arc<SshSettings>,
    sudo: SudoPolicy,
) -> (Vec<IpAddr>, Outcome) {
    let failed = |e: SshError| Outcome::Failed(e.cause, e.message);
    let addrs = match HostSession::resolve(host, &settings).await {
        Ok(a) => a,
        Err(e) => return (Vec::new(), failed(e)),
    };
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    let command = match sudo {
        SudoPolicy::Skip => "true",
        SudoPolicy::Require | SudoPolicy::Warn => "sudo -n true",
    };
    let mut session = match HostSession::open_at(host, addrs, settings).await {
        Ok(s) => s,
        Err(e) => return (ips, failed(e)),
    };
    let result = session.exec(command).await;
    session.close().await;
    let outcome = match result {
        Ok(out) if out.status == 0 => Outcome::Ok,
        Ok(out) => {
            let said = out
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim)
                .unwrap_or("no message");
            let message = format!("`{command}` exited {}: {said}", out.status);
            match sudo {
                SudoPolicy::Skip => Outcome::Failed(Cause::Command, message),
                SudoPolicy::Warn => Outcome::Warn(Cause::Sudo, message),
                SudoPolicy::Require => Outcome::Failed(Cause::Sudo, message),
            }
        }
        Err(e) => failed(e),
    };
    (ips, outcome)
}
