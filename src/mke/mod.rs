//! The MKE 3 API client and the editor of MKE's configuration file.
//!
//! - [`MkeTarget`]: the `MKE_HOST` address.
//! - [`MkeClient`], built from a [`ClientConfig`]: login and one re-login
//!   on a 401, `/info`, `/version`, `/_ping`, `/nodes`, config-toml,
//!   backups. Errors are [`MkeError`]s that name the request and say what
//!   to do; none carries the password or the token.
//! - [`config`]: reading `[cluster_config]` keys and the byte-preserving
//!   `calico_kdd = true` edit.
//!
//! The facts this follows are in `reference/mke3-facts.md` §A–§C.

pub mod catalog;
mod client;
pub mod config;
mod error;
mod model;
mod target;
mod tls;

pub use client::{
    BackupRequest, ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, MkeClient,
    RetryPolicy, is_kdd_success, kdd_put_timeout,
};
pub use error::{Endpoint, MkeError, TimeoutKind, server_message};
pub use model::{
    Account, Availability, Backup, BackupState, Component, Container, Info, MkeVersion, Node,
    NodeRole, NodeState, Reachability, Service, VersionInfo, VersionSource, parse_timestamp,
    parse_version, version_from_server_version,
};
pub use target::{DEFAULT_PORT, MkeTarget};

#[cfg(test)]
mod testserver;
