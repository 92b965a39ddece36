//! The simulated MKE 4 load balancer: TCP listeners on 6443, 9443 and the
//! UI/gateway listener port of one loopback address, which accept a
//! connection and close it (enough for a reachability check). The address
//! is random in 127.0.0.0/8, so that several sandboxes (parallel tests)
//! can each have their own ports 6443 and 9443.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SandboxError;

/// Addresses tried before giving up.
const TRIES: u32 = 32;

pub struct Lb {
    /// `ADDRESS:LISTENER`, the value for `--external-address`.
    pub external_address: String,
    pub servers: Vec<JoinHandle<()>>,
}

/// Binds the ports not listed in `closed` on a fresh loopback address.
pub async fn start(
    listener_port: u16,
    closed: &[u16],
    stop: &watch::Receiver<bool>,
) -> Result<Lb, SandboxError> {
    let ports: Vec<u16> = [6443, 9443, listener_port]
        .into_iter()
        .filter(|p| !closed.contains(p))
        .collect();
    let mut last = None;
    for _ in 0..TRIES {
        let ip = IpAddr::V4(random_loopback());
        let mut listeners = Vec::new();
        for port in &ports {
            let addr = SocketAddr::new(ip, *port);
            match TcpListener::bind(addr).await {
                Ok(l) => listeners.push(l),
                Err(err) => {
                    last = Some(SandboxError::Bind { addr, err });
                    break;
                }
            }
        }
        if listeners.len() == ports.len() {
            let servers = listeners
                .into_iter()
                .map(|l| tokio::spawn(accept_and_close(l, stop.clone())))
                .collect();
            return Ok(Lb {
                external_address: format!("{ip}:{listener_port}"),
                servers,
            });
        }
    }
    Err(last.unwrap_or(SandboxError::Options(
        "no loopback address was free for the load balancer".into(),
    )))
}

/// 127.64.0.0/10, away from the nodes (127.0.x.y).
fn random_loopback() -> Ipv4Addr {
    let r: u32 = rand::random();
    let b = 64 + (r % 64) as u8;
    let c = (r >> 8) as u8;
    let d = 1 + ((r >> 16) % 254) as u8;
    Ipv4Addr::new(127, b, c, d)
}

async fn accept_and_close(listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                if accepted.is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listens_on_the_open_ports_only() {
        let (_tx, rx) = watch::channel(false);
        let lb = start(8443, &[9443], &rx).await.unwrap();
        let (host, port) = lb.external_address.rsplit_once(':').unwrap();
        assert_eq!(port, "8443");
        let ip: IpAddr = host.parse().unwrap();
        assert!(ip.is_loopback());
        for (p, open) in [(6443, true), (9443, false), (8443, true)] {
            let r = tokio::net::TcpStream::connect((ip, p)).await;
            assert_eq!(r.is_ok(), open, "port {p}");
        }
    }
}
