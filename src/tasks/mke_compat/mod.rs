//! `mke_compat`: every key of the live MKE 3 configuration, classified for
//! the target (supported, not supported, skipped, blocker, unknown) from the
//! catalog `data/mke3-config-keys.toml`; the custom Kubernetes flags against
//! the target's Kubernetes (`data/k8s-flags.toml`); and, when the target's
//! mkectl is on PATH, `mkectl check mke3` on the same configuration, with
//! the keys where its verdict and ours differ.
//!
//! Boundaries: what the configuration says is here; what the cluster holds
//! (Swarm services, users, nodes) is `cluster_content`; the upgrade's own
//! inputs (load balancer, NodePorts, the mkectl machine) are
//! `upgrade_inputs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::mke_version::version_param;
use super::mkectl::{find_program, parse_output};
use super::{Check, Facts, Module, StepContext, TaskError};
use crate::mke::catalog::Catalog;

pub mod classify;
pub mod flags;
pub mod mkectl_check;
pub mod report;

use classify::{Class, Policy, Row};

/// What to do about a class of finding.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The step is blocked.
    Block,
    /// The step passes; the finding is a warning in its message and output.
    Warn,
    /// Listed in the table and the output, nothing more.
    Report,
}

/// `calico_kdd = false`: a blocker, or left to a later step.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KddPolicy {
    /// mkectl stops on it: blocked.
    Block,
    /// A later step of this playbook (`calico_kdd`) converts it: reported as pending.
    Later,
}

/// Whether to also run `mkectl check mke3`.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MkectlCheck {
    /// When an mkectl of the target's version is on PATH (or `mkectl_path`).
    Auto,
    /// Blocked unless the target's mkectl can run the check.
    Require,
    /// Never.
    Skip,
}

/// Classify every MKE 3 setting for the target; check the custom Kubernetes
/// flags; compare with `mkectl check mke3`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MkeCompat {
    /// The MKE 4k / MKE 4 release to upgrade to, such as `4.1.5` or `4.2.1`.
    #[serde(default = "super::mke_version::default_target")]
    pub target: String,
    /// Block on settings that are set and have no MKE 4 counterpart (by default they are warnings: mkectl asks to halt or continue, and `--force` continues).
    #[serde(default)]
    pub strict: bool,
    /// Settings set with no published status (not in the catalog, or "unknown" there): block, warn or report (default). The status of such keys is an open question in Mirantis' docs.
    #[serde(default = "default_unknown")]
    pub unknown: Severity,
    /// Custom Kubernetes flags the target's Kubernetes removed, or that the component does not have at all (a misspelling, told with the flag it probably meant): block (default), warn or report. What mkectl 4.2.1 does on a mismatch is not documented; by default mkeprep blocks. A flag missing from a component's list (read from a newer Kubernetes) is only a warning for a target older than the oldest Kubernetes that list was compared with, as the list may miss a flag removed in between.
    #[serde(default = "default_flags")]
    pub flags: Severity,
    /// Flag names (`node-ip` or `kubelet:node-ip`) you have reviewed: no finding for them.
    #[serde(default, deserialize_with = "super::string_list")]
    pub ignore_flags: Vec<String>,
    /// Flags a component takes although mkeprep's lists miss them (`kubelet:some-flag` or `some-flag`; `_` and `-` alike).
    #[serde(default, deserialize_with = "super::string_list")]
    pub known_flags: Vec<String>,
    /// Setting keys (`cluster_config.etcd_storage_quota`) you have reviewed: reported, never a warning or a block.
    #[serde(default, deserialize_with = "super::string_list")]
    pub acknowledged: Vec<String>,
    /// `calico_kdd = false`: `block` (mkectl stops on it) or `later` (a later `calico_kdd` step converts it; the standard playbook says so).
    #[serde(default = "default_kdd")]
    pub calico_kdd: KddPolicy,
    /// Run `mkectl check mke3` too: auto (default), require or skip.
    #[serde(default = "default_mkectl")]
    pub mkectl: MkectlCheck,
    /// The mkectl program; by default it is looked up on PATH.
    #[serde(default)]
    pub mkectl_path: Option<std::path::PathBuf>,
}

