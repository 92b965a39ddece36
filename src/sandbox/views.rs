//! The Docker-shaped documents MKE proxies: `GET /info`, `GET /version`
//! (Docker's SystemVersion) and `GET /nodes` (Swarm nodes), per facts §A.

use serde_json::{Value, json};

use super::options::SandboxOptions;
use super::topology::{Role, Topology};

/// The Mirantis Container Runtime version the nodes run.
const ENGINE_VERSION: &str = "23.0.15";
const API_VERSION: &str = "1.43";

/// What `ServerVersion` (and `/version`'s `Version`) reports.
fn server_version(opts: &SandboxOptions) -> String {
    if opts.plain_info_version {
        ENGINE_VERSION.to_string()
    } else {
        format!("ucp/{}", opts.mke_version)
    }
}

/// The Kubernetes release an MKE 3 line ships (cosmetic).
fn kubernetes_version(mke: &str) -> &'static str {
    if mke.starts_with("3.7.") {
        "1.27.16"
    } else if mke.starts_with("3.8.") {
        "1.30.14"
    } else {
        "1.31.8"
    }
}

pub fn info(opts: &SandboxOptions, topo: &Topology) -> Value {
    let managers = topo.managers().count();
    json!({
        "ID": "SBOX:MKEP:REPS:ANDB:OXCL:USTE:R000:0000:0000:0000:0000:0001",
        "Containers": 38 * topo.nodes.len(),
        "ContainersRunning": 36 * topo.nodes.len(),
        "ContainersPaused": 0,
        "ContainersStopped": 2 * topo.nodes.len(),
        "Images": 31,
        "Driver": "overlay2",
        "Name": topo.nodes.first().map(|n| n.hostname.clone()),
        "ServerVersion": server_version(opts),
        "OperatingSystem": "Ubuntu 22.04.4 LTS",
        "OSType": "linux",
        "Architecture": "x86_64",
        "KernelVersion": "5.15.0-113-generic",
        "NCPU": 8,
        "MemTotal": 33_554_432_000u64,
        "Labels": [],
        "Swarm": {
            "NodeID": node_id(1),
            "LocalNodeState": "active",
            "ControlAvailable": true,
            "Nodes": topo.nodes.len(),
            "Managers": managers,
        },
    })
}

pub fn version(opts: &SandboxOptions) -> Value {
    let mke_name = if opts.legacy_component_name {
        "Universal Control Plane"
    } else {
        "Mirantis Kubernetes Engine"
    };
    let k8s = kubernetes_version(&opts.mke_version);
    let (major, minor) = k8s.split_once('.').unwrap_or(("1", "30.0"));
    let minor = minor.split('.').next().unwrap_or("30");
    json!({
        "Platform": { "Name": format!("{mke_name} {}", opts.mke_version) },
        "Components": [
            {
                "Name": "Engine",
                "Version": ENGINE_VERSION,
                "Details": {
                    "ApiVersion": API_VERSION, "Arch": "amd64", "Experimental": "false",
                    "GitCommit": "cc9b43e", "GoVersion": "go1.22.7",
                    "KernelVersion": "5.15.0-113-generic", "MinAPIVersion": "1.12", "Os": "linux",
                },
            },
            {
                "Name": mke_name,
                "Version": opts.mke_version,
                "Details": {
                    "ApiVersion": API_VERSION, "Arch": "amd64",
                    "BuildTime": "Tue Jun 10 12:00:00 UTC 2025", "GitCommit": "5b1c2a7",
                    "GoVersion": "go1.22.7", "MinApiVersion": "1.20", "Os": "linux",
                },
            },
            {
                "Name": "Kubernetes",
                "Version": format!("{major}.{minor}+"),
                "Details": {
                    "buildDate": "2025-06-01T00:00:00Z", "compiler": "gc",
                    "gitCommit": "3a1b2c3d", "gitTreeState": "clean",
                    "gitVersion": format!("v{k8s}-mirantis-1"), "goVersion": "go1.22.7",
                    "major": major, "minor": format!("{minor}+"), "platform": "linux/amd64",
                },
            },
        ],
        "Version": server_version(opts),
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.20",
        "GitCommit": "5b1c2a7",
        "GoVersion": "go1.22.7",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "5.15.0-113-generic",
        "BuildTime": "2025-06-10T12:00:00.000000000+00:00",
    })
}

