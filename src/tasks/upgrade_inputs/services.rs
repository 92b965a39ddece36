//! The NodePorts of the cluster's Kubernetes Services, read over SSH from
//! one manager: the MKE 3 API does not list Services, but kube-proxy (in
//! iptables mode, MKE 3's default) has programmed every Service's NodePorts
//! into each node's tables (see [`super::iptables`]: nat and filter, IPv4
//! and IPv6). The managers are asked at once ([`super::read`]); the first
//! in inventory order that answers with kube-proxy's chains is used. When
//! none does, or the read cannot be made, the step says that the NodePorts
//! of Services were not checked and why (it does not block on that).

use serde_json::{Value, json};

use super::iptables::{Kind, NodePort};
use crate::hostfacts::script::{self, Section};
use crate::ssh::Cause;
use crate::util::text::plural;

/// The one remote command run on a manager: every table of both families,
/// framed so the two outputs and statuses come back apart.
pub fn command() -> String {
    script::build(&[
        Section::new("ipv4", "sudo -n iptables-save"),
        Section::new("ipv6", "sudo -n ip6tables-save"),
    ])
}

/// The command as people read it (output, messages).
pub const SHOWN: &str = "sudo -n iptables-save; sudo -n ip6tables-save";

/// Where the approach comes from, for the output's rules.
pub const SOURCE: &str = "kube-proxy in iptables mode writes one rule per NodePort: in the nat table's KUBE-NODEPORTS chain for a Service with endpoints (commented NAMESPACE/NAME:PORT), in the filter table's KUBE-EXTERNAL-SERVICES chain (REJECT, \"… has no endpoints\") for one without, and each externalTrafficPolicy: Local Service's health-check NodePort in the filter table's KUBE-NODEPORTS chain (\"… health check node port\"); IPv6 Services only in ip6tables [C: kube-proxy 1.28 pkg/proxy/iptables/proxier.go syncProxyRules, NewDualStackProxier]. That MKE 3's kube-proxy does so on every node, managers included, and that older releases wrote no rule for health-check NodePorts, are inferred [I]. A NodePort is allocated cluster-wide whatever its protocol, so a UDP NodePort takes the number too [I]. IPVS mode (ipsets) is not read.";

/// One manager that did not give the table.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub host: String,
    /// `dns`, `auth`, `sudo`, `command`, `timeout`, …
    pub cause: Cause,
    pub error: String,
}

/// What one manager's rules showed.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub ports: Vec<NodePort>,
    /// Why the IPv6 rules were not read (`None`: read).
    pub ipv6_not_read: Option<String>,
    /// Rules of kube-proxy's NodePort chains whose port could not be read.
    pub unparsed: Vec<String>,
}

/// What the read found.
#[derive(Debug, Clone)]
pub enum Found {
    /// The NodePorts, as `host` has them programmed.
    Read { host: String, rules: Rules },
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
            Found::Read { rules, .. } => &rules.ports,
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
            Found::Read { host, rules } => {
                let ports = &rules.ports;
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
                    "command": SHOWN,
                    "ports": ports,
                    "by_service": by_service,
                    "ipv6_read": rules.ipv6_not_read.is_none(),
                    "ipv6_not_read": rules.ipv6_not_read,
                    "unparsed": rules.unparsed,
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

    /// The sentence for the step's message. The managers that failed
    /// are named only when none answered.
    pub fn sentence(&self) -> String {
        match &self.found {
            Found::Read { host, rules } => {
                let seen = seen(&rules.ports);
                format!(
                    "{seen}, as kube-proxy's rules on manager {host} show{}",
                    notes(rules)
                )
            }
            Found::NotChecked(why) => format!(
                "warning: the NodePorts of Kubernetes Services were NOT checked: {why}; list the ones in use (`kubectl get svc -A -o wide`) in used_node_ports"
            ),
        }
    }

    /// What was read, without the manager: `3 NodePorts of 2 Kubernetes
    /// Services in use; IPv6 rules not read (…)` (`None` when not read).
    pub fn detail(&self) -> Option<(String, String)> {
        match &self.found {
            Found::Read { host, rules } => Some((
                host.clone(),
                format!("{}{}", seen(&rules.ports), notes(rules)),
            )),
            Found::NotChecked(_) => None,
        }
    }
}

/// `3 NodePorts (1 without endpoints) of 2 Kubernetes Services in use`.
fn seen(ports: &[NodePort]) -> String {
    if ports.is_empty() {
        return "no Kubernetes Service has a NodePort".to_string();
    }
    let services: std::collections::BTreeSet<_> = ports.iter().map(|p| p.service.clone()).collect();
    let odd: Vec<String> = [
        (Kind::NoEndpoints, "without endpoints"),
        (Kind::HealthCheck, "health-check"),
    ]
    .iter()
    .filter_map(|(k, word)| {
        let n = ports.iter().filter(|p| p.kind == *k).count();
        (n > 0).then(|| format!("{n} {word}"))
    })
    .collect();
    let odd = if odd.is_empty() {
        String::new()
    } else {
        format!(" ({})", odd.join(", "))
    };
    format!(
        "{}{odd} of {} in use",
        plural(ports.len(), "NodePort", "NodePorts"),
        plural(services.len(), "Kubernetes Service", "Kubernetes Services")
    )
}

/// What was not read: the IPv6 rules, rules whose port is unknown.
fn notes(rules: &Rules) -> String {
    let mut out = String::new();
    if let Some(why) = &rules.ipv6_not_read {
        out.push_str(&format!("; IPv6 rules not read ({why})"));
    }
    if !rules.unparsed.is_empty() {
        out.push_str(&format!(
            "; warning: {} of kube-proxy's NodePort chains could not be read, check the ports they cover by hand: {}",
            plural(rules.unparsed.len(), "rule", "rules"),
            rules.unparsed.join("; ")
        ));
    }
    out
}
