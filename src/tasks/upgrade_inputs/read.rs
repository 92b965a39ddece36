//! Reading kube-proxy's rules from the managers: all asked at once (at
//! most `--forks` in flight), the whole read bounded by one timeout, the
//! first manager in inventory order that answers with kube-proxy's chains
//! used. A manager that hangs delays nothing beyond the bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::iptables::{Family, NodePort, parse_save};
use super::services::{Attempt, Found, Rules, SHOWN, ServicePorts, command};
use crate::hostfacts::script::{SectionOutput, split_output};
use crate::inventory::Host;
use crate::ssh::{Cause, SshSettings};
use crate::tasks::StepContext;
use crate::tasks::fanout::HostSession;
use crate::tasks::targets::{Role, roles};
use crate::util::text::last_line;

/// Why a section failed: (cause, what, hint) from its status and last line.
fn failure(tool: &str, rc: i32, said: &str) -> (Cause, String, String) {
    if rc == 127 || said.contains("command not found") || said.ends_with("not found") {
        (
            Cause::Command,
            format!("{tool} is not installed"),
            " — install iptables on the manager, or list the NodePorts in used_node_ports".into(),
        )
    } else if said.starts_with("sudo:") {
        (
            Cause::Sudo,
            "sudo refused".into(),
            format!(" — the login user needs passwordless sudo for {tool}"),
        )
    } else {
        (Cause::Command, format!("{tool} failed"), String::new())
    }
}

fn said(section: &SectionOutput) -> String {
    let s = last_line(&section.text, 200);
    if s.is_empty() {
        "no message".to_string()
    } else {
        s
    }
}

/// The IPv6 rules, or why they were not read (no ip6tables-save, IPv6 off
/// in the kernel, no answer): not an error.
fn ipv6(section: Option<&SectionOutput>) -> Result<Vec<NodePort>, String> {
    let Some(s) = section else {
        return Err("the output stopped before ip6tables-save's".into());
    };
    match s.rc {
        Some(0) => {}
        Some(rc) => {
            let (_, what, _) = failure("ip6tables-save", rc, &said(s));
            return Err(format!("{what}: exited {rc}: {}", said(s)));
        }
        None => return Err("ip6tables-save's output was cut off".into()),
    }
    let saved = parse_save(&s.text, Family::Ipv6)?;
    if saved.nodeports_chain {
        Ok(saved.ports)
    } else {
        // A cluster without IPv6 Services: kube-proxy's IPv6 proxier may
        // not run at all. Nothing of kube-proxy's to read there.
        Ok(Vec::new())
    }
}

/// What one manager said: its rules, or why not.
async fn read_one(host: &Host, settings: Arc<SshSettings>) -> Result<Rules, Attempt> {
    let fail = |cause: Cause, error: String| Attempt {
        host: host.address.clone(),
        cause,
        error,
    };
    let mut session = HostSession::open(host, settings)
        .await
        .map_err(|e| fail(e.cause, e.message))?;
    let out = session.exec(&command()).await;
    session.close().await;
    let out = out.map_err(|e| fail(e.cause, e.message))?;
    let sections = split_output(&out.stdout);
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    let Some(v4) = find("ipv4") else {
        return Err(fail(
            Cause::Command,
            format!(
                "`{SHOWN}` printed none of its output (exit {}): {}",
                out.status,
                last_line(&format!("{}{}", out.stdout, out.stderr), 200)
            ),
        ));
    };
    match v4.rc {
        Some(0) => {}
        Some(rc) => {
            let (cause, what, hint) = failure("iptables-save", rc, &said(v4));
            return Err(fail(
                cause,
                format!(
                    "{what}: `sudo -n iptables-save` exited {rc}: {}{hint}",
                    said(v4)
                ),
            ));
        }
        None => {
            return Err(fail(
                Cause::Command,
                "iptables-save's output was cut off".into(),
            ));
        }
    }
    let saved = parse_save(&v4.text, Family::Ipv4)
        .map_err(|e| fail(Cause::Command, format!("`sudo -n iptables-save`: {e}")))?;
    if let Some(why) = saved.unusable() {
        return Err(fail(Cause::Command, why));
    }
    let mut rules = Rules {
        ports: saved.ports,
        ipv6_not_read: None,
        unparsed: saved.unparsed,
    };
    match ipv6(find("ipv6")) {
        Ok(ports) => rules.ports.extend(ports),
        Err(why) => rules.ipv6_not_read = Some(why),
    }
    Ok(rules)
}