fn default_unknown() -> Severity {
    Severity::Report
}
fn default_flags() -> Severity {
    Severity::Block
}
fn default_kdd() -> KddPolicy {
    KddPolicy::Block
}
fn default_mkectl() -> MkectlCheck {
    MkectlCheck::Auto
}

/// One thing to tell: a key or a flag, blocking or not.
#[derive(Debug, Clone)]
pub struct Finding {
    pub subject: String,
    pub class: String,
    pub value: String,
    pub text: String,
    pub remedy: Option<String>,
    pub severity: Severity,
}

impl MkeCompat {
    /// What the policy makes of a classified row.
    fn severity(&self, row: &Row<'_>) -> Option<Severity> {
        let acknowledged = self.acknowledged.contains(&row.key);
        let s = match row.class {
            Class::Blocker => Severity::Block,
            Class::NotSupported if self.strict => Severity::Block,
            Class::NotSupported => Severity::Warn,
            Class::Unknown => self.unknown,
            Class::Supported if row.caution => Severity::Warn,
            Class::Pending => Severity::Report,
            Class::Supported | Class::Skipped => return None,
        };
        // A blocker stops mkectl whatever was reviewed.
        Some(if acknowledged && row.class != Class::Blocker {
            Severity::Report
        } else {
            s
        })
    }
}

