//! `upgrade_inputs`: what `mkectl upgrade` itself is given, checked before
//! the window (reference/mke4k-upgrade-checks.md §5): the external address
//! (the load balancer) resolves and answers TCP on 6443, 9443 and its
//! listener port, and a listener other than 443 is part of the address; the
//! gateway NodePorts that MKE 4k 4.1.5+ and MKE 4 require are given,
//! distinct, inside the cluster's `nodeport_range`, and not taken: by the
//! MKE 3 ingress controller (when it is on), by a Kubernetes Service (read
//! over SSH from one manager's kube-proxy rules, [`services`]), or as the
//! user lists them in `used_node_ports`. When all is ready,
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
mod iptables;
mod ports;
mod read;
mod services;

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
    /// NodePorts known to be taken (by Services mkeprep cannot read: IPVS mode, no SSH or sudo to a manager; or ports to keep free).
    #[serde(default)]
    pub used_node_ports: Vec<u16>,
    /// Read the NodePorts of Kubernetes Services from one manager's kube-proxy rules (`sudo -n iptables-save` and `sudo -n ip6tables-save` over SSH, every table; the login user needs passwordless sudo for them). Off: only MKE 3 ingress and `used_node_ports` count.
    #[serde(default = "yes")]
    pub read_service_node_ports: bool,
    /// The bound of that whole read: the managers are asked at once (at most --forks), the first in inventory order that answers is used; one that has not answered by then counts as failed.
    #[serde(default = "default_read_timeout", deserialize_with = "super::duration")]
    #[schemars(with = "String")]
    pub service_node_ports_timeout: Duration,
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

