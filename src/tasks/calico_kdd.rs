//! `calico_kdd`: Calico uses the Kubernetes datastore (`[cluster_config]
//! calico_kdd = true`). The apply is disruptive and irreversible: it saves
//! the original configuration next to the journal, edits only that one
//! value, PUTs the configuration with a timeout that grows with the node
//! count, and shows progress while MKE converts (about 20 s per node, pod
//! networking frozen). A PUT whose outcome is unknown is never repeated
//! blindly: the configuration is read again instead.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;

use super::mke_health::KDD_KEY;
use super::{Change, Check, Facts, Module, StepContext, TaskError, TextDiff};
use crate::mke::config::{ConfigError, read_cluster_bool, set_calico_kdd};
use crate::mke::{MkeClient, MkeError, is_kdd_success, kdd_put_timeout};
use crate::util::fsx::write_private;

/// The journal checkpoint recorded right before the PUT.
pub const PUT_SENT: &str = "put-sent";

/// The saved original configuration, in the state directory.
pub const SAVED_CONFIG: &str = "mke-config.before-kdd.toml";

/// Migrate Calico from etcd to the Kubernetes datastore (KDD).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalicoKdd {
    /// Expected conversion time per node, for progress (real clusters: about 20 s).
    #[serde(default = "twenty")]
    pub seconds_per_node: f64,
    /// How long to read the configuration, waiting for `calico_kdd = true`, when a PUT's outcome
    /// is unknown; default: the expected conversion time × 1.5 + 60 s.
    #[serde(default, deserialize_with = "super::opt_duration")]
    #[schemars(with = "Option<String>")]
    pub settle_timeout: Option<Duration>,
}

fn twenty() -> f64 {
    20.0
}

fn config_error(e: ConfigError) -> TaskError {
    match e {
        ConfigError::MissingKey { .. } | ConfigError::KddUnsupported => {
            TaskError::new(format!("{e}"))
        }
        other => TaskError::new(format!(
            "the MKE configuration cannot be edited safely: {other}"
        )),
    }
}

async fn read_kdd(mke: &MkeClient) -> Result<(String, Option<bool>), TaskError> {
    let doc = mke
        .config_toml()
        .await
        .map_err(|e| TaskError::new(e.to_string()))?;
    let kdd = read_cluster_bool(&doc, "calico_kdd").map_err(config_error)?;
    Ok((doc, kdd))
}

impl CalicoKdd {
    /// Seconds of conversion per node: the sandbox's own rate under
    /// `--sandbox`, else the parameter (about 20 s on a real cluster).
    fn rate(&self, cx: &StepContext<'_>) -> f64 {
        cx.conn
            .kdd_seconds_per_node
            .unwrap_or(self.seconds_per_node)
    }

    fn settle_limit(&self, cx: &StepContext<'_>, nodes: usize) -> Duration {
        self.settle_timeout
            .unwrap_or_else(|| Duration::from_secs_f64(nodes as f64 * self.rate(cx) * 1.5 + 60.0))
    }

