//! The sandbox's knobs: one struct that is both a set of `mkeprep sandbox`
//! flags (clap) and the `sandbox:` section of a playbook (serde), so the two
//! can never drift apart. Field names are the flag names with `_`.

mod faults;
mod kinds;
mod nodes;
mod services;
mod validate;

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

pub use faults::{FaultRule, FaultValue, NoValue, Seconds, StatusCode};
pub use kinds::{BackupHistory, BackupOutcome, FileKind, HumanDuration, KddWording};
use nodes::one_or_many;
pub use nodes::{Canned, Count, Offset, PerNode, Ports, Size, Word, for_node};
pub use services::ServiceNodePort;

/// The most nodes a sandbox simulates (each gets its own SSH listener).
pub const MAX_NODES: u32 = 1000;

const DEFAULT_MKE_VERSION: &str = "3.8.10";
const DEFAULT_MKECTL_VERSION: &str = "4.1.5";
const DEFAULT_USERNAME: &str = "admin";
const DEFAULT_SSH_USER: &str = "ubuntu";
const DEFAULT_BACKUP_FILE: &str = "/var/backups/mke3/backup.tar";
const DEFAULT_NODES: u32 = 3;
const DEFAULT_MANAGERS: u32 = 1;
const DEFAULT_KDD_SECONDS_PER_NODE: f64 = 0.5;
const DEFAULT_BACKUP_SECONDS: f64 = 2.0;
const DEFAULT_ENGINE_VERSION: &str = "25.0.12";
const DEFAULT_LB_LISTENER_PORT: u16 = 8443;

