//! `upgrade_inputs`: what `mkectl upgrade` itself is given, checked before
//! the window (reference/mke4k-upgrade-checks.md §5): the external address
//! (the load balancer) resolves and answers TCP on 6443, 9443 and its
//! listener port, and a listener other than 443 is part of the address; the
//! gateway NodePorts that MKE 4k 4.1.5+ and MKE 4 require are given,
//! distinct, inside the cluster's `nodeport_range`, and not taken (the MKE 3
//! ingress NodePorts when its ingress controller is on). When all is ready,
//! the step's message is the `mkectl upgrade` command to run next, and its
//! output carries it (`command`, `argv`) for reports.

use std::time::Duration;

use schemars::JsonSchema;
use semver::Version;
use serde::Deserialize;
use serde_json::{Value, json};

use super::mke_compat::classify::{Setting, flatten, truthy};
use super::mke_version::version_param;
use super::{Check, Facts, Module, StepContext, TaskError};

mod command;
mod ports;

pub use command::upgrade_command;

/// Check the upgrade's own inputs and print the `mkectl upgrade` command.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeInputs {
    /// The MKE 4k / MKE 4 release to upgrade to.
    #[serde(default = "super::mke_version::default_target")]
    pub target: String,
    /// mkectl's `--external-address`: the load balancer's DNS name or IP, with `:PORT` when its listener is not 443.
    #[serde(default)]
    pub external_address: String,
    /// The load balancer's listener port for the UI/gateway (default: the port in `external_address`, else 443).
    #[serde(default, deserialize_with = "opt_port")]
    #[schemars(with = "Option<u16>")]
    pub listener_port: Option<u16>,
    /// mkectl's `--gateway-https-node-port` (required for 4.1.5 and later targets, unless `remove_ingress_nginx`).
    #[serde(default, deserialize_with = "opt_port")]
    #[schemars(with = "Option<u16>")]
    pub gateway_https_node_port: Option<u16>,
    /// mkectl's `--gateway-http-node-port` (same rule).
    #[serde(default, deserialize_with = "opt_port")]
    #[schemars(with = "Option<u16>")]
    pub gateway_http_node_port: Option<u16>,
    /// The upgrade will pass `--remove-ingress-nginx` (the gateway then reuses the ingress NodePorts, and the gateway ports are optional).
    #[serde(default)]
    pub remove_ingress_nginx: bool,
    /// NodePorts known to be taken by Kubernetes Services (mkeprep cannot list Services through the MKE 3 API).
    #[serde(default)]
    pub used_node_ports: Vec<u16>,
    /// How long one TCP connection attempt to the load balancer may take.
    #[serde(default = "default_timeout", deserialize_with = "super::duration")]
    #[schemars(with = "String")]
    pub connect_timeout: Duration,
    /// mkectl's `--config-out`, in the printed command.
    #[serde(default = "default_config_out")]
    pub config_out: String,
    /// More arguments for the printed command (such as `--image-registry=…`).
    #[serde(default, deserialize_with = "super::string_list")]
    pub extra_args: Vec<String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_config_out() -> String {
    "mke4.yaml".to_string()
}

/// A port written as a number or text; empty text or null is none.
fn opt_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let v = Value::deserialize(d)?;
    let bad =
        |what: &str| serde::de::Error::custom(format!("{what} is not a port number (1 to 65535)"));
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(Some(p)),
            _ => Err(bad(&format!("`{s}`"))),
        },
        Value::Number(n) => match n.as_u64().and_then(|p| u16::try_from(p).ok()) {
            Some(p) if p > 0 => Ok(Some(p)),
            _ => Err(bad(&n.to_string())),
        },
        other => Err(bad(&other.to_string())),
    }
}

/// Whether the target requires the gateway NodePorts (4.1.5 and later).
pub fn gateway_ports_required(target: &Version) -> bool {
    let release = Version::new(target.major, target.minor, target.patch);
    release >= Version::new(4, 1, 5)
}

