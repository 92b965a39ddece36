//! `mkeprep inventory --from-cluster`: a mkectl `hosts.yaml` for every node
//! of `GET /nodes`, managers first, each entry commented with the node's
//! hostname and role (SPEC §11). Credentials as for `run`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indexmap::IndexMap;

use super::print_error;
use crate::mke::{Node, NodeRole};
use crate::model::exit;
use crate::util::text::{plural, yaml_quote};

pub const AFTER_HELP: &str = "\
Credentials come from the environment as for `run`: MKE_HOST, MKE_USERNAME,
MKE_PASSWORD (or --password-file / --password-stdin), MKEPREP_CA_CERT.

Examples:
  mkeprep inventory --from-cluster --user ubuntu --key ~/.ssh/mke.pem > hosts.yaml
  mkeprep inventory --from-cluster --sandbox          # the sandbox's nodes";

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Read the nodes from the MKE API (GET /nodes); the one source so far.
    #[arg(long, required = true)]
    pub from_cluster: bool,
    /// SSH user of every host [default: root, k0sctl's default; the sandbox's user with --sandbox].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// SSH private key of every host (keyPath); without it, the SSH agent.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// SSH port of every host [default: 22; each node's own with --sandbox].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    #[command(flatten)]
    pub mke: super::MkeArgs,
    /// Ask the embedded simulated cluster (state in --state-dir/sandbox).
    #[arg(long)]
    pub sandbox: bool,
    /// Where the sandbox's state lives (with --sandbox).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".mkeprep",
        env = "MKEPREP_STATE_DIR"
    )]
    pub state_dir: PathBuf,
}

pub fn run(a: InventoryArgs) -> i32 {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            print_error(&e);
            return exit::FAILED;
        }
    };
    rt.block_on(run_async(a))
}

/// Per host: SSH port and user when the sandbox says so.
type SshOf = HashMap<String, u16>;

async fn run_async(a: InventoryArgs) -> i32 {
    let mut creds = match a.mke.credentials() {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return exit::USAGE;
        }
    };
    let mut ca_cert = a.mke.ca_cert.clone();
    let mut user = a.user.clone();
    let mut key = a.key.clone();
    let mut ports: SshOf = HashMap::new();
    let mut sandbox = None;
    if a.sandbox {
        if let Err(e) = crate::util::fsx::ensure_dir(&a.state_dir) {
            print_error(&format!("cannot create {}: {e}", a.state_dir.display()));
            return exit::FAILED;
        }
        let opts = crate::sandbox::SandboxOptions::default();
        let sb = match crate::sandbox::start(&opts, &a.state_dir.join("sandbox")).await {
            Ok(sb) => sb,
            Err(e) => {
                print_error(&format!("cannot start the sandbox: {e}"));
                return exit::FAILED;
            }
        };
        creds.host = Some(sb.mke_host.clone());
        creds.username = Some(sb.username.clone());
        creds.password = Some(sb.password.clone());
        ca_cert = Some(sb.ca_cert.clone());
        user.get_or_insert_with(|| opts.ssh_user.clone());
        key.get_or_insert_with(|| sb.ssh_key.clone());
        ports = sb
            .nodes
            .iter()
            .map(|n| (n.address.to_string(), n.ssh_port))
            .collect();
        sandbox = Some(sb);
    }
    let code = list(&a, creds, ca_cert, user, key, &ports).await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    code
}

async fn list(
    a: &InventoryArgs,
    creds: super::credentials::Credentials,
    ca_cert: Option<PathBuf>,
    user: Option<String>,
    key: Option<PathBuf>,
    ports: &SshOf,
) -> i32 {
    let client = match super::inputs::mke_client(
        &creds,
        &IndexMap::new(),
        ca_cert,
        a.mke.insecure,
        a.sandbox,
        Duration::from_secs(a.mke.api_timeout),
    ) {
        Ok(Ok(c)) => c,
        Ok(Err(why)) => {
            print_error(&format!(
                "{why}: export MKE_HOST, MKE_USERNAME and MKE_PASSWORD (or use --password-file), or try --sandbox"
            ));
            return exit::USAGE;
        }
        Err(e) => {
            print_error(&e);
            return exit::USAGE;
        }
    };
    let nodes = match client.nodes().await {
        Ok(n) => n,
        Err(e) => {
            print_error(&e.to_string());
            return exit::FAILED;
        }
    };
    let origin = client.target().to_string();
    let text = hosts_yaml(
        &origin,
        &nodes,
        user.as_deref().unwrap_or("root"),
        key.as_ref(),
        a.port,
        ports,
    );
    print!("{text}");
    exit::OK
}

