//! The sandbox: a simulated MKE 3 cluster on loopback, for tests, rehearsals
//! and first steps (SPEC §7).
//!
//! [`start`] serves the MKE 3 API over HTTPS (a CA made at start is handed
//! to the client) and an SSH endpoint per simulated node (node i on
//! 127.0.0.(10+i) on Linux, managers first), and writes what a client needs
//! into the sandbox directory: the CA, an mkectl `hosts.yaml` inventory with
//! a generated ed25519 key, a `known_hosts` file, a stand-in `mkectl`, a fake
//! HOME, and a JSON Lines record of every request. The directory also keeps
//! the cluster's state (config TOML, backups, files on nodes), so a later
//! start with the same directory sees the cluster as the last run left it;
//! deleting the directory resets it.
//!
//! Layout of the directory (files 0600, directories 0700):
//! `state.json`, `config.toml` (the cluster), `ca.pem`, `hosts.yaml`,
//! `known_hosts`, `ssh/id_ed25519` (+ `.pub`, and `ssh/host-N` host keys),
//! `bin/mkectl`, `home/` (the fake HOME), `record.jsonl` and the saved
//! config PUT bodies `config-put-N.toml` next to it.

mod api;
pub mod cli;
mod commands;
mod config;
mod files;
pub mod options;
mod record;
pub mod shell;
mod ssh;
mod state;
mod tls;
mod topology;
mod views;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::util::secret::Secret;

pub use options::{
    BackupHistory, BackupOutcome, FaultRule, FileKind, HumanDuration, KddWording, SandboxOptions,
};

use files::{private_dir, write_executable, write_private};
use options::{NoValue, Seconds, StatusCode};
use record::Record;
use state::Cluster;
use topology::{Role, Topology};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox option: {0}")]
    Options(String),
    #[error("sandbox: cannot {action} {}: {err}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error(
        "sandbox: cannot listen on {addr}: {err} (the sandbox needs free ports on the loopback addresses; stop other sandboxes or retry)"
    )]
    Bind { addr: SocketAddr, err: io::Error },
    #[error(
        "sandbox: the state in {} is unusable ({reason}); delete that directory to start a fresh simulated cluster",
        path.display()
    )]
    State { path: PathBuf, reason: String },
    #[error("sandbox: cannot generate {what}: {reason}")]
    Crypto { what: &'static str, reason: String },
}

impl SandboxError {
    pub(crate) fn io(action: &'static str, path: &Path, err: io::Error) -> Self {
        SandboxError::Io {
            action,
            path: path.to_path_buf(),
            err,
        }
    }
}

/// One simulated node, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxNode {
    /// 1-based; managers come first.
    pub number: u32,
    pub manager: bool,
    pub hostname: String,
    /// Loopback address of the node's SSH endpoint (and, for managers, of
    /// its MKE API endpoint on the port of `mke_host`).
    pub address: IpAddr,
    pub ssh_port: u16,
}

