//! Custom Kubernetes flags (`custom_*_flags`) against what the target's
//! Kubernetes accepts, with the data of `data/k8s-flags.toml`.

use std::sync::OnceLock;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::classify::Setting;
use crate::mke::catalog::table_to_json;

pub const SOURCE: &str = include_str!("../../../data/k8s-flags.toml");

/// The configuration keys that carry flags, and their component.
pub const SETTINGS: &[(&str, &str)] = &[
    (
        "cluster_config.custom_kube_api_server_flags",
        "kube-apiserver",
    ),
    (
        "cluster_config.custom_kube_controller_manager_flags",
        "kube-controller-manager",
    ),
    (
        "cluster_config.custom_kube_scheduler_flags",
        "kube-scheduler",
    ),
    ("cluster_config.custom_kubelet_flags", "kubelet"),
    ("cluster_config.custom_kube_proxy_flags", "kube-proxy"),
    ("cluster_config.custom_kubelet_flags_profiles", "kubelet"),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetLine {
    pub mke: String,
    pub kubernetes: String,
    pub mark: String,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    pub component: String,
    pub flags: Vec<String>,
    pub removed_in: String,
    pub mark: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovedValue {
    pub component: String,
    pub flags: Vec<String>,
    #[serde(default)]
    pub values: Vec<String>,
    pub only: Option<Vec<String>>,
    pub removed_in: String,
    pub mark: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    pub component: String,
    pub flags: Vec<String>,
    pub mark: String,
    pub note: String,
}

/// Every flag a component has in one Kubernetes version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    pub component: String,
    pub kubernetes: String,
    pub mark: String,
    pub source: String,
    /// The oldest Kubernetes minor whose reference page was compared with
    /// this list, its flags that the list lacks being in `[[removed]]`
    /// (absent: `kubernetes`, none). For older targets the list may miss a
    /// flag removed in between: an unknown flag is then a warning.
    pub compared_from: Option<String>,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FlagMeta {
    pub reference: String,
    pub removals: String,
}

/// The flag data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagData {
    pub meta: FlagMeta,
    pub target: Vec<TargetLine>,
    pub removed: Vec<Removed>,
    pub removed_value: Vec<RemovedValue>,
    pub managed: Vec<Managed>,
    #[serde(default)]
    pub allowed: Vec<Allowed>,
}

/// A flag name as the components compare it: `_` and `-` alike (their
/// commands run through component-base's `cli.Run`, which sets
/// `WordSepNormalizeFunc`), so `log_dir` is `log-dir`.
fn canonical(name: &str) -> String {
    name.replace('_', "-")
}

/// A Kubernetes minor such as `1.32`, as (major, minor).
fn minor(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl FlagData {
    pub fn builtin() -> Result<&'static FlagData, String> {
        static DATA: OnceLock<Result<FlagData, String>> = OnceLock::new();
        DATA.get_or_init(|| FlagData::parse(SOURCE))
            .as_ref()
            .map_err(|e| format!("the built-in Kubernetes flag data is broken: {e}"))
    }

    pub fn parse(text: &str) -> Result<FlagData, String> {
        let doc = toml_edit::Document::parse(text).map_err(|e| e.to_string())?;
        let mut data: FlagData = serde_path_to_error::deserialize(table_to_json(doc.as_table()))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        for t in &data.target {
            VersionReq::parse(&t.mke).map_err(|e| format!("target {}: {e}", t.mke))?;
            minor(&t.kubernetes).ok_or(format!("kubernetes {:?} is not 1.NN", t.kubernetes))?;
        }
        for r in &data.removed {
            minor(&r.removed_in).ok_or(format!("removed_in {:?} is not 1.NN", r.removed_in))?;
        }
        for r in &data.removed_value {
            minor(&r.removed_in).ok_or(format!("removed_in {:?} is not 1.NN", r.removed_in))?;
        }
        let rules = data.removed.iter().map(|r| r.component.as_str());
        let rules = rules.chain(data.removed_value.iter().map(|r| r.component.as_str()));
        let rules = rules.chain(data.managed.iter().map(|m| m.component.as_str()));
        for c in rules.chain(data.allowed.iter().map(|a| a.component.as_str())) {
            if c != "*" && !SETTINGS.iter().any(|(_, k)| *k == c) {
                return Err(format!(
                    "component {c:?} is none of the five (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy)"
                ));
            }
        }
        for a in &data.allowed {
            if a.component == "*" {
                return Err("an [[allowed]] list names one component, not \"*\"".into());
            }
            let version =
                minor(&a.kubernetes).ok_or(format!("kubernetes {:?} is not 1.NN", a.kubernetes))?;
            if let Some(from) = &a.compared_from {
                let m = minor(from).ok_or(format!("compared_from {from:?} is not 1.NN"))?;
                if m > version {
                    return Err(format!(
                        "allowed flags of {}: compared_from {from} is newer than the list's {}",
                        a.component, a.kubernetes
                    ));
                }
            }
            if let Some(w) = a.flags.windows(2).find(|w| w[0] >= w[1]) {
                return Err(format!(
                    "allowed flags of {}: {:?} comes before {:?} (keep the list sorted, each flag once)",
                    a.component, w[0], w[1]
                ));
            }
            // Each flag once as the components compare names too: `log_dir`
            // and `log-dir` are one flag.
            let mut seen = std::collections::HashMap::new();
            for f in &a.flags {
                if let Some(first) = seen.insert(canonical(f), f) {
                    return Err(format!(
                        "allowed flags of {}: {first:?} and {f:?} are one flag (`_` and `-` are the same); keep each flag once",
                        a.component
                    ));
                }
            }
        }
        // Names are compared as the components compare them.
        let lists = data.removed.iter_mut().map(|r| &mut r.flags);
        let lists = lists.chain(data.removed_value.iter_mut().map(|r| &mut r.flags));
        let lists = lists.chain(data.managed.iter_mut().map(|m| &mut m.flags));
        for list in lists.chain(data.allowed.iter_mut().map(|a| &mut a.flags)) {
            list.iter_mut().for_each(|f| *f = canonical(f));
        }
        Ok(data)
    }

    /// The Kubernetes minor the target MKE release deploys.
    pub fn kubernetes_of(&self, target: &Version) -> Option<&TargetLine> {
        let release = Version::new(target.major, target.minor, target.patch);
        self.target
            .iter()
            .find(|t| VersionReq::parse(&t.mke).is_ok_and(|r| r.matches(&release)))
    }
}

/// One flag written in a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub setting: String,
    pub component: &'static str,
    /// As written, for messages (`--event-ttl=4h0m0s`).
    pub text: String,
    /// The name without dashes (`event-ttl`); empty when malformed.
    pub name: String,
    pub value: Option<String>,
}

