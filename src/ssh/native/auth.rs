//! Logging in for the native transport: the keys to offer (the inventory's
//! `keyPath`, else ssh-agent's and the default files), read once per run,
//! and public-key authentication with them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{AuthResult, Handle};
use russh::keys::ssh_key::PublicKey;
use russh::keys::{
    HashAlg, PrivateKeyWithHashAlg, agent::AgentIdentity, agent::client::AgentClient,
};

use super::error;
use super::host_keys::Checker;
use crate::inventory::Host;
use crate::ssh::{Cause, SshError, SshSettings};

/// The keys to offer: the inventory's `keyPath` (through the agent when the
/// file is passphrase-protected), else the agent's and the default files.
enum Identity {
    File(PathBuf, Arc<russh::keys::PrivateKey>),
    Agent(PublicKey, String),
}

impl Identity {
    fn describe(&self) -> String {
        match self {
            Identity::File(p, _) => p.display().to_string(),
            Identity::Agent(_, comment) if comment.is_empty() => "an agent key".into(),
            Identity::Agent(_, comment) => format!("agent key {comment}"),
        }
    }
}

/// How long ssh-agent may take to list its keys or sign (a stale forwarded
/// socket, or a key that asks for confirmation).
const AGENT_LIMIT: Duration = Duration::from_secs(10);

type Agent = AgentClient<tokio::net::UnixStream>;

async fn agent_keys(
    host: &Host,
    only: Option<&PublicKey>,
) -> Result<(Option<Agent>, Vec<Identity>), SshError> {
    let Some(sock) = std::env::var_os("SSH_AUTH_SOCK") else {
        return Ok((None, Vec::new()));
    };
    let list = async {
        let mut agent = AgentClient::connect_env().await.ok()?;
        let ids = agent.request_identities().await.unwrap_or_default();
        Some((agent, ids))
    };
    let Some((agent, ids)) = tokio::time::timeout(AGENT_LIMIT, list).await.map_err(|_| {
        error(
            host,
            Cause::Auth,
            format!(
                "ssh-agent at {} did not list its keys within {}s (unset SSH_AUTH_SOCK if it is stale)",
                std::path::Path::new(&sock).display(),
                AGENT_LIMIT.as_secs()
            ),
        )
    })?
    else {
        return Ok((None, Vec::new()));
    };
    let keys = ids
        .into_iter()
        .filter_map(|id| match id {
            AgentIdentity::PublicKey { key, comment } => Some(Identity::Agent(key, comment)),
            AgentIdentity::Certificate { .. } => None,
        })
        .filter(|id| match (only, id) {
            (Some(want), Identity::Agent(k, _)) => k.key_data() == want.key_data(),
            _ => true,
        })
        .collect();
    Ok((Some(agent), keys))
}

/// A key file: usable as it is, or passphrase-protected (then only its
/// public half is known, and the agent must sign for it).
#[derive(Clone)]
enum KeyFile {
    Usable(Arc<russh::keys::PrivateKey>),
    Protected(Box<PublicKey>),
}

/// Key files read once per run (every host of a fan-out names the same
/// few), with what was wrong with the ones that could not be used.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<PathBuf, Result<KeyFile, String>>>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl KeyCache {
    fn load(&self, path: &Path) -> Result<KeyFile, String> {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| load_key(path))
            .clone()
    }
}

/// The public half of a passphrase-protected key: from the OpenSSH key
/// file itself, else from `<keyPath>.pub` (PEM files carry none).
fn protected_public(path: &Path) -> Option<PublicKey> {
    let text = crate::util::fsx::read_input_text(path).ok()?;
    if let Ok(k) = russh::keys::ssh_key::PrivateKey::from_openssh(&text) {
        return Some(k.public_key().clone());
    }
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let line = crate::util::fsx::read_input_text(Path::new(&pub_path)).ok()?;
    let b64 = line.split_whitespace().nth(1)?;
    russh::keys::parse_public_key_base64(b64).ok()
}

