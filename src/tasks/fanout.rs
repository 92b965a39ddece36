//! The per-host fan-out every module that works on the inventory's hosts
//! uses: at most `--forks` hosts in flight, one `host` event per host as it
//! finishes (with its cause when it failed), progress on long fan-outs, and
//! SSH sessions whose failures are classified into the causes people act
//! on (dns, refused, timeout, auth, host key, …).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::StepContext;
use crate::inventory::Host;
use crate::model::events::{Event, HostResult};
use crate::ssh::{self, Cause, Output, Session, SshError, SshSettings, Transport};

/// Progress is reported at most this often during a fan-out.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How one host fared, as the `host` event tells it.
pub trait HostOutcome: Send + 'static {
    /// `ok`, `warn`, `failed`, `changed`, `would_change`, …
    fn status(&self) -> &'static str;
    /// Why the host failed or warned.
    fn cause(&self) -> Option<Cause>;
    fn message(&self) -> String;
    fn duration_ms(&self) -> u64;
    /// The outcome of a host whose work stopped without an answer (its
    /// task panicked or was cancelled).
    fn stopped(why: String) -> Self;
    /// Whether this outcome is the host's result to stream now; a module
    /// whose later phase will report the host says no (default: yes).
    fn report(&self) -> bool {
        true
    }
}

/// Runs `work` for every host, at most `--forks` at once, streaming each
/// host's result as it finishes; returns the results in inventory order.
/// `doing` names the work for progress lines ("checking", "reading facts
/// from").
pub async fn each_host<T, F, Fut>(
    cx: &StepContext<'_>,
    hosts: &[Host],
    doing: &str,
    work: F,
) -> Vec<T>
where
    T: HostOutcome,
    F: Fn(Host, Arc<SshSettings>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    each_host_then(cx, hosts, hosts.len(), doing, work, |_, t| t).await
}

/// [`each_host`] over some of a step's `total` hosts (the others were
/// reported by an earlier phase, so `host` events count against the step's
/// whole fan-out), with `then`, which sees each host's outcome (with the
/// host's index in `hosts`) as it arrives, on the step's side of the
/// fan-out (where the step's templates and journal are), and may settle it
/// before its `host` event is streamed.
pub async fn each_host_then<T, F, Fut, Then>(
    cx: &StepContext<'_>,
    hosts: &[Host],
    total: usize,
    doing: &str,
    work: F,
    mut then: Then,
) -> Vec<T>
where
    T: HostOutcome,
    F: Fn(Host, Arc<SshSettings>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    Then: FnMut(usize, T) -> T,
{
    let settings = Arc::new(cx.conn.ssh.clone());
    let forks = settings.forks.max(1);
    let mut set = JoinSet::new();
    let mut index_of = BTreeMap::new();
    cx.progress(format!(
        "{doing} {} over SSH, {} at a time",
        plural(hosts.len(), "host", "hosts"),
        forks.min(hosts.len().max(1))
    ));
    // At most `forks` hosts are in flight, and only they exist as tasks: a
    // host's work (its SSH session's state) is made when a slot frees, not
    // held waiting for 1,000 hosts at once.
    let mut waiting = hosts.iter().enumerate();
    let mut start_next = |set: &mut JoinSet<T>, index_of: &mut BTreeMap<_, usize>| {
        if let Some((i, host)) = waiting.next() {
            let handle = set.spawn(work(host.clone(), settings.clone()));
            index_of.insert(handle.id(), i);
        }
    };
    for _ in 0..forks {
        start_next(&mut set, &mut index_of);
    }
    let mut results: Vec<Option<T>> = (0..hosts.len()).map(|_| None).collect();
    let (mut done, mut last_progress) = (0usize, Instant::now());
    while let Some(joined) = set.join_next_with_id().await {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => (
                e.id(),
                T::stopped(format!("the work on this host stopped: {e}")),
            ),
        };
        // Whose it was, before the next task may be given its id.
        let found = index_of.remove(&id);
        start_next(&mut set, &mut index_of);
        let Some(i) = found else {
            continue;
        };
        let outcome = then(i, outcome);
        if outcome.report() {
            emit_host(cx, &hosts[i].address, &outcome, total);
        }
        results[i] = Some(outcome);
        done += 1;
        if last_progress.elapsed() >= PROGRESS_EVERY && done < hosts.len() {
            cx.progress(format!("{done}/{} hosts done", hosts.len()));
            last_progress = Instant::now();
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| T::stopped("the work on this host did not finish".into())))
        .collect()
}

