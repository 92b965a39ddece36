//! `mke_config`: the MKE 3 configuration uses nothing the upgrade cannot
//! carry (unmanaged CNI for 4.1.x targets, Calico eBPF, IPVS), and the
//! machine that runs mkectl has no leftover `~/.mke/mke.kubeconf`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::mke_version::{DEFAULT_TARGET, version_param};
use super::{Check, Facts, Module, StepContext, TaskError};
use crate::mke::config::ClusterSettings;

/// What to do about a leftover kubeconfig.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Leftover {
    /// Blocked: `mkectl upgrade` fails when the file is there.
    Block,
    /// Report it in the step's message, but pass.
    Warn,
    /// Do not look.
    Skip,
}

/// Check the MKE 3 configuration for settings the upgrade cannot carry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkeConfig {
    /// The MKE 4k release to upgrade to (an unmanaged CNI blocks 4.1.x targets).
    #[serde(default = "default_target")]
    pub target: String,
    /// A leftover `~/.mke/mke.kubeconf` on the machine that runs mkectl: block, warn or skip.
    #[serde(default = "default_leftover")]
    pub leftover_kubeconf: Leftover,
    /// The kubeconfig mkectl writes; default `~/.mke/mke.kubeconf`.
    #[serde(default)]
    pub kubeconf: Option<PathBuf>,
}

fn default_target() -> String {
    DEFAULT_TARGET.to_string()
}

fn default_leftover() -> Leftover {
    Leftover::Block
}

/// The reasons a configuration blocks the upgrade, with what to do.
pub fn blockers(s: &ClusterSettings, target_minor: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if s.unmanaged_cni == Some(true) && target_minor <= 1 {
        out.push((
            "unmanaged_cni = true: MKE 4k 4.1.x cannot upgrade a cluster with an unmanaged CNI".to_string(),
            "follow Mirantis' 'upgrade with an unmanaged CNI' procedure, or target a release that supports it".to_string(),
        ));
    }
    if s.calico_ebpf_enabled == Some(true) {
        out.push((
            "calico_ebpf_enabled = true: upgrades with Calico eBPF fail (`failed to wait for pods … context deadline exceeded`)".to_string(),
            "disable Calico eBPF in the MKE 3 configuration before the upgrade".to_string(),
        ));
    }
    if s.kube_proxy_mode
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("ipvs"))
    {
        out.push((
            "kube_proxy_mode = \"ipvs\": upgrades with IPVS fail (`failed to wait for pods … context deadline exceeded`)".to_string(),
            "set kube_proxy_mode = \"iptables\" in the MKE 3 configuration before the upgrade".to_string(),
        ));
    }
    out
}

impl Module for MkeConfig {
    const NAME: &'static str = "mke_config";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "MKE 3 config uses nothing the upgrade cannot carry (unmanaged CNI, eBPF, IPVS); no leftover ~/.mke/mke.kubeconf.";
    const EXAMPLE: &'static str = "- id: check-cni\n  mke_config:\n    target: \"{{ target }}\"";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let target = version_param("target", &self.target)?;
        let doc = cx
            .mke()?
            .config_toml()
            .await
            .map_err(|e| TaskError::new(e.to_string()))?;
        let settings = ClusterSettings::read(&doc).map_err(|e| {
            TaskError::new(format!(
                "the MKE configuration (GET /api/ucp/config-toml) is not valid TOML: {e}"
            ))
        })?;
        let mut output = Facts::new();
        output.insert("unmanaged_cni".into(), settings.unmanaged_cni.into());
        output.insert(
            "calico_ebpf_enabled".into(),
            settings.calico_ebpf_enabled.into(),
        );
        output.insert(
            "kube_proxy_mode".into(),
            settings.kube_proxy_mode.clone().into(),
        );
        output.insert("calico_kdd".into(), settings.calico_kdd.into());
        let mut problems = blockers(&settings, target.minor);

        let mut warning = None;
        if self.leftover_kubeconf != Leftover::Skip {
            let path = self
                .kubeconf
                .clone()
                .or_else(|| cx.conn.home.as_ref().map(|h| h.join(".mke/mke.kubeconf")));
            if let Some(path) = path.filter(|p| p.exists()) {
                let found = format!(
                    "{} exists: `mkectl upgrade` fails when it finds a kubeconfig from an earlier attempt",
                    path.display()
                );
                let fix = format!(
                    "back it up and remove it on the machine that runs mkectl: mv {0} {0}.bak",
                    path.display()
                );
                output.insert(
                    "leftover_kubeconf".into(),
                    path.display().to_string().into(),
                );
                match self.leftover_kubeconf {
                    Leftover::Block => problems.push((found, fix)),
                    _ => warning = Some(format!("warning: {found} ({fix})")),
                }
            }
        }
        if problems.is_empty() {
            let mut message = format!(
                "configuration is compatible with MKE 4k {target} (managed Calico, no eBPF, no IPVS)"
            );
            if let Some(w) = warning {
                message.push_str("; ");
                message.push_str(&w);
            }
            return Ok(Check::InSync { message, output });
        }
        let (reasons, remedies): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
        Ok(Check::Blocked {
            reason: reasons.join("; "),
            remedy: remedies.join("; "),
            output,
        })
    }
}
