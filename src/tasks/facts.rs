//! `facts`: what each selected host says about itself — OS, kernel, CPUs,
//! memory, cgroup version, disk space, listening ports, machine id, host
//! name, Docker version, time sync — read with one remote command per host (the
//! [`crate::hostfacts`] script) over the shared fan-out, and registered as
//! `hosts.ADDRESS.FACT` for later steps.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fanout::{HostOutcome, HostSession, each_host, listed, plural};
use super::targets::{On, select};
use super::{Check, Facts, Module, StepContext, TaskError};
use crate::hostfacts::{CLOCK, DEFAULT_PATHS, HostFacts, Request};
use crate::inventory::Host;
use crate::ssh::{Cause, SshError, SshSettings};

fn default_paths() -> Vec<String> {
    DEFAULT_PATHS.iter().map(|p| p.to_string()).collect()
}

/// Read facts from every selected host (read-only).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsStep {
    /// Which hosts: `all`, `managers`, `workers` (roles from GET /nodes, or
    /// from an earlier `hosts` step without the API), or a list of
    /// inventory addresses.
    #[serde(default)]
    pub on: On,
    /// Absolute paths whose filesystem's size and free space to report
    /// (`disk.PATH.total_bytes`, `avail_bytes`, `mount`).
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    /// Run `docker version` through `sudo -n` (for a login user outside the
    /// `docker` group); nothing else needs root.
    #[serde(default, rename = "become")]
    pub become_: bool,
    /// Bound on the facts command on one host (OpenSSH: connection
    /// included); default: `--ssh-timeout` + 20 s.
    #[serde(default, deserialize_with = "super::opt_duration")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
}

/// One host's facts, or why they could not be read.
pub struct HostRead {
    pub facts: HostFacts,
    /// The host could not be reached or the command not run.
    pub failure: Option<SshError>,
    pub ms: u64,
    /// The `host` event is left to the module (after its own verdict).
    pub quiet: bool,
}

impl HostRead {
    /// Why this host's facts are not usable (unreachable, or a fact
    /// missing), in one line.
    pub fn problem(&self) -> Option<(Cause, String)> {
        if let Some(e) = &self.failure {
            return Some((e.cause, e.message.clone()));
        }
        if self.facts.errors.is_empty() {
            return None;
        }
        let what: Vec<String> = self
            .facts
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        Some((Cause::Command, what.join("; ")))
    }

    /// The registered form: the facts, `ok`, and the failure if any.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.facts).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), self.problem().is_none().into());
            if let Some(e) = &self.failure {
                o.insert("cause".into(), e.cause.name().into());
                o.insert("error".into(), e.message.clone().into());
            }
        }
        v
    }

    /// A one-line summary of a healthy host.
    pub fn summary(&self) -> String {
        let f = &self.facts;
        let os =
            f.os.as_ref()
                .map(|o| format!("{} {}", o.id, o.version_id.as_deref().unwrap_or("")))
                .unwrap_or_else(|| "unknown OS".into());
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        format!(
            "{}, {} CPUs, {:.1} GiB, cgroup v{}, docker {}",
            os.trim_end(),
            f.cpus.map_or("?".into(), |c| c.to_string()),
            f.memory_bytes.map_or(0.0, gib),
            f.cgroup_version.map_or("?".into(), |c| c.to_string()),
            f.docker_version.as_deref().unwrap_or("absent")
        )
    }
}

impl HostOutcome for HostRead {
    fn status(&self) -> &'static str {
        if self.problem().is_some() {
            "failed"
        } else {
            "ok"
        }
    }

    fn cause(&self) -> Option<Cause> {
        self.problem().map(|(c, _)| c)
    }

    fn message(&self) -> String {
        match self.problem() {
            Some((c, m)) => format!("{}: {m}", c.word()),
            None => self.summary(),
        }
    }

    fn duration_ms(&self) -> u64 {
        self.ms
    }

    fn stopped(why: String) -> Self {
        HostRead {
            facts: HostFacts::default(),
            failure: Some(SshError {
                host: String::new(),
                cause: Cause::Other,
                message: why,
            }),
            ms: 0,
            quiet: false,
        }
    }

    fn report(&self) -> bool {
        !self.quiet
    }
}

/// Reads `req` from one host over one session (one remote command).
pub async fn read_host(
    host: Host,
    settings: Arc<SshSettings>,
    req: Arc<Request>,
    timeout: Option<Duration>,
    quiet: bool,
) -> HostRead {
    let started = Instant::now();
    let settings = match timeout {
        Some(t) => Arc::new(SshSettings {
            command_timeout: t,
            ..(*settings).clone()
        }),
        None => settings,
    };
    let ran = async {
        // Two commands: with OpenSSH they share one connection (a
        // ControlMaster), so the second is not a second login.
        let mut session = HostSession::open_many(&host, settings).await?;
        let out = session.exec(&req.script()).await;
        // The clock on its own, on the open connection, so that this
        // machine times a round trip, not the login or the script.
        let clock = match &out {
            Ok(_) => {
                let (sent, timer) = (SystemTime::now(), Instant::now());
                let c = session.exec(CLOCK).await;
                Some((c, sent, timer.elapsed()))
            }
            Err(_) => None,
        };
        session.close().await;
        out.map(|o| (o, clock))
    }
    .await;
    let (facts, failure) = match ran {
        Ok((out, clock)) => {
            let mut f = HostFacts::read(&out.stdout, &out.stderr, &req);
            match clock {
                Some((Ok(c), sent, took)) => f.read_clock(&c, sent, took),
                Some((Err(e), ..)) => {
                    f.errors
                        .insert("clock".into(), format!("`{CLOCK}`: {}", e.message));
                }
                None => {}
            }
            (f, None)
        }
        Err(e) => (HostFacts::default(), Some(e)),
    };
    HostRead {
        facts,
        failure,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        quiet,
    }
}

