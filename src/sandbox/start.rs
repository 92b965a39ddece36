//! Starting a sandbox: the listeners (ports kept across starts), the keys,
//! the CA and the files a client needs, then the API and SSH servers.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::client_files::{LEFTOVER_KUBECONF, inventory_yaml};
use super::files::{private_dir, write_executable, write_private};
use super::record::Record;
use super::shared::{Faults, Shared, counted, sandbox_password};
use super::state::Cluster;
use super::topology::{Role, Topology};
use super::{Sandbox, SandboxError, SandboxNode, SandboxOptions, api, ssh, tls};
use crate::util::secret::Secret;

/// Starts a sandbox whose state lives in `dir` (created if missing).
pub async fn start(opts: &SandboxOptions, dir: &Path) -> Result<Sandbox, SandboxError> {
    opts.validate()?;
    let password = Secret::new(sandbox_password()?);
    private_dir(dir)?;
    let dir = std::path::absolute(dir).map_err(|err| SandboxError::io("resolve", dir, err))?;
    let ssh_dir = dir.join("ssh");
    let bin_dir = dir.join("bin");
    let home_dir = dir.join("home");
    for d in [&ssh_dir, &bin_dir, &home_dir] {
        private_dir(d)?;
    }
    let topo = Topology::new(opts);
    let (mut cluster, resumed) = Cluster::load_or_init(&dir, opts, &topo)?;

    // Listeners first: their ports go into the inventory and the state.
    let mut api_ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for m in topo.managers() {
        if !api_ips.contains(&m.addr) {
            api_ips.push(m.addr);
        }
    }
    let (api_port, api_listeners) = bind_api(&api_ips, cluster.data.api_port).await?;
    let mut ssh_listeners = Vec::new();
    for node in &topo.nodes {
        let index = usize::try_from(node.number - 1).unwrap_or(usize::MAX);
        let preferred = cluster.data.ssh_ports.get(index).copied();
        ssh_listeners.push(bind_one(node.addr, preferred).await?);
    }
    let ssh_ports: Vec<u16> = ssh_listeners
        .iter()
        .map(|l| l.local_addr().map_or(0, |a| a.port()))
        .collect();
    cluster.data.api_port = Some(api_port);
    // Keep the ports of nodes beyond the current count for a later start.
    for (i, port) in ssh_ports.iter().enumerate() {
        match cluster.data.ssh_ports.get_mut(i) {
            Some(p) => *p = *port,
            None => cluster.data.ssh_ports.push(*port),
        }
    }
    cluster.save()?;

    let tls = tls::generate(&api_ips, opts.wrong_ca)?;
    let ca_cert = dir.join("ca.pem");
    write_private(&ca_cert, tls.ca_pem.as_bytes())?;

    let ssh_key = ssh_dir.join("id_ed25519");
    let user_key = ssh::load_or_generate_key(&ssh_key, "mkeprep-sandbox-user")?;
    write_private(
        &ssh_dir.join("id_ed25519.pub"),
        format!("{}\n", ssh::public_line(&user_key)?).as_bytes(),
    )?;
    let mut host_keys = Vec::new();
    let mut known = String::new();
    let mut nodes = Vec::new();
    for (node, port) in topo.nodes.iter().zip(&ssh_ports) {
        let key = ssh::load_or_generate_key(
            &ssh_dir.join(format!("host-{}", node.number)),
            &node.hostname,
        )?;
        known.push_str(&format!(
            "[{}]:{port} {}\n",
            node.addr,
            ssh::public_line(&key)?
        ));
        host_keys.push(key);
        nodes.push(SandboxNode {
            number: node.number,
            manager: node.role == Role::Manager,
            hostname: node.hostname.clone(),
            address: node.addr,
            ssh_port: *port,
        });
    }
    let known_hosts = dir.join("known_hosts");
    write_private(&known_hosts, known.as_bytes())?;
    let inventory = dir.join("hosts.yaml");
    write_private(
        &inventory,
        inventory_yaml(&dir, &nodes, &opts.ssh_user, &ssh_key).as_bytes(),
    )?;
    write_executable(
        &bin_dir.join("mkectl"),
        super::mkectl::wrapped(&opts.mkectl_version).as_bytes(),
    )?;
    write_private(
        &bin_dir.join(super::mkectl::TABLE),
        super::mkectl::table().as_bytes(),
    )?;
    if !resumed && opts.leftover_kubeconf {
        let mke = home_dir.join(".mke");
        private_dir(&mke)?;
        write_private(&mke.join("mke.kubeconf"), LEFTOVER_KUBECONF.as_bytes())?;
    }

    let record_path = dir.join("record.jsonl");
    let record = Record::open(&record_path)?;
    let mke_host = format!("https://127.0.0.1:{api_port}");
    record.write(
        "start",
        json!({ "api": mke_host, "nodes": opts.nodes, "managers": opts.managers, "resumed": resumed }),
    );
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        topo,
        cluster: Mutex::new(cluster),
        record,
        password: password.clone(),
        tokens: Mutex::new(HashMap::new()),
        faults: Faults {
            http_error: counted(&opts.http_error),
            slow: counted(&opts.slow),
            drop: counted(&opts.drop),
        },
        kdd_busy: AtomicBool::new(false),
        logins: AtomicU64::new(0),
        config_gets: AtomicU32::new(0),
        tasks: Mutex::new(JoinSet::new()),
    });

    let (stop, stop_rx) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config);
    let mut servers = Vec::new();
    for listener in api_listeners {
        servers.push(tokio::spawn(api::serve(
            listener,
            acceptor.clone(),
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    let user_public = Arc::new(user_key.public_key().clone());
    for ((listener, key), node) in ssh_listeners.into_iter().zip(host_keys).zip(1u32..) {
        servers.push(tokio::spawn(ssh::serve(
            listener,
            key,
            node,
            user_public.clone(),
            shared.clone(),
            stop_rx.clone(),
        )));
    }

    let external_address = if opts.lb {
        let lb = super::lb::start(opts.lb_listener_port, &opts.lb_closed_port, &stop_rx).await?;
        servers.extend(lb.servers);
        Some(lb.external_address)
    } else {
        None
    };

    Ok(Sandbox {
        mke_host,
        username: opts.username.clone(),
        password,
        ca_cert,
        inventory,
        known_hosts,
        ssh_key,
        bin_dir,
        home_dir,
        record: record_path,
        dir,
        nodes,
        resumed,
        kdd_duration: opts.kdd_duration(),
        external_address,
        gateway_node_ports: (34001, 34000),
        stop,
        servers,
        shared,
    })
}

/// Binds the API port on 127.0.0.1 and, with the same port, on every
/// manager address (clients ping managers at their address and that port).
/// Tries the port of the previous start first, so a restarted sandbox keeps
/// its `MKE_HOST`.
async fn bind_api(
    ips: &[IpAddr],
    preferred: Option<u16>,
) -> Result<(u16, Vec<TcpListener>), SandboxError> {
    let mut last = None;
    for port in preferred.into_iter().chain(std::iter::repeat_n(0, 20)) {
        let mut listeners = Vec::new();
        let mut chosen = port;
        for ip in ips {
            let addr = SocketAddr::new(*ip, chosen);
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    chosen = l.local_addr().map_or(0, |a| a.port());
                    listeners.push(l);
                }
                Err(err) => {
                    last = Some(SandboxError::Bind { addr, err });
                    break;
                }
            }
        }
        if listeners.len() == ips.len() {
            return Ok((chosen, listeners));
        }
    }
    Err(last.unwrap_or(SandboxError::Bind {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        err: io::Error::other("no port found"),
    }))
}

/// Binds `ip` on the preferred port, or on any free one.
async fn bind_one(ip: IpAddr, preferred: Option<u16>) -> Result<TcpListener, SandboxError> {
    if let Some(port) = preferred.filter(|p| *p != 0)
        && let Ok(l) = TcpListener::bind((ip, port)).await
    {
        return Ok(l);
    }
    let addr = SocketAddr::new(ip, 0);
    TcpListener::bind(addr)
        .await
        .map_err(|err| SandboxError::Bind { addr, err })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_writes_what_a_client_needs_and_a_restart_keeps_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sandbox");
        let opts = SandboxOptions {
            nodes: 2,
            leftover_kubeconf: true,
            ..Default::default()
        };
        let sb = start(&opts, &dir).await.unwrap();
        assert!(!sb.resumed);
        assert!(sb.mke_host.starts_with("https://127.0.0.1:"));
        assert!(sb.password.expose().len() >= 16);
        assert_eq!(format!("{:?}", sb.password), crate::util::secret::MASK);
        for path in [
            &sb.ca_cert,
            &sb.inventory,
            &sb.known_hosts,
            &sb.ssh_key,
            &sb.record,
        ] {
            assert!(path.is_file(), "{}", path.display());
        }
        assert!(sb.bin_dir.join("mkectl").is_file());
        assert!(sb.home_dir.join(".mke/mke.kubeconf").is_file());
        assert_eq!(sb.nodes.len(), 2);
        assert!(sb.nodes[0].manager && !sb.nodes[1].manager);
        assert_eq!(sb.kdd_duration, Duration::from_secs(1));
        let host = sb.mke_host.clone();
        sb.shared.cluster().config.push_str("# changed\n");
        sb.shared.cluster().save().unwrap();
        sb.shutdown().await;
        std::fs::remove_file(dir.join("home/.mke/mke.kubeconf")).unwrap();

        let again = start(&opts, &dir).await.unwrap();
        assert!(again.resumed);
        assert_eq!(again.mke_host, host);
        assert!(again.shared.cluster().config.ends_with("# changed\n"));
        assert!(
            !again.home_dir.join(".mke/mke.kubeconf").exists(),
            "initial state only"
        );
        again.shutdown().await;
        let record = std::fs::read_to_string(dir.join("record.jsonl")).unwrap();
        assert_eq!(
            record
                .lines()
                .filter(|l| l.contains("\"kind\":\"stop\""))
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn invalid_options_are_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sandbox");
        let opts = SandboxOptions {
            nodes: 0,
            ..Default::default()
        };
        let err = start(&opts, &dir).await.unwrap_err();
        assert!(matches!(err, SandboxError::Options(_)), "{err}");
        assert!(!dir.exists());
    }
}
