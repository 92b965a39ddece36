//! The Swarm nodes of `GET /nodes`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::{first_string, str_at, string_at};

lenient_enum!(
    /// `Spec.Role`.
    NodeRole { Manager => "manager", Worker => "worker" }
);
lenient_enum!(
    /// `Spec.Availability`.
    Availability { Active => "active", Pause => "pause", Drain => "drain" }
);
lenient_enum!(
    /// `Status.State`.
    NodeState { Ready => "ready", Down => "down", Disconnected => "disconnected", Unknown => "unknown" }
);
lenient_enum!(
    /// `ManagerStatus.Reachability`.
    Reachability { Reachable => "reachable", Unreachable => "unreachable", Unknown => "unknown" }
);

/// A Swarm node of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// `Description.Hostname` (falling back to `Spec.Name`).
    pub hostname: String,
    pub role: NodeRole,
    pub availability: Availability,
    pub state: NodeState,
    /// `Status.Message`, when not empty.
    pub message: Option<String>,
    /// The node's address. For a manager whose `Status.Addr` reads
    /// `0.0.0.0` or `127.0.0.1`, `ManagerStatus.Addr` without its port.
    pub addr: Option<String>,
    pub leader: bool,
    /// Present on managers only.
    pub reachability: Option<Reachability>,
    /// `Spec.Labels` (MKE adds `com.docker.ucp.*`).
    pub labels: BTreeMap<String, String>,
    /// `Description.Platform.OS`: `linux` or `windows`.
    pub os: Option<String>,
    /// `Description.Platform.Architecture` (`x86_64`, `aarch64`).
    pub arch: Option<String>,
    /// `Description.Engine.EngineVersion`: the MCR version.
    pub engine_version: Option<String>,
    /// `Description.Resources.NanoCPUs` (1e9 per CPU).
    pub nano_cpus: Option<u64>,
    /// `Description.Resources.MemoryBytes`.
    pub memory_bytes: Option<u64>,
    /// GPUs among `Description.Resources.GenericResources` (kinds naming a GPU).
    pub gpus: u64,
}

