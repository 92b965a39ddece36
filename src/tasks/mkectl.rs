//! `mkectl`: a current `mkectl` is installed (`mkectl version` prints
//! `Version: vX.Y.Z`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::mke_version::{parse_version, version_param};
use super::{Check, Facts, Module, StepContext, TaskError};

/// The newest GA mkectl this tool knows (MKE 4k release matrix, `isLatest`).
pub const NEWEST_GA: &str = "4.1.5";

const INSTALL: &str = "install mkectl for your target: sudo MKECTL_VERSION=v{V} /bin/bash -c \"$(curl -fsSL https://raw.githubusercontent.com/MirantisContainers/mke-release/refs/heads/main/install.sh)\" (installs to /usr/local/bin), or: brew tap mirantis/tap && brew install mkectl";

/// Check that `mkectl` is installed and recent enough.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mkectl {
    /// The mkectl program; by default it is looked up on PATH.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The lowest acceptable version; by default the newest GA release this tool knows (4.1.5). Use your target.
    #[serde(default = "newest")]
    pub min_version: String,
}

fn newest() -> String {
    NEWEST_GA.to_string()
}

/// Finds a program in `extra` then PATH.
pub fn find_program(name: &str, extra: Option<&Path>) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    p.is_file()
}

/// The version in `mkectl version` output (`Version: v4.1.5`).
pub fn parse_output(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Version:")?;
        Some(rest.trim().trim_start_matches('v').to_string())
    })
}

impl Module for Mkectl {
    const NAME: &'static str = "mkectl";
    const SUMMARY: &'static str =
        "mkectl is installed and at least `min_version` (mkectl version prints `Version: vX.Y.Z`).";
    const EXAMPLE: &'static str =
        "- id: check-mkectl\n  mkectl:\n    min_version: \"{{ target }}\"";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let min = version_param("min_version", &self.min_version)?;
        let install = INSTALL.replace("{V}", &min.to_string());
        let program = match &self.path {
            Some(p) => Some(p.clone()).filter(|p| is_executable(p)),
            None => find_program("mkectl", cx.conn.extra_path.as_deref()),
        };
        let Some(program) = program else {
            let reason = match &self.path {
                Some(p) => format!("mkectl not found at {} (or not executable)", p.display()),
                None => "mkectl is not on PATH".to_string(),
            };
            return Ok(Check::Blocked {
                reason,
                remedy: install,
                output: Facts::new(),
            });
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.arg("version")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        crate::util::child::die_with_parent(&mut cmd);
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .map_err(|_| {
                TaskError::new(format!(
                    "`{} version` did not answer within 30 s",
                    program.display()
                ))
            })?
            .map_err(|e| TaskError::new(format!("cannot run {}: {e}", program.display())))?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut output = Facts::new();
        output.insert("path".into(), program.display().to_string().into());
        let Some(found) = parse_output(&text) else {
            return Ok(Check::Blocked {
                reason: format!(
                    "`{} version` printed no `Version: vX.Y.Z` line",
                    program.display()
                ),
                remedy: install,
                output,
            });
        };
        output.insert("version".into(), found.clone().into());
        match parse_version(&found) {
            Some(v) if v >= min => Ok(Check::InSync {
                message: format!("mkectl {found} at {} (at least {min})", program.display()),
                output,
            }),
            Some(_) => Ok(Check::Blocked {
                reason: format!(
                    "mkectl {found} at {} is older than {min}",
                    program.display()
                ),
                remedy: install,
                output,
            }),
            None => Ok(Check::Blocked {
                reason: format!("mkectl reports version `{found}`, which is not a version"),
                remedy: install,
                output,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines() {
        assert_eq!(
            parse_output("Version: v4.1.5\nCommit: abc\n").as_deref(),
            Some("4.1.5")
        );
        assert_eq!(
            parse_output("  Version:   v4.2.0-rc.8").as_deref(),
            Some("4.2.0-rc.8")
        );
        assert_eq!(parse_output("mkectl 4.1.5"), None);
        assert!(parse_version("4.2.0-rc.8").unwrap() < parse_version("4.2.0").unwrap());
    }
}
