use std::collections::BTreeMap;

use serde_json::json;

use super::hosts::host_rows;
use super::*;
use crate::model::events::{HostResult, RunEnd, RunStart, Status, StepEnd};
use crate::model::{Change, Facts};

fn facts(v: serde_json::Value) -> Facts {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Facts::new(),
    }
}

fn step(id: &str, module: &str, status: Status, message: &str, output: Facts) -> Event {
    Event::StepEnd(StepEnd {
        step: id.into(),
        module: module.into(),
        name: Some(format!("the {id} step")),
        status,
        changes: Vec::new(),
        message: message.into(),
        remedy: status.is_problem().then(|| format!("fix {id}")),
        duration_ms: 12,
        output: output.into(),
        from_journal: false,
        ignored: false,
        after: None,
        diffs: Vec::new(),
    })
}

fn start(check: bool) -> Event {
    Event::RunStart(RunStart {
        playbook: "pb.yaml".into(),
        name: Some("Prepare".into()),
        digest: "0".repeat(64),
        check,
        resumed: false,
        run_id: "r1".into(),
        steps: 3,
        state_dir: ".mkeprep".into(),
    })
}

fn end(status: &str, code: i32) -> Event {
    Event::RunEnd(RunEnd {
        status: status.into(),
        exit_code: code,
        counts: BTreeMap::new(),
        duration_ms: 1500,
    })
}

fn report(events: &[Event]) -> Report {
    let mut r = Report::new();
    for e in events {
        r.apply(e);
    }
    r
}

fn standard(last: Event, run_end: Event) -> Report {
    report(&[
        start(false),
        step(
            "verify-version",
            "mke_version",
            Status::Ok,
            "eligible",
            facts(json!({"version": "3.8.10", "target": "4.1.5"})),
        ),
        step(
            "check-hosts",
            "hosts",
            Status::Ok,
            "3/3",
            facts(json!({"managers": 1, "workers": 2, "hosts": [
                {"address": "10.0.0.1", "status": "ok", "cause": null, "message": "fine", "ms": 5, "role": "manager", "node": "m1"},
                {"address": "10.0.0.2", "ok": false, "cause": "auth", "message": "denied", "ms": 7, "role": "worker"}
            ]})),
        ),
        last,
        run_end,
    ])
}

#[test]
fn verdicts_follow_the_steps_and_the_run_end() {
    let ok = step("x", "debug", Status::Ok, "fine", Facts::new());
    assert_eq!(standard(ok.clone(), end("ok", 0)).verdict(), Verdict::Ready);
    let pending = step(
        "x",
        "calico_kdd",
        Status::WouldChange,
        "would",
        Facts::new(),
    );
    let r = standard(pending, end("would_change", 3));
    assert_eq!(r.verdict(), Verdict::Pending);
    assert!(r.reason().contains("1 step a real run would change"));
    let blocked = step("x", "mkectl", Status::Blocked, "old", Facts::new());
    let r = standard(blocked, end("failed", 1));
    assert_eq!(r.verdict(), Verdict::NotReady);
    assert!(r.reason().contains("blocked x"), "{}", r.reason());
    let r = standard(ok.clone(), end("interrupted", 130));
    assert_eq!(r.verdict(), Verdict::NotReady);
    assert!(r.reason().contains("interrupted"));
    // A run that never ended (a killed run's journal) is not ready.
    let r = report(&[start(false), ok]);
    assert_eq!(r.verdict(), Verdict::NotReady);
    assert!(r.reason().contains("did not finish"));
}

