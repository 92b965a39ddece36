//! `cluster_content`: what the MKE 3 cluster holds that does not carry over
//! to MKE 4k / MKE 4 (reference/mke4k-upgrade-checks.md §6), read through
//! the MKE API: Swarm services other than MKE's own (`GET /services`), local
//! users other than `admin` (`GET /accounts`; their passwords are not
//! migrated), Windows nodes (blocked for 4.1.x) and GPU nodes (`GET /nodes`),
//! an existing cert-manager (its containers in `GET /containers/json`),
//! MetalLB (the configuration) and Interlock (its `ucp-interlock*`
//! services). Everything but Windows nodes on 4.1.x warns by default.
//!
//! Boundaries: settings are `mke_compat`'s; what only the nodes can tell
//! (OS release, cgroup, disks, ports, machine ids) needs SSH facts and is
//! the `node_requirements` module's.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::mke_compat::Severity;
use super::mke_compat::report;
use super::mke_version::version_param;
use super::{Check, Facts, Module, StepContext, TaskError};

mod scan;

/// How Windows nodes are treated.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WindowsPolicy {
    /// Block for 4.1.x targets (Linux amd64 only); warn for 4.2+ (Windows workers exist in MKE 4, their upgrade is not documented).
    Auto,
    Block,
    Warn,
    Report,
}

/// Report what the cluster holds that does not carry over to MKE 4.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterContent {
    /// The MKE 4k / MKE 4 release to upgrade to.
    #[serde(default = "super::mke_version::default_target")]
    pub target: String,
    /// Swarm services other than MKE's own: they disappear (block, warn, report).
    #[serde(default = "warn")]
    pub swarm_services: Severity,
    /// Local users other than `migrated_user`: their passwords are not migrated.
    #[serde(default = "warn")]
    pub users: Severity,
    /// The one local user whose password MKE 4 migrates.
    #[serde(default = "admin")]
    pub migrated_user: String,
    /// Windows nodes: auto (block for 4.1.x, warn for 4.2+), block, warn or report.
    #[serde(default = "auto")]
    pub windows_nodes: WindowsPolicy,
    /// GPU nodes (or the NVIDIA device plugin): finish Mirantis' GPU prerequisites first.
    #[serde(default = "warn")]
    pub gpu_nodes: Severity,
    /// An existing cert-manager: it conflicts with MKE 4's own; uninstall it first.
    #[serde(default = "warn")]
    pub cert_manager: Severity,
    /// MetalLB enabled in MKE 3.
    #[serde(default = "warn")]
    pub metallb: Severity,
    /// Interlock (layer-7 routing for Swarm): it goes with Swarm.
    #[serde(default = "warn")]
    pub interlock: Severity,
    /// Name prefixes of MKE's own Swarm services.
    #[serde(default = "system_prefixes", deserialize_with = "super::string_list")]
    pub system_prefixes: Vec<String>,
}

fn warn() -> Severity {
    Severity::Warn
}
fn auto() -> WindowsPolicy {
    WindowsPolicy::Auto
}
fn admin() -> String {
    "admin".to_string()
}
fn system_prefixes() -> Vec<String> {
    vec!["ucp-".to_string()]
}

impl Module for ClusterContent {
    const NAME: &'static str = "cluster_content";
    const NEEDS_API: bool = true;
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        ("target", "the target release"),
        (
            "swarm_services",
            "the user Swarm services (MKE's own left out)",
        ),
        ("interlock", "whether Interlock runs"),
        ("users_to_reset", "local users other than the migrated one"),
        ("windows_nodes", "hostnames of Windows nodes"),
        ("gpu_nodes", "GPU nodes, with their GPU count"),
        (
            "cert_manager",
            "found (bool) and version of a running cert-manager",
        ),
        ("metallb", "whether MetalLB is enabled"),
        (
            "findings",
            "what does not carry over: subject, class, level, message, remedy",
        ),
        ("blockers", "how many findings block"),
        ("warnings", "how many findings warn"),
    ]);
    const SUMMARY: &'static str = "What does not carry over to MKE 4: Swarm services, local users' passwords, Windows and GPU nodes, an existing cert-manager, MetalLB, Interlock.";
    const EXAMPLE: &'static str = "- id: check-content\n  cluster_content:\n    target: \"{{ target }}\"\n  register: content";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let target = version_param("target", &self.target)?;
        let mke = cx.mke()?;
        let err = |e: crate::mke::MkeError| TaskError::new(e.to_string());
        let nodes = mke.nodes().await.map_err(err)?;
        let doc = mke.config_toml().await.map_err(err)?;
        let settings = super::mke_compat::classify::flatten(&doc).map_err(TaskError::new)?;
        let services = mke.services().await;
        let users = mke.users().await;
        let containers = mke.containers().await;

        let windows = match self.windows_nodes {
            WindowsPolicy::Auto if target.major == 4 && target.minor <= 1 => Severity::Block,
            WindowsPolicy::Auto | WindowsPolicy::Warn => Severity::Warn,
            WindowsPolicy::Block => Severity::Block,
            WindowsPolicy::Report => Severity::Report,
        };
        let scan = scan::Scan {
            target: &target,
            policy: self,
            windows,
            nodes: &nodes,
            settings: &settings,
            services: services.as_deref().map_err(|e| e.to_string()),
            users: users.as_deref().map_err(|e| e.to_string()),
            containers: containers.as_deref().map_err(|e| e.to_string()),
        };
        let (findings, facts) = scan.run();

        let mut output = Facts::new();
        output.insert("target".into(), target.to_string().into());
        for (k, v) in facts {
            output.insert(k, v);
        }
        let nodes_n = nodes.len();
        let migrated = &self.migrated_user;
        let total = findings.len();
        Ok(report::conclude(
            &findings,
            &[],
            output,
            |blockers, warnings| {
                if total == 0 {
                    format!(
                        "nothing MKE {target} would leave behind: no user Swarm services, no local users but {migrated}, {nodes_n} Linux nodes without GPUs, no cert-manager, MetalLB or Interlock"
                    )
                } else {
                    format!(
                        "what MKE {target} does not carry over: {blockers} blocking, {warnings} warnings, {} to note",
                        total - blockers - warnings
                    )
                }
            },
        ))
    }
}

/// A list for a message: the first eight names, then how many more.
fn listed(names: &[String]) -> String {
    crate::util::text::listed(names, 8)
}

fn names_json(names: &[String]) -> Value {
    json!(names)
}
