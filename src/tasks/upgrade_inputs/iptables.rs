//! The NodePorts kube-proxy has programmed on a node, read from
//! `iptables-save -t nat`: in iptables mode kube-proxy writes one rule per
//! NodePort of every Service into its own `KUBE-NODEPORTS` chain, with the
//! Service's `NAMESPACE/NAME:PORTNAME` as the rule's comment:
//!
//! ```text
//! -A KUBE-NODEPORTS -p tcp -m comment --comment "shop/web:https" -m tcp --dport 33001 -j KUBE-EXT-…
//! ```
//!
//! Older kube-proxy releases write the comment without a port name
//! (`"default/web:"`) and two rules per port (one to `KUBE-MARK-MASQ`, one
//! to `KUBE-SVC-…`); newer ones add a `-d 127.0.0.0/8` rule for localhost
//! NodePorts. Each (port, protocol, Service, port name) is kept once.

use serde::Serialize;

/// kube-proxy's chain of NodePort rules (iptables mode).
pub const NODEPORTS_CHAIN: &str = "KUBE-NODEPORTS";
/// kube-proxy's entry chain (iptables and IPVS modes alike).
const SERVICES_CHAIN: &str = "KUBE-SERVICES";

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
}

impl NodePort {
    /// `shop/web (port https, TCP)`.
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
        format!("{who} ({port}{})", self.protocol.to_uppercase())
    }
}

/// What the nat table says about kube-proxy's NodePorts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatTable {
    /// kube-proxy's `KUBE-NODEPORTS` chain is there (iptables mode).
    pub nodeports_chain: bool,
    /// kube-proxy's `KUBE-SERVICES` chain is there (any mode).
    pub services_chain: bool,
    /// The NodePorts, in the order the rules list them.
    pub ports: Vec<NodePort>,
    /// `iptables-save`'s own warnings (`# Warning: iptables-legacy tables
    /// present, use iptables-legacy-save to see them`).
    pub warnings: Vec<String>,
}

impl NatTable {
    /// Why this table cannot tell the node's NodePorts, if it cannot.
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

/// One `-A KUBE-NODEPORTS …` rule's NodePort; `Ok(None)` for a rule with
/// no `--dport` (not one port's rule).
fn rule(args: &[String]) -> Result<Option<NodePort>, String> {
    let value = |flag: &str| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].as_str())
    };
    let Some(dport) = value("--dport") else {
        return Ok(None);
    };
    let port = dport
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--dport {dport:?} is not a port"))?;
    let protocol = value("-p").unwrap_or("tcp").to_ascii_lowercase();
    let (service, port_name) = match value("--comment") {
        Some(comment) => {
            // "NS/NAME:PORT", sometimes followed by words ("… health check node port").
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
    Ok(Some(NodePort {
        port,
        protocol,
        service,
        port_name,
    }))
}

/// Reads the output of `iptables-save -t nat` (or of a whole
/// `iptables-save`: other tables are passed over). The error says why the
/// text is not such output, or which rule of kube-proxy's chain is not
/// understood.
pub fn parse_nat(text: &str) -> Result<NatTable, String> {
    let mut table = NatTable {
        nodeports_chain: false,
        services_chain: false,
        ports: Vec::new(),
        warnings: Vec::new(),
    };
    let mut seen_nat = false;
    let mut in_nat = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = i + 1;
        if let Some(comment) = line.strip_prefix('#') {
            let c = comment.trim();
            if c.to_ascii_lowercase().starts_with("warning") {
                table.warnings.push(c.to_string());
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            in_nat = name.trim() == "nat";
            seen_nat |= in_nat;
            continue;
        }
        if line == "COMMIT" {
            in_nat = false;
            continue;
        }
        if !in_nat {
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let chain = decl.split_whitespace().next().unwrap_or("");
            table.nodeports_chain |= chain == NODEPORTS_CHAIN;
            table.services_chain |= chain == SERVICES_CHAIN;
            continue;
        }
        let w = words(line).map_err(|e| format!("line {at}: {e}: {line}"))?;
        match w.first().map(String::as_str) {
            Some("-A" | "-I") => {}
            _ => {
                return Err(format!(
                    "line {at} is not an iptables-save line (a *table, :chain, -A rule, COMMIT or # comment): {}",
                    crate::util::text::truncate_chars(line, 120)
                ));
            }
        }
        let chain = w.get(1).map(String::as_str).unwrap_or("");
        table.services_chain |= chain == SERVICES_CHAIN;
        if chain != NODEPORTS_CHAIN {
            continue;
        }
        table.nodeports_chain = true;
        if let Some(p) = rule(&w[2..]).map_err(|e| format!("line {at}: {e}: {line}"))?
            && !table.ports.contains(&p)
        {
            table.ports.push(p);
        }
    }
    if !seen_nat {
        return Err(if text.trim().is_empty() {
            "the output is empty (no *nat table)".to_string()
        } else {
            format!(
                "the output has no *nat table: it does not look like `iptables-save -t nat` (it begins: {})",
                crate::util::text::first_line(text, 80)
            )
        });
    }
    Ok(table)
}

#[cfg(test)]
#[path = "iptables_tests.rs"]
mod tests;
