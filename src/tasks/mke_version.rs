//! `mke_version`: is the MKE 3 version eligible for the target MKE 4k line?
//! The version comes from `GET /info`, then `GET /version`, then SSH
//! `docker inspect ucp-proxy` on a manager; the output says which.

use schemars::JsonSchema;
use semver::Version;
use serde::Deserialize;

use super::{Check, Facts, Module, StepContext, TaskError};
use crate::mke::MkeError;

/// The MKE 4k target the standard playbook prepares for.
pub const DEFAULT_TARGET: &str = "4.1.5";

/// The eligibility table (facts §A.2): which MKE 3 versions can upgrade to a
/// target line. `Ok(())` when eligible; `Err(path)` names the path to take.
pub fn eligibility(source: &Version, target: &Version) -> Result<(), String> {
    if source.major != 3 {
        return Err(format!("{source} is not an MKE 3 version"));
    }
    match (target.major, target.minor) {
        (4, 1) => match source.minor {
            7 if source.patch >= 15 => Ok(()),
            8 => Ok(()),
            7 => Err(format!(
                "upgrade MKE 3 to 3.7.15 or later (Mirantis recommends the latest 3.8.x patch) before upgrading to MKE 4k {target}"
            )),
            9 => Err(format!(
                "MKE {source} upgrades to MKE 4k 4.2 or later only: choose a 4.2+ target instead of {target}"
            )),
            m if m < 7 => Err(format!(
                "upgrade MKE 3 to the latest 3.8.x patch (at least 3.7.15) before upgrading to MKE 4k {target}"
            )),
            _ => Err(format!(
                "MKE {source} is newer than the 4.1 line supports: choose a 4.2+ target"
            )),
        },
        (4, m) if m >= 2 => match source.minor {
            9 => Ok(()),
            m if m < 9 => Err("from MKE 4k 4.2 on, only MKE 3.9.x can be upgraded: upgrade MKE 3 to 3.9.x first, or target MKE 4k 4.1.5 (from 3.7.15+ or 3.8.x)".to_string()),
            _ => Err(format!(
                "MKE {source} is not a known upgrade source for {target}"
            )),
        },
        _ => Err(format!(
            "target {target} is not an MKE 4k line this tool knows (4.1.x, or 4.2 and later)"
        )),
    }
}

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

fn default_target() -> String {
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
        match eligibility(&version, &target) {
            Ok(()) => {
                output.insert("eligible".into(), true.into());
                Ok(Check::InSync {
                    message: format!(
                        "MKE {version} (from {source}) can be upgraded to MKE 4k {target}"
                    ),
                    output,
                })
            }
            Err(path) => {
                output.insert("eligible".into(), false.into());
                Ok(Check::Blocked {
                    reason: format!(
                        "MKE {version} (from {source}) cannot be upgraded to MKE 4k {target}"
                    ),
                    remedy: path,
                    output,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn the_eligibility_table() {
        let t41 = v("4.1.5");
        let t42 = v("4.2.1");
        assert!(eligibility(&v("3.7.15"), &t41).is_ok());
        assert!(eligibility(&v("3.7.20"), &t41).is_ok());
        assert!(eligibility(&v("3.8.0"), &t41).is_ok());
        assert!(eligibility(&v("3.8.10"), &t41).is_ok());
        assert!(
            eligibility(&v("3.7.14"), &t41)
                .unwrap_err()
                .contains("3.7.15")
        );
        assert!(eligibility(&v("3.6.2"), &t41).is_err());
        assert!(eligibility(&v("3.9.0"), &t41).unwrap_err().contains("4.2"));
        assert!(eligibility(&v("3.9.1"), &t42).is_ok());
        assert!(
            eligibility(&v("3.8.10"), &t42)
                .unwrap_err()
                .contains("3.9.x")
        );
        assert!(eligibility(&v("3.7.15"), &v("4.3.0")).is_err());
        assert!(eligibility(&v("3.8.1"), &v("4.0.1")).is_err());
        assert!(eligibility(&v("4.1.0"), &t41).is_err());
    }

    #[test]
    fn versions_with_v_and_prereleases() {
        assert_eq!(parse_version("v4.2.0-rc.8").unwrap().pre.as_str(), "rc.8");
        assert!(parse_version("4.1").is_none());
    }
}
