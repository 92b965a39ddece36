//! `mke_version`: is the MKE 3 version eligible for the target MKE 4k line?
//! The version comes from `GET /info`, then `GET /version`, then SSH
//! `docker inspect ucp-proxy` on a manager; the output says which.

use schemars::JsonSchema;
use semver::Version;
use serde::Deserialize;

use super::{Check, Facts, Module, StepContext, TaskError};
use crate::mke::MkeError;

mod rules;

pub use rules::{MCR_FOR_39, NodeEngine, Verdict, verdict};

/// The MKE 4k target the standard playbook prepares for.
pub const DEFAULT_TARGET: &str = "4.1.5";

/// Parses a version parameter, or fails naming it (`target`, `min_version`).
pub fn version_param(name: &str, text: &str) -> Result<Version, TaskError> {
    parse_version(text)
        .ok_or_else(|| TaskError::new(format!("{name} `{text}` is not a version such as 4.1.5")))
}

/// Parses `4.1.5`, `v4.1.5` or `4.2.0-rc.8`.
pub fn parse_version(text: &str) -> Option<Version> {
    Version::parse(text.trim().trim_start_matches('v')).ok()
}

/// Check that the MKE 3 version can be upgraded to the target MKE 4k release.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkeVersionCheck {
    /// The MKE 4k release to upgrade to, such as `4.1.5` or `4.2.1`.
    #[serde(default = "default_target")]
    pub target: String,
    /// When the API does not say, read the `ucp-proxy` image tag over SSH on an inventory host.
    #[serde(default = "yes")]
    pub ssh_fallback: bool,
}

/// The `target` parameter's default, for every module that has one.
pub fn default_target() -> String {
    DEFAULT_TARGET.to_string()
}

fn yes() -> bool {
    true
}

impl MkeVersionCheck {
    async fn read_version(&self, cx: &StepContext<'_>) -> Result<(Version, String), TaskError> {
        let api_error = match cx.mke()?.mke_version().await {
            Ok(v) => return Ok((v.version, v.source.to_string())),
            Err(e @ MkeError::VersionNotFound { .. }) => e.to_string(),
            Err(e) => return Err(TaskError::new(e.to_string())),
        };
        if !self.ssh_fallback {
            return Err(TaskError::new(api_error).remedy("allow `ssh_fallback: true` with an inventory, or check that MKE_HOST is an MKE 3 manager"));
        }
        let inv = cx.inventory().map_err(|e| {
            TaskError::new(format!(
                "{api_error}; and no inventory for the SSH fallback ({})",
                e.message
            ))
        })?;
        let cmd = "docker inspect --format '{{.Config.Image}}' ucp-proxy";
        let mut tried = Vec::new();
        for host in &inv.hosts {
            match crate::ssh::exec(host, &cx.conn.ssh, cmd).await {
                Ok(out) if out.status == 0 => {
                    let image = out.stdout.trim();
                    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
                    match parse_version(tag) {
                        Some(v) => {
                            return Ok((
                                v,
                                format!(
                                    "ssh {} `docker inspect ucp-proxy` image {image}",
                                    host.address
                                ),
                            ));
                        }
                        None => tried.push(format!(
                            "{}: image `{image}` has no version tag",
                            host.address
                        )),
                    }
                }
                Ok(out) => tried.push(format!("{}: {}", host.address, out.stderr.trim())),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(TaskError::new(format!(
            "{api_error}; SSH fallback found no ucp-proxy: {}",
            tried.join("; ")
        )))
    }
}

impl Module for MkeVersionCheck {
    const NAME: &'static str = "mke_version";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "MKE 3 version is eligible for the target MKE 4k release (reads /info, /version, or ucp-proxy over SSH).";
    const EXAMPLE: &'static str =
        "- id: verify-version\n  mke_version:\n    target: \"{{ target }}\"\n  register: mke";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let target = version_param("target", &self.target)?;
        let (version, source) = self.read_version(cx).await?;
        let mut output = Facts::new();
        output.insert("version".into(), version.to_string().into());
        output.insert("source".into(), source.clone().into());
        output.insert("target".into(), target.to_string().into());
        let mut metallb = false;
        let mut nodes = Vec::new();
        if target.major == 4 && target.minor >= 2 && version.major == 3 && version.minor < 9 {
            // The path to 3.9 depends on MetalLB and on each node's MCR.
            let mke = cx.mke()?;
            let doc = mke
                .config_toml()
                .await
                .map_err(|e| TaskError::new(e.to_string()))?;
            metallb = super::mke_compat::classify::flatten(&doc)
                .ok()
                .and_then(|s| {
                    s.into_iter()
                        .find(|s| s.key == "cluster_config.metallb_config.enabled")
                })
                .is_some_and(|s| s.value == serde_json::Value::Bool(true));
            nodes = mke
                .nodes()
                .await
                .map_err(|e| TaskError::new(e.to_string()))?
                .into_iter()
                .map(|n| NodeEngine {
                    hostname: n.hostname,
                    engine: n.engine_version,
                })
                .collect();
            output.insert(
                "engines".into(),
                nodes
                    .iter()
                    .map(|n| (n.hostname.clone(), n.engine.clone().into()))
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
            );
            output.insert("metallb".into(), metallb.into());
        }
        let v = verdict(&version, &target, metallb, &nodes);
        output.insert("path".into(), serde_json::json!(v.path));
        match v.refusal {
            None => {
                output.insert("eligible".into(), true.into());
                Ok(Check::InSync {
                    message: format!(
                        "MKE {version} (from {source}) can be upgraded to MKE {target}"
                    ),
                    output,
                })
            }
            Some(why) => {
                output.insert("eligible".into(), false.into());
                let steps: Vec<String> = v
                    .path
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("{}. {s}", i + 1))
                    .collect();
                Ok(Check::Blocked {
                    reason: format!("MKE {version} (from {source}): {why}"),
                    remedy: steps.join(" "),
                    output,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_with_v_and_prereleases() {
        assert_eq!(parse_version("v4.2.0-rc.8").unwrap().pre.as_str(), "rc.8");
        assert!(parse_version("4.1").is_none());
    }
}
