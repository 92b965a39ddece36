//! The NodePorts of the cluster's Kubernetes Services, read over SSH from
//! one manager: the MKE 3 API does not list Services, but kube-proxy (in
//! iptables mode, MKE 3's default) has programmed every Service's NodePorts
//! into each node's nat table (see [`super::iptables`]). Managers are tried
//! in inventory order until one answers with kube-proxy's chain; when none
//! does, or the read cannot be made, the step says that the NodePorts of
//! Services were not checked and why (it does not block on that).

use std::sync::Arc;

use serde_json::{Value, json};

use super::iptables::{NodePort, parse_nat};
use crate::inventory::Host;
use crate::ssh::{Cause, SshSettings};
use crate::tasks::StepContext;
use crate::tasks::fanout::HostSession;
use crate::tasks::targets::{Role, roles};
use crate::util::text::last_line;

/// The command run on a manager.
pub const COMMAND: &str = "sudo -n iptables-save -t nat";

/// Where the approach comes from, for the output's rules.
pub const SOURCE: &str = "kube-proxy in iptables mode programs one nat rule per NodePort of every Service in its KUBE-NODEPORTS chain, commented NAMESPACE/NAME:PORT [C: kube-proxy]; that MKE 3's kube-proxy does so on every node, managers included, is inferred [I]. A NodePort is allocated cluster-wide whatever its protocol, so a UDP NodePort takes the number too [I]. IPVS mode (ipsets) and health-check NodePorts (filter table) are not read.";

/// One manager that did not give the table.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub host: String,
    /// `dns`, `auth`, `sudo`, `command`, …
    pub cause: Cause,
    pub error: String,
}

/// What the read found.
#[derive(Debug, Clone)]
pub enum Found {
    /// The NodePorts, as `host` has them programmed.
    Read { host: String, ports: Vec<NodePort> },
    /// Not checked, and why (one line, for the message).
    NotChecked(String),
}

/// The outcome: what was found and the managers that failed on the way.
#[derive(Debug, Clone)]
pub struct ServicePorts {
    pub found: Found,
    pub tried: Vec<Attempt>,
}

impl ServicePorts {
    pub fn not_checked(why: impl Into<String>) -> ServicePorts {
        ServicePorts {
            found: Found::NotChecked(why.into()),
            tried: Vec::new(),
        }
    }

    /// The ports taken by Services (none when not read).
    pub fn ports(&self) -> &[NodePort] {
        match &self.found {
            Found::Read { ports, .. } => ports,
            Found::NotChecked(_) => &[],
        }
    }

    /// The registered form: `checked`, `host`, `ports`, `by_service`,
    /// `tried`, `not_checked`.
    pub fn to_json(&self) -> Value {
        let tried: Vec<Value> = self
            .tried
            .iter()
            .map(|a| json!({"host": a.host, "cause": a.cause.name(), "error": a.error}))
            .collect();
        match &self.found {
            Found::Read { host, ports } => {
                let mut by_service = serde_json::Map::new();
                for p in ports {
                    let key = p.service.clone().unwrap_or_else(|| "(no comment)".into());
                    let entry = by_service.entry(key).or_insert_with(|| json!([]));
                    if let Some(list) = entry.as_array_mut() {
                        list.push(json!(p.port));
                    }
                }
                json!({
                    "checked": true,
                    "host": host,
                    "command": COMMAND,
                    "ports": ports,
                    "by_service": by_service,
                    "tried": tried,
                })
            }
            Found::NotChecked(why) => json!({
                "checked": false,
                "not_checked": why,
                "tried": tried,
            }),
        }
    }