/// A running sandbox. Dropping it stops the servers too; [`Sandbox::shutdown`]
/// also waits for them.
#[derive(Debug)]
pub struct Sandbox {
    /// `https://127.0.0.1:PORT`, the value for `MKE_HOST`.
    pub mke_host: String,
    pub username: String,
    /// Random, 24 characters, new at every start.
    pub password: Secret,
    /// The CA to verify the API with (`MKEPREP_CA_CERT`).
    pub ca_cert: PathBuf,
    /// An mkectl `hosts.yaml` (`MKEPREP_INVENTORY`).
    pub inventory: PathBuf,
    /// Host keys of the nodes (`MKEPREP_KNOWN_HOSTS`).
    pub known_hosts: PathBuf,
    /// The ed25519 private key the inventory's `keyPath` names.
    pub ssh_key: PathBuf,
    /// Holds the stand-in `mkectl`; put it first on PATH.
    pub bin_dir: PathBuf,
    /// A fake HOME (for `~/.mke/mke.kubeconf`).
    pub home_dir: PathBuf,
    /// The JSON Lines record of requests (see the `record` module docs).
    pub record: PathBuf,
    /// The sandbox directory.
    pub dir: PathBuf,
    pub nodes: Vec<SandboxNode>,
    /// Whether the directory already held a cluster (initial-state knobs were not applied).
    pub resumed: bool,
    /// How long the KDD conversion takes on this cluster.
    pub kdd_duration: Duration,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Sandbox {
    /// Stops the servers, lets requests in flight finish for up to two
    /// seconds (then cuts them off), and records the stop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in self.servers.drain(..) {
            let _ = server.await;
        }
        let mut tasks = std::mem::take(&mut *self.shared.tasks());
        let drained = tokio::time::timeout(Duration::from_secs(2), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        self.shared
            .record
            .write("stop", json!({ "cut_off": drained.is_err() }));
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// State shared by the API and the SSH endpoints.
pub(crate) struct Shared {
    opts: SandboxOptions,
    topo: Topology,
    cluster: Mutex<Cluster>,
    record: Record,
    password: Secret,
    tokens: Mutex<HashMap<String, Session>>,
    faults: Faults,
    kdd_busy: AtomicBool,
    logins: AtomicU64,
    config_gets: AtomicU32,
    tasks: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// A login session (token).
struct Session {
    issued: Instant,
    last_used: Instant,
    uses: u32,
    lifetime: Duration,
}

/// Fault rules with the number of requests each has matched so far.
struct Faults {
    http_error: Vec<(FaultRule<StatusCode>, AtomicU32)>,
    slow: Vec<(FaultRule<Seconds>, AtomicU32)>,
    drop: Vec<(FaultRule<NoValue>, AtomicU32)>,
}

fn counted<V>(rules: &[FaultRule<V>]) -> Vec<(FaultRule<V>, AtomicU32)>
where
    V: Clone,
{
    rules
        .iter()
        .map(|r| (r.clone(), AtomicU32::new(0)))
        .collect()
}

/// The value of the first rule that matches and still has hits left.
fn take_fault<V: Clone>(
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
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        let mut cluster = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        if cluster.settle(state::now_ms())
            && let Err(err) = cluster.save()
        {
            eprintln!("mkeprep sandbox: {err}");
        }
        cluster
    }

    fn tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tokens(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `fut` as its own task, so a client that goes away does not cut
    /// off what the simulated MKE is doing (a real MKE finishes a config
    /// change when the client disconnects).
    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
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
fn sandbox_password() -> Result<String, SandboxError> {
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

/// Starts a sandbox whose state lives in `dir` (created if missing).
pub async fn start(opts: &SandboxOptions, dir: &Path) -> Result<Sandbox, SandboxError> {
    opts.validate()?;
    let password = Secret::new(sandbox_password()?);
    private_dir(dir)?;
    let dir = std::path::absolute(dir).map_err(|err| SandboxError::io("resolve", dir, err))?;
    let ssh_dir = dir.join("ssh");
    let bin_dir = dir.join("bin");
    let home_dir = dir.join("home");
    for d in [&ssh_dir, &bin_dir, &home_dir] {
        private_dir(d)?;
    }
    let topo = Topology::new(opts);
    let (mut cluster, resumed) = Cluster::load_or_init(&dir, opts, &topo)?;

    // Listeners first: their ports go into the inventory and the state.
    let mut api_ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for m in topo.managers() {
        if !api_ips.contains(&m.addr) {
            api_ips.push(m.addr);
        }
    }
    let (api_port, api_listeners) = bind_api(&api_ips, cluster.data.api_port).await?;
    let mut ssh_listeners = Vec::new();
    for node in &topo.nodes {
        let index = usize::try_from(node.number - 1).unwrap_or(usize::MAX);
        let preferred = cluster.data.ssh_ports.get(index).copied();
        ssh_listeners.push(bind_one(node.addr, preferred).await?);
    }
    let ssh_ports: Vec<u16> = ssh_listeners
        .iter()
        .map(|l| l.local_addr().map_or(0, |a| a.port()))
        .collect();
    cluster.data.api_port = Some(api_port);
    // Keep the ports of nodes beyond the current count for a later start.
    for (i, port) in ssh_ports.iter().enumerate() {
        match cluster.data.ssh_ports.get_mut(i) {
            Some(p) => *p = *port,
            None => cluster.data.ssh_ports.push(*port),
        }
    }
    cluster.save()?;

    let tls = tls::generate(&api_ips, opts.wrong_ca)?;
    let ca_cert = dir.join("ca.pem");
    write_private(&ca_cert, tls.ca_pem.as_bytes())?;

    let ssh_key = ssh_dir.join("id_ed25519");
    let user_key = ssh::load_or_generate_key(&ssh_key, "mkeprep-sandbox-user")?;
    write_private(
        &ssh_dir.join("id_ed25519.pub"),
        format!("{}\n", ssh::public_line(&user_key)?).as_bytes(),
    )?;
    let mut host_keys = Vec::new();
    let mut known = String::new();
    let mut nodes = Vec::new();
    for (node, port) in topo.nodes.iter().zip(&ssh_ports) {
        let key = ssh::load_or_generate_key(
            &ssh_dir.join(format!("host-{}", node.number)),
            &node.hostname,
        )?;
        known.push_str(&format!(
            "[{}]:{port} {}\n",
            node.addr,
            ssh::public_line(&key)?
        ));
        host_keys.push(key);
        nodes.push(SandboxNode {
            number: node.number,
            manager: node.role == Role::Manager,
            hostname: node.hostname.clone(),
            address: node.addr,
            ssh_port: *port,
        });
    }
    let known_hosts = dir.join("known_hosts");
    write_private(&known_hosts, known.as_bytes())?;
    let inventory = dir.join("hosts.yaml");
    write_private(
        &inventory,
        inventory_yaml(&dir, &nodes, &opts.ssh_user, &ssh_key).as_bytes(),
    )?;
    write_executable(
        &bin_dir.join("mkectl"),
        mkectl_script(&opts.mkectl_version).as_bytes(),
    )?;
    if !resumed && opts.leftover_kubeconf {
        let mke = home_dir.join(".mke");
        private_dir(&mke)?;
        write_private(&mke.join("mke.kubeconf"), LEFTOVER_KUBECONF.as_bytes())?;
    }

    let record_path = dir.join("record.jsonl");
    let record = Record::open(&record_path)?;
    let mke_host = format!("https://127.0.0.1:{api_port}");
    record.write(
        "start",
        json!({ "api": mke_host, "nodes": opts.nodes, "managers": opts.managers, "resumed": resumed }),
    );
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        topo,
        cluster: Mutex::new(cluster),
        record,
        password: password.clone(),
        tokens: Mutex::new(HashMap::new()),
        faults: Faults {
            http_error: counted(&opts.http_error),
            slow: counted(&opts.slow),
            drop: counted(&opts.drop),
        },
        kdd_busy: AtomicBool::new(false),
        logins: AtomicU64::new(0),
        config_gets: AtomicU32::new(0),
        tasks: Mutex::new(JoinSet::new()),
    });

    let (stop, stop_rx) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config);
    let mut servers = Vec::new();
    for listener in api_listeners {
        servers.push(tokio::spawn(api::serve(
            listener,
            acceptor.clone(),
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    let user_public = Arc::new(user_key.public_key().clone());
    for ((listener, key), node) in ssh_listeners.into_iter().zip(host_keys).zip(1u32..) {
        servers.push(tokio::spawn(ssh::serve(
            listener,
            key,
            node,
            user_public.clone(),
            shared.clone(),
            stop_rx.clone(),
        )));
    }

    Ok(Sandbox {
        mke_host,
        username: opts.username.clone(),
        password,
        ca_cert,
        inventory,
        known_hosts,
        ssh_key,
        bin_dir,
        home_dir,
        record: record_path,
        dir,
        nodes,
        resumed,
        kdd_duration: opts.kdd_duration(),
        stop,
        servers,
        shared,
    })
}

/// Binds the API port on 127.0.0.1 and, with the same port, on every
/// manager address (clients ping managers at their address and that port).
/// Tries the port of the previous start first, so a restarted sandbox keeps
/// its `MKE_HOST`.
async fn bind_api(
    ips: &[IpAddr],
    preferred: Option<u16>,
) -> Result<(u16, Vec<TcpListener>), SandboxError> {
    let mut last = None;
    for port in preferred.into_iter().chain(std::iter::repeat_n(0, 20)) {
        let mut listeners = Vec::new();
        let mut chosen = port;
        for ip in ips {
            let addr = SocketAddr::new(*ip, chosen);
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    chosen = l.local_addr().map_or(0, |a| a.port());
                    listeners.push(l);
                }
                Err(err) => {
                    last = Some(SandboxError::Bind { addr, err });
                    break;
                }
            }
        }
        if listeners.len() == ips.len() {
            return Ok((chosen, listeners));
        }
    }
    Err(last.unwrap_or(SandboxError::Bind {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        err: io::Error::other("no port found"),
    }))
}

/// Binds `ip` on the preferred port, or on any free one.
async fn bind_one(ip: IpAddr, preferred: Option<u16>) -> Result<TcpListener, SandboxError> {
    if let Some(port) = preferred.filter(|p| *p != 0)
        && let Ok(l) = TcpListener::bind((ip, port)).await
    {
        return Ok(l);
    }
    let addr = SocketAddr::new(ip, 0);
    TcpListener::bind(addr)
        .await
        .map_err(|err| SandboxError::Bind { addr, err })
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn inventory_yaml(dir: &Path, nodes: &[SandboxNode], user: &str, key: &Path) -> String {
    let mut out = format!(
        "# mkectl hosts.yaml of the mkeprep sandbox in {}\n# (rewritten at every start; ports are kept when they are free)\nhosts:\n",
        dir.display()
    );
    for n in nodes {
        let role = if n.manager { "manager" } else { "worker" };
        out.push_str(&format!(
            "  - address: {}  # {} ({role})\n    port: {}\n    user: {}\n    keyPath: {}\n",
            n.address,
            n.hostname,
            n.ssh_port,
            yaml_quote(user),
            yaml_quote(&key.display().to_string()),
        ));
    }
    out
}

fn mkectl_script(version: &str) -> String {
    let version = version.strip_prefix('v').unwrap_or(version);
    format!(
        r#"#!/bin/sh
# Stand-in mkectl of the mkeprep sandbox: only `mkectl version` is simulated.
case "$1" in
  version) echo "Version: v{version}" ;;
  *) echo "mkectl (mkeprep sandbox stand-in): only 'mkectl version' is simulated" >&2; exit 127 ;;
esac
"#
    )
}

const LEFTOVER_KUBECONF: &str = "# left over by an earlier mkectl run (mkeprep sandbox)
apiVersion: v1
kind: Config
clusters: []
contexts: []
users: []
";

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_writes_what_a_client_needs_and_a_restart_keeps_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sandbox");
        let opts = SandboxOptions {
            nodes: 2,
            leftover_kubeconf: true,
            ..Default::default()
        };
        let sb = start(&opts, &dir).await.unwrap();
        assert!(!sb.resumed);
        assert!(sb.mke_host.starts_with("https://127.0.0.1:"));
        assert!(sb.password.expose().len() >= 16);
        assert_eq!(format!("{:?}", sb.password), crate::util::secret::MASK);
        for path in [
            &sb.ca_cert,
            &sb.inventory,
            &sb.known_hosts,
            &sb.ssh_key,
            &sb.record,
        ] {
            assert!(path.is_file(), "{}", path.display());
        }
        assert!(sb.bin_dir.join("mkectl").is_file());
        assert!(sb.home_dir.join(".mke/mke.kubeconf").is_file());
        assert_eq!(sb.nodes.len(), 2);
        assert!(sb.nodes[0].manager && !sb.nodes[1].manager);
        assert_eq!(sb.kdd_duration, Duration::from_secs(1));
        let host = sb.mke_host.clone();
        sb.shared.cluster().config.push_str("# changed\n");
        sb.shared.cluster().save().unwrap();
        sb.shutdown().await;
        std::fs::remove_file(dir.join("home/.mke/mke.kubeconf")).unwrap();

        let again = start(&opts, &dir).await.unwrap();
        assert!(again.resumed);
        assert_eq!(again.mke_host, host);
        assert!(again.shared.cluster().config.ends_with("# changed\n"));
        assert!(
            !again.home_dir.join(".mke/mke.kubeconf").exists(),
            "initial state only"
        );
        again.shutdown().await;
        let record = std::fs::read_to_string(dir.join("record.jsonl")).unwrap();
        assert_eq!(
            record
                .lines()
                .filter(|l| l.contains("\"kind\":\"stop\""))
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn invalid_options_are_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sandbox");
        let opts = SandboxOptions {
            nodes: 0,
            ..Default::default()
        };
        let err = start(&opts, &dir).await.unwrap_err();
        assert!(matches!(err, SandboxError::Options(_)), "{err}");
        assert!(!dir.exists());
    }

    #[test]
    fn inventory_quotes_paths() {
        let nodes = vec![SandboxNode {
            number: 1,
            manager: true,
            hostname: "m".into(),
            address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)),
            ssh_port: 4000,
        }];
        let y = inventory_yaml(Path::new("/d"), &nodes, "ubuntu", Path::new("/it's/key"));
        assert!(y.contains("keyPath: '/it''s/key'"), "{y}");
        assert!(
            y.contains("  - address: 127.0.0.11  # m (manager)\n    port: 4000\n"),
            "{y}"
        );
    }
}
