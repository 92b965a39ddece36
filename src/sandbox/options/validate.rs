//! Checking the sandbox's knobs: every error names the knob and the values
//! it accepts.

use super::{MAX_NODES, SandboxOptions};
use crate::sandbox::SandboxError;

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
        in_nodes("windows_node", &self.windows_node, self.nodes, "node")?;
        in_nodes("gpu_node", &self.gpu_node, self.nodes, "node")?;
        if !is_version(&self.engine_version) {
            return bad(format!(
                "engine_version = {:?}: expected a version like 25.0.12",
                self.engine_version
            ));
        }
        for spec in &self.node_engine_version {
            let ok = spec.split_once('=').is_some_and(|(n, v)| {
                n.trim()
                    .parse::<u32>()
                    .is_ok_and(|n| n >= 1 && n <= self.nodes)
                    && is_version(v.trim())
            });
            if !ok {
                return bad(format!(
                    "node_engine_version = {spec:?}: write N=X.Y.Z with N from 1 to {}",
                    self.nodes
                ));
            }
        }
        for (name, list) in [("swarm_service", &self.swarm_service), ("user", &self.user)] {
            if let Some(v) = list.iter().find(|v| {
                v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            }) {
                return bad(format!(
                    "{name} = {v:?}: use letters, digits, '.', '_' or '-'"
                ));
            }
        }
        if let Some(u) = self.user.iter().find(|u| **u == self.username) {
            return bad(format!(
                "user = {u:?}: that is the admin (username); name another user"
            ));
        }
        for spec in &self.config_set {
            crate::sandbox::config::parse_config_set(spec)
                .map_err(|e| SandboxError::Options(format!("config_set = {spec:?}: {e}")))?;
        }
        if self.lb_listener_port == 0 || [6443, 9443].contains(&self.lb_listener_port) {
            return bad(format!(
                "lb_listener_port = {}: choose a port other than 0, 6443 and 9443",
                self.lb_listener_port
            ));
        }
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
        self.validate_services()?;
        self.validate_nodes()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_knob() {
        let cases = [
            (
                SandboxOptions {
                    managers: 4,
                    ..Default::default()
                },
                "managers",
            ),
            (
                SandboxOptions {
                    down_node: vec![9],
                    ..Default::default()
                },
                "down_node",
            ),
            (
                SandboxOptions {
                    mke_version: "3.8".into(),
                    ..Default::default()
                },
                "mke_version",
            ),
            (
                SandboxOptions {
                    backup_file: "backup.tar".into(),
                    ..Default::default()
                },
                "backup_file",
            ),
            (
                SandboxOptions {
                    kdd_seconds_per_node: f64::NAN,
                    ..Default::default()
                },
                "kdd_seconds_per_node",
            ),
        ];
        for (opts, knob) in cases {
            let err = opts.validate().unwrap_err().to_string();
            assert!(err.contains(knob), "{knob}: {err}");
        }
    }
}