/// Every flag of the flag settings, in order. Items that are not flags
/// (`-x`, `name=value`) come back with an empty name.
pub fn written(settings: &[Setting]) -> Vec<Written> {
    let mut out = Vec::new();
    for s in settings {
        let Some((_, component)) = SETTINGS.iter().find(|(k, _)| *k == s.key) else {
            continue;
        };
        let mut texts = Vec::new();
        strings(&s.value, s.key.ends_with("_profiles"), &mut texts);
        for text in texts {
            out.push(parse_flag(&s.key, component, &text));
        }
    }
    out
}

/// The strings of a flag list; in profiles, only the strings of their
/// flag lists (profile names are not flags).
fn strings(v: &Value, profiles: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !profiles || s.starts_with('-') => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, profiles, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, profiles, out)),
        _ => {}
    }
}

fn parse_flag(setting: &str, component: &'static str, text: &str) -> Written {
    let trimmed = text.trim();
    let (name, value) = match trimmed.strip_prefix("--") {
        Some(rest) => {
            let (n, v) = match rest.split_once(['=', ' ']) {
                Some((n, v)) => (n, Some(v.trim().to_string())),
                None => (rest, None),
            };
            let ok = !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            (if ok { canonical(n) } else { String::new() }, v)
        }
        // klog's -v is the one short flag the components take.
        None if trimmed == "-v" || trimmed.starts_with("-v=") => (
            "v".to_string(),
            trimmed.strip_prefix("-v=").map(str::to_string),
        ),
        None => (String::new(), None),
    };
    Written {
        setting: setting.to_string(),
        component,
        text: trimmed.to_string(),
        name,
        value,
    }
}

/// What is wrong with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Not a `--name[=value]` item.
    Malformed,
    /// The component no longer has the flag.
    Removed,
    /// The component no longer accepts the value.
    RemovedValue,
    /// MKE 4 sets the flag itself.
    Managed,
    /// Not a flag the component has (a typo, or removed long ago).
    Unknown,
}

/// A finding about one flag.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub setting: String,
    pub component: String,
    pub flag: String,
    pub problem: Problem,
    /// Blocks the upgrade (else a warning).
    pub blocks: bool,
    pub message: String,
    pub remedy: String,
    pub mark: String,
}

