//! The native SSH transport: an in-process client (russh) that connects the
//! way mkectl does — the inventory's address, port, user and `keyPath`, or
//! the agent and the default keys when no `keyPath` is given — with strict
//! host-key checking against the OpenSSH `known_hosts` files.
//!
//! One TCP connection (TCP_NODELAY) per host, reused for every command run
//! on it; no process per host, so a fan-out over hundreds of hosts costs
//! little more than the handshakes themselves. Key exchange and ciphers are
//! russh's defaults (mlkem768x25519 first, then curve25519), less SHA-1
//! `ssh-rsa` host-key signatures, which OpenSSH 8.8 dropped too.

mod auth;
mod host_keys;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, Handle};
use russh::{ChannelMsg, Disconnect};

use super::{Cause, Output, SshError, SshSettings};
use crate::inventory::Host;
use auth::authenticate;
use host_keys::{Checker, handshake_failure, preferred_for};

pub use auth::KeyCache;

/// What one stream of a command may keep (the rest is dropped).
const OUTPUT_CAP: usize = 1 << 20;

/// An open, authenticated connection to one host.
pub struct Conn {
    handle: Handle<Checker>,
    address: String,
    settings: SshSettings,
}

fn error(host: &Host, cause: Cause, message: String) -> SshError {
    SshError {
        host: host.address.clone(),
        cause,
        message,
    }
}

impl Conn {
    /// Connects to one of `addrs` (resolved already), checks the host key
    /// and logs in, within the connect timeout.
    pub async fn open(
        host: &Host,
        addrs: &[SocketAddr],
        settings: &SshSettings,
    ) -> Result<Conn, SshError> {
        let timeout = settings.connect_timeout;
        let known = settings.known_hosts_db();
        let lookup = known.lookup(&host.address, host.port).map_err(|why| {
            error(
                host,
                Cause::HostKey,
                format!("{why}; no host key can be checked"),
            )
        })?;
        let (peer, stream) = super::connect_first(host, addrs, timeout).await?;
        // Nagle and delayed ACKs would cost two ~40 ms stalls per handshake.
        let _ = stream.set_nodelay(true);
        // As OpenSSH's ConnectTimeout: the connect and the server's first
        // bytes (its version line) within --ssh-timeout; the key exchange
        // and login after it within the command timeout, since a busy
        // server can take a while to answer fifty logins at once.
        let mut first = [0u8; 4];
        match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => {
                return Err(error(
                    host,
                    Cause::Other,
                    format!(
                        "{peer} closed the connection before saying anything (sshd's MaxStartups, or a TCP wrapper refusing this machine)"
                    ),
                ));
            }
            Ok(Err(e)) => {
                let (cause, message) = super::connect_failure(peer, &e);
                return Err(error(host, cause, message));
            }
            Err(_) => {
                return Err(error(
                    host,
                    Cause::Timeout,
                    format!(
                        "{peer} accepts TCP connections, but sent no SSH banner within {}",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
        }
        let login_limit = settings.command_timeout;
        let config = Arc::new(client::Config {
            preferred: preferred_for(&lookup.recorded_types()),
            nodelay: true,
            inactivity_timeout: Some(settings.command_timeout),
            ..client::Config::default()
        });
        let checker = Checker {
            address: host.address.clone(),
            port: host.port,
            lookup,
            known,
            accept_new: settings.accept_new_host_keys,
        };
        let login = async {
            let mut handle = client::connect_stream(config, stream, checker)
                .await
                .map_err(|e| handshake_failure(host, peer, e))?;
            authenticate(&mut handle, host, settings).await?;
            Ok::<_, SshError>(handle)
        };
        let handle = match tokio::time::timeout(login_limit, login).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(error(
                    host,
                    Cause::Timeout,
                    format!(
                        "{peer} sent its SSH banner, but the key exchange and login did not finish within {}",
                        humantime::format_duration(login_limit)
                    ),
                ));
            }
        };
        Ok(Conn {
            handle,
            address: host.address.clone(),
            settings: settings.clone(),
        })
    }

    /// Runs one command on a new channel of the connection, bounded by the
    /// command timeout. A non-zero exit is `Ok` with its status.
    pub async fn exec(&mut self, command: &str) -> Result<Output, SshError> {
        let started = Instant::now();
        let err = |cause, message: String| SshError {
            host: self.address.clone(),
            cause,
            message,
        };
        let run = async {
            let mut channel = self.handle.channel_open_session().await.map_err(|e| {
                err(
                    Cause::Other,
                    format!("cannot open an SSH session channel: {e}"),
                )
            })?;
            channel
                .exec(true, command)
                .await
                .map_err(|e| err(Cause::Other, format!("cannot start `{command}`: {e}")))?;
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            let mut status = None;
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => keep(&mut stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => keep(&mut stderr, &data),
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        keep(
                            &mut stderr,
                            format!("killed by signal {signal_name:?}\n").as_bytes(),
                        );
                        status = Some(-1);
                    }
                    ChannelMsg::Failure => {
                        return Err(err(
                            Cause::Other,
                            format!("the host refused to run `{command}`"),
                        ));
                    }
                    _ => {}
                }
            }
            let Some(status) = status else {
                return Err(err(
                    Cause::Other,
                    format!("the connection closed before `{command}` reported its exit status"),
                ));
            };
            Ok(Output {
                status,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
                elapsed: started.elapsed(),
            })
        };
        let limit = self.settings.command_timeout;
        match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            // Logged in: the network is fine, the command hangs.
            Err(_) => Err(err(
                Cause::Command,
                format!(
                    "logged in, but `{command}` did not finish within {}",
                    humantime::format_duration(limit)
                ),
            )),
        }
    }

    /// Says goodbye; a host that does not listen any more is no error.
    pub async fn close(self) {
        let bye = self.handle.disconnect(Disconnect::ByApplication, "", "en");
        let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    }
}

fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = OUTPUT_CAP.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped() {
        let mut buf = Vec::new();
        keep(&mut buf, &vec![b'x'; OUTPUT_CAP - 1]);
        keep(&mut buf, b"abc");
        assert_eq!(buf.len(), OUTPUT_CAP);
    }
}
