//! What the sandbox writes for a client besides keys and the CA: the mkectl
//! `hosts.yaml` inventory and a leftover kubeconfig (the stand-in `mkectl` is
//! in `mkectl`).

use std::path::Path;

use super::SandboxNode;
use crate::util::text::yaml_quote;

pub(super) fn inventory_yaml(dir: &Path, nodes: &[SandboxNode], user: &str, key: &Path) -> String {
    let mut out = format!(
        "# mkectl hosts.yaml of the mkeprep sandbox in {}\n# (rewritten at every start; ports are kept when they are free)\nhosts:\n",
        dir.display()
    );
    for n in nodes {
        let role = if n.manager { "manager" } else { "worker" };
        out.push_str(&format!(
            "  - address: {}  # {} ({role})\n    port: {}\n    user: {}\n    keyPath: {}\n",
            n.address,
            n.hostname,
            n.ssh_port,
            yaml_quote(user),
            yaml_quote(&key.display().to_string()),
        ));
    }
    out
}

pub(super) const LEFTOVER_KUBECONF: &str = "# left over by an earlier mkectl run (mkeprep sandbox)
apiVersion: v1
kind: Config
clusters: []
contexts: []
users: []
";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn inventory_quotes_paths() {
        let nodes = vec![SandboxNode {
            number: 1,
            manager: true,
            hostname: "m".into(),
            address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)),
            ssh_port: 4000,
        }];
        let y = inventory_yaml(Path::new("/d"), &nodes, "ubuntu", Path::new("/it's/key"));
        assert!(y.contains("keyPath: '/it''s/key'"), "{y}");
        assert!(
            y.contains("  - address: 127.0.0.11  # m (manager)\n    port: 4000\n"),
            "{y}"
        );
    }
}