/// What the simulated cluster looks like and how it misbehaves.
///
/// Knobs marked "initial state" shape a fresh sandbox directory only; a later
/// start with the same directory sees the cluster as the previous run left it.
#[derive(Debug, Clone, PartialEq, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxOptions {
    /// MKE 3 version the cluster reports (GET /info, GET /version, ucp-proxy image tag)
    #[arg(long, value_name = "X.Y.Z", default_value = DEFAULT_MKE_VERSION, help_heading = "Cluster")]
    pub mke_version: String,

    /// Name the MKE component of GET /version "Universal Control Plane" (old releases) instead of "Mirantis Kubernetes Engine"
    #[arg(long, help_heading = "Cluster")]
    pub legacy_component_name: bool,

    /// GET /info reports the engine version in ServerVersion, not "ucp/X.Y.Z", so clients must fall back to GET /version or SSH
    #[arg(long, help_heading = "Cluster")]
    pub plain_info_version: bool,

    /// Number of simulated nodes, managers first (node i listens for SSH on 127.0.0.(10+i))
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NODES, help_heading = "Cluster")]
    pub nodes: u32,

    /// How many of the nodes are managers
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MANAGERS, help_heading = "Cluster")]
    pub managers: u32,

    /// MKE admin user name accepted by POST /auth/login (the password is random on every start)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_USERNAME, help_heading = "Cluster")]
    pub username: String,

    /// SSH user of every node in the generated inventory
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SSH_USER, help_heading = "Cluster")]
    pub ssh_user: String,

    /// Node N reports Status.State "down" in GET /nodes and fails GET /_ping at its address (repeatable)
    #[arg(long, value_name = "N", help_heading = "Cluster")]
    pub down_node: Vec<u32>,

    /// Manager N reports Status.Addr "0.0.0.0" in GET /nodes, as real managers sometimes do (repeatable)
    #[arg(long, value_name = "N", help_heading = "Cluster")]
    pub manager_addr_zero: Vec<u32>,

    /// On node N, `sudo -n true` fails with "sudo: a password is required" (repeatable)
    #[arg(long, value_name = "N", help_heading = "Cluster")]
    pub sudo_password_node: Vec<u32>,

    /// Version printed by the stand-in `mkectl version` in the sandbox's bin directory
    #[arg(long, value_name = "X.Y.Z", default_value = DEFAULT_MKECTL_VERSION, help_heading = "Cluster")]
    pub mkectl_version: String,

    // What the nodes report to `facts`, `remote` and `node_requirements`
    // (values: src/sandbox/options/nodes.rs; answers: src/sandbox/node_sim.rs).
    /// OS of nodes, '[N=]NAME': ubuntu-22.04 (default), ubuntu-24.04, rhel-8.10, rhel-9.4, rocky-9.4, debian-12 (that release's os-release and kernel) (repeatable)
    #[arg(long, value_name = "[N=]OS", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_os: Vec<PerNode<Word>>,

    /// CPUs (nproc) of nodes, '[N=]COUNT' [default: 8] (repeatable)
    #[arg(long, value_name = "[N=]COUNT", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_cpus: Vec<PerNode<Count>>,

    /// Memory of nodes, '[N=]SIZE' (MemTotal reads 2% less, as on real machines) [default: 32GiB] (repeatable)
    #[arg(long, value_name = "[N=]SIZE", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_memory: Vec<PerNode<Size>>,

    /// cgroup version of nodes, '[N=]1' or '[N=]2' [default: 1 on RHEL 8, 2 elsewhere] (repeatable)
    #[arg(long, value_name = "[N=]1|2", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_cgroup: Vec<PerNode<Count>>,

    /// Free space of the nodes' filesystem (/ and all below it), '[N=]SIZE' [default: 150GiB of 200GiB] (repeatable)
    #[arg(long, value_name = "[N=]SIZE", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_disk_free: Vec<PerNode<Size>>,

    /// More TCP ports listening on nodes besides sshd's and MKE 3's, '[N=]PORT[,PORT...]' (repeatable)
    #[arg(long, value_name = "[N=]PORTS", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_ports: Vec<PerNode<Ports>>,

    /// CPU architecture of nodes (uname -m), '[N=]ARCH' [default: x86_64] (repeatable)
    #[arg(long, value_name = "[N=]ARCH", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_arch: Vec<PerNode<Word>>,

    /// A program missing on nodes, '[N=]TOOL': running it exits 127, command not found (repeatable)
    #[arg(long, value_name = "[N=]TOOL", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_missing_tool: Vec<PerNode<Word>>,

    /// Clock offset of nodes from this machine's, '[N=]SECONDS' (negative: behind) [default: 0] (repeatable)
    #[arg(
        long,
        value_name = "[N=]SECONDS",
        help_heading = "Nodes",
        allow_hyphen_values = true
    )]
    #[serde(deserialize_with = "one_or_many")]
    pub node_clock_offset: Vec<PerNode<Offset>>,

    /// Whether systemd says the nodes' clocks are NTP-synchronised (timedatectl), '[N=]yes|no' [default: yes] (repeatable)
    #[arg(long, value_name = "[N=]yes|no", help_heading = "Nodes")]
    #[serde(deserialize_with = "one_or_many")]
    pub node_ntp: Vec<PerNode<Word>>,

    /// Node N reports the same /etc/machine-id as the other nodes listed (cloned VMs) (repeatable)
    #[arg(long, value_name = "N", help_heading = "Nodes")]
    pub duplicate_machine_id: Vec<u32>,

    /// Canned answers for site commands (playbook `sandbox: commands:` only): a list of {run, stdout, stderr, rc, nodes, creates, removes, seconds}
    #[arg(skip)]
    pub commands: Vec<Canned>,

    /// Initial state: [cluster_config] calico_kdd = true (Calico already on the Kubernetes datastore)
    #[arg(long, help_heading = "Initial state")]
    pub calico_kdd: bool,

    /// Initial state: [cluster_config] unmanaged_cni = true
    #[arg(long, help_heading = "Initial state")]
    pub unmanaged_cni: bool,

    /// Initial state: [cluster_config] calico_ebpf_enabled = true
    #[arg(long, help_heading = "Initial state")]
    pub calico_ebpf: bool,

    /// Initial state: [cluster_config] kube_proxy_mode = "ipvs"
    #[arg(long, help_heading = "Initial state")]
    pub ipvs: bool,

    /// Initial state: backups listed by GET /api/ucp/backups
    #[arg(long, value_enum, value_name = "KIND", default_value_t = BackupHistory::Present, help_heading = "Initial state")]
    pub backups: BackupHistory,

    /// Initial state: age of the newest backup and of the backup file [default: 2h for present, 30d for old, 1h for failed]
    #[arg(long, value_name = "DURATION", help_heading = "Initial state")]
    pub backup_age: Option<HumanDuration>,

    /// Initial state: remote path of the backup file on a node
    #[arg(long, value_name = "PATH", default_value = DEFAULT_BACKUP_FILE, help_heading = "Initial state")]
    pub backup_file: String,

    /// Initial state: the node that holds the backup file
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        help_heading = "Initial state"
    )]
    pub backup_file_node: u32,

    /// Initial state: what the backup file is (absent: no file on the node)
    #[arg(long, value_enum, value_name = "KIND", default_value_t = FileKind::Tar, help_heading = "Initial state")]
    pub backup_file_kind: FileKind,

    /// Initial state: leave a ~/.mke/mke.kubeconf in the sandbox's fake HOME (it blocks mkectl upgrade)
    #[arg(long, help_heading = "Initial state")]
    pub leftover_kubeconf: bool,

    /// Mirantis Container Runtime version every node reports (GET /nodes Description.Engine.EngineVersion)
    #[arg(long, value_name = "X.Y.Z", default_value = DEFAULT_ENGINE_VERSION, help_heading = "Cluster content")]
    pub engine_version: String,

    /// One node's MCR version instead: 'N=X.Y.Z', e.g. '2=23.0.15' (repeatable)
    #[arg(long, value_name = "N=X.Y.Z", help_heading = "Cluster content")]
    pub node_engine_version: Vec<String>,

    /// Node N reports Description.Platform.OS "windows" (repeatable)
    #[arg(long, value_name = "N", help_heading = "Cluster content")]
    pub windows_node: Vec<u32>,

    /// Node N reports two NVIDIA GPUs in its generic resources (repeatable)
    #[arg(long, value_name = "N", help_heading = "Cluster content")]
    pub gpu_node: Vec<u32>,

    /// A user Swarm service GET /services lists besides MKE's own (repeatable)
    #[arg(long, value_name = "NAME", help_heading = "Cluster content")]
    pub swarm_service: Vec<String>,

    /// Interlock runs: the ucp-interlock, ucp-interlock-extension and ucp-interlock-proxy services
    #[arg(long, help_heading = "Cluster content")]
    pub interlock: bool,

    /// A local (managed) user GET /accounts lists besides the admin (repeatable)
    #[arg(long, value_name = "NAME", help_heading = "Cluster content")]
    pub user: Vec<String>,

    /// A Kubernetes Service's NodePort that kube-proxy programs on every node (iptables-save, ip6tables-save), 'NAMESPACE/NAME[:PORTNAME]=NODEPORT[/tcp|/udp]' with markers '!noendpoints' (no ready endpoints), '!healthcheck=PORT' (externalTrafficPolicy: Local), '!ipv6', e.g. 'default/web:http=33001' or 'edge/lb=34001!healthcheck=34000' (repeatable)
    #[arg(
        long,
        value_name = "NS/NAME[:PORT]=NODEPORT",
        help_heading = "Cluster content"
    )]
    pub service_node_port: Vec<ServiceNodePort>,

    /// cert-manager runs: its containers are in GET /containers/json
    #[arg(long, help_heading = "Cluster content")]
    pub cert_manager: bool,

    /// Initial state: [cluster_config.metallb_config] enabled = true, with an address pool
    #[arg(long, help_heading = "Initial state")]
    pub metallb: bool,

    /// Initial state: set a configuration key, 'KEY=TOML', e.g. 'cluster_config.etcd_storage_quota="4GB"' or 'cluster_config.custom_kubelet_flags=["--keep-terminated-pod-volumes"]' (repeatable)
    #[arg(long, value_name = "KEY=TOML", help_heading = "Initial state")]
    pub config_set: Vec<String>,

    /// Simulate the MKE 4 load balancer: TCP listeners on 6443, 9443 and the listener port of a loopback address (MKEPREP_EXTERNAL_ADDRESS)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", help_heading = "Load balancer")]
    pub lb: bool,

    /// The load balancer's UI/gateway listener port (not 443, which needs root)
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_LB_LISTENER_PORT, help_heading = "Load balancer")]
    pub lb_listener_port: u16,

    /// A port of the load balancer (6443, 9443 or the listener) that does not answer (repeatable)
    #[arg(long, value_name = "PORT", help_heading = "Load balancer")]
    pub lb_closed_port: Vec<u16>,

    /// Seconds the etcd-to-KDD conversion takes per node (decimals allowed; a real cluster takes about 20)
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_KDD_SECONDS_PER_NODE, help_heading = "Timing")]
    pub kdd_seconds_per_node: f64,

    /// Wording of the KDD success message: "migration" or "upgrade" (the docs show both)
    #[arg(long, value_enum, value_name = "WORD", default_value_t = KddWording::Migration, help_heading = "Timing")]
    pub kdd_message: KddWording,

    /// Seconds a backup made with POST /api/ucp/backup stays IN_PROGRESS
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_BACKUP_SECONDS, help_heading = "Timing")]
    pub backup_seconds: f64,

    /// How a backup made with POST /api/ucp/backup ends
    #[arg(long, value_enum, value_name = "STATE", default_value_t = BackupOutcome::Success, help_heading = "Timing")]
    pub backup_outcome: BackupOutcome,

    /// Answer ENDPOINT with an HTTP error: '[METHOD ]PATH=STATUS[*N]', e.g. 'GET /info=503*2' (first 2 requests; no *N: every request; PATH ending in * matches a prefix) (repeatable)
    #[arg(long, value_name = "SPEC", help_heading = "Fault injection")]
    pub http_error: Vec<FaultRule<StatusCode>>,

    /// Delay answers: '[METHOD ]PATH=SECONDS[*N]', e.g. 'GET /nodes=2.5' (repeatable)
    #[arg(long, value_name = "SPEC", help_heading = "Fault injection")]
    pub slow: Vec<FaultRule<Seconds>>,

    /// Close the connection without an answer: '[METHOD ]PATH[*N]', e.g. 'PUT /api/ucp/config-toml*1' (repeatable)
    #[arg(long, value_name = "SPEC", help_heading = "Fault injection")]
    pub drop: Vec<FaultRule<NoValue>>,

    /// Tokens expire after this many authenticated requests
    #[arg(long, value_name = "N", help_heading = "Fault injection")]
    pub token_expiry_requests: Option<u32>,

    /// Tokens expire after this many seconds [default: [auth.sessions] lifetime_minutes of the config]
    #[arg(long, value_name = "SECONDS", help_heading = "Fault injection")]
    pub token_expiry_seconds: Option<f64>,

    /// The first N GET /api/ucp/config-toml answers are malformed TOML
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Fault injection"
    )]
    pub malformed_toml: u32,

    /// Hand out a CA certificate that did not sign the server certificate (clients must fail TLS verification)
    #[arg(long, help_heading = "Fault injection")]
    pub wrong_ca: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            mke_version: DEFAULT_MKE_VERSION.into(),
            legacy_component_name: false,
            plain_info_version: false,
            nodes: DEFAULT_NODES,
            managers: DEFAULT_MANAGERS,
            username: DEFAULT_USERNAME.into(),
            ssh_user: DEFAULT_SSH_USER.into(),
            down_node: Vec::new(),
            manager_addr_zero: Vec::new(),
            sudo_password_node: Vec::new(),
            mkectl_version: DEFAULT_MKECTL_VERSION.into(),
            node_os: Vec::new(),
            node_cpus: Vec::new(),
            node_memory: Vec::new(),
            node_cgroup: Vec::new(),
            node_disk_free: Vec::new(),
            node_ports: Vec::new(),
            node_arch: Vec::new(),
            node_missing_tool: Vec::new(),
            node_clock_offset: Vec::new(),
            node_ntp: Vec::new(),
            duplicate_machine_id: Vec::new(),
            commands: Vec::new(),
            calico_kdd: false,
            unmanaged_cni: false,
            calico_ebpf: false,
            ipvs: false,
            backups: BackupHistory::Present,
            backup_age: None,
            backup_file: DEFAULT_BACKUP_FILE.into(),
            backup_file_node: 1,
            backup_file_kind: FileKind::Tar,
            leftover_kubeconf: false,
            engine_version: DEFAULT_ENGINE_VERSION.into(),
            node_engine_version: Vec::new(),
            windows_node: Vec::new(),
            gpu_node: Vec::new(),
            swarm_service: Vec::new(),
            interlock: false,
            user: Vec::new(),
            service_node_port: Vec::new(),
            cert_manager: false,
            metallb: false,
            config_set: Vec::new(),
            lb: true,
            lb_listener_port: DEFAULT_LB_LISTENER_PORT,
            lb_closed_port: Vec::new(),
            kdd_seconds_per_node: DEFAULT_KDD_SECONDS_PER_NODE,
            kdd_message: KddWording::Migration,
            backup_seconds: DEFAULT_BACKUP_SECONDS,
            backup_outcome: BackupOutcome::Success,
            http_error: Vec::new(),
            slow: Vec::new(),
            drop: Vec::new(),
            token_expiry_requests: None,
            token_expiry_seconds: None,
            malformed_toml: 0,
            wrong_ca: false,
        }
    }
}
impl SandboxOptions {
    /// Seconds the etcd-to-KDD conversion takes on this cluster.
    pub fn kdd_duration(&self) -> Duration {
        Duration::from_secs_f64(self.kdd_seconds_per_node * f64::from(self.nodes))
    }

