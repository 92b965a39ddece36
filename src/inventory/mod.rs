//! The inventory: mkectl's `hosts.yaml`. Every entry is checked when it is
//! loaded; an error names the host entry and its line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diag::read_source;
use crate::diag::{Pos, SourceError, SourceErrors};
use crate::util::text::{sha256_hex, suggest};
use crate::yaml::{self, Kind, Node};

const HOST_KEYS: &[&str] = &[
    "address",
    "port",
    "user",
    "keyPath",
    "privateAddress",
    "privateInterface",
    "role",
];

/// Host keys whose values are text.
const TEXT_KEYS: &[&str] = &[
    "address",
    "user",
    "keyPath",
    "privateAddress",
    "privateInterface",
];

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The key file, with `~` expanded; `None` means the SSH agent.
    #[serde(rename = "keyPath", skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    #[serde(rename = "privateAddress", skip_serializing_if = "Option::is_none")]
    pub private_address: Option<String>,
    #[serde(rename = "privateInterface", skip_serializing_if = "Option::is_none")]
    pub private_interface: Option<String>,
    /// The entry's line in the file.
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    pub digest: String,
    pub hosts: Vec<Host>,
    /// Notes about accepted but ignored keys.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// `keyPath` files this machine cannot read: errors for a run (it logs
    /// in with them), warnings for `validate` (a playbook and its inventory
    /// are linted in CI, where the keys are not).
    #[serde(skip)]
    pub key_errors: Vec<SourceError>,
}

/// An IP address, or an RFC 1123 host name.
pub fn valid_address(a: &str) -> bool {
    if a.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A login name: no shell or SSH option syntax can hide in it.
fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.len() <= 64
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// A Linux network interface name (at most 15 bytes, no `/`, no blanks);
/// stricter still, so no shell syntax can hide in it.
fn valid_interface(i: &str) -> bool {
    !i.is_empty()
        && i.len() <= 15
        && !i.starts_with('-')
        && i.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(rest),
            None => PathBuf::from(p),
        },
        None => PathBuf::from(p),
    }
}