fn yes() -> bool {
    true
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(30)
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
            "service_node_ports",
            "the NodePorts of Kubernetes Services: `checked` (bool); when read, `host` (the manager read), `command`, `ports` (`port`, `protocol`, `service` NAMESPACE/NAME, `port_name`, `kind` service / no_endpoints / health_check, `family` ipv4 / ipv6), `by_service` (NAMESPACE/NAME → ports), `ipv6_read` (bool) and `ipv6_not_read` (why not), `unparsed` (rules of kube-proxy's NodePort chains whose port could not be read); otherwise `not_checked` (why); `tried` (managers that failed or did not answer in time: `host`, `cause`, `error`)",
        ),
        (
            "rules",
            "where each NodePort rule comes from ([C] documented, [I] inferred)",
        ),
        (
            "command",
            "the `mkectl upgrade` command to run next (one shell line; the password as \"$MKE_PASSWORD\")",
        ),
        ("argv", "the same command as a list of arguments"),
    ]);
    const SUMMARY: &'static str = "The upgrade's own inputs: the load balancer resolves and answers on 6443, 9443 and its listener; the gateway NodePorts are valid and free (not MKE 3 ingress's, not used by a Kubernetes Service as one manager's kube-proxy rules show over SSH: nat and filter tables, IPv4 and IPv6). Prints the `mkectl upgrade` command to run next.";
    const CHECK_MODE: &'static str = "full: read-only (GET /api/ucp/config-toml, GET /nodes for roles, TCP connections to the load balancer, and `sudo -n iptables-save; sudo -n ip6tables-save` over SSH on the managers, at once, within service_node_ports_timeout)";
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
        let required = gateway_ports_required(&target) && !self.remove_ingress_nginx;
        let given = self.gateway_https_node_port.is_some() || self.gateway_http_node_port.is_some();
        let services = if !self.read_service_node_ports {
            services::ServicePorts::not_checked(
                "read_service_node_ports is false (only MKE 3 ingress and used_node_ports count)",
            )
        } else if given || required {
            read::read(
                cx,
                &kube_proxy_mode(&settings),
                self.service_node_ports_timeout,
            )
            .await
        } else {
            services::ServicePorts::not_checked("no gateway NodePort to check for this target")
        };
        let mut taken = taken_ports(&settings, &self.used_node_ports);
        taken.extend(services.ports().iter().map(|p| ports::Taken {
            port: p.port,
            why: format!("by Kubernetes {}", p.describe()),
            remedy: p.service.as_deref().and_then(|s| s.split_once('/')).map(|(ns, name)| {
                format!(
                    "give Service {ns}/{name} another nodePort or remove it (kubectl -n {ns} edit service {name}, or kubectl -n {ns} delete service {name}) if nothing needs it on {}",
                    p.port
                )
            }),
        }));
        let gateway = ports::Gateway {
            https: self.gateway_https_node_port,
            http: self.gateway_http_node_port,
            required,
            range: nodeport_range(&settings),
            taken,
        };
        output.insert(
            "nodeport_range".into(),
            json!([gateway.range.0, gateway.range.1]),
        );
        output.insert("service_node_ports".into(), services.to_json());
        output.insert("rules".into(), rules_json());
        for (reason, remedy) in gateway.problems(&target) {
            problems.push(Problem { reason, remedy });
        }
        // Said whether the step blocks or not: what was (not) read.
        let services_said = match &services.found {
            services::Found::NotChecked(_) if !given && !required => String::new(),
            _ => services.sentence(),
        };

        if !problems.is_empty() {
            let (reasons, remedies): (Vec<String>, Vec<String>) =
                problems.into_iter().map(|p| (p.reason, p.remedy)).unzip();
            let mut reason = reasons.join("; ");
            if !services_said.is_empty() {
                reason.push_str(&format!(" ({services_said})"));
            }
            return Ok(Check::Blocked {
                reason,
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
        let (free, services_line, warning) = match (
            self.gateway_https_node_port,
            self.gateway_http_node_port,
            services.detail(),
        ) {
            (Some(s), Some(h), Some((host, detail))) => (
                format!(
                    "{s} (HTTPS) and {h} (HTTP) are inside nodeport_range, not MKE 3 ingress's or in used_node_ports, and not used by any Service as kube-proxy's rules on manager {host} show"
                ),
                format!(" ({detail})"),
                String::new(),
            ),
            (Some(s), Some(h), None) => (
                format!(
                    "{s} (HTTPS) and {h} (HTTP) are inside nodeport_range and not MKE 3 ingress's or in used_node_ports"
                ),
                String::new(),
                format!("\n      {services_said}"),
            ),
            _ => (
                "are not needed for this target".to_string(),
                String::new(),
                String::new(),
            ),
        };
        Ok(Check::InSync {
            message: format!(
                "ready: {address} answers on 6443, 9443 and {}; gateway NodePorts {free}{services_line}. Next, {when} (with MKE_PASSWORD exported, and the mkectl of {target}):\n      {line}{warning}",
                lb.map_or(443, |l| l.listener),
            ),
            output,
        })
    }
}

/// Where each NodePort rule comes from, for the output.
fn rules_json() -> Value {
    json!({
        "gateway_node_ports_required": {"from": "4.1.5", "source": "--gateway-https-node-port and --gateway-http-node-port are mandatory for MKE 3 → MKE 4k 4.1.5+ and MKE 4 (LB41, LB42) unless --remove-ingress-nginx [C]"},
        "nodeport_range": {"source": "[cluster_config] nodeport_range of the MKE 3 configuration (default 32768-35535) [C]; that MKE 4k keeps it is inferred [I]"},
        "ingress_node_ports": {"source": "MKE 3 ingress_exposed_ports, 33000/33001/33002 by default, when ingress_controller.enabled (CFG3) [C]"},
        "service_node_ports": {"source": services::SOURCE},
    })
}

/// `[cluster_config] kube_proxy_mode` (default `iptables`).
fn kube_proxy_mode(settings: &[Setting]) -> String {
    settings
        .iter()
        .find(|s| s.key == "cluster_config.kube_proxy_mode")
        .and_then(|s| s.value.as_str())
        .map_or_else(|| "iptables".to_string(), |m| m.trim().to_lowercase())
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
fn taken_ports(settings: &[Setting], user: &[u16]) -> Vec<ports::Taken> {
    let get = |k: &str| settings.iter().find(|s| s.key == k).map(|s| &s.value);
    let mut out: Vec<ports::Taken> = user
        .iter()
        .map(|p| ports::Taken::new(*p, "listed in used_node_ports"))
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
                .map(|p| ports::Taken::new(p, "the MKE 3 ingress controller's NodePort")),
        );
    }
    out
}

#[cfg(test)]
mod tests;