    /// The MCR version node `number` reports.
    pub fn engine_of(&self, number: u32) -> &str {
        self.node_engine_version
            .iter()
            .filter_map(|s| s.split_once('='))
            .find(|(n, _)| n.trim().parse() == Ok(number))
            .map_or(self.engine_version.as_str(), |(_, v)| v.trim())
    }

    /// Age of the newest initial backup (and of the backup file).
    pub fn effective_backup_age(&self) -> Duration {
        if let Some(age) = self.backup_age {
            return age.0;
        }
        let hours = match self.backups {
            BackupHistory::Present | BackupHistory::Absent => 2,
            BackupHistory::Old => 30 * 24,
            BackupHistory::Failed => 1,
        };
        Duration::from_secs(hours * 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_serde_defaults() {
        let opts = SandboxOptions::default();
        opts.validate().unwrap();
        let from_json: SandboxOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(from_json, opts);
    }

    #[test]
    fn defaults_match_clap_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            opts: SandboxOptions,
        }
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.opts, SandboxOptions::default());
        let cli = Cli::try_parse_from([
            "x",
            "--nodes",
            "5",
            "--managers",
            "3",
            "--http-error",
            "GET /info=500*1",
            "--backup-age",
            "3d",
            "--down-node",
            "2",
            "--down-node",
            "4",
        ])
        .unwrap();
        assert_eq!(cli.opts.down_node, vec![2, 4]);
        assert_eq!(
            cli.opts.effective_backup_age(),
            Duration::from_secs(3 * 86400)
        );
        cli.opts.validate().unwrap();
    }

    #[test]
    fn playbook_section_rejects_unknown_keys_and_checks_values() {
        let err = serde_json::from_str::<SandboxOptions>(r#"{"nodez": 3}"#).unwrap_err();
        assert!(err.to_string().contains("nodez"), "{err}");
        let opts: SandboxOptions =
            serde_json::from_str(r#"{"slow": ["GET /nodes=0.5"], "backup_age": "30d"}"#).unwrap();
        assert_eq!(opts.slow[0].value, Seconds(0.5));
        assert!(serde_json::from_str::<SandboxOptions>(r#"{"drop": ["nodes"]}"#).is_err());
    }
}
