//! The NodePorts kube-proxy (iptables mode) has programmed on a node, read
//! from a whole `iptables-save` (every table) or `ip6tables-save`. Checked
//! against kube-proxy's `syncProxyRules` (kubernetes 1.28,
//! `pkg/proxy/iptables/proxier.go`, stored as `kevinhehc/k8s-1.28`):
//!
//! - **nat `KUBE-NODEPORTS`**: one rule per NodePort of a Service *with*
//!   endpoints (`if hasEndpoints { natRules.Write("-A", kubeNodePortsChain,
//!   …, "--comment", svcPortNameString, …, "--dport", NodePort, "-j",
//!   externalTrafficChain) }`), commented `NAMESPACE/NAME:PORTNAME`:
//!   `-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/web:https" -m tcp --dport 33001 -j KUBE-EXT-…`
//! - **filter `KUBE-EXTERNAL-SERVICES`**: a Service *without* endpoints has
//!   no nat rule at all ("we will not generate any chains in the nat table
//!   for the service; only rules in the filter table rejecting incoming
//!   packets"): its NodePort is a `REJECT` rule with `-m addrtype
//!   --dst-type LOCAL` and the comment `"NS/NAME:PORT has no endpoints"`
//!   (`"… has no local endpoints"`, `DROP`, for `externalTrafficPolicy:
//!   Local` without a local endpoint; the nat rule is there too). The same
//!   chain's rules with `-d EXTERNAL-IP` / `-d LB-IP` carry the Service
//!   *port*, not a NodePort, and are passed over.
//! - **filter `KUBE-NODEPORTS`**: health-check NodePorts of
//!   `externalTrafficPolicy: Local` Services, `-m comment --comment "NS/NAME:PORT
//!   health check node port" -m tcp -p tcp --dport N -j ACCEPT`, whether or
//!   not the node has endpoints.
//! - **IPv6**: the dual-stack proxier (`NewDualStackProxier`) runs a second
//!   proxier on the IPv6 `utiliptables.Interface`, i.e. `ip6tables` /
//!   `ip6tables-save` (`cmdIP6TablesSave` in kube-proxy's
//!   `pkg/util/iptables`): IPv6 Services' rules are only in ip6tables-save.
//!
//! Older kube-proxy releases write the comment without a port name
//! (`"default/web:"`) and two nat rules per port; newer ones add a
//! `-d 127.0.0.0/8` rule for localhost NodePorts. Each (port, protocol,
//! Service, port name, family) is kept once. A rule of those chains whose
//! port cannot be read (`--dports` multiport, no `--dport`, a range) is
//! noted in `unparsed`, not passed over.

use serde::Serialize;

/// kube-proxy's chain of NodePort rules (nat: Services; filter: health checks).
pub const NODEPORTS_CHAIN: &str = "KUBE-NODEPORTS";
/// kube-proxy's filter chain rejecting traffic to Services without endpoints.
pub const EXTERNAL_CHAIN: &str = "KUBE-EXTERNAL-SERVICES";
/// kube-proxy's entry chain (iptables and IPVS modes alike).
const SERVICES_CHAIN: &str = "KUBE-SERVICES";

/// IPv4 (`iptables-save`) or IPv6 (`ip6tables-save`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// Which rule showed the NodePort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// nat `KUBE-NODEPORTS`: a Service with endpoints.
    Service,
    /// filter `KUBE-EXTERNAL-SERVICES`: a Service without endpoints.
    NoEndpoints,
    /// filter `KUBE-NODEPORTS`: an `externalTrafficPolicy: Local` Service's
    /// health-check NodePort.
    HealthCheck,
}

/// One NodePort of one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePort {
    pub port: u16,
    /// `tcp`, `udp` or `sctp`, as the rule's `-p` says.
    pub protocol: String,
    /// `NAMESPACE/NAME`; `None` when the rule has no comment to say.
    pub service: Option<String>,
    /// The Service port's name (empty when unnamed or not written).
    pub port_name: String,
    pub kind: Kind,
    pub family: Family,
}

