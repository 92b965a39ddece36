//! `mkectl check mke3 --mke3-config-path FILE`: mkectl's own compatibility
//! verdict on the saved configuration, compared with ours.
//!
//! The configuration goes to a 0600 file in the state directory, is read by
//! the local mkectl only, and is removed at once. mkectl prints the
//! configuration back, sorted by status (values included, secrets too), so
//! its output is parsed for key names only and never shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::classify::{Class, Row, flatten};

/// mkectl's verdict on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    NotSupported,
    Skipped,
}

/// Reads mkectl's sorted-configuration report: sections headed
/// `# Not supported #`, `# Supported #` and `# Disabled … (skipped) #`, each
/// a TOML text. Sections that are not TOML (the human-readable report that
/// follows) are passed over. `None` when no section was recognised.
pub fn parse_report(text: &str) -> Option<BTreeMap<String, Verdict>> {
    let mut sections: Vec<(Verdict, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let header = t.starts_with('#') && t.ends_with('#') && t.len() > 2;
        if header {
            let words = t.trim_matches('#').trim().to_ascii_lowercase();
            let verdict = if words.starts_with("not supported") {
                Some(Verdict::NotSupported)
            } else if words.starts_with("supported") {
                Some(Verdict::Supported)
            } else if words.contains("skipped") || words.starts_with("disabled") {
                Some(Verdict::Skipped)
            } else {
                None
            };
            if let Some(v) = verdict {
                sections.push((v, String::new()));
            }
            continue;
        }
        if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let mut out = BTreeMap::new();
    let mut understood = false;
    for (verdict, body) in sections {
        if let Ok(settings) = flatten(&body) {
            understood = true;
            for s in settings {
                out.insert(s.key, verdict);
            }
        }
    }
    understood.then_some(out)
}

/// Where mkectl's verdict and ours part.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub key: String,
    pub mkeprep: Class,
    pub mkectl: Option<Verdict>,
}

/// Keys that one side flags (blocker, not supported, unknown) and the other
/// does not. mkectl's "not supported" for a key that holds its MKE 3 default
/// is not a difference of substance (mkectl lists such keys; mkeprep calls
/// them skipped): those are counted apart, in `default_listed`.
pub fn compare(
    rows: &[Row<'_>],
    mkectl: &BTreeMap<String, Verdict>,
) -> (Vec<Difference>, Vec<String>) {
    let flagged = |c: Class| matches!(c, Class::Blocker | Class::NotSupported | Class::Unknown);
    let mut diffs = Vec::new();
    let mut default_listed = Vec::new();
    for r in rows {
        let theirs = mkectl.get(&r.key).copied();
        let they_flag = theirs == Some(Verdict::NotSupported);
        let we_flag = flagged(r.class) || r.class == Class::Pending;
        if they_flag == we_flag {
            continue;
        }
        if they_flag && r.class == Class::Skipped {
            default_listed.push(r.key.clone());
            continue;
        }
        diffs.push(Difference {
            key: r.key.clone(),
            mkeprep: r.class,
            mkectl: theirs,
        });
    }
    (diffs, default_listed)
}

/// What running mkectl gave.
#[derive(Debug)]
pub enum Outcome {
    Report(BTreeMap<String, Verdict>),
    /// It ran but printed nothing recognisable.
    Unrecognised,
    Failed(String),
}

/// Writes `config` to a private temporary file in `state_dir`, runs
/// `PROGRAM check mke3 --mke3-config-path FILE`, removes the file.
pub async fn run(program: &Path, state_dir: &Path, config: &str) -> Outcome {
    let file = match TempConfig::write(state_dir, config) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(format!("cannot save the configuration for mkectl: {e}")),
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(["check", "mke3", "--mke3-config-path"])
        .arg(&file.0)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    crate::util::child::die_with_parent(&mut cmd);
    let out = match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Err(_) => return Outcome::Failed("`mkectl check mke3` did not finish within 120 s".into()),
        Ok(Err(e)) => return Outcome::Failed(format!("cannot run {}: {e}", program.display())),
        Ok(Ok(out)) => out,
    };
    drop(file);
    if !out.status.success() {
        return Outcome::Failed(format!(
            "`{} check mke3` exited with {}",
            program.display(),
            out.status
                .code()
                .map_or("a signal".into(), |c| format!("status {c}"))
        ));
    }
    match parse_report(&String::from_utf8_lossy(&out.stdout)) {
        Some(map) => Outcome::Report(map),
        None => Outcome::Unrecognised,
    }
}

/// The saved configuration; removed when dropped.
struct TempConfig(PathBuf);

impl TempConfig {
    fn write(dir: &Path, text: &str) -> std::io::Result<TempConfig> {
        use std::io::Write;
        crate::util::fsx::ensure_dir(dir)?;
        let path = dir.join(format!("mke3-config-check-{}.toml", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&path)?;
        let guard = TempConfig(path);
        f.write_all(text.as_bytes())?;
        Ok(guard)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the documented sample (COMPAT), shortened.
    const REPORT: &str = r#"###################################
# MKE3->MKE4 Compatibility Checks #
###################################


#################
# Not supported #
#################

[auth]
  default_new_user_role = "restrictedcontrol"
  [auth.samlProxy.credentials.basic]
    password = "verysecret"

[cluster_config]
  calico_kdd = false
  controller_port = 443

#############
# Supported #
#############

[cluster_config]
  kube_proxy_mode = "iptables"

######################
# Disabled (skipped) #
######################

[cluster_config]
  calico_ebpf_enabled = false

#################
# Not supported #
#################

User workload defaults
auth
  Default new user role
"#;

    #[test]
    fn the_sorted_report_is_read_and_the_human_one_passed_over() {
        let m = parse_report(REPORT).unwrap();
        assert_eq!(m["cluster_config.calico_kdd"], Verdict::NotSupported);
        assert_eq!(m["cluster_config.kube_proxy_mode"], Verdict::Supported);
        assert_eq!(m["cluster_config.calico_ebpf_enabled"], Verdict::Skipped);
        assert_eq!(
            m["auth.samlProxy.credentials.basic.password"],
            Verdict::NotSupported
        );
        assert!(parse_report("Version: v4.1.5\n").is_none());
    }

    #[test]
    fn the_temporary_file_is_private_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path;
        {
            let f = TempConfig::write(dir.path(), "x = 1\n").unwrap();
            path = f.0.clone();
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!path.exists());
    }
}
