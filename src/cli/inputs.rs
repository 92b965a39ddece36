//! What `run` and `validate` load before contacting anything (variables,
//! playbook, inventory), and how a run connects: the sandbox's knobs and
//! the MKE API client built from credentials, the playbook's `mke:`
//! section and flags.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::VarsArgs;
use super::credentials::Credentials;
use crate::diag::SourceErrors;
use crate::inventory::{self, Inventory};
use crate::mke::{ClientConfig, MkeClient, MkeTarget};
use crate::playbook::{self, Playbook};
use crate::sandbox::SandboxOptions;
use crate::template::Templates;
use crate::util::secret;

/// The process environment as UTF-8 pairs.
pub fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Everything a run or a validation loads before contacting anything.
pub struct Loaded {
    pub playbook: Playbook,
    pub inventory: Option<Inventory>,
    pub extra: IndexMap<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub templates: Templates,
    /// Names only a run can tell (with `lenient`): shown as warnings.
    pub warnings: Vec<String>,
}

/// Loads variables, inventory and playbook; errors are input errors (exit
/// 2). `lenient` (validate): names only known at run time (an environment
/// variable not set here, `inventory` without `-i`) are warnings.
/// A `keyPath` file this machine cannot read is an error for a run (it logs
/// in with it); `lenient` keeps it in the inventory's `key_errors`, for
/// validate to warn about (a playbook is linted in CI, where the keys are not).
pub fn load_inputs(
    playbook: &std::path::Path,
    vars: &VarsArgs,
    env_overrides: Vec<(String, String)>,
    lenient: bool,
) -> Result<Loaded, SourceErrors> {
    secret::register_secret_env();
    let mut env = environment();
    env.extend(env_overrides);
    let extra = playbook::extra::parse(&vars.extra_vars)?;
    let templates = Templates::new();
    let inv = vars
        .inventory
        .as_deref()
        .map(|p| {
            inventory::load(p).and_then(|i| match !lenient && !i.key_errors.is_empty() {
                true => Err(SourceErrors(i.key_errors.clone())),
                false => Ok(i),
            })
        })
        .transpose();
    let cx = playbook::Context {
        extra,
        env,
        inventory: inv
            .as_ref()
            .ok()
            .and_then(|i| i.as_ref())
            .and_then(|i| serde_json::to_value(i).ok()),
        // Without a usable inventory, its errors are the ones to read.
        lenient: lenient || inv.is_err(),
    };
    let pb = playbook::load_with(playbook, &cx, &templates);
    // Report playbook and inventory errors together.
    match (pb, inv) {
        (Ok((playbook, warnings)), Ok(inventory)) => Ok(Loaded {
            playbook,
            inventory,
            extra: cx.extra,
            env: cx.env,
            templates,
            warnings,
        }),
        (Err(mut a), Err(b)) => {
            a.0.extend(b.0);
            Err(a)
        }
        (Err(a), _) => Err(a),
        (Ok(_), Err(b)) => Err(b),
    }
}

/// The playbook's `sandbox:` section merged with `--sandbox-set` knobs.
pub fn sandbox_options(
    playbook: &std::path::Path,
    sets: &[String],
) -> Result<SandboxOptions, String> {
    let mut map = serde_json::Map::new();
    if let Ok(src) = crate::diag::read_source(playbook, "playbook")
        && let Ok(root) = crate::yaml::parse(&src)
        && let Some(serde_json::Value::Object(m)) = root.get("sandbox").map(|n| n.to_json())
    {
        map = m;
    }
    for set in sets {
        let (k, v) = set
            .split_once('=')
            .ok_or_else(|| format!("--sandbox-set `{set}` is not KEY=VALUE"))?;
        let value =
            serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        map.insert(k.replace('-', "_"), value);
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        format!(
            "invalid sandbox knob `{}`: {} (see `mkeprep sandbox --help`)",
            e.path(),
            e.inner()
        )
    })
}

/// Builds the MKE API client from credentials, a playbook's `mke:`
/// section (empty for `inventory`) and flags. `Err` is an input error; `Ok(Err(why))` means no API
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
    // Turning TLS verification off is the user's decision, on the command
    // line where it is seen, never a playbook's (which may come from
    // anyone): the playbook may only ask for it.
    let asks_insecure = !sandbox && section.get("insecure").and_then(|v| v.as_bool()) == Some(true);
    if asks_insecure && !insecure {
        return Err(
            "the playbook's `mke: {insecure: true}` asks to turn off TLS verification of the MKE API, which only the --insecure flag can do: pass the MKE CA with --ca-cert (or MKEPREP_CA_CERT), or add --insecure if you accept the risk, or remove `insecure` from the playbook".into(),
        );
    }
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
    cfg.insecure = insecure;
    MkeClient::new(cfg).map(Ok).map_err(|e| e.to_string())
}
