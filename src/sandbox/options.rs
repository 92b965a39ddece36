//! The sandbox's knobs: one struct that is both a set of `mkeprep sandbox`
//! flags (clap) and the `sandbox:` section of a playbook (serde), so the two
//! can never drift apart. Field names are the flag names with `_`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer};

use super::SandboxError;

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
    /// Checks every knob; the error names the knob and the accepted values.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |msg: String| Err(SandboxError::Options(msg));
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return bad(format!("nodes = {}: choose 1 to {MAX_NODES}", self.nodes));
        }
        if self.managers == 0 || self.managers > self.nodes {
            return bad(format!(
                "managers = {}: choose 1 to nodes ({})",
                self.managers, self.nodes
            ));
        }
        for (name, value) in [
            ("mke_version", &self.mke_version),
            ("mkectl_version", &self.mkectl_version),
        ] {
            if !is_version(value.strip_prefix('v').unwrap_or(value)) {
                return bad(format!(
                    "{name} = {value:?}: expected a version like 3.8.10 (digits and dots, optional -suffix)"
                ));
            }
        }
        for (name, value) in [("username", &self.username), ("ssh_user", &self.ssh_user)] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return bad(format!(
                    "{name} = {value:?}: use letters, digits, '.', '_' or '-'"
                ));
            }
        }
        let in_nodes = |name: &str, list: &[u32], limit: u32, what: &str| match list
            .iter()
            .find(|n| **n == 0 || **n > limit)
        {
            Some(n) => bad(format!(
                "{name} = {n}: choose a {what} number from 1 to {limit}"
            )),
            None => Ok(()),
        };
        in_nodes("down_node", &self.down_node, self.nodes, "node")?;
        in_nodes(
            "sudo_password_node",
            &self.sudo_password_node,
            self.nodes,
            "node",
        )?;
        in_nodes(
            "manager_addr_zero",
            &self.manager_addr_zero,
            self.managers,
            "manager",
        )?;
        in_nodes(
            "backup_file_node",
            &[self.backup_file_node],
            self.nodes,
            "node",
        )?;
        if !self.backup_file.starts_with('/')
            || self.backup_file.ends_with('/')
            || self.backup_file.contains(['\n', '\0'])
        {
            return bad(format!(
                "backup_file = {:?}: give an absolute file path",
                self.backup_file
            ));
        }
        for (name, value, max) in [
            ("kdd_seconds_per_node", self.kdd_seconds_per_node, 3600.0),
            ("backup_seconds", self.backup_seconds, 86400.0),
            (
                "token_expiry_seconds",
                self.token_expiry_seconds.unwrap_or(1.0),
                1e9,
            ),
        ] {
            if !(0.0..=max).contains(&value) {
                return bad(format!("{name} = {value}: choose 0 to {max} seconds"));
            }
        }
        Ok(())
    }

    /// Seconds the etcd-to-KDD conversion takes on this cluster.
    pub fn kdd_duration(&self) -> Duration {
        Duration::from_secs_f64(self.kdd_seconds_per_node * f64::from(self.nodes))
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

fn is_version(v: &str) -> bool {
    let (core, suffix) = v.split_once('-').unwrap_or((v, "a"));
    if suffix.is_empty()
        || !suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return false;
    }
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Which backups `GET /api/ucp/backups` lists on a fresh sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupHistory {
    /// A recent SUCCESS backup (and an older one)
    Present,
    /// No backup at all
    Absent,
    /// Only an old SUCCESS backup
    Old,
    /// The newest backup FAILED; an old one succeeded
    Failed,
}

/// What the simulated backup file on a node contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A real tar archive (ustar headers), like `mirantis/ucp backup --no-passphrase`
    Tar,
    /// A PGP-encrypted file, like a backup made with a passphrase
    Pgp,
    /// An empty file
    Empty,
    /// Bytes that are neither tar nor PGP
    Corrupt,
    /// No file at all
    Absent,
}

/// Which wording the KDD success message uses (see the facts file, B.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KddWording {
    /// "Calico datastore migration from etcd to kdd successful"
    Migration,
    /// "Calico datastore upgrade from etcd to kdd successful"
    Upgrade,
}

impl KddWording {
    pub fn message(self) -> &'static str {
        match self {
            KddWording::Migration => "Calico datastore migration from etcd to kdd successful",
            KddWording::Upgrade => "Calico datastore upgrade from etcd to kdd successful",
        }
    }
}

/// How a backup made through the API ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupOutcome {
    Success,
    Failed,
}

/// A duration written the human way (`90s`, `2h`, `30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|e| format!("{s:?} is not a duration like 90s, 2h or 30d: {e}"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// The value a fault rule carries after `=`.
pub trait FaultValue: Sized + Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// Parses the text after `=` (`None` when there is no `=`).
    fn parse_value(text: Option<&str>) -> Result<Self, String>;
}