    /// The sentence for the step's message.
    pub fn sentence(&self) -> String {
        let before = if self.tried.is_empty() {
            String::new()
        } else {
            format!(
                "; tried first: {}",
                self.tried
                    .iter()
                    .map(|a| format!("{}: {}", a.host, a.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        match &self.found {
            Found::Read { .. } if !before.is_empty() => {
                let plain = ServicePorts {
                    found: self.found.clone(),
                    tried: Vec::new(),
                };
                format!("{}{before}", plain.sentence())
            }
            Found::Read { host, ports } if ports.is_empty() => {
                format!(
                    "no Kubernetes Service has a NodePort, as kube-proxy's rules on manager {host} show"
                )
            }
            Found::Read { host, ports } => {
                let services: std::collections::BTreeSet<_> =
                    ports.iter().map(|p| p.service.clone()).collect();
                format!(
                    "{} of {} in use, as kube-proxy's rules on manager {host} show",
                    plural(ports.len(), "NodePort", "NodePorts"),
                    plural(services.len(), "Kubernetes Service", "Kubernetes Services")
                )
            }
            Found::NotChecked(why) => format!(
                "warning: the NodePorts of Kubernetes Services were NOT checked: {why}; list the ones in use (`kubectl get svc -A -o wide`) in used_node_ports"
            ),
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What one manager said: the ports, or why not.
async fn read_one(host: &Host, settings: Arc<SshSettings>) -> Result<Vec<NodePort>, Attempt> {
    let fail = |cause: Cause, error: String| Attempt {
        host: host.address.clone(),
        cause,
        error,
    };
    let mut session = HostSession::open(host, settings)
        .await
        .map_err(|e| fail(e.cause, e.message))?;
    let out = session.exec(COMMAND).await;
    session.close().await;
    let out = out.map_err(|e| fail(e.cause, e.message))?;
    if out.status != 0 {
        let said = last_line(&out.stderr, 200);
        let said = if said.is_empty() {
            "no message".to_string()
        } else {
            said
        };
        let (cause, what, hint) = if said.starts_with("sudo:") {
            (
                Cause::Sudo,
                "sudo refused",
                " — the login user needs passwordless sudo for iptables-save",
            )
        } else if out.status == 127 || said.contains("not found") {
            (
                Cause::Command,
                "iptables-save is not installed",
                " — install iptables on the manager, or list the NodePorts in used_node_ports",
            )
        } else {
            (Cause::Command, "iptables-save failed", "")
        };
        return Err(fail(
            cause,
            format!("{what}: `{COMMAND}` exited {}: {said}{hint}", out.status),
        ));
    }
    let table =
        parse_nat(&out.stdout).map_err(|e| fail(Cause::Command, format!("`{COMMAND}`: {e}")))?;
    if let Some(why) = table.unusable() {
        return Err(fail(Cause::Command, why));
    }
    Ok(table.ports)
}

/// Reads the Services' NodePorts from the first manager (inventory order)
/// that gives them; `proxy_mode` is `[cluster_config] kube_proxy_mode`.
pub async fn read(cx: &StepContext<'_>, proxy_mode: &str) -> ServicePorts {
    if proxy_mode != "iptables" {
        return ServicePorts::not_checked(format!(
            "kube_proxy_mode is {proxy_mode:?}: kube-proxy then programs IPVS and ipsets, not one iptables rule per NodePort, so mkeprep cannot read them"
        ));
    }
    let Ok(inventory) = cx.inventory() else {
        return ServicePorts::not_checked(
            "no inventory (-i hosts.yaml or MKEPREP_INVENTORY), so no manager to read kube-proxy's rules from",
        );
    };
    let hosts = &inventory.hosts;
    let managers: Vec<&Host> = match roles(cx, hosts).await {
        Ok(r) => hosts
            .iter()
            .zip(&r.of)
            .filter(|(_, role)| **role == Some(Role::Manager))
            .map(|(h, _)| h)
            .collect(),
        Err(e) => {
            return ServicePorts::not_checked(format!(
                "cannot tell which inventory hosts are managers: {}",
                e.message
            ));
        }
    };
    if managers.is_empty() {
        return ServicePorts::not_checked(
            "no inventory host is a manager of the cluster (GET /nodes)",
        );
    }
    let settings = Arc::new(cx.conn.ssh.clone());
    let mut tried = Vec::new();
    for host in managers {
        cx.progress(format!(
            "reading kube-proxy's NodePorts on manager {} (`{COMMAND}`)",
            host.address
        ));
        match read_one(host, settings.clone()).await {
            Ok(ports) => {
                return ServicePorts {
                    found: Found::Read {
                        host: host.address.clone(),
                        ports,
                    },
                    tried,
                };
            }
            Err(a) => tried.push(a),
        }
    }
    let why = tried
        .iter()
        .map(|a| format!("{}: {}", a.host, a.error))
        .collect::<Vec<_>>()
        .join("; ");
    ServicePorts {
        found: Found::NotChecked(format!("no manager gave kube-proxy's rules: {why}")),
        tried,
    }
}
