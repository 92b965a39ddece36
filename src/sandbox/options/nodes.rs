//! The value types of the per-node knobs (what each simulated node reports
//! to `facts`, `remote` and `node_requirements`), and the playbook-only
//! `commands:` table of canned answers for site commands.
//!
//! A per-node knob is written `VALUE` (every node) or `N=VALUE` (node N);
//! later entries win, so `[rhel-9.4, 2=rhel-8.10]` makes node 2 a RHEL 8
//! node and the others RHEL 9. In a playbook a single value may stand
//! without a list.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::SandboxOptions;
use super::kinds::parse_text;
use crate::hostfacts::samples::SAMPLES;
use crate::sandbox::SandboxError;

impl SandboxOptions {
    /// Checks the per-node knobs and the canned commands.
    pub(super) fn validate_nodes(&self) -> Result<(), SandboxError> {
        let bad = |msg: String| Err(SandboxError::Options(msg));
        let nodes = self.nodes;
        let numbered = |name: &str, list: &mut dyn Iterator<Item = u32>| {
            let mut out_of_range = None;
            for n in list {
                if n == 0 || n > nodes {
                    out_of_range = Some(n);
                    break;
                }
            }
            match out_of_range {
                Some(n) => bad(format!(
                    "{name} = {n}=…: choose a node number from 1 to {nodes}"
                )),
                None => Ok(()),
            }
        };
        macro_rules! nodes_of {
            ($field:ident) => {
                numbered(
                    stringify!($field),
                    &mut self.$field.iter().filter_map(|p| p.node),
                )?
            };
        }
        nodes_of!(node_os);
        nodes_of!(node_cpus);
        nodes_of!(node_memory);
        nodes_of!(node_cgroup);
        nodes_of!(node_disk_free);
        nodes_of!(node_ports);
        nodes_of!(node_arch);
        nodes_of!(node_missing_tool);
        nodes_of!(node_clock_offset);
        nodes_of!(node_ntp);
        numbered(
            "duplicate_machine_id",
            &mut self.duplicate_machine_id.iter().copied(),
        )?;
        let names: Vec<&str> = SAMPLES.iter().map(|s| s.name).collect();
        if let Some(os) = self
            .node_os
            .iter()
            .find(|p| !names.contains(&p.value.0.as_str()))
        {
            return bad(format!(
                "node_os = {:?}: choose one of {}",
                os.value.0,
                names.join(", ")
            ));
        }
        if let Some(c) = self
            .node_cgroup
            .iter()
            .find(|p| !matches!(p.value.0, 1 | 2))
        {
            return bad(format!("node_cgroup = {}: choose 1 or 2", c.value.0));
        }
        if self
            .node_cpus
            .iter()
            .any(|p| p.value.0 == 0 || p.value.0 > 4096)
        {
            return bad("node_cpus: choose 1 to 4096 CPUs".into());
        }
        if let Some(w) = self
            .node_ntp
            .iter()
            .find(|p| !matches!(p.value.0.as_str(), "yes" | "no"))
        {
            return bad(format!("node_ntp = {}: choose yes or no", w.value.0));
        }
        if self.node_memory.iter().any(|p| p.value.0 < (64 << 20)) {
            return bad("node_memory: choose at least 64MiB".into());
        }
        for (i, c) in self.commands.iter().enumerate() {
            let at = format!("commands[{i}] ({:?})", c.run);
            if c.run.trim().is_empty() {
                return bad(format!(
                    "commands[{i}]: `run` is empty: give the command line"
                ));
            }
            numbered(&format!("{at} nodes"), &mut c.nodes.iter().copied())?;
            if !(0.0..=600.0).contains(&c.seconds) {
                return bad(format!("{at} seconds = {}: choose 0 to 600", c.seconds));
            }
            for p in [&c.creates, &c.removes].into_iter().flatten() {
                if !p.starts_with('/') || p.contains(['\n', '\0']) {
                    return bad(format!("{at}: {p:?} is not an absolute path"));
                }
            }
        }
        Ok(())
    }
}

/// `VALUE` or `N=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerNode<V> {
    /// `None`: every node.
    pub node: Option<u32>,
    pub value: V,
}

impl<V: FromStr<Err = String>> FromStr for PerNode<V> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some((n, v)) = s.split_once('=')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            let node = n
                .parse::<u32>()
                .map_err(|_| format!("{s:?}: {n} is not a node number"))?;
            let value = v.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
            return Ok(PerNode {
                node: Some(node),
                value,
            });
        }
        Ok(PerNode {
            node: None,
            value: s.parse().map_err(|e| format!("{s:?}: {e}"))?,
        })
    }
}

impl<'de, V: FromStr<Err = String>> Deserialize<'de> for PerNode<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d)
    }
}