impl Module for MkeCompat {
    const NAME: &'static str = "mke_compat";
    const NEEDS_API: bool = true;
    const OUTPUTS: Option<&'static [(&'static str, &'static str)]> = Some(&[
        ("target", "the target release"),
        (
            "kubernetes",
            "the target's Kubernetes minor (null when unknown)",
        ),
        ("counts", "how many keys fall in each class"),
        (
            "keys",
            "every key of the configuration → its class (supported, not_supported, skipped, blocker, unknown, pending)",
        ),
        (
            "findings",
            "what needs attention: subject, class, value, level (block, warn, report), message, remedy",
        ),
        (
            "flags",
            "the custom-flag findings: setting, component, flag, problem, blocks, message, remedy",
        ),
        (
            "mkectl",
            "`mkectl check mke3`: ran, path, version, differences, not_supported_at_default, summary (or why it did not run)",
        ),
        ("blockers", "how many findings block"),
        ("warnings", "how many findings warn"),
    ]);
    const SUMMARY: &'static str = "Every MKE 3 setting classified for the target (supported, not supported, skipped, blocker, unknown); custom Kubernetes flags checked; compared with `mkectl check mke3`.";
    const EXAMPLE: &'static str = "- id: check-compat\n  mke_compat:\n    target: \"{{ target }}\"\n    calico_kdd: later\n  register: compat";

    async fn check(&self, cx: &StepContext<'_>) -> Result<Check, TaskError> {
        let target = version_param("target", &self.target)?;
        let catalog = Catalog::builtin().map_err(TaskError::new)?;
        let flag_data = flags::FlagData::builtin().map_err(TaskError::new)?;
        let doc = cx
            .mke()?
            .config_toml()
            .await
            .map_err(|e| TaskError::new(e.to_string()))?;
        let settings = classify::flatten(&doc).map_err(TaskError::new)?;
        let policy = Policy {
            target: target.clone(),
            fixed_later: self.calico_kdd == KddPolicy::Later,
        };
        let rows = classify::classify(catalog, &settings, &policy);
        // Secret values of the configuration are masked wherever they might
        // travel (mkectl's output, error texts).
        for r in rows.iter().filter(|r| r.secret) {
            if let Value::String(s) = &r.value
                && !s.is_empty()
            {
                crate::util::secret::register(s);
            }
        }

        let mut findings: Vec<Finding> = rows
            .iter()
            .filter_map(|r| {
                let severity = self.severity(r)?;
                let (text, remedy) = match r.class {
                    Class::Pending => (
                        format!(
                            "a later step converts it ({}: migrate-kdd in the standard playbook); mkectl stops while it is false",
                            r.entry.and_then(|e| e.fixed_by.as_deref()).unwrap_or("calico_kdd")
                        ),
                        None,
                    ),
                    Class::NotSupported => (
                        r.note.clone().unwrap_or_else(|| {
                            "no MKE 4 counterpart: lost in the upgrade; mkectl asks to halt or continue (--force continues)".into()
                        }),
                        Some(r.remedy.clone().unwrap_or_else(|| {
                            "plan a replacement in MKE 4 if you rely on it, then add the key to `acknowledged`".to_string()
                        })),
                    ),
                    Class::Unknown => (
                        r.note.clone().unwrap_or_else(|| {
                            "set, with no published MKE 4 status".into()
                        }),
                        Some(r.remedy.clone().unwrap_or_else(|| {
                            "check it with the target's `mkectl check mke3` or ask Mirantis".into()
                        })),
                    ),
                    _ => (r.note.clone().unwrap_or_default(), r.remedy.clone()),
                };
                Some(Finding {
                    subject: r.key.clone(),
                    class: r.class.word().to_string(),
                    value: classify::show(&r.value, r.secret),
                    text,
                    remedy,
                    severity,
                })
            })
            .collect();

        // Custom flags against the target's Kubernetes.
        let line = flag_data.kubernetes_of(&target);
        let written = flags::written(&settings);
        let mut flag_out = Vec::new();
        let mut notes = Vec::new();
        match line {
            Some(line) if self.flags != Severity::Report || !written.is_empty() => {
                for f in flags::check(
                    flag_data,
                    &line.kubernetes,
                    &written,
                    flags::Overrides {
                        ignore: &self.ignore_flags,
                        known: &self.known_flags,
                    },
                ) {
                    let severity = if f.blocks { self.flags } else { Severity::Warn };
                    let severity = if self.flags == Severity::Report { Severity::Report } else { severity };
                    findings.push(Finding {
                        subject: format!("{} {}", f.setting, f.flag),
                        class: "flag".into(),
                        value: String::new(),
                        text: f.message.clone(),
                        remedy: Some(f.remedy.clone()),
                        severity,
                    });
                    flag_out.push(f);
                }
            }
            Some(_) => {}
            None if !written.is_empty() => notes.push(format!(
                "the Kubernetes version of MKE {target} is not in mkeprep's table: {} custom flags were not checked",
                written.len()
            )),
            None => {}
        }

        // mkectl's own verdict.
        let mkectl = self.mkectl_verdict(cx, &target, &doc, &rows).await;
        if let Some(Err(blocked)) = &mkectl {
            findings.push(Finding {
                subject: "mkectl check mke3".into(),
                class: "mkectl".into(),
                value: String::new(),
                text: blocked.clone(),
                remedy: Some(format!(
                    "install mkectl {target} (see check-mkectl) or set `mkectl: auto`"
                )),
                severity: Severity::Block,
            });
        }
        let mkectl_facts = match &mkectl {
            Some(Ok(f)) => f.clone(),
            Some(Err(why)) => json!({"ran": false, "why": why}),
            None => json!({"ran": false}),
        };
        if let Some(note) = mkectl_facts.get("summary").and_then(Value::as_str) {
            notes.push(note.to_string());
        }
        if let Some(why) = mkectl_facts.get("why").and_then(Value::as_str)
            && !matches!(mkectl, Some(Err(_)))
        {
            notes.push(why.to_string());
        }

        let mut output = Facts::new();
        output.insert("target".into(), target.to_string().into());
        output.insert(
            "kubernetes".into(),
            line.map(|l| Value::String(l.kubernetes.clone()))
                .unwrap_or(Value::Null),
        );
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &rows {
            *counts.entry(report::class_key(r.class)).or_default() += 1;
        }
        output.insert("counts".into(), json!(counts));
        output.insert(
            "keys".into(),
            Value::Object(
                rows.iter()
                    .map(|r| {
                        (
                            r.key.clone(),
                            Value::String(report::class_key(r.class).into()),
                        )
                    })
                    .collect(),
            ),
        );
        output.insert(
            "flags".into(),
            serde_json::to_value(&flag_out).unwrap_or_default(),
        );
        output.insert("mkectl".into(), mkectl_facts);
        let flag_count = flag_out.len();
        Ok(report::conclude(
            &findings,
            &notes,
            output,
            |blockers, warnings| report::headline(&target, &counts, flag_count, warnings, blockers),
        ))
    }
}