/// The managers among the inventory's hosts, or why there are none.
async fn managers(cx: &StepContext<'_>) -> Result<Vec<Host>, String> {
    let inventory = cx.inventory().map_err(|_| {
        "no inventory (-i hosts.yaml or MKEPREP_INVENTORY), so no manager to read kube-proxy's rules from".to_string()
    })?;
    let hosts = &inventory.hosts;
    let r = roles(cx, hosts).await.map_err(|e| {
        format!(
            "cannot tell which inventory hosts are managers: {}",
            e.message
        )
    })?;
    let managers: Vec<Host> = hosts
        .iter()
        .zip(&r.of)
        .filter(|(_, role)| **role == Some(Role::Manager))
        .map(|(h, _)| h.clone())
        .collect();
    if managers.is_empty() {
        return Err("no inventory host is a manager of the cluster (GET /nodes)".into());
    }
    Ok(managers)
}

/// The first manager in order that gave its rules, once every manager
/// before it has failed (`None`: not known yet).
fn decided(results: &[Option<Result<Rules, Attempt>>]) -> Option<usize> {
    for (i, r) in results.iter().enumerate() {
        match r {
            Some(Ok(_)) => return Some(i),
            Some(Err(_)) => continue,
            None => return None,
        }
    }
    None
}

/// Reads the Services' NodePorts from the managers, all at once (at most
/// `--forks` in flight), within `bound`; `proxy_mode` is `[cluster_config]
/// kube_proxy_mode`.
pub async fn read(cx: &StepContext<'_>, proxy_mode: &str, bound: Duration) -> ServicePorts {
    if proxy_mode != "iptables" {
        return ServicePorts::not_checked(format!(
            "kube_proxy_mode is {proxy_mode:?}: kube-proxy then programs IPVS and ipsets, not one iptables rule per NodePort, so mkeprep cannot read them"
        ));
    }
    let managers = match managers(cx).await {
        Ok(m) => m,
        Err(why) => return ServicePorts::not_checked(why),
    };
    let settings = Arc::new(cx.conn.ssh.clone());
    let slots = Arc::new(Semaphore::new(settings.forks.max(1)));
    cx.progress(format!(
        "reading kube-proxy's rules on {} at once (`{SHOWN}`), for at most {}s",
        managers
            .iter()
            .map(|h| h.address.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        bound.as_secs_f64()
    ));
    let mut set = JoinSet::new();
    let mut index_of = HashMap::new();
    for (i, host) in managers.iter().enumerate() {
        let (host, settings, slots) = (host.clone(), settings.clone(), slots.clone());
        let handle = set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            read_one(&host, settings).await
        });
        index_of.insert(handle.id(), i);
    }
    let mut results: Vec<Option<Result<Rules, Attempt>>> = managers.iter().map(|_| None).collect();
    let deadline = tokio::time::Instant::now() + bound;
    while decided(&results).is_none() {
        match tokio::time::timeout_at(deadline, set.join_next_with_id()).await {
            Ok(Some(Ok((id, r)))) => {
                if let Some(&i) = index_of.get(&id) {
                    results[i] = Some(r);
                }
            }
            Ok(Some(Err(e))) => {
                if let Some(&i) = index_of.get(&e.id()) {
                    results[i] = Some(Err(Attempt {
                        host: managers[i].address.clone(),
                        cause: Cause::Other,
                        error: format!("the read stopped: {e}"),
                    }));
                }
            }
            // All done, or the bound passed.
            Ok(None) | Err(_) => break,
        }
    }
    set.abort_all();
    let chosen = results.iter().position(|r| matches!(r, Some(Ok(_))));
    let mut tried = Vec::new();
    let mut found = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(rules)) if Some(i) == chosen => {
                found = Some(Found::Read {
                    host: managers[i].address.clone(),
                    rules,
                });
            }
            Some(Ok(_)) => {}
            Some(Err(a)) => tried.push(a),
            None if chosen.is_none_or(|c| i < c) => tried.push(Attempt {
                host: managers[i].address.clone(),
                cause: Cause::Timeout,
                error: format!(
                    "no answer within {}s (the bound of the whole read, service_node_ports_timeout)",
                    bound.as_secs_f64()
                ),
            }),
            None => {}
        }
    }
    let found = found.unwrap_or_else(|| {
        let why = tried
            .iter()
            .map(|a| format!("{}: {}", a.host, a.error))
            .collect::<Vec<_>>()
            .join("; ");
        Found::NotChecked(format!("no manager gave kube-proxy's rules: {why}"))
    });
    ServicePorts { found, tried }
}
