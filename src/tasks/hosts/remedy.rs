//! What a person can do about a host that failed, per cause, with the
//! concrete command; and the findings a check collects.

use crate::inventory::Host;
use crate::ssh::{Cause, SshSettings};

/// At most this many hosts or nodes are named in one message.
const MAX_LISTED: usize = 10;

/// Problems found, each with what to do about it.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) problems: Vec<String>,
    pub(super) remedies: Vec<String>,
}

impl Findings {
    pub(super) fn add(&mut self, problem: String, remedy: &str) {
        self.problems.push(problem);
        self.remedies.push(remedy.to_string());
    }
}

/// `a, b, c and 4 more`.
pub(super) fn listed(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    text
}

/// What a person can do about hosts failing for `cause`; `host` is the
/// first of them, for a concrete command.
pub(super) fn remedy_for(cause: Cause, host: &Host, settings: &SshSettings) -> String {
    let (addr, port, user) = (&host.address, host.port, &host.user);
    let key = host
        .key_path
        .as_ref()
        .map(|k| k.display().to_string())
        .unwrap_or_else(|| "KEY".to_string());
    match cause {
        Cause::Dns => format!(
            "dns: make {addr} resolvable from this machine (DNS or /etc/hosts), or write its IP address in hosts.yaml"
        ),
        Cause::Refused => {
            format!("refused: start sshd on {addr}, or fix `port` ({port}) in hosts.yaml")
        }
        Cause::Timeout => format!(
            "timeout: check routes, firewalls and security groups for TCP port {port} of {addr} from this machine, and that the host is up; raise --ssh-timeout for slow links"
        ),
        Cause::Auth => format!(
            "auth: check `user` ({user}) and `keyPath` in hosts.yaml; the public key must be in ~{user}/.ssh/authorized_keys on the host (ssh-copy-id -i {key} -p {port} {user}@{addr})"
        ),
        Cause::HostKey => {
            let known = settings
                .known_hosts
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.ssh/known_hosts".to_string());
            format!(
                "host key: compare the host's key fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it, then `ssh-keyscan -p {port} {addr} >> {known}`, or run with --accept-new-host-keys; a changed key needs investigating before `ssh-keygen -R '[{addr}]:{port}' -f {known}`"
            )
        }
        Cause::Sudo => format!(
            "sudo: give {user} passwordless sudo on the host (a NOPASSWD rule in /etc/sudoers.d), as mkectl needs root; or set `sudo: warn` on this step to only warn"
        ),
        Cause::Command => {
            format!("command: log in as {user}@{addr} and check the login shell runs `true`")
        }
        Cause::Other => {
            format!("error: try `ssh -v -p {port} -i {key} {user}@{addr} true` to see what fails")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::SshSettings;

    use super::super::test_host as host;

    #[test]
    fn lists_are_capped() {
        let items: Vec<String> = (0..13).map(|i| i.to_string()).collect();
        assert_eq!(listed(&items), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 3 more");
        assert_eq!(listed(&items[..2]), "0, 1");
    }

    #[test]
    fn remedies_name_the_concrete_command() {
        let mut h = host("10.0.0.5");
        h.port = 2222;
        let settings = SshSettings {
            known_hosts: Some("/tmp/kh".into()),
            ..SshSettings::default()
        };
        let r = remedy_for(Cause::HostKey, &h, &settings);
        assert!(r.contains("ssh-keyscan -p 2222 10.0.0.5 >> /tmp/kh"), "{r}");
        assert!(r.contains("--accept-new-host-keys"), "{r}");
        let r = remedy_for(Cause::Sudo, &h, &settings);
        assert!(
            r.contains("passwordless sudo") && r.contains("sudo: warn"),
            "{r}"
        );
    }
}
