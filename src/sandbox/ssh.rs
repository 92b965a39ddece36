//! One SSH endpoint per simulated node (russh), spoken to by the real
//! OpenSSH client: public-key login with the sandbox's ed25519 user key and
//! user, exec requests answered by `commands`, nothing else.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey, PublicKey};
use russh::server::{
    Auth, ChannelOpenHandle, Config, Handler, Msg, PublicKeyOffer, Server, Session,
    VerifiedPublicKey,
};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::files::{read_private, write_private};
use super::{SandboxError, Shared, commands};

/// Loads the OpenSSH private key at `path`, or makes a new ed25519 key there.
pub fn load_or_generate_key(path: &Path, comment: &str) -> Result<PrivateKey, SandboxError> {
    let bad = |reason: String| SandboxError::State {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(text) = read_private(path)? {
        return PrivateKey::from_openssh(&text)
            .map_err(|e| bad(format!("not an OpenSSH key: {e}")));
    }
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(|e| {
        SandboxError::Crypto {
            what: "an ed25519 key",
            reason: e.to_string(),
        }
    })?;
    key.set_comment(comment);
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| bad(format!("cannot encode the key: {e}")))?;
    write_private(path, text.as_bytes())?;
    Ok(key)
}

/// `ssh-ed25519 AAAA… comment`, for known_hosts and `.pub` files.
pub fn public_line(key: &PrivateKey) -> Result<String, SandboxError> {
    key.public_key()
        .to_openssh()
        .map_err(|e| SandboxError::Crypto {
            what: "a public key line",
            reason: e.to_string(),
        })
}

/// Serves node `node` on `listener` until `stop` flips.
pub(super) async fn serve(
    listener: TcpListener,
    host_key: PrivateKey,
    node: u32,
    user_key: Arc<PublicKey>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let config = Arc::new(Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(50),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        inactivity_timeout: Some(Duration::from_secs(300)),
        nodelay: true,
        ..Config::default()
    });
    let mut server = NodeServer {
        node,
        user_key,
        shared,
    };
    let running = server.run_on_socket(config, &listener);
    let handle = running.handle();
    tokio::select! {
        result = running => {
            if let Err(err) = result {
                eprintln!("mkeprep sandbox: the SSH endpoint of node {node} stopped: {err}");
            }
        }
        _ = stop.changed() => handle.shutdown("the mkeprep sandbox is stopping".into()),
    }
}

struct NodeServer {
    node: u32,
    user_key: Arc<PublicKey>,
    shared: Arc<Shared>,
}

impl Server for NodeServer {
    type Handler = NodeSession;

    fn new_client(&mut self, _peer: Option<std::net::SocketAddr>) -> NodeSession {
        NodeSession {
            node: self.node,
            user_key: self.user_key.clone(),
            shared: self.shared.clone(),
        }
    }
}

struct NodeSession {
    node: u32,
    user_key: Arc<PublicKey>,
    shared: Arc<Shared>,
}

impl NodeSession {
    fn auth(&self, user: &str, key: &PublicKey) -> Auth {
        if user == self.shared.opts.ssh_user && key.key_data() == self.user_key.key_data() {
            Auth::Accept
        } else {
            Auth::reject()
        }
    }

    /// Sends a command's output, exit status, EOF and close on `channel`.
    fn finish(
        channel: ChannelId,
        session: &mut Session,
        out: commands::Output,
    ) -> Result<(), russh::Error> {
        session.channel_success(channel)?;
        if !out.stdout.is_empty() {
            session.data(channel, out.stdout)?;
        }
        if !out.stderr.is_empty() {
            session.extended_data(channel, 1, out.stderr)?;
        }
        session.exit_status_request(channel, out.code)?;
        session.eof(channel)?;
        session.close(channel)
    }
}

impl Handler for NodeSession {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, offer.public_key))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, key.public_key))
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(data).into_owned();
        let Some(node) = self.shared.topo.node(self.node) else {
            return session.channel_failure(channel);
        };
        let out = commands::run(&self.shared, node, &line);
        self.shared.record.write(
            "ssh",
            json!({
                "node": self.node,
                "addr": node.addr.to_string(),
                "command": line,
                "exit": out.code,
            }),
        );
        if out.delay.is_zero() {
            return Self::finish(channel, session, out);
        }
        // A slow command: answer later, so the connection's other channels
        // go on meanwhile (and a client that gives up is no error).
        session.channel_success(channel)?;
        let handle = session.handle();
        self.shared.spawn(async move {
            tokio::time::sleep(out.delay).await;
            if !out.stdout.is_empty() {
                let _ = handle.data(channel, out.stdout).await;
            }
            if !out.stderr.is_empty() {
                let _ = handle.extended_data(channel, 1, out.stderr).await;
            }
            let _ = handle.exit_status_request(channel, out.code).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let out = commands::Output {
            stdout: Vec::new(),
            stderr: b"sandbox: interactive shells are not simulated; run one command, e.g. ssh ... true\n"
                .to_vec(),
            code: 127,
            delay: std::time::Duration::ZERO,
        };
        Self::finish(channel, session, out)
    }
}