/// A stable 25-character Swarm node ID.
fn node_id(number: u32) -> String {
    format!("sbxnode{number:018}")
}

pub fn nodes(topo: &Topology) -> Value {
    let leader = topo.managers().find(|n| !n.down).map(|n| n.number);
    let list: Vec<Value> = topo
        .nodes
        .iter()
        .map(|n| {
            let manager = n.role == Role::Manager;
            let mut labels = json!({
                "com.docker.ucp.access.label": "/System",
                "com.docker.ucp.collection": "system",
                "com.docker.ucp.collection.root": "true",
                "com.docker.ucp.collection.swarm": "true",
                "com.docker.ucp.orchestrator.kubernetes": "true",
                "com.docker.ucp.orchestrator.swarm": "true",
            });
            if manager {
                labels["com.docker.ucp.SANs"] =
                    json!(format!("{},{},localhost", n.addr, n.hostname));
            }
            let mut node = json!({
                "ID": node_id(n.number),
                "Version": { "Index": 100 + n.number },
                "CreatedAt": "2025-01-15T09:00:00.000000000Z",
                "UpdatedAt": "2025-06-10T12:00:00.000000000Z",
                "Spec": {
                    "Labels": labels,
                    "Role": if manager { "manager" } else { "worker" },
                    "Availability": "active",
                },
                "Description": {
                    "Hostname": n.hostname,
                    "Platform": { "Architecture": "x86_64", "OS": "linux" },
                    "Resources": { "NanoCPUs": 8_000_000_000u64, "MemoryBytes": 33_554_432_000u64 },
                    "Engine": { "EngineVersion": ENGINE_VERSION, "Labels": {}, "Plugins": [] },
                },
                "Status": {
                    "State": if n.down { "down" } else { "ready" },
                    "Message": if n.down { "heartbeat failure" } else { "" },
                    "Addr": if n.addr_zero { "0.0.0.0".to_string() } else { n.addr.to_string() },
                },
            });
            if manager {
                node["ManagerStatus"] = json!({
                    "Leader": leader == Some(n.number),
                    "Reachability": if n.down { "unreachable" } else { "reachable" },
                    "Addr": format!("{}:2377", n.addr),
                });
            }
            node
        })
        .collect();
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_knobs() {
        let opts = SandboxOptions {
            nodes: 3,
            managers: 2,
            down_node: vec![1, 3],
            manager_addr_zero: vec![2],
            legacy_component_name: true,
            ..Default::default()
        };
        let topo = Topology::new(&opts);
        assert_eq!(info(&opts, &topo)["ServerVersion"], "ucp/3.8.10");
        let v = version(&opts);
        assert_eq!(v["Components"][1]["Name"], "Universal Control Plane");
        assert_eq!(v["Components"][1]["Version"], "3.8.10");
        let n = nodes(&topo);
        assert_eq!(n[0]["Status"]["State"], "down");
        assert_eq!(n[0]["ManagerStatus"]["Leader"], false);
        assert_eq!(n[1]["ManagerStatus"]["Leader"], true);
        assert_eq!(n[1]["Status"]["Addr"], "0.0.0.0");
        assert!(n[2].get("ManagerStatus").is_none());
        assert_eq!(n[2]["Spec"]["Role"], "worker");
        assert_eq!(node_id(1).len(), 25);
        let plain = SandboxOptions {
            plain_info_version: true,
            ..Default::default()
        };
        assert_eq!(info(&plain, &topo)["ServerVersion"], ENGINE_VERSION);
    }
}
