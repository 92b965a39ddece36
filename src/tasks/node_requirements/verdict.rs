//! One host's verdict (its `host` event), the step's remedies and notes,
//! and the registered output.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::NodeRequirements;
use super::rules::{self, Finding, Level, Rules, TimeSync, ancestors};
use crate::ssh::Cause;
use crate::tasks::Facts;
use crate::tasks::facts::HostRead;
use crate::tasks::fanout::{HostOutcome, listed};
use crate::tasks::targets::{Role, Roles};

/// One host's verdict, streamed as its `host` event.
pub(super) struct Verdict {
    pub(super) findings: Vec<Finding>,
    pub(super) unreadable: Option<(Cause, String)>,
}

impl Verdict {
    pub(super) fn worst(&self) -> Option<Level> {
        if self.unreadable.is_some() {
            return Some(Level::Fail);
        }
        self.findings.iter().map(|f| f.level).max()
    }

    pub(super) fn summary(&self) -> String {
        match &self.unreadable {
            Some((c, m)) => format!("{}: {m}", c.word()),
            None => self
                .findings
                .iter()
                .map(|f| format!("{}: {}", f.check, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

impl HostOutcome for Verdict {
    fn status(&self) -> &'static str {
        match self.worst() {
            None => "ok",
            Some(Level::Warn) => "warn",
            Some(Level::Fail) => "failed",
        }
    }

    fn cause(&self) -> Option<Cause> {
        self.unreadable.as_ref().map(|(c, _)| *c)
    }

    fn message(&self) -> String {
        match self.worst() {
            None => "meets the host requirements".into(),
            Some(_) => self.summary(),
        }
    }

    fn duration_ms(&self) -> u64 {
        0
    }

    fn stopped(why: String) -> Self {
        Verdict {
            findings: Vec::new(),
            unreadable: Some((Cause::Other, why)),
        }
    }
}

/// What the time checks could not judge, for the message: this machine's
/// clock against the nodes', and nodes whose NTP sync is unknown.
pub(super) fn time_notes(
    rules: &Rules,
    addresses: &[String],
    usable: &[Option<&crate::hostfacts::HostFacts>],
) -> String {
    if rules.time_sync == TimeSync::Off {
        return String::new();
    }
    let mut notes: Vec<String> = rules::this_machine(rules, usable).into_iter().collect();
    if rules::clocks_read(usable) == 1 {
        notes.push("one node's clock was read: no other to compare it with".into());
    }
    let unknown: Vec<String> = addresses
        .iter()
        .zip(usable)
        .filter_map(|(a, f)| {
            let f = (*f)?;
            f.ntp_synchronized
                .is_none()
                .then(|| format!("{a} ({})", f.ntp_note.as_deref().unwrap_or("no answer")))
        })
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "NTP sync unknown (clocks still compared) on {}",
            listed(&unknown)
        ));
    }
    notes.iter().map(|n| format!("; {n}")).collect()
}

/// Why a host's facts cannot be judged: unreachable, or a fact the rules
/// need is missing (Docker's absence is fine; a data dir path that does
/// not exist yet is expected).
pub(super) fn unreadable(r: &HostRead) -> Option<(Cause, String)> {
    if let Some(e) = &r.failure {
        return Some((e.cause, format!("cannot read its facts: {}", e.message)));
    }
    let missing: Vec<String> = r
        .facts
        .errors
        .iter()
        .filter(|(k, _)| {
            // The clock is judged by the time checks, at their level.
            *k != "clock"
                && !k
                    .strip_prefix("disk:")
                    .is_some_and(|p| r.facts.missing_paths.iter().any(|m| m == p))
        })
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    (!missing.is_empty()).then(|| {
        (
            Cause::Command,
            format!("cannot read {}", missing.join("; ")),
        )
    })
}

/// One remedy per kind of problem, naming the hosts.
pub(super) fn remedies(addresses: &[String], verdicts: &[Verdict]) -> String {
    let mut by_check: BTreeMap<&str, (Vec<&str>, String)> = BTreeMap::new();
    for (a, v) in addresses.iter().zip(verdicts) {
        if v.unreadable.is_some() {
            let e = by_check
                .entry("facts")
                .or_insert_with(|| (Vec::new(), "fix SSH to it (a `hosts` step says what to do per cause), or install what is missing".into()));
            e.0.push(a);
        }
        for f in v.findings.iter().filter(|f| f.level == Level::Fail) {
            let e = by_check
                .entry(f.check)
                .or_insert_with(|| (Vec::new(), f.remedy.clone()));
            e.0.push(a);
        }
    }
    by_check
        .into_iter()
        .map(|(check, (hosts, remedy))| format!("{check} on {}: {remedy}", hosts.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl NodeRequirements {
    pub(super) fn output(
        &self,
        rules: &Rules,
        os_source: &str,
        roles: &Roles,
        addresses: &[String],
        reads: &[HostRead],
        verdicts: &[Verdict],
    ) -> Facts {
        let mut hosts = serde_json::Map::new();
        let (mut ok, mut warned, mut failed) = (0usize, 0usize, 0usize);
        for (i, a) in addresses.iter().enumerate() {
            let (v, f) = (&verdicts[i], &reads[i].facts);
            match v.worst() {
                None => ok += 1,
                Some(Level::Warn) => warned += 1,
                Some(Level::Fail) => failed += 1,
            }
            let free = ancestors(&rules.data_dir)
                .into_iter()
                .find_map(|p| f.disk.get(&p).map(|d| d.avail_bytes));
            let mut problems: Vec<Value> = v
                .findings
                .iter()
                .map(|f| serde_json::to_value(f).unwrap_or(Value::Null))
                .collect();
            if let Some((c, m)) = &v.unreadable {
                problems.push(
                    json!({"check": "facts", "level": "fail", "cause": c.name(), "message": m}),
                );
            }
            hosts.insert(
                a.clone(),
                json!({
                    "status": v.status(),
                    "role": roles.of[i].map(Role::word),
                    "problems": problems,
                    "os": f.os, "arch": f.arch, "cpus": f.cpus, "memory_bytes": f.memory_bytes,
                    "cgroup_version": f.cgroup_version, "data_dir_free_bytes": free,
                    "machine_id": f.machine_id,
                    "clock_offset_seconds": f.clock_offset_seconds, "clock_offset_error_seconds": f.clock_offset_error_seconds,
                    "ntp_synchronized": f.ntp_synchronized, "ntp_note": f.ntp_note,
                }),
            );
        }
        let mut out = Facts::new();
        out.insert("target".into(), rules.target.to_string().into());
        out.insert("hosts".into(), Value::Object(hosts));
        out.insert("ok".into(), ok.into());
        out.insert("warned".into(), warned.into());
        out.insert("failed".into(), failed.into());
        out.insert("rules".into(), self.rules_json(rules, os_source));
        out.insert("roles_from".into(), roles.source.clone().into());
        out
    }
}
