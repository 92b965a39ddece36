//! Which inventory hosts a step runs on (`on: all | managers | workers |
//! [address, …]`), and the roles that selection needs: from the cluster
//! (`GET /nodes`, hosts matched to nodes as the `hosts` module matches
//! them), or, without the MKE API, from the registered output of an earlier
//! `hosts` step.

use std::borrow::Cow;
use std::net::IpAddr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::hosts::{cover, same_address};
use super::{StepContext, TaskError};
use crate::inventory::Host;
use crate::util::text::suggest;

/// Which hosts a step runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum On {
    #[default]
    All,
    Managers,
    Workers,
    /// These inventory addresses, in this order.
    Hosts(Vec<String>),
}

impl On {
    pub fn describe(&self) -> String {
        match self {
            On::All => "all".into(),
            On::Managers => "managers".into(),
            On::Workers => "workers".into(),
            On::Hosts(list) => format!("[{}]", list.join(", ")),
        }
    }
}

impl<'de> Deserialize<'de> for On {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || {
            serde::de::Error::custom(
                "expected `all`, `managers`, `workers` or a list of inventory addresses",
            )
        };
        match Value::deserialize(d)? {
            Value::String(s) => match s.as_str() {
                "all" => Ok(On::All),
                "managers" => Ok(On::Managers),
                "workers" => Ok(On::Workers),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not `all`, `managers` or `workers`{} (a list of addresses is written [10.0.0.11, …])",
                    suggest(other, ["all", "managers", "workers"])
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                ))),
            },
            Value::Array(items) => {
                let list: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                match list {
                    Some(l) if !l.is_empty() => Ok(On::Hosts(l)),
                    Some(_) => Err(serde::de::Error::custom(
                        "the list of addresses is empty: name at least one inventory host",
                    )),
                    None => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for On {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            On::Hosts(list) => list.serialize(s),
            other => s.serialize_str(&other.describe()),
        }
    }
}

impl JsonSchema for On {
    fn schema_name() -> Cow<'static, str> {
        "On".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "enum": ["all", "managers", "workers"] },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// A host's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manager,
    Worker,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        }
    }
}

/// Each inventory host's role (in inventory order), and where it came from.
#[derive(Debug, Clone)]
pub struct Roles {
    pub of: Vec<Option<Role>>,
    /// `GET /nodes`, or `steps.ID` (an earlier `hosts` step's output).
    pub source: String,
}