/// The inventory text: managers first (the leader first among them), then
/// workers, each in `GET /nodes` order, with a comment per node.
pub fn hosts_yaml(
    origin: &str,
    nodes: &[Node],
    user: &str,
    key: Option<&PathBuf>,
    port: Option<u16>,
    ports: &SshOf,
) -> String {
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by_key(|n| match n.role {
        NodeRole::Manager if n.leader => 0,
        NodeRole::Manager => 1,
        _ => 2,
    });
    let managers = nodes.iter().filter(|n| n.is_manager()).count();
    let mut out = format!(
        "# mkectl hosts.yaml for the MKE 3 cluster at {origin}: {}, from GET /nodes.\n# Roles are detected by mkectl; the comments only say what MKE 3 reports.\nhosts:\n",
        [
            plural(nodes.len(), "node", "nodes"),
            format!(
                "({}, {})",
                plural(managers, "manager", "managers"),
                plural(nodes.len() - managers, "worker", "workers")
            ),
        ]
        .join(" ")
    );
    for n in sorted {
        let mut role = n.role.to_string();
        if n.leader {
            role.push_str(", leader");
        }
        if let Some(os) = n.os.as_deref().filter(|o| !o.eq_ignore_ascii_case("linux")) {
            role.push_str(&format!(", {os}"));
        }
        if !n.state.to_string().eq_ignore_ascii_case("ready") {
            role.push_str(&format!(", {}", n.state));
        }
        let Some(addr) = n
            .addr
            .as_deref()
            .filter(|a| !matches!(*a, "" | "0.0.0.0" | "::"))
        else {
            out.push_str(&format!(
                "  # {} ({role}): GET /nodes gives no usable address; add it by hand\n",
                n.hostname
            ));
            continue;
        };
        let p = port.or_else(|| ports.get(addr).copied()).unwrap_or(22);
        out.push_str(&format!(
            "  # {} ({role})\n  - address: {}\n    port: {p}\n    user: {}\n",
            n.hostname,
            if addr.contains(':') {
                yaml_quote(addr)
            } else {
                addr.to_string()
            },
            yaml_quote(user)
        ));
        if let Some(k) = key {
            out.push_str(&format!(
                "    keyPath: {}\n",
                yaml_quote(&k.display().to_string())
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managers_first_with_comments_and_no_address_left_out() {
        let nodes: Vec<Node> = [
            json!({"Description": {"Hostname": "w1"}, "Spec": {"Role": "worker"}, "Status": {"State": "ready", "Addr": "10.0.0.21"}}),
            json!({"Description": {"Hostname": "m2"}, "Spec": {"Role": "manager"}, "Status": {"State": "down", "Addr": "10.0.0.12"}, "ManagerStatus": {"Leader": false}}),
            json!({"Description": {"Hostname": "m1"}, "Spec": {"Role": "manager"}, "Status": {"State": "ready", "Addr": "0.0.0.0"}, "ManagerStatus": {"Leader": true, "Addr": "10.0.0.11:2377"}}),
            json!({"Description": {"Hostname": "w9", "Platform": {"OS": "windows"}}, "Spec": {"Role": "worker"}, "Status": {"State": "ready"}}),
        ]
        .iter()
        .map(Node::from_json)
        .collect();
        let text = hosts_yaml(
            "https://mke:443",
            &nodes,
            "ubuntu",
            Some(&PathBuf::from("/k/id it's")),
            None,
            &HashMap::new(),
        );
        let m1 = text.find("# m1 (manager, leader)").unwrap();
        let m2 = text.find("# m2 (manager, down)").unwrap();
        let w1 = text.find("# w1 (worker)").unwrap();
        assert!(m1 < m2 && m2 < w1, "{text}");
        assert!(text.contains("- address: 10.0.0.11\n    port: 22\n    user: 'ubuntu'\n    keyPath: '/k/id it''s'\n"), "{text}");
        assert!(
            text.contains("# w9 (worker, windows): GET /nodes gives no usable address"),
            "{text}"
        );
        assert!(text.contains("4 nodes (2 managers, 2 workers)"));
    }
}
