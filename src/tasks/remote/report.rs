//! What a `remote` step registers and says: per-host records, counts, and
//! the failure that names the hosts with their output.

use serde_json::Value;

use super::host::{HostRun, State};
use super::{Memo, Remote, verdict};
use crate::inventory::Host;
use crate::tasks::fanout::{listed, plural};
use crate::tasks::{Change, Facts, TaskError};

/// The hosts of a change's `to` (the hosts the check found drifting).
pub(super) fn hosts_of(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.key == "hosts")
        .filter_map(|c| c.to.as_ref()?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl Remote {
    pub(super) fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registered output: per host, what the apply did there, else
    /// what `runs` found.
    pub(super) fn output(
        &self,
        hosts: &[Host],
        runs: &[HostRun],
        roles_from: Option<&str>,
    ) -> Facts {
        let records: Vec<(String, Value)> = {
            let memo = self.memo();
            hosts
                .iter()
                .zip(runs)
                .map(|(h, r)| {
                    let rec = memo
                        .applied
                        .as_ref()
                        .and_then(|a| a.get(&h.address).cloned())
                        .unwrap_or_else(|| verdict::record(r));
                    (h.address.clone(), rec)
                })
                .collect()
        };
        self.output_of(records, roles_from)
    }

    pub(super) fn output_of(
        &self,
        records: Vec<(String, Value)>,
        roles_from: Option<&str>,
    ) -> Facts {
        let mut by_host = serde_json::Map::new();
        let (mut ok, mut failed, mut changed) = (0usize, 0usize, 0usize);
        for (address, rec) in records {
            if rec["ok"] == true {
                ok += 1;
            } else {
                failed += 1;
            }
            if rec["changed"] == true {
                changed += 1;
            }
            by_host.insert(address, rec);
        }
        let mut out = Facts::new();
        out.insert("hosts".into(), Value::Object(by_host));
        out.insert("ok".into(), ok.into());
        out.insert("failed".into(), failed.into());
        out.insert("changed".into(), changed.into());
        out.insert("on".into(), self.on.describe().into());
        if let Some(src) = roles_from {
            out.insert("roles_from".into(), src.into());
        }
        out
    }

    /// The failure of a step some of whose hosts failed.
    pub(super) fn failure(
        &self,
        what: &str,
        hosts: &[Host],
        runs: &[HostRun],
        output: Facts,
    ) -> TaskError {
        let bad: Vec<String> = hosts
            .iter()
            .zip(runs)
            .filter(|(_, r)| !r.ok())
            .map(|(h, r)| format!("{} ({})", h.address, failure_detail(r)))
            .collect();
        let unknown = runs.iter().any(|r| matches!(r.state, State::Unknown(..)));
        let mut e = TaskError::new(format!(
            "`{}` {what} on {} of {}: {}",
            self.shown(),
            bad.len(),
            plural(hosts.len(), "host", "hosts"),
            listed(&bad)
        ))
        .remedy(if unknown {
            "the action's outcome is unknown where it was cut off: look at those hosts; the next run re-checks them through `creates`/`unless`, and without them stops again rather than run it twice"
        } else {
            "see each host's output above (or `output.hosts` in JSON); for SSH causes a `hosts` step says what to do per cause"
        });
        e.output = Box::new(output);
        e.outcome_unknown = unknown;
        e
    }
}

fn failure_detail(r: &HostRun) -> String {
    match &r.state {
        State::Failed(c, m) | State::Unknown(c, m) => format!("{}: {m}", c.word()),
        _ => String::new(),
    }
}