/// A problem with what it means and what to do.
struct Problem {
    reason: String,
    remedy: String,
}

impl Module for UpgradeInputs {
    const NAME: &'static str = "upgrade_inputs";
    const NEEDS_API: bool = true;
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        ("target", "the target release"),
        ("external_address", "the load balancer's address, as given"),
        ("listener_port", "its UI/gateway listener port"),
        ("probes", "each TCP port tried: port, open, error"),
        ("nodeport_range", "the cluster's NodePort range [low, high]"),
        (
            "command",
            "the `mkectl upgrade` command to run next (one shell line; the password as \"$MKE_PASSWORD\")",
        ),
        ("argv", "the same command as a list of arguments"),
    ]);
    const SUMMARY: &'static str = "The upgrade's own inputs: the load balancer resolves and answers on 6443, 9443 and its listener; the gateway NodePorts are valid and free. Prints the `mkectl upgrade` command to run next.";
    const EXAMPLE: &'static str = "- id: upgrade-inputs\n  upgrade_inputs:\n    target: \"{{ target }}\"\n    external_address: lb.example.com\n    gateway_https_node_port: 34001\n    gateway_http_node_port: 34000\n  register: upgrade";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let target = version_param("target", &self.target)?;
        let mut problems = Vec::new();
        let mut output = Facts::new();
        output.insert("target".into(), target.to_string().into());

        // The external address and the load balancer.
        let address = self.external_address.trim();
        let lb = if address.is_empty() {
            problems.push(Problem {
                reason: "no external address: mkectl upgrade needs --external-address (the load balancer in front of the MKE 4 controllers)".into(),
                remedy: "set up a TCP load balancer (6443→6443, 9443→9443, listener→gateway HTTPS NodePort) and pass -e external_address=lb.example.com[:PORT]".into(),
            });
            None
        } else {
            match ports::parse_address(address, self.listener_port) {
                Ok(lb) => Some(lb),
                Err((reason, remedy)) => {
                    problems.push(Problem { reason, remedy });
                    None
                }
            }
        };
        if let Some(lb) = &lb {
            output.insert("external_address".into(), address.into());
            output.insert("listener_port".into(), lb.listener.into());
            cx.progress(format!(
                "probing {} on ports 6443, 9443 and {}",
                lb.host, lb.listener
            ));
            let probe =
                ports::probe(&lb.host, &[6443, 9443, lb.listener], self.connect_timeout).await;
            output.insert("probes".into(), json!(probe.results));
            match probe.error {
                Some(why) => problems.push(Problem {
                    reason: format!("the external address {}: {why}", lb.host),
                    remedy: "check the name in DNS (or /etc/hosts) on the machine that runs mkectl"
                        .into(),
                }),
                None => {
                    let closed: Vec<String> = probe
                        .results
                        .iter()
                        .filter(|r| !r.open)
                        .map(|r| {
                            format!("{} ({})", r.port, r.error.as_deref().unwrap_or("no answer"))
                        })
                        .collect();
                    if !closed.is_empty() {
                        problems.push(Problem {
                            reason: format!(
                                "the load balancer {} does not answer TCP on {}",
                                lb.host,
                                closed.join(", ")
                            ),
                            remedy: format!(
                                "configure TCP listeners 6443→6443 and 9443→9443 on the manager nodes, and {}→the gateway HTTPS NodePort; open them in firewalls between this machine and the load balancer (some load balancers answer only while a target is healthy: nothing serves 9443 before the upgrade, so check that listener's configuration by hand if only 9443 fails)",
                                lb.listener
                            ),
                        });
                    }
                }
            }
        }

        // Gateway NodePorts, against the cluster's configuration.
        let doc = cx
            .mke()?
            .config_toml()
            .await
            .map_err(|e| TaskError::new(e.to_string()))?;
        let settings = flatten(&doc).map_err(TaskError::new)?;
        let gateway = ports::Gateway {
            https: self.gateway_https_node_port,
            http: self.gateway_http_node_port,
            required: gateway_ports_required(&target) && !self.remove_ingress_nginx,
            range: nodeport_range(&settings),
            taken: taken_ports(&settings, &self.used_node_ports),
        };
        output.insert(
            "nodeport_range".into(),
            json!([gateway.range.0, gateway.range.1]),
        );
        for (reason, remedy) in gateway.problems(&target) {
            problems.push(Problem { reason, remedy });
        }

        if !problems.is_empty() {
            let (reasons, remedies): (Vec<String>, Vec<String>) =
                problems.into_iter().map(|p| (p.reason, p.remedy)).unzip();
            return Ok(Check::Blocked {
                reason: reasons.join("; "),
                remedy: remedies.join("; "),
                output,
            });
        }
        let username = cx.mke()?.config().username.clone();
        let hosts = cx
            .inventory()
            .map(|i| i.path.display().to_string())
            .unwrap_or_else(|_| "hosts.yaml".into());
        let argv = upgrade_command(&command::Inputs {
            hosts_path: &hosts,
            username: &username,
            external_address: address,
            https: self.gateway_https_node_port,
            http: self.gateway_http_node_port,
            remove_ingress_nginx: self.remove_ingress_nginx,
            config_out: &self.config_out,
            extra: &self.extra_args,
        });
        let line = command::shell_line(&argv);
        output.insert("argv".into(), json!(argv));
        output.insert("command".into(), line.clone().into());
        let when = if cx.check_mode && !cx.pending.is_empty() {
            "once the changes above are applied, run"
        } else {
            "run"
        };
        Ok(Check::InSync {
            message: format!(
                "ready: {address} answers on 6443, 9443 and {}; gateway NodePorts {}. Next, {when} (with MKE_PASSWORD exported, and the mkectl of {target}):\n      {line}",
                lb.map_or(443, |l| l.listener),
                match (self.gateway_https_node_port, self.gateway_http_node_port) {
                    (Some(s), Some(h)) => format!("{s} (HTTPS) and {h} (HTTP) are free"),
                    _ => "are not needed for this target".to_string(),
                }
            ),
            output,
        })
    }
}