impl MkeCompat {
    /// Runs `mkectl check mke3` when asked and possible. `None`: not run
    /// (and not required); `Some(Err)`: required and impossible.
    async fn mkectl_verdict(
        &self,
        cx: &StepContext<'_>,
        target: &semver::Version,
        doc: &str,
        rows: &[Row<'_>],
    ) -> Option<Result<Value, String>> {
        if self.mkectl == MkectlCheck::Skip {
            return None;
        }
        let required = self.mkectl == MkectlCheck::Require;
        let not_run = |why: String| {
            if required {
                Some(Err(why))
            } else {
                Some(Ok(json!({"ran": false, "why": why})))
            }
        };
        let program = match &self.mkectl_path {
            Some(p) => Some(p.clone()),
            None => find_program("mkectl", cx.conn.extra_path.as_deref()),
        };
        let Some(program) = program else {
            return not_run("mkectl is not on PATH: `mkectl check mke3` was not run".into());
        };
        let version = mkectl_version(&program).await;
        let matches = version
            .as_deref()
            .and_then(super::mke_version::parse_version)
            .is_some_and(|v| {
                v.major == target.major && v.minor == target.minor && v.patch == target.patch
            });
        if !matches {
            return not_run(format!(
                "mkectl at {} is {}, not the target's {target}: its verdict would be another release's, so `mkectl check mke3` was not run",
                program.display(),
                version.as_deref().unwrap_or("of an unknown version")
            ));
        }
        match mkectl_check::run(&program, cx.state_dir, doc).await {
            mkectl_check::Outcome::Report(map) => {
                let (diffs, defaults) = mkectl_check::compare(rows, &map);
                let summary = if diffs.is_empty() {
                    format!(
                        "mkectl {target} (`mkectl check mke3`) agrees on every key it flags; it also lists {} keys at their MKE 3 default as not supported, and will ask about them during the upgrade (--force answers)",
                        defaults.len()
                    )
                } else {
                    format!(
                        "mkectl {target} (`mkectl check mke3`) differs on {} keys: {}",
                        diffs.len(),
                        diffs
                            .iter()
                            .map(|d| format!(
                                "{} (mkeprep: {}, mkectl: {})",
                                d.key,
                                d.mkeprep.word(),
                                d.mkectl.map_or("not listed", |v| match v {
                                    mkectl_check::Verdict::Supported => "supported",
                                    mkectl_check::Verdict::NotSupported => "not supported",
                                    mkectl_check::Verdict::Skipped => "skipped",
                                })
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                Some(Ok(json!({
                    "ran": true,
                    "path": program.display().to_string(),
                    "version": version,
                    "differences": diffs,
                    "not_supported_at_default": defaults,
                    "summary": summary,
                })))
            }
            mkectl_check::Outcome::Unrecognised => not_run(format!(
                "`{} check mke3` printed no report mkeprep recognises: verdicts not compared",
                program.display()
            )),
            mkectl_check::Outcome::Failed(why) => not_run(why),
        }
    }
}

/// `mkectl version`, parsed; `None` when it does not answer.
async fn mkectl_version(program: &std::path::Path) -> Option<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    crate::util::child::die_with_parent(&mut cmd);
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .ok()?
        .ok()?;
    parse_output(&String::from_utf8_lossy(&out.stdout))
}