impl NodePort {
    /// `Service shop/web (port `https`, TCP)`, with what kind of rule it is.
    pub fn describe(&self) -> String {
        let who = self
            .service
            .as_deref()
            .map_or("a Service whose rule has no comment".to_string(), |s| {
                format!("Service {s}")
            });
        let port = if self.port_name.is_empty() {
            String::new()
        } else {
            format!("port `{}`, ", self.port_name)
        };
        let v6 = if self.family == Family::Ipv6 {
            ", IPv6"
        } else {
            ""
        };
        let proto = self.protocol.to_uppercase();
        match self.kind {
            Kind::Service => format!("{who} ({port}{proto}{v6})"),
            Kind::NoEndpoints => {
                format!(
                    "{who} ({port}{proto}{v6}; it has no endpoints now, so kube-proxy only rejects on it)"
                )
            }
            Kind::HealthCheck => {
                format!("the health-check NodePort of {who} (externalTrafficPolicy: Local{v6})")
            }
        }
    }
}

/// What one `iptables-save` / `ip6tables-save` says about kube-proxy's NodePorts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// kube-proxy's nat `KUBE-NODEPORTS` chain is there (iptables mode).
    pub nodeports_chain: bool,
    /// kube-proxy's nat `KUBE-SERVICES` chain is there (any mode).
    pub services_chain: bool,
    /// The tables the output holds (`nat`, `filter`, …).
    pub tables: Vec<String>,
    /// The NodePorts, in the order the rules list them.
    pub ports: Vec<NodePort>,
    /// Rules of kube-proxy's NodePort chains whose port could not be read.
    pub unparsed: Vec<String>,
    /// `iptables-save`'s own warnings (`# Warning: iptables-legacy tables
    /// present, use iptables-legacy-save to see them`) and text outside tables.
    pub warnings: Vec<String>,
}

impl Saved {
    /// Why this output cannot tell the node's NodePorts, if it cannot.
    pub fn unusable(&self) -> Option<String> {
        if self.nodeports_chain {
            return None;
        }
        let legacy = self
            .warnings
            .iter()
            .find(|w| w.contains("legacy"))
            .map(|w| format!(" (iptables-save says: {w})"))
            .unwrap_or_default();
        Some(if self.services_chain {
            format!(
                "kube-proxy's {SERVICES_CHAIN} chain is there but not its {NODEPORTS_CHAIN} chain: kube-proxy is not in iptables mode on this node (IPVS mode uses ipsets){legacy}"
            )
        } else {
            format!(
                "the nat table has none of kube-proxy's chains ({SERVICES_CHAIN}, {NODEPORTS_CHAIN}): kube-proxy does not program iptables here, or in tables this iptables-save does not show{legacy}"
            )
        })
    }
}

/// Splits one iptables-save rule into words: `"…"` quotes (with `\"` and
/// `\\` escapes) make one word.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => word.push(c),
                        None => return Err("a quoted word ends in a backslash".into()),
                    },
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quoted word is not closed".into()),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| !c.is_whitespace()) {
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// The kind of NodePort a rule of `table`'s `chain` shows, or `None` for a
/// rule that is not one of kube-proxy's NodePort rules.
fn kind_of(table: &str, chain: &str, args: &[String]) -> Option<Kind> {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let comment = value(args, "--comment").unwrap_or("");
    match (table, chain) {
        ("nat", NODEPORTS_CHAIN) => Some(Kind::Service),
        ("filter", NODEPORTS_CHAIN) => Some(Kind::HealthCheck),
        // `-d EXTERNAL-IP`/`-d LB-IP` rules match the Service port, not a
        // NodePort; the NodePort rule matches local addresses.
        ("filter", EXTERNAL_CHAIN) if has("-d") && !has("--dst-type") => None,
        ("filter", EXTERNAL_CHAIN) if comment.ends_with("has no local endpoints") => {
            Some(Kind::Service)
        }
        ("filter", EXTERNAL_CHAIN) => Some(Kind::NoEndpoints),
        _ => None,
    }
}

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