/// An HTTP status for `--http-error` (400 to 599).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl FaultValue for StatusCode {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        let text = text.ok_or("add =STATUS, e.g. 'GET /info=503'")?;
        match text.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(StatusCode(code)),
            _ => Err(format!("{text:?} is not an HTTP error status (400 to 599)")),
        }
    }
}

/// A delay for `--slow`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl FaultValue for Seconds {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        let text = text.ok_or("add =SECONDS, e.g. 'GET /nodes=2.5'")?;
        match text.parse::<f64>() {
            Ok(s) if (0.0..=600.0).contains(&s) => Ok(Seconds(s)),
            _ => Err(format!("{text:?} is not a delay in seconds (0 to 600)")),
        }
    }
}

/// `--drop` takes no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoValue;

impl FaultValue for NoValue {
    fn parse_value(text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(NoValue),
            Some(v) => Err(format!("unexpected ={v}: write '[METHOD ]PATH[*N]'")),
        }
    }
}

/// One fault rule: which requests it hits, what it does, how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule<V> {
    /// Upper-case HTTP method, or any method.
    pub method: Option<String>,
    /// The path, or the prefix when `prefix` is set.
    pub path: String,
    pub prefix: bool,
    pub value: V,
    /// Only the first N matching requests; every one when `None`.
    pub times: Option<u32>,
}

impl<V> FaultRule<V> {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        };
        method_ok && path_ok
    }
}

impl<V: FaultValue> FromStr for FaultRule<V> {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (rest, times) = match spec.rsplit_once('*') {
            Some((rest, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                match n.parse::<u32>() {
                    Ok(n) if n > 0 => (rest, Some(n)),
                    _ => return Err(format!("{spec:?}: *N must be a count from 1")),
                }
            }
            _ => (spec, None),
        };
        let (endpoint, value) = match rest.split_once('=') {
            Some((e, v)) => (e.trim(), Some(v.trim())),
            None => (rest.trim(), None),
        };
        let (method, path) = match endpoint.split_once(char::is_whitespace) {
            Some((m, p)) => (Some(m.to_ascii_uppercase()), p.trim()),
            None => (None, endpoint),
        };
        if let Some(m) = &method
            && !m.chars().all(|c| c.is_ascii_uppercase())
        {
            return Err(format!("{spec:?}: {m:?} is not an HTTP method"));
        }
        if !path.starts_with('/') {
            return Err(format!(
                "{spec:?}: the path must start with '/', e.g. 'GET /info'"
            ));
        }
        let (path, prefix) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (path, false),
        };
        let value = V::parse_value(value).map_err(|e| format!("{spec:?}: {e}"))?;
        Ok(FaultRule {
            method,
            path: path.to_string(),
            prefix,
            value,
            times,
        })
    }
}

/// Playbook form of the string-shaped knobs: the same text as the flag.
fn parse_text<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(d: D) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}

impl<'de, V: FaultValue> Deserialize<'de> for FaultRule<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse() {
        let r: FaultRule<StatusCode> = "GET /info=503*2".parse().unwrap();
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(
            (r.path.as_str(), r.prefix, r.value, r.times),
            ("/info", false, StatusCode(503), Some(2))
        );
        assert!(r.matches("GET", "/info") && !r.matches("PUT", "/info"));

        let r: FaultRule<Seconds> = "/api/ucp/backup/*=1.5".parse().unwrap();
        assert!(r.prefix && r.method.is_none() && r.times.is_none());
        assert!(r.matches("GET", "/api/ucp/backup/abc") && !r.matches("GET", "/api/ucp/backups"));

        let r: FaultRule<NoValue> = "put /api/ucp/config-toml*1".parse().unwrap();
        assert_eq!((r.method.as_deref(), r.times), (Some("PUT"), Some(1)));

        assert!("GET /info".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET /info=200".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET info=500".parse::<FaultRule<StatusCode>>().is_err());
        assert!("GET /info=5".parse::<FaultRule<NoValue>>().is_err());
        assert!("GET /info*0".parse::<FaultRule<NoValue>>().is_err());
    }

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

    #[test]
    fn validation_names_the_knob() {
        let opts = SandboxOptions {
            managers: 4,
            ..Default::default()
        };
        assert!(
            opts.validate()
                .unwrap_err()
                .to_string()
                .contains("managers")
        );
        let opts = SandboxOptions {
            down_node: vec![9],
            ..Default::default()
        };
        assert!(
            opts.validate()
                .unwrap_err()
                .to_string()
                .contains("down_node")
        );
        let opts = SandboxOptions {
            mke_version: "3.8".into(),
            ..Default::default()
        };
        assert!(
            opts.validate()
                .unwrap_err()
                .to_string()
                .contains("mke_version")
        );
        let opts = SandboxOptions {
            backup_file: "backup.tar".into(),
            ..Default::default()
        };
        assert!(opts.validate().is_err());
        let opts = SandboxOptions {
            kdd_seconds_per_node: f64::NAN,
            ..Default::default()
        };
        assert!(opts.validate().is_err());
    }
}
