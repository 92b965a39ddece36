//! The step's message (a headline and one table) and its output.

use std::collections::BTreeMap;

use semver::Version;
use serde_json::{Value, json};

use super::classify::Class;
use super::{Finding, Severity};
use crate::tasks::{Check, Facts};

/// The snake_case name of a class, as in the output.
pub fn class_key(c: Class) -> &'static str {
    match c {
        Class::Blocker => "blocker",
        Class::NotSupported => "not_supported",
        Class::Unknown => "unknown",
        Class::Pending => "pending",
        Class::Supported => "supported",
        Class::Skipped => "skipped",
    }
}

/// One line: the target, how many keys fall in each class, the flags.
pub fn headline(
    target: &Version,
    counts: &BTreeMap<&str, usize>,
    flag_findings: usize,
    warnings: usize,
    blockers: usize,
) -> String {
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let total: usize = counts.values().sum();
    let mut parts = vec![
        format!("{} supported", n("supported")),
        format!("{} not supported and set", n("not_supported")),
        format!("{} unknown and set", n("unknown")),
        format!("{} blockers", n("blocker")),
        format!("{} skipped (off or default)", n("skipped")),
    ];
    if n("pending") > 0 {
        parts.push(format!("{} pending a later step", n("pending")));
    }
    let verdict = match (blockers, warnings) {
        (0, 0) => "nothing to act on".to_string(),
        (0, w) => format!("{w} warning{}", if w == 1 { "" } else { "s" }),
        (b, _) => format!("{b} blocking"),
    };
    format!(
        "MKE 3 configuration vs MKE {target}: {total} keys — {}; {flag_findings} custom-flag findings; {verdict}",
        parts.join(", ")
    )
}

/// The findings as one table (lines under the step's message), then notes.
pub fn table(findings: &[Finding], notes: &[String]) -> String {
    let mut out = String::new();
    if !findings.is_empty() {
        let w = findings
            .iter()
            .map(|f| f.subject.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(3, 60);
        out.push_str(&format!(
            "\n      {:<w$}  {:<7}  {:<13}  {:<16}  WHAT IT MEANS / WHAT TO DO",
            "KEY", "LEVEL", "CLASS", "VALUE"
        ));
        let mut sorted: Vec<&Finding> = findings.iter().collect();
        sorted.sort_by_key(|f| match f.severity {
            Severity::Block => 0,
            Severity::Warn => 1,
            Severity::Report => 2,
        });
        for f in sorted {
            let level = match f.severity {
                Severity::Block => "BLOCK",
                Severity::Warn => "warn",
                Severity::Report => "info",
            };
            let mut text = f.text.clone();
            if let Some(r) = &f.remedy
                && f.severity != Severity::Report
            {
                if !text.is_empty() {
                    text.push_str(" — ");
                }
                text.push_str(r);
            }
            out.push_str(&format!(
                "\n      {:<w$}  {:<7}  {:<13}  {:<16}  {}",
                f.subject, level, f.class, f.value, text
            ));
        }
    }
    for n in notes {
        out.push_str(&format!("\n      note: {n}"));
    }
    out
}

/// The findings for the output (`register`).
pub fn findings_json(findings: &[Finding]) -> Value {
    Value::Array(
        findings
            .iter()
            .map(|f| {
                json!({
                    "subject": f.subject,
                    "class": f.class,
                    "value": f.value,
                    "level": match f.severity {
                        Severity::Block => "block",
                        Severity::Warn => "warn",
                        Severity::Report => "report",
                    },
                    "message": f.text,
                    "remedy": f.remedy,
                })
            })
            .collect(),
    )
}

/// The step's answer from its findings: they go to the output (with the
/// counts of blocking ones and warnings), the message is `head(blockers,
/// warnings)` and the table; any blocking finding blocks, with the remedies.
pub fn conclude(
    findings: &[Finding],
    notes: &[String],
    mut output: Facts,
    head: impl FnOnce(usize, usize) -> String,
) -> Check {
    let blocking: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Block)
        .collect();
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warn)
        .count();
    output.insert("findings".into(), findings_json(findings));
    output.insert("blockers".into(), blocking.len().into());
    output.insert("warnings".into(), warnings.into());
    let message = format!(
        "{}{}",
        head(blocking.len(), warnings),
        table(findings, notes)
    );
    if blocking.is_empty() {
        return Check::InSync { message, output };
    }
    let remedy = blocking
        .iter()
        .filter_map(|f| f.remedy.as_deref().map(|r| format!("{}: {r}", f.subject)))
        .collect::<Vec<_>>()
        .join("; ");
    Check::Blocked {
        reason: message,
        remedy,
        output,
    }
}
