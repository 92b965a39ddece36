//! The report as one self-contained HTML page: inline CSS, no script, no
//! font, no image, and a Content-Security-Policy that forbids loading
//! anything, so it opens offline exactly as it was written. Readable on a
//! phone (the step table becomes cards; wide host tables scroll inside
//! their box) and printed (`@media print`).

use std::fmt::Write as _;

use super::clean;
use super::hosts::HostRow;
use super::model::{Report, StepRow, change_value, step_notes};
use crate::model::events::Status;
use crate::report::human_ms;

const CSS: &str = include_str!("report.css");

/// HTML-escapes text that has been cleaned ([`clean`]); newlines become
/// `<br>`.
pub fn h(text: &str) -> String {
    let text = clean(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// HTML-escaped text for `<pre>`: newlines kept as they are (an input
/// error's source excerpt and caret line up only in a fixed font).
fn h_pre(text: &str) -> String {
    h(text).replace("<br>", "\n")
}

fn status_badge(status: Status) -> String {
    format!(
        "<span class=\"badge st-{}\">{}</span>",
        status.json_name(),
        status.word()
    )
}

/// A host status word as a badge; unknown words are shown neutral.
fn host_badge(status: &str) -> String {
    let class = match status {
        "ok" | "changed" => "st-ok",
        "warn" | "warning" => "st-would_change",
        "skipped" | "" => "st-skipped",
        _ => "st-failed",
    };
    let word = if status.is_empty() { "—" } else { status };
    format!("<span class=\"badge {class}\">{}</span>", h(word))
}

pub fn render(r: &Report) -> String {
    let verdict = r.verdict();
    let title = r.title.as_deref().unwrap_or("mkeprep run");
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
<meta name=\"generator\" content=\"mkeprep {version}\">\n\
<link rel=\"icon\" href=\"data:,\">\n\
<title>{word}: {title} (mkeprep readiness report)</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        version = env!("CARGO_PKG_VERSION"),
        word = h(&capitalise(verdict.word())),
        title = h(title),
    );
    let _ = write!(
        o,
        "<header class=\"verdict v-{key}\">\n<div class=\"wrap\">\n\
<p class=\"eyebrow\">MKE 3 → MKE 4k upgrade readiness</p>\n\
<h1><span class=\"verdict-word\">{word}</span></h1>\n<p class=\"reason\">{reason}</p>\n\
<p class=\"title\">{title}</p>\n</div>\n</header>\n<main class=\"wrap\">\n",
        key = verdict.key(),
        word = h(&capitalise(verdict.word())),
        reason = h(&r.reason()),
        title = h(title),
    );

    o.push_str("<section class=\"summary\" aria-label=\"Summary\">\n<dl>\n");
    for (label, value) in r.summary() {
        let _ = writeln!(o, "<div><dt>{}</dt><dd>{}</dd></div>", h(label), h(&value));
    }
    o.push_str("</dl>\n</section>\n");

    if !r.errors.is_empty() {
        o.push_str("<section id=\"errors\" class=\"todo\">\n<h2>Why the run stopped</h2>\n");
        for e in &r.errors {
            let _ = writeln!(o, "<pre class=\"error\">{}</pre>", h_pre(e));
        }
        o.push_str("</section>\n");
    }
    todo(&mut o, r);
    steps(&mut o, r);
    changes(&mut o, r);
    for s in r.steps.iter().filter(|s| !s.hosts.is_empty()) {
        hosts(&mut o, s);
    }
    if !r.warnings.is_empty() {
        o.push_str("<section id=\"warnings\">\n<h2>Warnings</h2>\n<ul>\n");
        for w in &r.warnings {
            let _ = writeln!(o, "<li>{}</li>", h(w));
        }
        o.push_str("</ul>\n</section>\n");
    }
    let _ = write!(
        o,
        "</main>\n<footer class=\"wrap\">\n<p>Written by mkeprep {} at {} from {}. \
Secrets are masked (<code>********</code>). This page loads nothing from the network.</p>\n\
</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        h(&r.generated),
        h(&r.source)
    );
    o
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "What to do": every blocked or failed step with its message and remedy.
fn todo(o: &mut String, r: &Report) {
    let problems: Vec<&StepRow> = r.problems().collect();
    if problems.is_empty() {
        return;
    }
    o.push_str("<section id=\"todo\" class=\"todo\">\n<h2>What to do</h2>\n<ol>\n");
    for s in problems {
        let e = &s.end;
        let _ = write!(
            o,
            "<li><p>{} <code>{}</code>: {}</p>",
            status_badge(e.status),
            h(&e.step),
            h(&e.message)
        );
        if let Some(rem) = &e.remedy {
            let _ = write!(o, "<p class=\"remedy\"><b>What to do:</b> {}</p>", h(rem));
        }
        o.push_str("</li>\n");
    }
    o.push_str("</ol>\n</section>\n");
}

fn steps(o: &mut String, r: &Report) {
    let longest = r.steps.iter().map(|s| s.end.duration_ms).max().unwrap_or(0);
    o.push_str(
        "<section id=\"steps\">\n<h2>Steps</h2>\n<div class=\"table-wrap\">\n<table class=\"steps\">\n\
<thead><tr><th scope=\"col\">#</th><th scope=\"col\">Step</th><th scope=\"col\">Status</th>\
<th scope=\"col\">Time</th><th scope=\"col\">Result</th></tr></thead>\n<tbody>\n",
    );
    if r.steps.is_empty() {
        o.push_str("<tr><td colspan=\"5\">No step ran.</td></tr>\n");
    }
    for (i, s) in r.steps.iter().enumerate() {
        let e = &s.end;
        let pct = if longest == 0 || e.duration_ms == 0 {
            0
        } else {
            (e.duration_ms * 100 / longest).max(1)
        };
        let _ = write!(
            o,
            "<tr class=\"row-{st}\"><td data-label=\"#\">{n}</td>\
<td data-label=\"Step\"><code class=\"id\">{id}</code>{name}<span class=\"module\">{module}</span></td>\
<td data-label=\"Status\">{badge}</td>\
<td data-label=\"Time\" class=\"time\">{time}<span class=\"bar\"><span style=\"width:{pct}%\"></span></span></td>\
<td data-label=\"Result\"><p>{msg}</p>",
            st = e.status.json_name(),
            n = i + 1,
            id = h(&e.step),
            name = e
                .name
                .as_deref()
                .map(|n| format!("<span class=\"name\">{}</span>", h(n)))
                .unwrap_or_default(),
            module = h(&e.module),
            badge = status_badge(e.status),
            time = h(&human_ms(e.duration_ms)),
            msg = h(&e.message),
        );
        if let Some(rem) = &e.remedy {
            let _ = write!(o, "<p class=\"remedy\"><b>What to do:</b> {}</p>", h(rem));
        }
        if !e.changes.is_empty() {
            o.push_str("<ul class=\"change-list\">");
            for c in &e.changes {
                let _ = write!(
                    o,
                    "<li><code>{}</code>: <code>{}</code> → <code>{}</code></li>",
                    h(&c.key),
                    h(&change_value(c.from.as_ref())),
                    h(&change_value(c.to.as_ref()))
                );
            }
            o.push_str("</ul>");
        }
        for note in step_notes(e) {
            let _ = write!(o, "<p class=\"note\">{}</p>", h(&note));
        }
        if !s.hosts.is_empty() {
            let bad = s.hosts.iter().filter(|h| h.is_problem()).count();
            let _ = write!(
                o,
                "<p class=\"note\"><a href=\"#hosts-{}\">{} host{}{}</a></p>",
                h(&e.step),
                s.hosts.len(),
                if s.hosts.len() == 1 { "" } else { "s" },
                if bad > 0 {
                    format!(", {bad} with a problem")
                } else {
                    String::new()
                }
            );
        }
        o.push_str("</td></tr>\n");
    }
    o.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// What the run changed (or, dry, would change): every change with its
/// step, from and to.
fn changes(o: &mut String, r: &Report) {
    let list = r.changes();
    let heading = if r.check {
        "What a real run would change"
    } else {
        "What this run changed"
    };
    let _ = writeln!(o, "<section id=\"changes\">\n<h2>{heading}</h2>");
    if list.is_empty() {
        o.push_str("<p>Nothing.</p>\n</section>\n");
        return;
    }
    o.push_str(
        "<div class=\"table-wrap\">\n<table class=\"changes\">\n<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">What</th>\
<th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Details</th></tr></thead>\n<tbody>\n",
    );
    for (s, c) in list {
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code> {}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            h(&s.end.step),
            status_badge(s.end.status),
            h(&c.key),
            h(&change_value(c.from.as_ref())),
            h(&change_value(c.to.as_ref())),
            h(&c.summary)
        );
    }
    o.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// The per-host table of a fan-out step; problem hosts first.
fn hosts(o: &mut String, s: &StepRow) {
    let mut rows: Vec<&HostRow> = s.hosts.iter().collect();
    rows.sort_by_key(|r| !r.is_problem());
    let bad = rows.iter().filter(|r| r.is_problem()).count();
    let _ = write!(
        o,
        "<section id=\"hosts-{id}\">\n<h2>Hosts of <code>{id}</code></h2>\n<p>{n} host{s}, {ok} fine, {bad} with a problem.</p>\n\
<div class=\"table-wrap\">\n<table class=\"hosts\">\n<thead><tr><th scope=\"col\">Host</th><th scope=\"col\">Status</th>\
<th scope=\"col\">Cause</th><th scope=\"col\">Time</th><th scope=\"col\">Message</th><th scope=\"col\">Facts</th></tr></thead>\n<tbody>\n",
        id = h(&s.end.step),
        n = rows.len(),
        s = if rows.len() == 1 { "" } else { "s" },
        ok = rows.len() - bad,
    );
    for r in rows {
        let facts: Vec<String> = r
            .facts
            .iter()
            .map(|(k, v)| format!("<span class=\"fact\"><b>{}</b> {}</span>", h(k), h(v)))
            .collect();
        let _ = writeln!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td></tr>",
            h(&r.host),
            host_badge(&r.status),
            r.cause.as_deref().map(h).unwrap_or_default(),
            r.ms.map(|ms| h(&human_ms(ms))).unwrap_or_default(),
            h(&r.message),
            facts.join(" ")
        );
    }
    o.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}