fn load_key(path: &Path) -> Result<KeyFile, String> {
    // Read through fsx: a FIFO or a device is refused, not waited on.
    let text = match crate::util::fsx::read_input_text(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no such file".into()),
        Err(e) => return Err(e.to_string()),
    };
    match russh::keys::decode_secret_key(&text, None) {
        Ok(k) => Ok(KeyFile::Usable(Arc::new(k))),
        Err(russh::keys::Error::KeyIsEncrypted) => protected_public(path)
            .map(|k| KeyFile::Protected(Box::new(k)))
            .ok_or_else(|| {
                format!(
                    "it is passphrase-protected and its public half is unknown (put it beside it as {}.pub, or use --ssh-transport openssh)",
                    path.display()
                )
            }),
        Err(e) => Err(e.to_string()),
    }
}

async fn identities(
    host: &Host,
    settings: &SshSettings,
) -> Result<(Option<Agent>, Vec<Identity>), SshError> {
    if let Some(path) = &host.key_path {
        return match settings.key_cache.load(path) {
            Ok(KeyFile::Usable(key)) => Ok((None, vec![Identity::File(path.clone(), key)])),
            Ok(KeyFile::Protected(public)) => {
                let (agent, keys) = agent_keys(host, Some(&public)).await?;
                if keys.is_empty() {
                    Err(error(
                        host,
                        Cause::Auth,
                        format!(
                            "keyPath {} is passphrase-protected and ssh-agent does not hold it (ssh-add {0}, or use --ssh-transport openssh)",
                            path.display()
                        ),
                    ))
                } else {
                    Ok((agent, keys))
                }
            }
            Err(why) => Err(error(
                host,
                Cause::Auth,
                format!("cannot use keyPath {}: {why}", path.display()),
            )),
        };
    }
    let (agent, mut keys) = agent_keys(host, None).await?;
    if let Some(home) = &settings.home {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = home.join(".ssh").join(name);
            if let Ok(KeyFile::Usable(key)) = settings.key_cache.load(&path) {
                keys.push(Identity::File(path, key));
            }
        }
    }
    Ok((agent, keys))
}

pub(super) async fn authenticate(
    handle: &mut Handle<Checker>,
    host: &Host,
    settings: &SshSettings,
) -> Result<(), SshError> {
    let (mut agent, ids) = identities(host, settings).await?;
    let user = &host.user;
    if ids.is_empty() {
        return Err(error(
            host,
            Cause::Auth,
            format!(
                "Permission denied (publickey): no key to offer for {user} (set keyPath in hosts.yaml, or load a key into ssh-agent)"
            ),
        ));
    }
    let mut tried = Vec::new();
    // Asked once per connection, and only for RSA keys (it can wait 1 s).
    let mut rsa_hash: Option<Option<HashAlg>> = None;
    for id in &ids {
        let rsa = match id {
            Identity::File(_, k) => k.algorithm().is_rsa(),
            Identity::Agent(k, _) => k.algorithm().is_rsa(),
        };
        let hash = if rsa {
            if rsa_hash.is_none() {
                // No server-sig-algs extension: try rsa-sha2-256, never SHA-1 first.
                let best = handle.best_supported_rsa_hash().await.ok().flatten();
                rsa_hash = Some(best.unwrap_or(Some(HashAlg::Sha256)));
            }
            rsa_hash.flatten()
        } else {
            None
        };
        let result = match (id, agent.as_mut()) {
            (Identity::File(_, key), _) => handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await
                .map_err(|e| e.to_string()),
            (Identity::Agent(key, _), Some(agent)) => {
                let sign = handle.authenticate_publickey_with(user, key.clone(), hash, agent);
                match tokio::time::timeout(AGENT_LIMIT, sign).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "ssh-agent did not sign within {}s",
                        AGENT_LIMIT.as_secs()
                    )),
                }
            }
            (Identity::Agent(..), None) => continue,
        };
        match result {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => tried.push(id.describe()),
            Err(e) => tried.push(format!("{} ({e})", id.describe())),
        }
    }
    Err(error(
        host,
        Cause::Auth,
        format!(
            "{user}@{}: Permission denied (publickey), tried {}",
            host.address,
            tried.join(", ")
        ),
    ))
}