pub fn load(path: &Path) -> Result<Inventory, SourceErrors> {
    let src = read_source(path, "inventory")?;
    let digest = sha256_hex(src.text.as_bytes());
    let root = yaml::parse(&src)?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut key_errors = Vec::new();
    let mut err = |pos: Pos, msg: String, help: &str| {
        errors.push(SourceError::at(&src, pos, msg).help(help.to_string()));
    };
    let hosts_node = match root.get("hosts") {
        Some(h) => h,
        None => {
            err(
                root.pos,
                "the inventory has no `hosts:` list".into(),
                "write mkectl's hosts.yaml: `hosts:` with entries of address, port, user, keyPath",
            );
            return Err(SourceErrors(errors));
        }
    };
    if let Some(entries) = root.as_map() {
        for (k, _) in entries {
            if k.name != "hosts" {
                warnings.push(format!(
                    "{}:{}: key `{}` is ignored (only `hosts` is read)",
                    path.display(),
                    k.pos.line,
                    k.name
                ));
            }
        }
    }
    let Some(items) = hosts_node.as_seq().filter(|s| !s.is_empty()) else {
        err(
            hosts_node.pos,
            "`hosts` must be a non-empty list".into(),
            "add one entry per node: address, port, user, keyPath",
        );
        return Err(SourceErrors(errors));
    };
    let mut hosts = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(entries) = item.as_map() else {
            err(
                item.pos,
                format!(
                    "host entry {n} must be a mapping, found {}",
                    item.type_name()
                ),
                "address: 10.0.0.11, port: 22, user: ubuntu, keyPath: ~/.ssh/key.pem",
            );
            continue;
        };
        for (k, _) in entries {
            if !HOST_KEYS.contains(&k.name.as_str()) {
                let help = match suggest(&k.name, HOST_KEYS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? host keys: {}", HOST_KEYS.join(", ")),
                    None => format!("host keys: {}", HOST_KEYS.join(", ")),
                };
                err(
                    k.pos,
                    format!("host entry {n}: unknown key `{}`", k.name),
                    &help,
                );
            }
        }
        // Text fields must be YAML strings: a plain `0x1F` or `1e5` would be
        // read as a number and rewritten (31, 100000), a different host.
        let mut typed = true;
        for key in TEXT_KEYS {
            if let Some(v) = item.get(key)
                && !matches!(v.kind, Kind::Str(_) | Kind::Null)
            {
                let shown = v.scalar_text().unwrap_or_default();
                err(
                    v.pos,
                    format!(
                        "host entry {n}: `{key}` must be text, found {}{}",
                        v.type_name(),
                        if shown.is_empty() {
                            String::new()
                        } else {
                            format!(" ({shown})")
                        }
                    ),
                    &format!("quote the value as written: {key}: \"...\""),
                );
                typed = false;
            }
        }
        if !typed {
            continue;
        }
        let text = |key: &str| -> Option<(&Node, String)> {
            let v = item.get(key)?;
            Some((v, v.scalar_text().unwrap_or_default()))
        };
        let address = match text("address") {
            None => {
                err(
                    item.pos,
                    format!("host entry {n} has no `address`"),
                    "add `address:` with an IP or a resolvable FQDN",
                );
                continue;
            }
            Some((v, a)) => {
                if !valid_address(&a) {
                    err(
                        v.pos,
                        format!("host entry {n}: `{a}` is not an IP address or host name"),
                        "use an IP address or an RFC 1123 name (letters, digits, `-` and `.`)",
                    );
                    continue;
                }
                if let Some(first) = seen.get(&a) {
                    err(
                        v.pos,
                        format!("host entry {n}: duplicate address `{a}` (first at line {first})"),
                        "each node appears once",
                    );
                }
                seen.insert(a.clone(), v.pos.line);
                a
            }
        };
        let port = match item.get("port") {
            None => 22,
            Some(v) => match v.kind {
                Kind::Int(p) if (1..=65535).contains(&p) => p as u16,
                ref k => {
                    let what = match k {
                        Kind::Int(p) => format!("port {p} is out of range"),
                        Kind::Str(s) if s.trim().parse::<i64>().is_ok() => format!(
                            "port {s:?} is text (it is quoted), not a number: write it without quotes, as mkectl reads a number there"
                        ),
                        Kind::Float(f) => format!("port {f} is not a whole number"),
                        _ => format!(
                            "port is {}{}, not a number",
                            v.type_name(),
                            v.scalar_text()
                                .map(|t| format!(" `{t}`"))
                                .unwrap_or_default()
                        ),
                    };
                    err(
                        v.pos,
                        format!("host {address}: {what}"),
                        "a port is a whole number from 1 to 65535, unquoted: `port: 22`",
                    );
                    22
                }
            },
        };
        let user = match text("user") {
            Some((v, u)) if !valid_user(&u) => {
                let msg = if u.is_empty() {
                    format!("host {address}: `user` is empty")
                } else {
                    format!("host {address}: `{u}` is not a valid user name")
                };
                err(v.pos, msg, "give the SSH login name, such as `ubuntu`");
                String::new()
            }
            Some((_, u)) => u,
            None => {
                err(
                    item.pos,
                    format!("host {address} has no `user`"),
                    "add `user:` with the SSH login name, such as `ubuntu`",
                );
                String::new()
            }
        };
        let key_path = match text("keyPath") {
            None => None,
            Some((v, k)) => {
                let p = expand_home(&k);
                // Through fsx: a FIFO or a device is refused, not waited on.
                let problem = match crate::util::fsx::open_input(&p) {
                    Ok(_) => None,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Some((
                        format!("host {address}: keyPath {} is not a file: {e}", p.display()),
                        "point keyPath at the private key file",
                    )),
                    Err(e) => Some((
                        format!("host {address}: cannot read keyPath {}: {e}", p.display()),
                        "fix the path or its permissions, or remove keyPath to use the SSH agent (`ssh-add KEY`)",
                    )),
                };
                if let Some((msg, help)) = problem {
                    key_errors.push(SourceError::at(&src, v.pos, msg).help(help));
                }
                Some(p)
            }
        };
        let private_address = text("privateAddress").map(|(v, a)| {
            if !valid_address(&a) {
                err(
                    v.pos,
                    format!(
                        "host {address}: privateAddress `{a}` is not an IP address or host name"
                    ),
                    "use the node's private IP address, or remove privateAddress",
                );
            }
            a
        });
        let private_interface = text("privateInterface").map(|(v, i)| {
            if !valid_interface(&i) {
                err(
                    v.pos,
                    format!("host {address}: privateInterface `{i}` is not a network interface name"),
                    "give the interface's name as `ip link` shows it, such as `eth1` (at most 15 letters, digits, `-`, `_`, `.`)",
                );
            }
            i
        });
        if let (Some(_), Some(_)) = (&private_address, &private_interface)
            && let Some(k) = item.key("privateInterface")
        {
            err(
                k.pos,
                format!(
                    "host {address}: `privateAddress` and `privateInterface` are mutually exclusive"
                ),
                "keep one of them",
            );
        }
        if item.get("role").is_some() {
            warnings.push(format!(
                "{}:{}: host {address}: `role` is ignored (roles are detected from the cluster)",
                path.display(),
                item.pos.line
            ));
        }
        hosts.push(Host {
            address,
            port,
            user,
            key_path,
            private_address,
            private_interface,
            line: item.pos.line,
        });
    }
    if !errors.is_empty() {
        return Err(SourceErrors(errors));
    }
    Ok(Inventory {
        path: path.to_path_buf(),
        digest,
        hosts,
        warnings,
        key_errors,
    })
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(valid_address("10.0.0.1"));
        assert!(valid_address("::1"));
        assert!(valid_address("node-1.example.com"));
        assert!(!valid_address("a;rm -rf /"));
        assert!(!valid_address("-oProxyCommand=x"));
        assert!(!valid_address("$(id)"));
    }

    #[test]
    fn users() {
        assert!(valid_user("ubuntu"));
        assert!(!valid_user("-oProxyCommand"));
        assert!(!valid_user("a b"));
        assert!(!valid_user("a;b"));
    }

    #[test]
    fn interfaces() {
        assert!(valid_interface("eth1"));
        assert!(valid_interface("ens5.100"));
        assert!(!valid_interface("-x"));
        assert!(!valid_interface("eth0;id"));
        assert!(!valid_interface("a-very-long-interface"));
    }
}