/// The value knob `list` gives node `n`, else `default`.
pub fn for_node<V: Clone>(list: &[PerNode<V>], n: u32, default: V) -> V {
    list.iter()
        .rev()
        .find(|p| p.node.is_none_or(|k| k == n))
        .map_or(default, |p| p.value.clone())
}

/// A one-word value (an OS name, an architecture, a tool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word(pub String);

impl FromStr for Word {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            Ok(Word(s.to_string()))
        } else {
            Err("expected one word of letters, digits, '.', '_' or '-'".into())
        }
    }
}

/// A count (CPUs) or a cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse()
            .map(Count)
            .map_err(|_| format!("{s:?} is not a whole number"))
    }
}

/// A signed number of seconds (`-45`, `+30`, `90s`): a clock offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(pub i64);

impl FromStr for Offset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let t = t.strip_suffix('s').unwrap_or(t);
        t.strip_prefix('+')
            .unwrap_or(t)
            .parse::<i64>()
            .ok()
            .filter(|n| n.abs() <= 10 * 365 * 86_400)
            .map(Offset)
            .ok_or_else(|| {
                format!("{s:?} is not a number of seconds such as -45 or +30 (at most ten years)")
            })
    }
}

/// A size: `32GiB`, `8G` (taken as GiB), `512MiB`, `1TiB` or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        crate::util::text::parse_size(s).map(Size)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}GiB", self.0 as f64 / f64::from(1u32 << 30))
    }
}

/// TCP ports: `80` or `80,9443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub Vec<u16>);

impl FromStr for Ports {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(|p| {
                p.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{p:?} is not a TCP port (1 to 65535)"))
            })
            .collect::<Result<Vec<u16>, String>>()
            .map(Ports)
    }
}

/// A per-node knob in a playbook: one value, or a list.
pub fn one_or_many<'de, D, V>(d: D) -> Result<Vec<PerNode<V>>, D::Error>
where
    D: Deserializer<'de>,
    V: FromStr<Err = String>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Num(i64),
        Many(Vec<serde_json::Value>),
    }
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected VALUE or N=VALUE, found {other}"
        ))),
    };
    let items: Vec<String> = match Raw::deserialize(d)? {
        Raw::One(s) => vec![s],
        Raw::Num(n) => vec![n.to_string()],
        Raw::Many(list) => list.into_iter().map(text).collect::<Result<_, _>>()?,
    };
    items
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// A canned answer for a site command (playbook `sandbox: commands:`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canned {
    /// The command as the node receives it, after `sudo -n --` is taken
    /// off: compared word by word (quoting aside); for a `remote` step's
    /// `script`, the script's text.
    pub run: String,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub rc: u32,
    /// Only on these nodes (default: every node).
    #[serde(default)]
    pub nodes: Vec<u32>,
    /// Running it creates this file on the node (`test -e` finds it then).
    #[serde(default)]
    pub creates: Option<String>,
    /// Running it removes this file from the node.
    #[serde(default)]
    pub removes: Option<String>,
    /// Seconds it takes to answer (its effect happens at once).
    #[serde(default)]
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_node_values() {
        let list: Vec<PerNode<Word>> =
            vec!["rhel-9.4".parse().unwrap(), "2=rhel-8.10".parse().unwrap()];
        assert_eq!(for_node(&list, 1, Word("x".into())).0, "rhel-9.4");
        assert_eq!(for_node(&list, 2, Word("x".into())).0, "rhel-8.10");
        assert_eq!(for_node::<Word>(&[], 2, Word("x".into())).0, "x");
        assert!("2=".parse::<PerNode<Word>>().is_err());
        assert!("a b".parse::<PerNode<Word>>().is_err());
        assert_eq!("32GiB".parse::<Size>(), Ok(Size(32 << 30)));
        assert_eq!("80,9443".parse::<Ports>(), Ok(Ports(vec![80, 9443])));
        assert!("0".parse::<Ports>().is_err());
    }

    #[test]
    fn playbook_forms() {
        #[derive(Deserialize)]
        struct K {
            #[serde(deserialize_with = "one_or_many")]
            os: Vec<PerNode<Word>>,
            #[serde(deserialize_with = "one_or_many")]
            cpus: Vec<PerNode<Count>>,
        }
        let k: K = serde_json::from_str(r#"{"os": "rocky-9.4", "cpus": ["4", "2=2"]}"#).unwrap();
        assert_eq!(k.os[0].value.0, "rocky-9.4");
        assert_eq!(
            k.cpus[1],
            PerNode {
                node: Some(2),
                value: Count(2)
            }
        );
        let k: K = serde_json::from_str(r#"{"os": ["1=rocky-9.4"], "cpus": 16}"#).unwrap();
        assert_eq!(k.cpus[0].value, Count(16));
    }
}