#[test]
fn cluster_comes_from_the_standard_modules_and_degrades() {
    let r = standard(
        step("x", "debug", Status::Ok, "", Facts::new()),
        end("ok", 0),
    );
    let c = r.cluster();
    assert_eq!(c.mke_version.as_deref(), Some("3.8.10"));
    assert_eq!(c.target.as_deref(), Some("4.1.5"));
    assert_eq!(
        (c.managers, c.workers, c.nodes),
        (Some(1), Some(2), Some(3))
    );
    let summary = r.summary();
    assert!(summary.contains(&("Nodes", "3 (1 manager, 2 workers)".to_string())));
    // Only mke_health counted: nodes and managers, workers derived.
    let r = report(&[
        start(false),
        step(
            "h",
            "mke_health",
            Status::Ok,
            "",
            facts(json!({"managers": 3, "nodes": 5})),
        ),
    ]);
    assert_eq!(
        (r.cluster().managers, r.cluster().workers),
        (Some(3), Some(2))
    );
    // Nothing registered: the header says so instead of leaving a hole.
    let r = report(&[start(false), end("ok", 0)]);
    let html = html::render(&r);
    assert!(html.contains("MKE version not read"));
    assert!(html.contains("not counted"));
    assert!(html.contains("No step ran."));
}

#[test]
fn host_rows_read_both_registered_shapes_and_fall_back_to_events() {
    let list = facts(json!({"hosts": [
        {"address": "a", "status": "ok", "message": "m", "ms": 3, "role": "manager", "node": "n1"},
        {"address": "b", "ok": false, "cause": "dns", "message": "no such host"}
    ]}));
    let rows = host_rows(&list, &[]);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].facts,
        vec![
            ("role".into(), "manager".into()),
            ("node".into(), "n1".into())
        ]
    );
    assert_eq!(
        (rows[1].status.as_str(), rows[1].cause.as_deref()),
        ("failed", Some("dns"))
    );
    assert!(rows[1].is_problem() && !rows[0].is_problem());

    let map = facts(json!({"hosts": {
        "10.0.0.1": {"status": "ok", "os": "ubuntu 22.04", "kernel": "5.15", "disk_free_gb": 41.5, "name": "m1"},
        "10.0.0.2": {"status": "failed", "cause": "timeout", "message": "no answer", "duration_ms": 10000}
    }}));
    let rows = host_rows(&map, &[]);
    assert_eq!(rows[0].host, "10.0.0.1");
    assert_eq!(
        rows[0].facts,
        vec![
            ("os".into(), "ubuntu 22.04".into()),
            ("kernel".into(), "5.15".into()),
            ("disk_free_gb".into(), "41.5".into()),
            ("name".into(), "m1".into())
        ]
    );
    assert_eq!(rows[1].ms, Some(10000));

    let ev = HostResult {
        step: "s".into(),
        host: "h1".into(),
        status: "failed".into(),
        cause: Some("refused".into()),
        message: "connection refused".into(),
        duration_ms: 4,
        total: Some(1),
    };
    let rows = host_rows(&Facts::new(), std::slice::from_ref(&ev));
    assert_eq!((rows[0].host.as_str(), rows[0].ms), ("h1", Some(4)));
    // Host events reach the step they belong to.
    let r = report(&[
        start(false),
        Event::Host(ev),
        step("s", "command", Status::Failed, "x", Facts::new()),
    ]);
    assert_eq!(r.steps[0].hosts.len(), 1);
}

/// A report whose every text is hostile: markup, Markdown, control
/// sequences, newlines, a secret.
fn hostile() -> Report {
    crate::util::secret::register("s3cr3t-report-value");
    let nasty = "<script>alert(1)</script> | `tick` **b** [l](http://e.invalid) \x1b[31mred\x1b[0m\r\nline2 & 'q' \"d\" s3cr3t-report-value \u{202e}";
    let mut s = match step(
        "bad-step",
        "command",
        Status::Failed,
        nasty,
        facts(json!({
            "hosts": {"<img src=x onerror=alert(2)>": {"status": "fail|ed", "message": nasty, "note": nasty}}
        })),
    ) {
        Event::StepEnd(s) => s,
        _ => unreachable!(),
    };
    s.name = Some(nasty.into());
    s.remedy = Some(format!("</td></tr></table>{nasty}"));
    s.changes = vec![Change {
        key: "a|b`c".into(),
        summary: nasty.into(),
        from: Some(json!(nasty)),
        to: Some(json!(true)),
        diff: None,
    }];
    report(&[
        start(false),
        Event::Warning {
            message: nasty.into(),
        },
        Event::Error {
            message: format!("```\n{nasty}\n</pre>"),
        },
        Event::StepEnd(s),
        end("failed", 1),
    ])
}