/// One NodePort rule's port, or why it cannot be read.
fn rule(args: &[String], kind: Kind, family: Family) -> Result<NodePort, String> {
    let Some(dport) = value(args, "--dport").or_else(|| value(args, "--destination-port")) else {
        return Err(if value(args, "--dports").is_some() {
            "a multiport rule (--dports): its ports are not read".to_string()
        } else {
            "a rule without --dport".to_string()
        });
    };
    let port = dport
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--dport {dport:?} is not one port"))?;
    let protocol = value(args, "-p").unwrap_or("tcp").to_ascii_lowercase();
    let (service, port_name) = match value(args, "--comment") {
        Some(comment) => {
            // "NS/NAME:PORT", often followed by words ("… has no endpoints").
            let first = comment.split_whitespace().next().unwrap_or("");
            let (svc, name) = first.split_once(':').unwrap_or((first, ""));
            match svc.split_once('/') {
                Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                    (Some(svc.to_string()), name.to_string())
                }
                _ => (None, String::new()),
            }
        }
        None => (None, String::new()),
    };
    Ok(NodePort {
        port,
        protocol,
        service,
        port_name,
        kind,
        family,
    })
}

/// Reads the output of `iptables-save` (every table; `-t nat` alone reads
/// too) or `ip6tables-save` (`family`). The error says why the text is not
/// such output.
pub fn parse_save(text: &str, family: Family) -> Result<Saved, String> {
    let mut saved = Saved {
        nodeports_chain: false,
        services_chain: false,
        tables: Vec::new(),
        ports: Vec::new(),
        unparsed: Vec::new(),
        warnings: Vec::new(),
    };
    let mut table: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = i + 1;
        if let Some(comment) = line.strip_prefix('#') {
            let c = comment.trim();
            if c.to_ascii_lowercase().starts_with("warning") {
                saved.warnings.push(c.to_string());
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            let name = name.trim().to_string();
            if !saved.tables.contains(&name) {
                saved.tables.push(name.clone());
            }
            table = Some(name);
            continue;
        }
        if line == "COMMIT" {
            table = None;
            continue;
        }
        let Some(current) = table.as_deref() else {
            // Outside a table: the tool's own words on stderr (2>&1).
            saved
                .warnings
                .push(crate::util::text::truncate_chars(line, 200));
            continue;
        };
        let nat = current == "nat";
        if let Some(decl) = line.strip_prefix(':') {
            let chain = decl.split_whitespace().next().unwrap_or("");
            saved.nodeports_chain |= nat && chain == NODEPORTS_CHAIN;
            saved.services_chain |= nat && chain == SERVICES_CHAIN;
            continue;
        }
        let w = words(line).map_err(|e| format!("line {at}: {e}: {line}"))?;
        if !matches!(w.first().map(String::as_str), Some("-A" | "-I")) {
            return Err(format!(
                "line {at} is not an iptables-save line (a *table, :chain, -A rule, COMMIT or # comment): {}",
                crate::util::text::truncate_chars(line, 120)
            ));
        }
        let chain = w.get(1).map(String::as_str).unwrap_or("");
        saved.services_chain |= nat && chain == SERVICES_CHAIN;
        saved.nodeports_chain |= nat && chain == NODEPORTS_CHAIN;
        let args = &w[2..];
        let Some(kind) = kind_of(current, chain, args) else {
            continue;
        };
        match rule(args, kind, family) {
            Ok(p) => {
                let same = |q: &NodePort| {
                    (q.port, &q.protocol, &q.service, &q.port_name)
                        == (p.port, &p.protocol, &p.service, &p.port_name)
                };
                if !saved.ports.iter().any(same) {
                    saved.ports.push(p);
                }
            }
            Err(why) => saved.unparsed.push(format!(
                "line {at} ({current} {chain}): {why}: {}",
                crate::util::text::truncate_chars(line, 160)
            )),
        }
    }
    if !saved.tables.iter().any(|t| t == "nat") {
        return Err(if text.trim().is_empty() {
            "the output is empty (no *nat table)".to_string()
        } else {
            format!(
                "the output has no *nat table: it does not look like iptables-save's (it begins: {})",
                crate::util::text::first_line(text, 80)
            )
        });
    }
    Ok(saved)
}

#[cfg(test)]
#[path = "iptables_tests.rs"]
mod tests;
