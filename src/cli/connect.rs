//! The MKE API client from credentials, a playbook's `mke:` section and
//! flags: shared by `run` and `inventory`.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::credentials::Credentials;
use crate::mke::{ClientConfig, MkeClient, MkeTarget};

/// Builds the MKE API client from credentials, the playbook's `mke:`
/// section and flags. `Err` is an input error; `Ok(Err(why))` means no API
/// is configured (steps that need it fail and say how to configure it).
pub fn mke_client(
    creds: &Credentials,
    section: &IndexMap<String, serde_json::Value>,
    ca_cert: Option<PathBuf>,
    insecure: bool,
    sandbox: bool,
    request_timeout: Duration,
) -> Result<Result<MkeClient, String>, String> {
    // Under --sandbox the sandbox's connection wins over the playbook's
    // `mke:` section, so a rehearsal can never reach a real cluster.
    let text = |k: &str| {
        section
            .get(k)
            .filter(|_| !sandbox)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(host) = text("host").or_else(|| creds.host.clone()) else {
        return Ok(Err("MKE_HOST is not set".into()));
    };
    let target = MkeTarget::parse(&host).map_err(|e| e.to_string())?;
    let Some(username) = text("username").or_else(|| creds.username.clone()) else {
        return Ok(Err("MKE_USERNAME is not set".into()));
    };
    let Some(password) = creds.password.clone() else {
        return Ok(Err(
            "no MKE password: set MKE_PASSWORD, or use --password-file or --password-stdin".into(),
        ));
    };
    let mut cfg = ClientConfig::new(target, username, password);
    cfg.request_timeout = request_timeout;
    cfg.ca_cert = ca_cert.or_else(|| text("ca_cert").map(PathBuf::from));
    cfg.insecure = insecure
        || (!sandbox
            && section
                .get("insecure")
                .and_then(|v| v.as_bool())
                .unwrap_or(false));
    MkeClient::new(cfg).map(Ok).map_err(|e| e.to_string())
}