/// `[cluster_config] nodeport_range` (default 32768-35535).
fn nodeport_range(settings: &[Setting]) -> (u16, u16) {
    let text = settings
        .iter()
        .find(|s| s.key == "cluster_config.nodeport_range")
        .and_then(|s| s.value.as_str().map(str::to_string));
    text.as_deref()
        .and_then(|t| {
            let (a, b) = t.trim().split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .unwrap_or((32768, 35535))
}

/// NodePorts that are taken: MKE 3 ingress's (`ingress_exposed_ports`, by
/// default 33000/33001/33002) when its controller is on, and the user's.
fn taken_ports(settings: &[Setting], user: &[u16]) -> Vec<(u16, String)> {
    let get = |k: &str| settings.iter().find(|s| s.key == k).map(|s| &s.value);
    let mut out: Vec<(u16, String)> = user
        .iter()
        .map(|p| (*p, "listed in used_node_ports".to_string()))
        .collect();
    if get("cluster_config.ingress_controller.enabled").is_some_and(truthy) {
        let exposed: Vec<u16> = get("cluster_config.ingress_controller.ingress_exposed_ports")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("node_port").and_then(Value::as_u64))
                    .filter_map(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0)
                    .collect()
            })
            .unwrap_or_default();
        let ports = if exposed.is_empty() {
            vec![33000, 33001, 33002]
        } else {
            exposed
        };
        out.extend(
            ports
                .into_iter()
                .map(|p| (p, "the MKE 3 ingress controller's NodePort".to_string())),
        );
    }
    out
}

#[cfg(test)]
mod tests;