impl Node {
    pub fn from_json(v: &Value) -> Node {
        let manager = v.get("ManagerStatus").filter(|m| m.is_object());
        let labels = v
            .get("Spec")
            .and_then(|s| s.get("Labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Node {
            id: first_string(v, &["ID", "Id", "id"]).unwrap_or_default(),
            hostname: string_at(v, &["Description", "Hostname"])
                .or_else(|| string_at(v, &["Spec", "Name"]))
                .unwrap_or_default(),
            role: match str_at(v, &["Spec", "Role"]) {
                Some(r) => NodeRole::parse(r),
                None if manager.is_some() => NodeRole::Manager,
                None => NodeRole::Other(String::new()),
            },
            availability: Availability::parse(str_at(v, &["Spec", "Availability"]).unwrap_or("")),
            state: NodeState::parse(str_at(v, &["Status", "State"]).unwrap_or("unknown")),
            message: string_at(v, &["Status", "Message"]),
            addr: node_addr(
                str_at(v, &["Status", "Addr"]),
                manager.and_then(|m| str_at(m, &["Addr"])),
            ),
            leader: manager
                .and_then(|m| m.get("Leader"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            reachability: manager
                .and_then(|m| str_at(m, &["Reachability"]))
                .map(Reachability::parse),
            labels,
            os: string_at(v, &["Description", "Platform", "OS"]),
            arch: string_at(v, &["Description", "Platform", "Architecture"]),
            engine_version: string_at(v, &["Description", "Engine", "EngineVersion"]),
            nano_cpus: v
                .pointer("/Description/Resources/NanoCPUs")
                .and_then(Value::as_u64),
            memory_bytes: v
                .pointer("/Description/Resources/MemoryBytes")
                .and_then(Value::as_u64),
            gpus: gpu_count(v.pointer("/Description/Resources/GenericResources")),
        }
    }

    pub fn is_manager(&self) -> bool {
        self.role == NodeRole::Manager
    }
}

/// GPUs among Docker's generic resources: a `DiscreteResourceSpec` counts
/// its `Value`, a `NamedResourceSpec` one; kinds that name a GPU only
/// (`gpu`, `nvidia.com/gpu`, `NVIDIA-GPU`).
fn gpu_count(resources: Option<&Value>) -> u64 {
    let Some(list) = resources.and_then(Value::as_array) else {
        return 0;
    };
    let is_gpu = |spec: &Value| {
        spec.get("Kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.to_ascii_lowercase().contains("gpu"))
    };
    list.iter()
        .map(|r| {
            if let Some(d) = r.get("DiscreteResourceSpec").filter(|d| is_gpu(d)) {
                d.get("Value").and_then(Value::as_u64).unwrap_or(1)
            } else if r.get("NamedResourceSpec").is_some_and(is_gpu) {
                1
            } else {
                0
            }
        })
        .sum()
}

/// `Status.Addr`, unless it is unusable and `ManagerStatus.Addr` is there.
fn node_addr(status_addr: Option<&str>, manager_addr: Option<&str>) -> Option<String> {
    let unusable = |a: &str| matches!(a, "0.0.0.0" | "127.0.0.1" | "::" | "::1");
    match (status_addr, manager_addr.and_then(strip_port)) {
        (Some(a), _) if !unusable(a) => Some(a.to_string()),
        (_, Some(m)) if !unusable(m) => Some(m.to_string()),
        (status, _) => status.map(str::to_string),
    }
}

/// `10.0.0.1:2377` → `10.0.0.1`; `[fd00::1]:2377` → `fd00::1`.
fn strip_port(addr: &str) -> Option<&str> {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix('[') {
        return rest
            .split_once(']')
            .map(|(h, _)| h)
            .filter(|h| !h.is_empty());
    }
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    Some(host).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manager_with_unusable_status_addr_uses_manager_status_without_port() {
        let n = Node::from_json(&json!({
            "ID": "24ifsmvkjbyhk", "Version": {"Index": 8},
            "Spec": {"Name": "my-node", "Role": "manager", "Availability": "active",
                     "Labels": {"com.docker.ucp.SANs": "10.0.0.11", "n": 1}},
            "Description": {"Hostname": "mgr-1"},
            "Status": {"State": "ready", "Message": "", "Addr": "0.0.0.0"},
            "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.0.11:2377"}
        }));
        assert_eq!(n.id, "24ifsmvkjbyhk");
        assert_eq!(n.hostname, "mgr-1");
        assert_eq!(n.role, NodeRole::Manager);
        assert!(n.is_manager());
        assert_eq!(n.availability, Availability::Active);
        assert_eq!(n.state, NodeState::Ready);
        assert_eq!(n.message, None);
        assert_eq!(n.addr.as_deref(), Some("10.0.0.11"));
        assert!(n.leader);
        assert_eq!(n.reachability, Some(Reachability::Reachable));
        assert_eq!(n.labels.len(), 1, "non-string labels are skipped");

        for (status, manager, want) in [
            ("127.0.0.1", "10.0.0.12:2377", Some("10.0.0.12")),
            ("", "10.0.0.12:2377", Some("10.0.0.12")),
            ("10.0.0.13", "10.0.0.12:2377", Some("10.0.0.13")),
            ("0.0.0.0", "[fd00::12]:2377", Some("fd00::12")),
            ("0.0.0.0", "", Some("0.0.0.0")),
            ("0.0.0.0", "mgr-2.example:2377", Some("mgr-2.example")),
        ] {
            let n = Node::from_json(&json!({
                "Spec": {"Role": "manager"},
                "Status": {"State": "ready", "Addr": status},
                "ManagerStatus": {"Addr": manager}
            }));
            assert_eq!(n.addr.as_deref(), want, "{status} / {manager}");
        }
    }

    #[test]
    fn worker_and_sparse_nodes() {
        let n = Node::from_json(&json!({
            "ID": "w1", "Spec": {"Role": "WORKER", "Availability": "drain", "Name": "spec-name"},
            "Status": {"State": "down", "Message": "heartbeat failure", "Addr": "10.0.0.21"}
        }));
        assert_eq!(n.role, NodeRole::Worker);
        assert_eq!(n.hostname, "spec-name");
        assert_eq!(n.availability, Availability::Drain);
        assert_eq!(n.state, NodeState::Down);
        assert_eq!(n.message.as_deref(), Some("heartbeat failure"));
        assert_eq!(n.addr.as_deref(), Some("10.0.0.21"));
        assert!(!n.leader);
        assert_eq!(n.reachability, None);

        let n = Node::from_json(&json!({"Status": {"State": "rebooting"}}));
        assert_eq!(n.state, NodeState::Other("rebooting".into()));
        assert_eq!(n.state.to_string(), "rebooting");
        assert_eq!(n.role, NodeRole::Other(String::new()));
        assert_eq!(n.addr, None);
        let n = Node::from_json(&json!({}));
        assert_eq!(n.state, NodeState::Unknown);
    }

    #[test]
    fn platform_engine_resources_and_gpus() {
        let n = Node::from_json(&json!({
            "Description": {
                "Platform": {"Architecture": "x86_64", "OS": "windows"},
                "Resources": {"NanoCPUs": 8_000_000_000u64, "MemoryBytes": 33_554_432_000u64,
                    "GenericResources": [
                        {"DiscreteResourceSpec": {"Kind": "nvidia.com/gpu", "Value": 2}},
                        {"NamedResourceSpec": {"Kind": "GPU", "Value": "GPU-1"}},
                        {"DiscreteResourceSpec": {"Kind": "ssd", "Value": 4}}]},
                "Engine": {"EngineVersion": "25.0.12"}
            }
        }));
        assert_eq!(n.os.as_deref(), Some("windows"));
        assert_eq!(n.arch.as_deref(), Some("x86_64"));
        assert_eq!(n.engine_version.as_deref(), Some("25.0.12"));
        assert_eq!(n.nano_cpus, Some(8_000_000_000));
        assert_eq!(n.memory_bytes, Some(33_554_432_000));
        assert_eq!(n.gpus, 3);
        let n = Node::from_json(&json!({}));
        assert_eq!((n.os, n.engine_version, n.gpus), (None, None, 0));
    }
}
