//! `mke_config`: the MKE 3 networking the upgrade cannot carry (an
//! unmanaged CNI for targets before 4.1.1, Calico eBPF, a kube-proxy mode
//! other than iptables), and no leftover `~/.mke/mke.kubeconf` on the
//! machine that runs mkectl. The standard playbook's `check-cni` gate before
//! the KDD migration; `mke_compat` classifies every other setting with the
//! same catalog.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use semver::Version;

use super::mke_version::version_param;
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
    /// The MKE 4k release to upgrade to (an unmanaged CNI blocks targets before 4.1.1).
    #[serde(default = "super::mke_version::default_target")]
    pub target: String,
    /// A leftover `~/.mke/mke.kubeconf` on the machine that runs mkectl: block, warn or skip.
    #[serde(default = "default_leftover")]
    pub leftover_kubeconf: Leftover,
    /// The kubeconfig mkectl writes; default `~/.mke/mke.kubeconf`.
    #[serde(default)]
    pub kubeconf: Option<PathBuf>,
}

fn default_leftover() -> Leftover {
    Leftover::Block
}

/// The networking keys this step checks (every other setting is
/// `mke_compat`'s); their rules come from the same catalog.
const NETWORK_KEYS: &[&str] = &[
    "cluster_config.unmanaged_cni",
    "cluster_config.calico_ebpf_enabled",
    "cluster_config.kube_proxy_mode",
];

/// The reasons a configuration blocks the upgrade, with what to do: the
/// catalog's blockers among the networking keys, for this target (an
/// unmanaged CNI blocks only targets before 4.1.1; any kube-proxy mode but
/// iptables blocks).
pub fn blockers(doc: &str, target: &Version) -> Result<Vec<(String, String)>, String> {
    use super::mke_compat::classify::{Class, Policy, classify, flatten, show};
    let catalog = crate::mke::catalog::Catalog::builtin()?;
    let settings: Vec<_> = flatten(doc)?
        .into_iter()
        .filter(|s| NETWORK_KEYS.contains(&s.key.as_str()))
        .collect();
    let policy = Policy {
        target: target.clone(),
        fixed_later: false,
    };
    Ok(classify(catalog, &settings, &policy)
        .into_iter()
        .filter(|r| r.class == Class::Blocker)
        .map(|r| {
            let key = r.key.trim_start_matches("cluster_config.");
            (
                format!(
                    "{key} = {}: {}",
                    show(&r.value, r.secret),
                    r.note.as_deref().unwrap_or("the upgrade cannot carry it")
                ),
                r.remedy
                    .unwrap_or_else(|| format!("change {key} in the MKE 3 configuration")),
            )
        })
        .collect())
}

impl Module for MkeConfig {
    const NAME: &'static str = "mke_config";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "MKE 3 networking the upgrade cannot carry (unmanaged CNI before 4.1.1, eBPF, IPVS); no leftover ~/.mke/mke.kubeconf.";
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
        let mut problems = blockers(&doc, &target).map_err(TaskError::new)?;

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