fn comp_matches(rule: &str, component: &str) -> bool {
    rule == "*" || rule == component
}

/// What the user says about flags: `ignore` (no finding at all) and
/// `known` (flags the component has although the lists miss them); each a
/// flag name, or `component:name`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides<'a> {
    pub ignore: &'a [String],
    pub known: &'a [String],
}

fn named(list: &[String], w: &Written) -> bool {
    list.iter().any(|i| {
        let (component, name) = match i.split_once(':') {
            Some((c, n)) => (Some(c.trim()), n),
            None => (None, i.as_str()),
        };
        component.is_none_or(|c| c == w.component)
            && canonical(name.trim().trim_start_matches('-')) == w.name
    })
}

/// Checks the written flags for a target Kubernetes minor (`1.32`).
pub fn check(
    data: &FlagData,
    kubernetes: &str,
    flags: &[Written],
    user: Overrides<'_>,
) -> Vec<Finding> {
    let target = minor(kubernetes).unwrap_or((1, 0));
    let mut out = Vec::new();
    for w in flags {
        if named(user.ignore, w) {
            continue;
        }
        let short = w.setting.trim_start_matches("cluster_config.");
        let finding = |problem, blocks, message: String, remedy: String, mark: &str| Finding {
            setting: w.setting.clone(),
            component: w.component.to_string(),
            flag: w.text.clone(),
            problem,
            blocks,
            message,
            remedy,
            mark: mark.to_string(),
        };
        if w.name.is_empty() {
            out.push(finding(
                Problem::Malformed,
                true,
                format!("`{}` in {short} is not a --flag[=value]", w.text),
                format!(
                    "write it as --name=value in {short}, or remove it, in the MKE 3 configuration"
                ),
                "C",
            ));
            continue;
        }
        let removed = data.removed.iter().find(|r| {
            comp_matches(&r.component, w.component)
                && r.flags.contains(&w.name)
                && minor(&r.removed_in).is_some_and(|m| m <= target)
        });
        if let Some(r) = removed {
            let note = r
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            out.push(finding(
                Problem::Removed,
                true,
                format!(
                    "--{} in {short}: {} has no such flag since Kubernetes {}, and the target runs {kubernetes}{note}",
                    w.name, w.component, r.removed_in
                ),
                format!("remove --{} from {short} in the MKE 3 configuration (PUT /api/ucp/config-toml) before the upgrade", w.name),
                &r.mark,
            ));
            continue;
        }
        for r in &data.removed_value {
            if !comp_matches(&r.component, w.component)
                || !r.flags.contains(&w.name)
                || minor(&r.removed_in).is_none_or(|m| m > target)
            {
                continue;
            }
            let value = w.value.clone().unwrap_or_default();
            let items: Vec<&str> = value
                .split(',')
                .map(|i| i.split('=').next().unwrap_or("").trim())
                .collect();
            let bad: Vec<&str> = match &r.only {
                Some(only) => (!only.iter().any(|o| *o == value.trim()))
                    .then_some(value.trim())
                    .into_iter()
                    .collect(),
                None => items
                    .iter()
                    .copied()
                    .filter(|i| r.values.iter().any(|v| v == i))
                    .collect(),
            };
            if bad.is_empty() {
                continue;
            }
            let note = r
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            out.push(finding(
                Problem::RemovedValue,
                true,
                format!(
                    "--{}: {} in {short} is not accepted by {} since Kubernetes {}, and the target runs {kubernetes}{note}",
                    w.name,
                    bad.join(", "),
                    w.component,
                    r.removed_in
                ),
                format!("change or remove --{} in {short} in the MKE 3 configuration before the upgrade", w.name),
                &r.mark,
            ));
        }
        if let Some(finding) = unknown(data, target, kubernetes, w, user, short) {
            out.push(finding);
            continue;
        }
        if let Some(m) = data
            .managed
            .iter()
            .find(|m| comp_matches(&m.component, w.component) && m.flags.contains(&w.name))
        {
            out.push(finding(
                Problem::Managed,
                false,
                format!("--{} in {short}: {}; mkectl may reject or override it", w.name, m.note),
                format!("remove --{} from {short} unless you know MKE 4 keeps it (then list it in ignore_flags)", w.name),
                &m.mark,
            ));
        }
    }
    out
}

mod unknown;
use unknown::unknown;

#[cfg(test)]
mod tests;
