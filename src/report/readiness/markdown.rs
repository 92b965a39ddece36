//! The report as Markdown (CommonMark with GitHub/GitLab tables), for a
//! ticket system or a merge request that renders Markdown. Every text is
//! escaped so that it shows as written: no emphasis, link, HTML or code
//! span can come from a message, a table cell cannot be split by a pipe, and
//! a newline inside a cell becomes `<br>`.

use std::fmt::Write as _;

use super::clean;
use super::model::{Report, StepRow, change_value, step_notes};
use crate::report::human_ms;

/// Escapes cleaned text for Markdown, inline or in a table cell.
pub fn md(text: &str) -> String {
    let text = clean(text);
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text as an inline code span (ids, keys, values) when it is plain
/// (nothing a span would have to carry specially: no backtick, pipe, markup
/// character or line break), else escaped text like any other.
pub fn code(text: &str) -> String {
    let text = clean(text);
    let plain = !text.is_empty()
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains(['`', '|', '<', '>', '&', '\\', '\n', '\t']);
    if plain {
        format!("`{text}`")
    } else {
        md(&text)
    }
}

pub fn render(r: &Report) -> String {
    let verdict = r.verdict();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# MKE 3 → MKE 4k upgrade readiness: {}\n",
        verdict.word().to_uppercase()
    );
    let _ = writeln!(o, "> {}\n", md(&r.reason()));
    o.push_str("| | |\n|---|---|\n");
    for (label, value) in r.summary() {
        let _ = writeln!(o, "| {} | {} |", md(label), md(&value));
    }

    if !r.errors.is_empty() {
        o.push_str("\n## Why the run stopped\n\n");
        for e in &r.errors {
            // A fenced block keeps an input error's caret under its column;
            // the fence is longer than any backtick run inside.
            let text = clean(e);
            let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            let _ = writeln!(o, "{fence}text\n{}\n{fence}", text.trim_end());
        }
    }
    let problems: Vec<&StepRow> = r.problems().collect();
    if !problems.is_empty() {
        o.push_str("\n## What to do\n\n");
        for (i, s) in problems.iter().enumerate() {
            let e = &s.end;
            let _ = writeln!(
                o,
                "{}. {} {}: {}",
                i + 1,
                code(&e.step),
                md(e.status.word()),
                md(&e.message)
            );
            if let Some(rem) = &e.remedy {
                let _ = writeln!(o, "   - What to do: {}", md(rem));
            }
        }
    }

    o.push_str("\n## Steps\n\n| # | Step | Status | Time | Result |\n|---:|---|---|---:|---|\n");
    for (i, s) in r.steps.iter().enumerate() {
        let e = &s.end;
        let mut result = vec![md(&e.message)];
        if let Some(rem) = &e.remedy {
            result.push(format!("What to do: {}", md(rem)));
        }
        for c in &e.changes {
            result.push(format!(
                "{}: {} → {}",
                code(&c.key),
                code(&change_value(c.from.as_ref())),
                code(&change_value(c.to.as_ref()))
            ));
        }
        result.extend(step_notes(e).iter().map(|n| md(n)));
        if !s.hosts.is_empty() {
            result.push(format!("{} hosts: see below", s.hosts.len()));
        }
        let name = e
            .name
            .as_deref()
            .map(|n| format!("<br>{}", md(n)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {}{} | {} | {} | {} |",
            i + 1,
            code(&e.step),
            name,
            md(e.status.word()),
            md(&human_ms(e.duration_ms)),
            result.join("<br>")
        );
    }
    if r.steps.is_empty() {
        o.push_str("| | | | | No step ran. |\n");
    }

    let list = r.changes();
    let _ = writeln!(
        o,
        "\n## {}\n",
        if r.check {
            "What a real run would change"
        } else {
            "What this run changed"
        }
    );
    if list.is_empty() {
        o.push_str("Nothing.\n");
    } else {
        o.push_str("| Step | What | From | To | Details |\n|---|---|---|---|---|\n");
        for (s, c) in list {
            let _ = writeln!(
                o,
                "| {} ({}) | {} | {} | {} | {} |",
                code(&s.end.step),
                md(s.end.status.word()),
                code(&c.key),
                code(&change_value(c.from.as_ref())),
                code(&change_value(c.to.as_ref())),
                md(&c.summary)
            );
        }
    }

    for s in r.steps.iter().filter(|s| !s.hosts.is_empty()) {
        let mut rows: Vec<_> = s.hosts.iter().collect();
        rows.sort_by_key(|h| !h.is_problem());
        let bad = rows.iter().filter(|h| h.is_problem()).count();
        let _ = writeln!(
            o,
            "\n## Hosts of {}\n\n{} hosts, {} fine, {bad} with a problem.\n\n| Host | Status | Cause | Time | Message | Facts |\n|---|---|---|---:|---|---|",
            code(&s.end.step),
            rows.len(),
            rows.len() - bad
        );
        for h in rows {
            let facts: Vec<String> = h
                .facts
                .iter()
                .map(|(k, v)| format!("{}: {}", md(k), md(v)))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                md(&h.host),
                md(&h.status),
                h.cause.as_deref().map(md).unwrap_or_default(),
                h.ms.map(|ms| md(&human_ms(ms))).unwrap_or_default(),
                md(&h.message),
                facts.join("; ")
            );
        }
    }

    if !r.warnings.is_empty() {
        o.push_str("\n## Warnings\n\n");
        for w in &r.warnings {
            let _ = writeln!(o, "- {}", md(w));
        }
    }
    let _ = writeln!(
        o,
        "\n---\nWritten by mkeprep {} at {} from {}. Secrets are masked (\\*\\*\\*\\*\\*\\*\\*\\*).",
        env!("CARGO_PKG_VERSION"),
        md(&r.generated),
        md(&r.source)
    );
    o
}