/// The addresses a host name resolves to, for matching it to a node
/// (IP addresses are themselves; a name that does not resolve has none).
async fn addresses(host: &Host, cx: &StepContext<'_>) -> Vec<IpAddr> {
    if let Ok(ip) = host.address.parse::<IpAddr>() {
        return vec![ip];
    }
    match crate::ssh::resolve(host, &cx.conn.ssh).await {
        Ok(addrs) => addrs.iter().map(|a| a.ip()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The roles of `hosts` from the cluster (`GET /nodes`); when the API is
/// absent or does not answer, from an earlier `hosts` step's output.
pub async fn roles(cx: &StepContext<'_>, hosts: &[Host]) -> Result<Roles, TaskError> {
    let why = match &cx.conn.mke {
        Ok(client) => match client.nodes().await {
            Ok(nodes) => {
                let mut ips = Vec::with_capacity(hosts.len());
                for h in hosts {
                    ips.push(addresses(h, cx).await);
                }
                let cov = cover(hosts, &ips, &nodes);
                let of = cov
                    .node_of_host
                    .iter()
                    .map(|n| {
                        n.map(|n| {
                            if nodes[n].is_manager() {
                                Role::Manager
                            } else {
                                Role::Worker
                            }
                        })
                    })
                    .collect();
                return Ok(Roles {
                    of,
                    source: "GET /nodes".into(),
                });
            }
            Err(e) => format!("cannot list the cluster's nodes: {e}"),
        },
        Err(why) => why.clone(),
    };
    from_registered(&registered_outputs(cx), hosts).ok_or_else(|| {
        TaskError::new(format!(
            "cannot tell managers from workers: {why}, and no earlier `hosts` step registered the roles"
        ))
        .remedy("export MKE_HOST, MKE_USERNAME and MKE_PASSWORD so roles come from GET /nodes, run a `hosts` step first, or name the hosts: `on: [10.0.0.11, …]`")
    })
}

/// The registered outputs of the steps before this one: (id, output).
fn registered_outputs(cx: &StepContext<'_>) -> Vec<(String, Value)> {
    let Ok(steps) = cx.scope.value().get_attr("steps") else {
        return Vec::new();
    };
    let Ok(ids) = steps.try_iter() else {
        return Vec::new();
    };
    ids.filter_map(|id| {
        let id = id.as_str()?.to_string();
        let out = steps.get_attr(&id).ok()?;
        Some((id.clone(), serde_json::to_value(&out).ok()?))
    })
    .collect()
}

/// Roles from a `hosts` step's registered output (a list of
/// `{address, role}` under `hosts`), the latest such step first.
fn from_registered(outputs: &[(String, Value)], hosts: &[Host]) -> Option<Roles> {
    for (id, json) in outputs.iter().rev() {
        let Some(list) = json.get("hosts").and_then(Value::as_array) else {
            continue;
        };
        let role_of = |address: &str| -> Option<Role> {
            list.iter()
                .find(|h| h.get("address").and_then(Value::as_str) == Some(address))
                .and_then(|h| h.get("role").and_then(Value::as_str))
                .and_then(|r| match r {
                    "manager" => Some(Role::Manager),
                    "worker" => Some(Role::Worker),
                    _ => None,
                })
        };
        let of: Vec<Option<Role>> = hosts.iter().map(|h| role_of(&h.address)).collect();
        if of.iter().any(Option::is_some) {
            return Some(Roles {
                of,
                source: format!("steps.{id} (an earlier `hosts` step)"),
            });
        }
    }
    None
}

/// The hosts `on` selects, and the roles when they were needed.
pub async fn select(
    cx: &StepContext<'_>,
    on: &On,
) -> Result<(Vec<Host>, Option<Roles>), TaskError> {
    let hosts = &cx.inventory()?.hosts;
    let want = match on {
        On::All => return Ok((hosts.clone(), None)),
        On::Hosts(list) => {
            let mut picked = Vec::with_capacity(list.len());
            for a in list {
                match hosts.iter().find(|h| same_address(&h.address, a)) {
                    Some(h) if !picked.iter().any(|p: &Host| p.address == h.address) => {
                        picked.push(h.clone());
                    }
                    Some(_) => {}
                    None => {
                        let hint = suggest(a, hosts.iter().map(|h| h.address.as_str()))
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        return Err(TaskError::new(format!(
                            "`on` names `{a}`, which is not an inventory host{hint}"
                        ))
                        .remedy("use addresses exactly as hosts.yaml writes them"));
                    }
                }
            }
            return Ok((picked, None));
        }
        On::Managers => Role::Manager,
        On::Workers => Role::Worker,
    };
    let roles = roles(cx, hosts).await?;
    let unknown: Vec<&str> = hosts
        .iter()
        .zip(&roles.of)
        .filter(|(_, r)| r.is_none())
        .map(|(h, _)| h.address.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(TaskError::new(format!(
            "cannot tell the role of {} (not matched to a cluster node by {}), so `on: {}` cannot be honoured",
            unknown.join(", "),
            roles.source,
            on.describe()
        ))
        .remedy("make the inventory match the cluster (the `hosts` module says how), or name the hosts: `on: [10.0.0.11, …]`"));
    }
    let picked = hosts
        .iter()
        .zip(&roles.of)
        .filter(|(_, r)| **r == Some(want))
        .map(|(h, _)| h.clone())
        .collect();
    Ok((picked, Some(roles)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_parses_groups_and_lists_and_explains_mistakes() {
        let p = |v: Value| serde_json::from_value::<On>(v).map_err(|e| e.to_string());
        assert_eq!(p(serde_json::json!("managers")), Ok(On::Managers));
        assert_eq!(
            p(serde_json::json!(["10.0.0.1", "h2"])),
            Ok(On::Hosts(vec!["10.0.0.1".into(), "h2".into()]))
        );
        let e = p(serde_json::json!("manager")).unwrap_err();
        assert!(e.contains("did you mean `managers`"), "{e}");
        assert!(p(serde_json::json!([])).unwrap_err().contains("empty"));
        assert!(p(serde_json::json!(3)).is_err());
    }

    fn host(a: &str) -> Host {
        Host {
            address: a.into(),
            port: 22,
            user: "u".into(),
            key_path: None,
            private_address: None,
            private_interface: None,
            line: 1,
        }
    }

    #[test]
    fn roles_from_an_earlier_hosts_step() {
        let hosts = [host("10.0.0.1"), host("10.0.0.2"), host("10.0.0.3")];
        let outputs = vec![
            (
                "facts".to_string(),
                serde_json::json!({"hosts": {"10.0.0.1": {}}}),
            ),
            (
                "check-hosts".to_string(),
                serde_json::json!({"hosts": [
                    {"address": "10.0.0.1", "role": "manager"},
                    {"address": "10.0.0.2", "role": "worker"},
                    {"address": "10.0.0.3"}
                ]}),
            ),
        ];
        let r = from_registered(&outputs, &hosts).expect("roles");
        assert_eq!(r.of, [Some(Role::Manager), Some(Role::Worker), None]);
        assert_eq!(r.source, "steps.check-hosts (an earlier `hosts` step)");
        assert!(from_registered(&outputs[..1], &hosts).is_none());
    }
}
