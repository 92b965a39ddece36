//! The findings, from what the API answered.

use semver::Version;
use serde_json::{Value, json};

use super::{ClusterContent, listed, names_json};
use crate::mke::{Account, Container, Node, Service};
use crate::tasks::mke_compat::classify::{Setting, truthy};
use crate::tasks::mke_compat::{Finding, Severity};

pub struct Scan<'a> {
    pub target: &'a Version,
    pub policy: &'a ClusterContent,
    pub windows: Severity,
    pub nodes: &'a [Node],
    pub settings: &'a [Setting],
    pub services: Result<&'a [Service], String>,
    pub users: Result<&'a [Account], String>,
    pub containers: Result<&'a [Container], String>,
}

fn finding(subject: &str, class: &str, text: String, remedy: &str, severity: Severity) -> Finding {
    Finding {
        subject: subject.to_string(),
        class: class.to_string(),
        value: String::new(),
        text,
        remedy: Some(remedy.to_string()),
        severity,
    }
}

/// A source that could not be read: a warning, so nobody takes silence for
/// an all-clear.
fn unreadable(subject: &str, why: &str, check: &str) -> Finding {
    finding(
        subject,
        "unread",
        format!("could not be read: {why}"),
        check,
        Severity::Warn,
    )
}

impl Scan<'_> {
    pub fn run(&self) -> (Vec<Finding>, Vec<(String, Value)>) {
        let mut f = Vec::new();
        let mut facts: Vec<(String, Value)> = Vec::new();
        let p = self.policy;
        let setting = |k: &str| self.settings.iter().find(|s| s.key == k).map(|s| &s.value);

        // Swarm services, and Interlock among MKE's own.
        match &self.services {
            Ok(services) => {
                let system = |s: &Service| {
                    p.system_prefixes
                        .iter()
                        .any(|pre| s.name.starts_with(pre.as_str()))
                };
                let user: Vec<String> = services
                    .iter()
                    .filter(|s| !system(s))
                    .map(|s| s.name.clone())
                    .collect();
                let interlock: Vec<String> = services
                    .iter()
                    .filter(|s| s.name.starts_with("ucp-interlock"))
                    .map(|s| s.name.clone())
                    .collect();
                facts.push(("swarm_services".into(), names_json(&user)));
                facts.push(("interlock".into(), json!(!interlock.is_empty())));
                if !user.is_empty() {
                    f.push(finding(
                        "Swarm services",
                        "lost",
                        format!("{} Swarm services will cease to exist: {}", user.len(), listed(&user)),
                        "move them to Kubernetes (Deployments, Services) before the upgrade; Swarm configs, secrets and overlay networks go too",
                        p.swarm_services,
                    ));
                }
                if !interlock.is_empty() {
                    f.push(finding(
                        "Interlock",
                        "lost",
                        format!("Interlock runs ({}): layer-7 routing for Swarm goes with Swarm", listed(&interlock)),
                        "route the applications through a Kubernetes ingress or the MKE 4 gateway before the upgrade",
                        p.interlock,
                    ));
                }
            }
            Err(why) => f.push(unreadable(
                "Swarm services",
                why,
                "list them yourself with `docker service ls` through a client bundle",
            )),
        }

        // Local users whose passwords are not migrated.
        match &self.users {
            Ok(users) => {
                let local: Vec<String> = users
                    .iter()
                    .filter(|u| !u.is_imported && u.name != p.migrated_user)
                    .map(|u| u.name.clone())
                    .collect();
                facts.push(("users_to_reset".into(), names_json(&local)));
                if !local.is_empty() {
                    f.push(finding(
                        "local users",
                        "lost",
                        format!(
                            "{} local users besides {} lose their passwords (only {}'s is migrated): {}",
                            local.len(),
                            p.migrated_user,
                            p.migrated_user,
                            listed(&local)
                        ),
                        "tell them, and after the upgrade set new passwords with `mkectl reset-password` (8–64 characters, no whitespace)",
                        p.users,
                    ));
                }
            }
            Err(why) => f.push(unreadable(
                "local users",
                why,
                "check Admin Settings → Users in the MKE web UI: only admin's password is migrated",
            )),
        }

        // Windows and GPU nodes.
        let windows: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| {
                n.os.as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case("windows"))
            })
            .map(|n| n.hostname.clone())
            .collect();
        facts.push(("windows_nodes".into(), names_json(&windows)));
        if !windows.is_empty() {
            let line41 = self.target.major == 4 && self.target.minor <= 1;
            f.push(finding(
                "Windows nodes",
                "unsupported",
                if line41 {
                    format!("MKE 4k {} supports Linux amd64 hosts only: {}", self.target, listed(&windows))
                } else {
                    format!("whether mkectl {} converts MKE 3 Windows workers is not documented: {}", self.target, listed(&windows))
                },
                if line41 {
                    "drain and remove the Windows nodes from MKE 3 (and from hosts.yaml) before the upgrade, or target MKE 4 4.2+ after asking Mirantis"
                } else {
                    "ask Mirantis before the upgrade; otherwise drain and remove the Windows nodes first"
                },
                self.windows,
            ));
        }
        let gpu: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.gpus > 0)
            .map(|n| {
                format!(
                    "{} ({} GPU{})",
                    n.hostname,
                    n.gpus,
                    if n.gpus == 1 { "" } else { "s" }
                )
            })
            .collect();
        let plugin = setting("cluster_config.nvidia_device_plugin").is_some_and(truthy);
        facts.push(("gpu_nodes".into(), names_json(&gpu)));
        if !gpu.is_empty() || plugin {
            f.push(finding(
                "GPU nodes",
                "prerequisite",
                if gpu.is_empty() {
                    "the NVIDIA device plugin is enabled in MKE 3 (nvidia_device_plugin = true)".into()
                } else {
                    format!("GPU nodes: {}", listed(&gpu))
                },
                "finish Mirantis' GPU prerequisites for MKE 4 (NVIDIA GPU Operator; devicePlugins.nvidiaGPU is off by default; MIG is not supported)",
                p.gpu_nodes,
            ));
        }

        // cert-manager, seen by its containers.
        match &self.containers {
            Ok(containers) => {
                let found: Vec<&Container> = containers.iter().filter(|c| is_cert_manager(c)).collect();
                let version = found
                    .iter()
                    .find_map(|c| c.image.rsplit_once(':').map(|(_, t)| t.to_string()));
                facts.push(("cert_manager".into(), json!({"found": !found.is_empty(), "version": version})));
                if let Some(first) = found.first() {
                    let ns = first
                        .labels
                        .get("io.kubernetes.pod.namespace")
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default();
                    f.push(finding(
                        "cert-manager",
                        "conflict",
                        format!(
                            "cert-manager{} runs{ns} ({} containers): MKE 4 brings its own and the two conflict",
                            version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
                            found.len()
                        ),
                        "uninstall it before the upgrade, keeping its CRDs (Helm: be on 1.15+ with crds.keep not false; a manifest install: delete all but the CustomResourceDefinitions); renew certificates that expire within the window",
                        p.cert_manager,
                    ));
                }
            }
            Err(why) => f.push(finding(
                "cert-manager",
                "unread",
                format!("running containers could not be listed ({why}), so an existing cert-manager cannot be seen"),
                "check with `kubectl get crd certificates.cert-manager.io` through a client bundle",
                Severity::Report,
            )),
        }

        // MetalLB.
        let metallb = setting("cluster_config.metallb_config.enabled").is_some_and(truthy);
        facts.push(("metallb".into(), json!(metallb)));
        if metallb {
            f.push(finding(
                "MetalLB",
                "verify",
                "MetalLB is enabled in MKE 3; MKE 4 ships its own MetalLB, and how the MKE 3 address pools carry over is not documented".into(),
                "record metallb_ip_addr_pool and the LoadBalancer Services' addresses; check them after the upgrade (a 3.8 → 3.9 path needs 3.8.12+ with MetalLB)",
                p.metallb,
            ));
        }
        (f, facts)
    }
}

/// A cert-manager container: its image, or a pod of that name.
fn is_cert_manager(c: &Container) -> bool {
    let image = c.image.to_ascii_lowercase();
    image.contains("cert-manager-controller")
        || image.contains("jetstack/cert-manager")
        || c.labels
            .get("io.kubernetes.container.name")
            .is_some_and(|n| n.starts_with("cert-manager"))
}

#[cfg(test)]
mod tests;