/// Reads `req` from every one of `hosts` through the shared fan-out.
pub async fn read_all(
    cx: &StepContext<'_>,
    hosts: &[Host],
    req: Request,
    timeout: Option<Duration>,
    quiet: bool,
) -> Vec<HostRead> {
    let req = Arc::new(req);
    each_host(cx, hosts, "reading facts from", |host, settings| {
        read_host(host, settings, req.clone(), timeout, quiet)
    })
    .await
}

/// Checks path parameters: absolute, one line.
pub fn check_paths(name: &str, paths: &[String]) -> Result<(), TaskError> {
    match paths
        .iter()
        .find(|p| !p.starts_with('/') || p.contains(['\n', '\0']))
    {
        Some(p) => Err(TaskError::new(format!(
            "`{name}` holds {p:?}: give absolute paths such as /var/lib"
        ))),
        None => Ok(()),
    }
}

/// `host (cause: message)` for each failed host.
pub fn failed_list(hosts: &[Host], reads: &[HostRead]) -> Vec<String> {
    hosts
        .iter()
        .zip(reads)
        .filter_map(|(h, r)| {
            r.problem()
                .map(|(c, m)| format!("{} ({}: {m})", h.address, c.word()))
        })
        .collect()
}

impl Module for FactsStep {
    const NAME: &'static str = "facts";
    const SUMMARY: &'static str = "Read each selected host's OS, kernel, CPUs, memory, cgroup version, disk space, listening TCP ports, machine id, host name, Docker version and time sync (one SSH command per host), and its clock against this machine's (a second, timed command on the same connection).";
    const EXAMPLE: &'static str = "- id: facts\n  facts:\n    on: all\n    paths: [/, /var/lib]\n  # later: steps.facts.hosts['10.0.0.11'].cpus";
    const CHECK_MODE: &'static str = "full: read-only (cat of /etc and /proc files, uname, nproc, stat, df, grep, docker version, timedatectl show, date)";
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        (
            "hosts",
            "per inventory address: `os` (`id`, `version_id`, `pretty_name`), `kernel`, `arch`, `cpus`, `memory_bytes` (MemTotal), `cgroup_version` (1 or 2), `disk` (per path: `total_bytes`, `avail_bytes`, `mount`, `filesystem`), `listening_tcp_ports`, `machine_id`, `hostname`, `docker_version` (null when Docker is absent or does not answer; `docker_note` says which), `clock_offset_seconds` (the node's clock minus this machine's: its `date -u +%s.%N`, run as a command of its own on the open connection, against the middle of that round trip; negative when behind) and `clock_offset_error_seconds` (half the round trip, plus ½ s for a `date` without nanoseconds), `ntp_synchronized` (systemd's NTPSynchronized; null when it cannot tell, `ntp_note` says why), `errors` (fact → why it could not be read), `ok`, and `cause`/`error` for a host that could not be reached",
        ),
        ("ok", "how many hosts' facts were all read"),
        (
            "failed",
            "how many hosts could not be reached or lack a fact",
        ),
        (
            "roles_from",
            "where the roles `on` needed came from: `GET /nodes` or an earlier `hosts` step (absent when none were needed)",
        ),
    ]);

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        check_paths("paths", &self.paths)?;
        let (hosts, roles) = select(cx, &self.on).await?;
        let req = Request {
            paths: self.paths.clone(),
            docker_sudo: self.become_,
        };
        let reads = read_all(cx, &hosts, req, self.timeout, false).await;
        let failed = reads.iter().filter(|r| r.problem().is_some()).count();
        let total = reads.len();
        let failures = (failed > 0).then(|| listed(&failed_list(&hosts, &reads)));
        // Each host's facts become JSON as they are taken: the typed facts
        // and their JSON are not held at once for 1,000 hosts.
        let mut by_host = serde_json::Map::new();
        for (h, r) in hosts.iter().zip(reads) {
            by_host.insert(h.address.clone(), r.to_json());
        }
        let mut output = Facts::new();
        output.insert("hosts".into(), Value::Object(by_host));
        output.insert("ok".into(), (total - failed).into());
        output.insert("failed".into(), failed.into());
        if let Some(r) = &roles {
            output.insert("roles_from".into(), r.source.clone().into());
        }
        if let Some(failures) = failures {
            let mut e = TaskError::new(format!(
                "facts of {} of {} could not be read: {}",
                failed,
                plural(total, "host", "hosts"),
                failures
            ))
            .remedy("for SSH causes run a `hosts` step (it says what to do per cause); for a missing tool install it on the node (coreutils, grep, procps), or read that host with another step");
            e.output = Box::new(output);
            return Err(e);
        }
        Ok(Check::InSync {
            message: format!(
                "read facts from {} (on: {})",
                plural(total, "host", "hosts"),
                self.on.describe()
            ),
            output,
        })
    }
}