/// Streams one host's result (a `host` event) counted against `total`.
pub fn emit_host(cx: &StepContext<'_>, address: &str, outcome: &impl HostOutcome, total: usize) {
    cx.events.emit(Event::Host(HostResult {
        step: cx.key.to_string(),
        host: address.to_string(),
        status: outcome.status().to_string(),
        cause: outcome.cause().map(|c| c.name().to_string()),
        message: outcome.message(),
        duration_ms: outcome.duration_ms(),
        total: Some(total.max(1)),
    }));
}

/// Items named in one message at most.
const MAX_LISTED: usize = 10;

/// `a, b, c and 4 more`.
pub fn listed(items: &[String]) -> String {
    crate::util::text::listed(items, MAX_LISTED)
}

pub use crate::util::text::plural;

/// An SSH session to one host whose failures carry their cause: the name
/// is resolved here first (unless a proxy resolves it), and with the
/// OpenSSH transport, whose `ssh` exits 255 for a closed port and a silent
/// one alike, a TCP probe after a failure tells them apart.
pub struct HostSession {
    host: Host,
    settings: Arc<SshSettings>,
    addrs: Vec<SocketAddr>,
    session: Session,
}

impl HostSession {
    /// The addresses to connect to: the host's name resolved here, or
    /// none when a proxy (`ProxyJump`, `ProxyCommand`) resolves it.
    pub async fn resolve(host: &Host, settings: &SshSettings) -> Result<Vec<SocketAddr>, SshError> {
        if ssh::proxied(settings) {
            Ok(Vec::new())
        } else {
            ssh::resolve(host, settings).await
        }
    }

    /// Resolves the host and opens a session.
    pub async fn open(host: &Host, settings: Arc<SshSettings>) -> Result<HostSession, SshError> {
        let addrs = HostSession::resolve(host, &settings).await?;
        HostSession::open_at(host, addrs, settings).await
    }

    /// Opens a session to addresses [`HostSession::resolve`] gave (the
    /// native transport connects and logs in now; OpenSSH on the first
    /// command).
    pub async fn open_at(
        host: &Host,
        addrs: Vec<SocketAddr>,
        settings: Arc<SshSettings>,
    ) -> Result<HostSession, SshError> {
        let session = if addrs.is_empty() {
            Session::open(host, &settings).await?
        } else {
            Session::open_at(host, &addrs, &settings).await?
        };
        Ok(HostSession {
            host: host.clone(),
            settings,
            addrs,
            session,
        })
    }

    /// [`HostSession::open`] for a host that will run several commands:
    /// with OpenSSH they share one connection (a ControlMaster).
    pub async fn open_many(
        host: &Host,
        settings: Arc<SshSettings>,
    ) -> Result<HostSession, SshError> {
        let addrs = HostSession::resolve(host, &settings).await?;
        let session = match Session::open_many(host, &addrs, &settings).await {
            Ok(s) => s,
            Err(e) => return Err(refine(host, &addrs, &settings, e).await),
        };
        Ok(HostSession {
            host: host.clone(),
            settings,
            addrs,
            session,
        })
    }

    /// Runs one command; a failure to connect or log in is classified.
    pub async fn exec(&mut self, command: &str) -> Result<Output, SshError> {
        match self.session.exec(command).await {
            Err(e) => Err(self.refine(e).await),
            ok => ok,
        }
    }

    async fn refine(&self, e: SshError) -> SshError {
        refine(&self.host, &self.addrs, &self.settings, e).await
    }

    pub async fn close(self) {
        self.session.close().await;
    }
}

/// An OpenSSH failure told apart by a TCP probe: `ssh` exits 255 for a
/// closed port and a silent one alike.
async fn refine(
    host: &Host,
    addrs: &[SocketAddr],
    settings: &SshSettings,
    e: SshError,
) -> SshError {
    let probe = !addrs.is_empty()
        && settings.transport == Transport::Openssh
        && matches!(e.cause, Cause::Timeout | Cause::Other);
    if !probe {
        return e;
    }
    match ssh::tcp_probe(host, addrs, settings).await {
        Err(p) if p.cause != Cause::Other => p,
        Ok(addr) if e.cause == Cause::Timeout => SshError {
            message: format!("{addr} accepts TCP connections, but SSH: {}", e.message),
            ..e
        },
        _ => e,
    }
}
