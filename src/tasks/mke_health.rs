//! `mke_health`: `GET /_ping` is 200 on every manager (at its address and
//! the MKE port), every node of `GET /nodes` is ready, and optionally
//! `calico_kdd = true`.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Check, Facts, Module, StepContext, TaskError};
use crate::mke::NodeState;
use crate::mke::config::read_cluster_bool;

/// Check that the cluster is healthy.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkeHealth {
    /// Port for each manager's `/_ping`; default: the port of MKE_HOST.
    #[serde(default)]
    pub ping_port: Option<u16>,
    /// Also require `[cluster_config] calico_kdd = true`.
    #[serde(default)]
    pub require_calico_kdd: bool,
}

/// The config key `calico_kdd` as a pending-change key.
pub const KDD_KEY: &str = "cluster_config.calico_kdd";

impl Module for MkeHealth {
    const NAME: &'static str = "mke_health";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "Every manager answers /_ping with 200 and every node is ready (optionally: calico_kdd = true).";
    const EXAMPLE: &'static str =
        "- id: verify\n  mke_health:\n    require_calico_kdd: true\n  retries: 6\n  delay: 10s";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let mke = cx.mke()?;
        let nodes = mke
            .nodes()
            .await
            .map_err(|e| TaskError::new(e.to_string()))?;
        let port = self.ping_port.unwrap_or(mke.target().port());
        let managers: Vec<_> = nodes.iter().filter(|n| n.is_manager()).collect();
        let pings = managers.iter().map(|m| async move {
            let addr = m.addr.clone().unwrap_or_default();
            let result = if addr.is_empty() {
                Err("no address in GET /nodes".to_string())
            } else {
                mke.ping_at(&addr, port).await.map_err(|e| e.to_string())
            };
            (m.hostname.clone(), addr, result)
        });
        let mut problems = Vec::new();
        let mut ping_results = Vec::new();
        for (name, addr, result) in futures_join(pings).await {
            let ok = matches!(result, Ok(200));
            ping_results.push(serde_json::json!({"manager": name, "addr": addr, "ok": ok}));
            match result {
                Ok(200) => {}
                Ok(code) => problems.push(format!(
                    "manager {name} ({addr}:{port}) answers /_ping with HTTP {code}"
                )),
                Err(e) => problems.push(format!("manager {name} ({addr}:{port}): {e}")),
            }
        }
        for n in nodes.iter().filter(|n| n.state != NodeState::Ready) {
            let why = n
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            problems.push(format!("node {} is {}{why}", n.hostname, n.state));
        }
        let ready = nodes.iter().filter(|n| n.state == NodeState::Ready).count();
        let mut output = Facts::new();
        output.insert("managers".into(), managers.len().into());
        output.insert("nodes".into(), nodes.len().into());
        output.insert("ready".into(), ready.into());
        output.insert("pings".into(), ping_results.into());
        let mut kdd_note = String::new();
        let mut kdd_problem = false;
        if self.require_calico_kdd {
            let doc = mke
                .config_toml()
                .await
                .map_err(|e| TaskError::new(e.to_string()))?;
            let kdd = read_cluster_bool(&doc, "calico_kdd")
                .map_err(|e| TaskError::new(format!("MKE configuration: {e}")))?;
            output.insert("calico_kdd".into(), kdd.into());
            if kdd != Some(true) {
                if problems.is_empty()
                    && let Some(after) = cx.pending(KDD_KEY)
                {
                    return Ok(Check::AfterPending {
                        after: after.to_string(),
                        message: "calico_kdd reads false until the migration is applied".into(),
                    });
                }
                kdd_problem = true;
                problems.push("calico_kdd is not true: Calico still uses etcd".into());
            } else {
                kdd_note = ", calico_kdd = true".into();
            }
        }
        if problems.is_empty() {
            return Ok(Check::InSync {
                message: format!(
                    "{} manager(s) answer /_ping, {ready}/{} nodes ready{kdd_note}",
                    managers.len(),
                    nodes.len()
                ),
                output,
            });
        }
        let mut remedies = Vec::new();
        if problems.len() > usize::from(kdd_problem) {
            remedies.push("repair the cluster first (docker node ls, the MKE UI's node list, ucp-* container logs on the manager); do not migrate or upgrade an unhealthy cluster");
        }
        if kdd_problem {
            // Had the migration run and failed, the run would have stopped
            // before this step: it was left out of this run.
            remedies.push("the KDD migration (the `calico_kdd` step, migrate-kdd in the standard playbook) has not been applied and did not run in this run (left out by --tags, --skip-tags or --start-at): run it, or the whole playbook");
        }
        Ok(Check::Blocked {
            reason: problems.join("; "),
            remedy: remedies.join("; "),
            output,
        })
    }
}

/// Awaits futures concurrently, keeping their order.
pub async fn futures_join<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                results[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
