//! The Docker-shaped documents MKE proxies: `GET /info`, `GET /version`
//! (Docker's SystemVersion) and `GET /nodes` (Swarm nodes), per facts §A.

use serde_json::{Value, json};

use super::options::SandboxOptions;
use super::topology::{Role, Topology};

const API_VERSION: &str = "1.43";

/// What `ServerVersion` (and `/version`'s `Version`) reports.
fn server_version(opts: &SandboxOptions) -> String {
    if opts.plain_info_version {
        opts.engine_version.clone()
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
                "Version": opts.engine_version,
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
                    "Platform": { "Architecture": "x86_64", "OS": if n.windows { "windows" } else { "linux" } },
                    "Resources": resources(n.gpus),
                    "Engine": { "EngineVersion": n.engine, "Labels": {}, "Plugins": [] },
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

fn resources(gpus: u64) -> Value {
    let mut r = json!({ "NanoCPUs": 8_000_000_000u64, "MemoryBytes": 33_554_432_000u64 });
    if gpus > 0 {
        r["GenericResources"] =
            json!([{ "DiscreteResourceSpec": { "Kind": "NVIDIA-GPU", "Value": gpus } }]);
    }
    r
}

/// `GET /services`: MKE's own services, Interlock's, and the user's.
pub fn services(opts: &SandboxOptions) -> Value {
    let mut names: Vec<(&str, bool)> = vec![
        ("ucp-auth-api", true),
        ("ucp-auth-worker", true),
        ("ucp-agent", false),
    ];
    if opts.interlock {
        names.extend([
            ("ucp-interlock", true),
            ("ucp-interlock-extension", true),
            ("ucp-interlock-proxy", true),
        ]);
    }
    let mut list: Vec<Value> = names
        .into_iter()
        .enumerate()
        .map(|(i, (name, replicated))| {
            let mode = if replicated {
                json!({ "Replicated": { "Replicas": 1 } })
            } else {
                json!({ "Global": {} })
            };
            json!({
                "ID": format!("sbxsvc{i:019}"),
                "Spec": {
                    "Name": name,
                    "Labels": { "com.docker.ucp.InstanceID": "sandbox" },
                    "Mode": mode,
                    "TaskTemplate": { "ContainerSpec": {
                        "Image": format!("mirantis/{}:{}", name.trim_start_matches("ucp-"), opts.mke_version)
                    } },
                },
            })
        })
        .collect();
    for (i, name) in opts.swarm_service.iter().enumerate() {
        list.push(json!({
            "ID": format!("sbxusr{i:019}"),
            "Spec": {
                "Name": name,
                "Labels": { "com.docker.stack.namespace": "sandbox" },
                "Mode": { "Replicated": { "Replicas": 2 } },
                "TaskTemplate": { "ContainerSpec": { "Image": "nginx:1.27@sha256:0000" } },
            },
        }));
    }
    Value::Array(list)
}

/// `GET /containers/json`: a few of MKE's containers on every node, and
/// cert-manager's pods when it runs.
pub fn containers(opts: &SandboxOptions, topo: &Topology) -> Value {
    let mut list = Vec::new();
    for n in &topo.nodes {
        list.push(json!({
            "Id": format!("sbxctr-proxy-{}", n.number),
            "Names": [format!("/{}/ucp-proxy", n.hostname)],
            "Image": format!("mirantis/ucp-proxy:{}", opts.mke_version),
            "Labels": { "com.docker.ucp.InstanceID": "sandbox" },
        }));
    }
    if opts.cert_manager {
        for part in ["controller", "cainjector", "webhook"] {
            list.push(json!({
                "Id": format!("sbxctr-cm-{part}"),
                "Names": [format!("/sandbox-worker-1/k8s_cert-manager-{part}_cert-manager-{part}-5d8f_cert-manager_0_0")],
                "Image": format!("quay.io/jetstack/cert-manager-{part}:v1.14.4"),
                "Labels": {
                    "io.kubernetes.pod.namespace": "cert-manager",
                    "io.kubernetes.container.name": format!("cert-manager-{part}"),
                },
            }));
        }
    }
    Value::Array(list)
}

/// `GET /accounts` (eNZi): the admin, the knob's users and, unless
/// `filter=users`, MKE's default organisation. One page.
pub fn accounts(opts: &SandboxOptions, users_only: bool) -> Value {
    let mut accounts = vec![json!({
        "name": opts.username, "id": "sbx-admin", "fullName": "Administrator",
        "isOrg": false, "isAdmin": true, "isActive": true, "isImported": false, "otpEnabled": false,
    })];
    for u in &opts.user {
        accounts.push(json!({
            "name": u, "id": format!("sbx-{u}"), "fullName": u,
            "isOrg": false, "isAdmin": false, "isActive": true, "isImported": false, "otpEnabled": false,
        }));
    }
    let users = accounts.len();
    if !users_only {
        accounts.push(json!({"name": "docker-datacenter", "id": "sbx-org", "isOrg": true, "isAdmin": false, "isActive": true}));
    }
    json!({
        "usersCount": users,
        "orgsCount": if users_only { 0 } else { 1 },
        "resourceCount": accounts.len(),
        "nextPageStart": "",
        "accounts": accounts,
    })
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
        assert_eq!(
            info(&plain, &topo)["ServerVersion"],
            plain.engine_version.as_str()
        );
    }
}
