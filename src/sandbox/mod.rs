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
mod canned;
pub mod cli;
mod client_files;
mod commands;
mod config;
mod files;
mod kube_proxy;
mod lb;
mod mkectl;
mod node_sim;
pub mod options;
mod record;
mod shared;
pub mod shell;
mod ssh;
mod start;
mod state;
mod tls;
mod topology;
mod views;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::util::secret::Secret;

pub use options::{
    BackupHistory, BackupOutcome, FaultRule, FileKind, HumanDuration, KddWording, SandboxOptions,
};
pub use shared::PASSWORD_ENV;
pub(crate) use shared::{Shared, random_id};
pub use start::start;

use shared::{Session, take_fault};

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
    /// The simulated MKE 4 load balancer, `ADDRESS:PORT`
    /// (`MKEPREP_EXTERNAL_ADDRESS`); `None` with `lb = false`.
    pub external_address: Option<String>,
    /// Gateway NodePorts a rehearsal can use (HTTPS, HTTP): free, inside
    /// the simulated cluster's `nodeport_range`.
    pub gateway_node_ports: (u16, u16),
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Sandbox {
    /// The upgrade's inputs for a rehearsal, as environment variables the
    /// standard playbook reads: `MKEPREP_EXTERNAL_ADDRESS` (the simulated
    /// load balancer) and `MKEPREP_GATEWAY_HTTPS_NODE_PORT` /
    /// `MKEPREP_GATEWAY_HTTP_NODE_PORT`.
    pub fn upgrade_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(a) = &self.external_address {
            env.push(("MKEPREP_EXTERNAL_ADDRESS".to_string(), a.clone()));
        }
        let (https, http) = self.gateway_node_ports;
        env.push((
            "MKEPREP_GATEWAY_HTTPS_NODE_PORT".to_string(),
            https.to_string(),
        ));
        env.push((
            "MKEPREP_GATEWAY_HTTP_NODE_PORT".to_string(),
            http.to_string(),
        ));
        env
    }

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
