//! Who the simulated nodes are: number, role, loopback address, hostname.

use std::net::{IpAddr, Ipv4Addr};

use super::options::SandboxOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manager,
    Worker,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// 1-based; managers come first.
    pub number: u32,
    pub role: Role,
    pub addr: IpAddr,
    pub hostname: String,
    pub down: bool,
    pub addr_zero: bool,
    pub sudo_needs_password: bool,
    /// The MCR version it reports.
    pub engine: String,
    pub windows: bool,
    pub gpus: u64,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub nodes: Vec<Node>,
}

impl Topology {
    pub fn new(opts: &SandboxOptions) -> Topology {
        let nodes = (1..=opts.nodes)
            .map(|number| {
                let role = if number <= opts.managers {
                    Role::Manager
                } else {
                    Role::Worker
                };
                Node {
                    number,
                    role,
                    addr: node_addr(number),
                    hostname: hostname(number, opts.managers),
                    down: opts.down_node.contains(&number),
                    addr_zero: role == Role::Manager && opts.manager_addr_zero.contains(&number),
                    sudo_needs_password: opts.sudo_password_node.contains(&number),
                    engine: opts.engine_of(number).to_string(),
                    windows: opts.windows_node.contains(&number),
                    gpus: if opts.gpu_node.contains(&number) {
                        2
                    } else {
                        0
                    },
                }
            })
            .collect();
        Topology { nodes }
    }

    pub fn node(&self, number: u32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.number == number)
    }

    pub fn managers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Manager)
    }

    /// Hostname of node `number` (also for numbers beyond the topology,
    /// which a restarted sandbox with fewer nodes may still hold files for).
    pub fn hostname(&self, number: u32) -> String {
        let managers = u32::try_from(self.managers().count()).unwrap_or(u32::MAX);
        hostname(number, managers)
    }
}

fn hostname(number: u32, managers: u32) -> String {
    if number <= managers {
        format!("sandbox-manager-{number}")
    } else {
        format!("sandbox-worker-{}", number - managers)
    }
}

/// Node `i` listens on 127.0.0.(10+i) on Linux, where all of 127.0.0.0/8
/// is the loopback; past .254 the addresses go on in 127.0.1.x and so on.
/// Elsewhere only 127.0.0.1 is configured, so every node shares it.
pub fn node_addr(number: u32) -> IpAddr {
    if cfg!(target_os = "linux") {
        let k = 9 + number;
        let third = u8::try_from(k / 254).unwrap_or(u8::MAX);
        let fourth = u8::try_from(k % 254 + 1).unwrap_or(1);
        IpAddr::V4(Ipv4Addr::new(127, 0, third, fourth))
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn addresses() {
        assert_eq!(node_addr(1).to_string(), "127.0.0.11");
        assert_eq!(node_addr(244).to_string(), "127.0.0.254");
        assert_eq!(node_addr(245).to_string(), "127.0.1.1");
        assert_eq!(node_addr(1000).to_string(), "127.0.3.248");
    }

    #[test]
    fn roles_and_names() {
        let opts = SandboxOptions {
            nodes: 5,
            managers: 3,
            down_node: vec![4],
            manager_addr_zero: vec![2],
            ..Default::default()
        };
        let t = Topology::new(&opts);
        assert_eq!(t.managers().count(), 3);
        assert_eq!(t.nodes[3].hostname, "sandbox-worker-1");
        assert!(t.nodes[3].down && t.nodes[1].addr_zero && !t.nodes[0].addr_zero);
        assert_eq!(t.hostname(7), "sandbox-worker-4");
    }
}