fn no_control(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "control characters left"
    );
}

#[test]
fn html_escapes_everything_masks_secrets_and_loads_nothing() {
    let html = Format::Html.render(&hostile());
    assert!(!html.contains("<script"), "unescaped script");
    assert!(!html.contains("<img"), "unescaped img");
    assert!(!html.contains("</table>{"), "unescaped remedy");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("s3cr3t-report-value"));
    assert!(html.contains("********"));
    assert!(
        html.contains("red<br>line2"),
        "newline kept as <br>, escapes gone"
    );
    no_control(&html);
    // Self-contained: no tag but known ones, nothing with a source, links
    // only within the page (or the empty data: icon).
    let known = [
        "!DOCTYPE", "html", "head", "meta", "link", "title", "style", "body", "header", "div", "p",
        "h1", "h2", "span", "main", "section", "dl", "dt", "dd", "ol", "ul", "li", "code", "b",
        "table", "thead", "tbody", "tr", "th", "td", "br", "a", "footer", "pre",
    ];
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag
            .trim_start_matches('/')
            .split([' ', '\n'])
            .next()
            .unwrap_or("");
        assert!(known.contains(&name), "unexpected tag <{tag}>");
        assert!(!tag.contains("src="), "<{tag}>");
        if let Some(href) = tag.split("href=\"").nth(1) {
            assert!(
                href.starts_with('#') || href.starts_with("data:,"),
                "<{tag}>"
            );
        }
    }
    for needle in ["@import", "url(", "<script"] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );
    // The error's own `</pre>` is text, not the end of the block.
    assert_eq!(html.matches("<pre").count(), 1);
    assert_eq!(html.matches("</pre>").count(), 1);
}

#[test]
fn markdown_escapes_everything_and_keeps_tables_whole() {
    let md = Format::Markdown.render(&hostile());
    // The error is a fenced block (its text shown as is, markup included),
    // fenced longer than the backticks inside, closed; nothing else may
    // carry markup.
    let (before, rest) = md.split_once("\n````text\n").expect("a fenced error");
    let (_, after) = rest.split_once("\n````\n").expect("the fence is closed");
    let outside = format!("{before}{after}");
    assert!(!outside.contains("<script"));
    assert!(!outside.contains("<img"));
    assert!(!md.contains("s3cr3t-report-value"));
    assert!(
        !outside.replace("\\]", "").contains("]("),
        "a link survived"
    );
    no_control(&md);
    // Every table row has as many unescaped pipes as its header.
    let mut header_cells = None;
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("````") {
            // (The fence: the error's ``` is shorter.)
            fenced = !fenced;
        }
        if fenced || !line.starts_with('|') {
            header_cells = None;
            continue;
        }
        let mut cells = 0;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '|' && prev != '\\' {
                cells += 1;
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        match header_cells {
            None => header_cells = Some(cells),
            Some(n) => assert_eq!(cells, n, "row splits: {line}"),
        }
    }
    assert!(md.contains("\\<script") || md.contains("&lt;script"));
}

#[test]
fn code_spans_only_for_plain_text() {
    assert_eq!(markdown::code("calico_kdd"), "`calico_kdd`");
    assert_eq!(markdown::code("a`b"), "a\\`b");
    assert_eq!(markdown::code("a|b\nc"), "a\\|b<br>c");
    assert_eq!(markdown::code("<b>"), "&lt;b&gt;");
    assert_eq!(markdown::code(""), "");
}

#[test]
fn report_files_are_chosen_by_extension() {
    use std::path::Path;
    assert_eq!(Format::from_path(Path::new("r.HTML")), Ok(Format::Html));
    assert_eq!(Format::from_path(Path::new("a/r.htm")), Ok(Format::Html));
    assert_eq!(Format::from_path(Path::new("r.md")), Ok(Format::Markdown));
    let e = Format::from_path(Path::new("r.pdf")).unwrap_err();
    assert!(e.contains(".html") && e.contains(".md"), "{e}");
    assert!(Format::from_path(Path::new("report")).is_err());
}