    /// Reads the configuration until `calico_kdd = true` or `limit` passes.
    async fn wait_for_true(
        &self,
        cx: &StepContext<'_>,
        mke: &MkeClient,
        why: &str,
        limit: Duration,
    ) -> Result<bool, TaskError> {
        let start = Instant::now();
        loop {
            match read_kdd(mke).await {
                Ok((_, Some(true))) => return Ok(true),
                Ok(_) | Err(_) if start.elapsed() >= limit => return Ok(false),
                _ => {}
            }
            cx.progress_timed(
                format!("{why}: calico_kdd still reads false; reading again"),
                start.elapsed(),
                None,
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

impl Module for CalicoKdd {
    const NAME: &'static str = "calico_kdd";
    const NEEDS_API: bool = true;
    const SUMMARY: &'static str = "Calico uses the Kubernetes datastore (calico_kdd = true); apply migrates from etcd through the MKE config API. Disruptive, irreversible.";
    const EXAMPLE: &'static str = "- id: migrate-kdd\n  calico_kdd: {}\n  tags: [network]";
    const DISRUPTIVE: bool = true;

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let mke = cx.mke()?;
        let (doc, kdd) = read_kdd(mke).await?;
        let mut output = Facts::new();
        output.insert("calico_kdd".into(), kdd.into());
        match kdd {
            Some(true) => Ok(Check::InSync {
                message: "calico_kdd = true: Calico uses the Kubernetes datastore".into(),
                output,
            }),
            None => Ok(Check::Blocked {
                reason: "the MKE configuration has no [cluster_config] calico_kdd: this MKE 3 is too old for the KDD migration".into(),
                remedy: "upgrade MKE 3 to 3.7.15 or later (3.8.x recommended) first".into(),
                output,
            }),
            Some(false) => {
                let after = set_calico_kdd(&doc).map_err(config_error)?;
                let nodes = mke.nodes().await.map(|n| n.len()).unwrap_or(0);
                let secs = (nodes as f64 * self.seconds_per_node).round() as u64;
                let mut change = Change::new(
                    KDD_KEY,
                    format!(
                        "set calico_kdd = true: Calico moves from etcd to the Kubernetes datastore; irreversible; pod networking freezes about 20 s per node ({nodes} nodes: about {secs} s)"
                    ),
                );
                change.from = Some(false.into());
                change.to = Some(true.into());
                change.diff = Some(TextDiff {
                    name: "MKE config (GET /api/ucp/config-toml)".into(),
                    before: doc,
                    after,
                });
                output.insert("nodes".into(), nodes.into());
                Ok(Check::Drift {
                    message: format!("would migrate Calico from etcd to KDD (irreversible; about 20 s of frozen pod networking per node, {nodes} nodes)"),
                    changes: vec![change],
                    output,
                })
            }
        }
    }

    async fn apply(&self, cx: &StepContext<'_>, _: &[Change]) -> Result<Facts, TaskError> {
        let mke = cx.mke()?;
        // Read again: never act on a stale view.
        let (doc, kdd) = read_kdd(mke).await?;
        let mut facts = Facts::new();
        if kdd == Some(true) {
            facts.insert("put".into(), false.into());
            return Ok(facts);
        }
        let earlier_put = cx.earlier_reached(PUT_SENT);
        // Keep the copy an interrupted earlier run made before its PUT (the
        // config read now may be mid-conversion); otherwise save this
        // cluster's configuration, replacing any copy from another cluster.
        let saved = cx.state_dir.join(SAVED_CONFIG);
        if !(earlier_put && saved.exists()) {
            write_private(&saved, doc.as_bytes()).map_err(|e| {
                TaskError::new(format!(
                    "cannot save the original configuration to {}: {e}",
                    saved.display()
                ))
            })?;
        }
        facts.insert("saved_config".into(), saved.display().to_string().into());
        let nodes = mke.nodes().await.map(|n| n.len()).unwrap_or(1).max(1);
        let limit = self.settle_limit(cx, nodes);
        if earlier_put {
            // An earlier run sent the PUT and never learnt its outcome: the
            // cluster may be converting now. Never send a second PUT.
            cx.progress("an earlier run sent the KDD PUT without learning its outcome: reading the configuration, no new PUT");
            if self
                .wait_for_true(cx, mke, "earlier migration", limit)
                .await?
            {
                facts.insert("put".into(), false.into());
                return Ok(facts);
            }
            return Err(TaskError::new(format!(
                "an earlier run sent the KDD PUT and its outcome is unknown: calico_kdd still reads false after {}s",
                limit.as_secs()
            ))
            .remedy(format!("check the cluster (GET /api/ucp/config-toml, the calico-node pods, ucp-* logs on a manager); if no conversion ran, run again with --resend {} to send the PUT again", cx.key.id()))
            .unknown_outcome());
        }
        let edited = set_calico_kdd(&doc).map_err(config_error)?;
        let timeout = kdd_put_timeout(nodes);
        let expected = Duration::from_secs_f64(nodes as f64 * self.rate(cx));
        let started = Instant::now();
        cx.progress_timed(
            format!(
                "PUT /api/ucp/config-toml with calico_kdd = true: MKE converts node by node (expected about {}s for {nodes} nodes at {} s per node; a real cluster takes about 20 s per node); waiting up to {}s",
                expected.as_secs(),
                self.rate(cx),
                timeout.as_secs()
            ),
            Duration::ZERO,
            Some(expected),
        );
        // From here the change may take effect even if this process dies.
        cx.checkpoint(PUT_SENT)?;
        let put = mke.put_config_toml(&edited, timeout);
        tokio::pin!(put);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut put => break r,
                _ = tick.tick() => cx.progress_timed(
                    format!(
                        "converting Calico to KDD, {nodes} nodes (a real cluster takes about 20 s per node; timeout {}s)",
                        timeout.as_secs()
                    ),
                    started.elapsed(),
                    Some(expected),
                ),
            }
        };
        facts.insert("put".into(), true.into());
        facts.insert("seconds".into(), started.elapsed().as_secs_f64().into());
        let resend = format!(
            "check the cluster (GET /api/ucp/config-toml, the calico-node pods) before anything else: the next run reads the configuration and will not send another PUT without --resend {}",
            cx.key.id()
        );
        let unknown = |e: String| {
            TaskError::new(format!("{e}; calico_kdd still reads false"))
                .remedy(resend.clone())
                .unknown_outcome()
        };
        match result {
            Ok(message) => {
                facts.insert("message".into(), message.clone().into());
                if is_kdd_success(&message)
                    || self.wait_for_true(cx, mke, "after the PUT", limit).await?
                {
                    return Ok(facts);
                }
                Err(unknown(format!("MKE accepted the configuration but answered `{message}`")))
            }
            // The PUT may have taken effect (its answer was lost, a proxy
            // gave up, MKE failed mid-way, or a conversion is running):
            // read back, never repeat.
            Err(e)
                if matches!(e, MkeError::OutcomeUnknown { .. })
                    || e.status().is_some_and(|s| s >= 500 || s == 409) =>
            {
                if self.wait_for_true(cx, mke, "the PUT's outcome is unknown", limit).await? {
                    facts.insert("message".into(), "outcome read back: calico_kdd = true".into());
                    return Ok(facts);
                }
                Err(unknown(e.to_string()))
            }
            Err(e) => Err(TaskError::new(e.to_string()).remedy(format!(
                "MKE refused the configuration, so nothing changed; the original configuration is saved in {}",
                saved.display()
            ))),
        }
    }
}
