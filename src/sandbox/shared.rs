//! State shared by the API and the SSH endpoints: the cluster (settled on
//! every access), login sessions, fault-rule counters and the tasks that
//! outlive a request; and the random ids and password the sandbox hands out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::SandboxError;
use super::options::{FaultRule, NoValue, SandboxOptions, Seconds, StatusCode};
use super::record::Record;
use super::state::{self, Cluster};
use super::topology::Topology;
use crate::util::secret::Secret;

/// State shared by the API and the SSH endpoints.
pub(crate) struct Shared {
    pub(super) opts: SandboxOptions,
    pub(super) topo: Topology,
    pub(super) cluster: Mutex<Cluster>,
    pub(super) record: Record,
    pub(super) password: Secret,
    pub(super) tokens: Mutex<HashMap<String, Session>>,
    pub(super) faults: Faults,
    pub(super) kdd_busy: AtomicBool,
    pub(super) logins: AtomicU64,
    pub(super) config_gets: AtomicU32,
    pub(super) tasks: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// A login session (token).
pub(super) struct Session {
    pub(super) issued: Instant,
    pub(super) last_used: Instant,
    pub(super) uses: u32,
    pub(super) lifetime: Duration,
}

/// Fault rules with the number of requests each has matched so far.
pub(super) struct Faults {
    pub(super) http_error: Vec<(FaultRule<StatusCode>, AtomicU32)>,
    pub(super) slow: Vec<(FaultRule<Seconds>, AtomicU32)>,
    pub(super) drop: Vec<(FaultRule<NoValue>, AtomicU32)>,
}

pub(super) fn counted<V>(rules: &[FaultRule<V>]) -> Vec<(FaultRule<V>, AtomicU32)>
where
    V: Clone,
{
    rules
        .iter()
        .map(|r| (r.clone(), AtomicU32::new(0)))
        .collect()
}

/// The value of the first rule that matches and still has hits left.
pub(super) fn take_fault<V: Clone>(
    rules: &[(FaultRule<V>, AtomicU32)],
    method: &str,
    path: &str,
) -> Option<V> {
    use std::sync::atomic::Ordering;
    rules.iter().find_map(|(rule, hits)| {
        if !rule.matches(method, path) {
            return None;
        }
        let n = hits.fetch_add(1, Ordering::SeqCst);
        rule.times.is_none_or(|t| n < t).then(|| rule.value.clone())
    })
}

impl Shared {
    pub(super) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        let mut cluster = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        if cluster.settle(state::now_ms())
            && let Err(err) = cluster.save()
        {
            eprintln!("mkeprep sandbox: {err}");
        }
        cluster
    }

    pub(super) fn tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn tokens(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `fut` as its own task, so a client that goes away does not cut
    /// off what the simulated MKE is doing (a real MKE finishes a config
    /// change when the client disconnects).
    pub(super) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks();
        while tasks.try_join_next().is_some() {}
        tasks.spawn(fut);
    }
}

/// A random identifier shaped like a UUID (v4).
pub(crate) fn random_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The environment variable that fixes the sandbox's admin password (for
/// tests that scan every output for it); unset, the password is random.
pub const PASSWORD_ENV: &str = "MKEPREP_SANDBOX_PASSWORD";

/// The password from [`PASSWORD_ENV`], or a random one.
pub(super) fn sandbox_password() -> Result<String, SandboxError> {
    match std::env::var(PASSWORD_ENV) {
        Err(_) => Ok(random_password()),
        Ok(p) if p.len() >= 16 && p.bytes().all(|b| b.is_ascii_graphic()) => Ok(p),
        Ok(_) => Err(SandboxError::Options(format!(
            "{PASSWORD_ENV} must be at least 16 printable ASCII characters without spaces (or unset, for a random password)"
        ))),
    }
}

fn random_password() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..24)
        .map(|_| char::from(CHARS[rand::random_range(0..CHARS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_passwords() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, random_id());
        let pw = random_password();
        assert!(pw.len() >= 16 && pw.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
